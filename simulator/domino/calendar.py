"""The working calendar of a generated workload, in the run's virtual µs (docs/workload.md).

Days are local days of the calendar's time zone, numbered from the local date of the
scenario's start (day 0, which may have begun before the start). Wall-clock times map
to virtual time through the zone, so a day with a DST change is 23 or 25 hours long
and an 08:00 curve point stays at 08:00 local. The arrival curve is a density over
the local day: `arrival(day, u)` turns one uniform number into one instant by
inverting the curve's cumulative area, so arrivals per hour follow the curve exactly
in expectation.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from simulator.scenario.workload import WEEKDAYS, CalendarSpec, Workload


class Calendar:
    __slots__ = (
        "_area",
        "_areas",
        "_cumulative",
        "_first_date",
        "_points",
        "_segments",
        "_start",
        "_times",
        "_zone",
        "days",
    )

    def __init__(self, spec: CalendarSpec, start: datetime) -> None:
        self._zone = ZoneInfo(spec.timezone)
        self._start = start.astimezone(UTC)
        self._first_date = self._start.astimezone(self._zone).date()
        self.days = frozenset(WEEKDAYS.index(day) for day in spec.days)
        self._points = list(spec.curve)
        self._times = [at for at, _ in self._points]
        self._areas = [
            (rate + next_rate) / 2 * (next_at - at)
            for (at, rate), (next_at, next_rate) in zip(
                self._points, self._points[1:], strict=False
            )
        ]
        cumulative = [0.0]
        for area in self._areas:
            cumulative.append(cumulative[-1] + area)
        self._cumulative = cumulative
        self._area = cumulative[-1]
        # What `arrival_clock` needs of the segment a number falls in, by the number's
        # place among the cumulative areas (bisect_right's result): worked out once, as
        # each arrival would otherwise look up and divide the same values again.
        self._segments = [self._segment_after(place) for place in range(len(cumulative) + 1)]

    def _segment_after(self, place: int) -> tuple[int, float, float | None, float, int]:
        """(start, rate, slope or None when flat, area before, last µs offset) of the
        segment an arrival whose area falls at `place` lands in."""
        segment = min(place - 1, len(self._areas) - 1)
        while segment > 0 and self._areas[segment] == 0:
            segment -= 1  # a flat-zero stretch holds no arrivals: land before it
        (at, rate), (next_at, next_rate) = self._points[segment], self._points[segment + 1]
        slope = (next_rate - rate) / (next_at - at)
        flat = abs(slope) < 1e-18
        return at, rate, None if flat else slope, self._cumulative[segment], next_at - at - 1

    # -- days ---------------------------------------------------------------------------

    def at(self, day: int, clock_us: int) -> int:
        """Virtual µs of local wall-clock time `clock_us` (after midnight) on `day`."""
        local = datetime.combine(
            self._first_date + timedelta(days=day), datetime.min.time(), self._zone
        ) + timedelta(microseconds=clock_us)
        # Wall-clock arithmetic: the offset is the one in force at that local time.
        moment = local.astimezone(UTC)
        return (moment - self._start) // timedelta(microseconds=1)

    def day_start(self, day: int) -> int:
        return self.at(day, 0)

    def day_of(self, virtual_us: int) -> int:
        """The day holding virtual instant `virtual_us`."""
        moment = self._start + timedelta(microseconds=virtual_us)
        return (moment.astimezone(self._zone).date() - self._first_date).days

    def is_working_day(self, day: int) -> bool:
        return (self._first_date + timedelta(days=day)).weekday() in self.days

    # -- the arrival curve ----------------------------------------------------------------

    @property
    def area(self) -> float:
        """The curve's area over one day, in rate times µs (relative units)."""
        return self._cumulative[-1]

    def arrival_clock(self, u: float) -> int:
        """The local time of day (µs) of an arrival drawn by inverting the curve's area."""
        target = u * self._area
        at, rate, slope, before, last = self._segments[bisect_right(self._cumulative, target)]
        remaining = target - before
        if slope is None:
            offset = remaining / rate if rate else 0.0
        else:
            offset = (-rate + math.sqrt(max(0.0, rate * rate + 2 * slope * remaining))) / slope
        whole = int(offset)
        return at + (whole if whole < last else last)

    def arrival(self, day: int, u: float) -> int:
        """Virtual µs of an arrival on `day` (before 0 when day 0 began before the start)."""
        return self.at(day, self.arrival_clock(u))

    def rate_at_clock(self, clock_us: int) -> float:
        """The curve's relative rate at local time of day `clock_us` (0 outside the points)."""
        points = self._points
        if clock_us < points[0][0] or clock_us >= points[-1][0]:
            return 0.0
        index = bisect_right(self._times, clock_us) - 1
        (at, rate), (next_at, next_rate) = points[index], points[index + 1]
        return rate + (next_rate - rate) * (clock_us - at) / (next_at - at)

    def share_between(self, from_clock: int, to_clock: int) -> float:
        """The expected share of a day's arrivals between two local times of day."""
        return (self._area_before(to_clock) - self._area_before(from_clock)) / self.area

    def _area_before(self, clock_us: int) -> float:
        points = self._points
        if clock_us <= points[0][0]:
            return 0.0
        if clock_us >= points[-1][0]:
            return self.area
        index = bisect_right(self._times, clock_us) - 1
        at, rate = points[index]
        width = clock_us - at
        middle = self.rate_at_clock(clock_us)
        return self._cumulative[index] + (rate + middle) / 2 * width


FLAT_CALENDAR = CalendarSpec.model_validate(
    {"timezone": "UTC", "days": list(WEEKDAYS), "curve": [["00:00", 1.0], ["24:00", 1.0]]}
)
"""The calendar of a workload without one: every day a working day, arrivals even over it."""


def calendar_of(workload: Workload, start: datetime) -> Calendar:
    """The workload's calendar, or the flat one (UTC days, all working, an even curve)."""
    return Calendar(workload.calendar or FLAT_CALENDAR, start)
