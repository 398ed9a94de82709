"""The working calendar of a generated workload, in the run's virtual µs (docs/workload.md).

Days are local days of the calendar's time zone, numbered from the local date of the
scenario's start (day 0, which may have begun before the start). Wall-clock times map
to virtual time through the zone, so a day with a DST change is 23 or 25 hours long
and an 08:00 curve point stays at 08:00 local. The arrival curve is a density over
the local day: `arrival(day, u)` turns one uniform number into one instant by
inverting the curve's cumulative area, so arrivals per hour follow the curve exactly
in expectation. `WorkingDays` is the calendar as every generator walks it: one home for
the workload's one rule of who is active on which day, for sessions, mail and the web.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from simulator.domino.streams import chance, stream_key
from simulator.scenario.workload import (
    US_PER_DAY,
    US_PER_SECOND,
    WEEKDAYS,
    CalendarSpec,
    Workload,
)

_sqrt = math.sqrt  # a module attribute's look-up costs: once per arrival

# Days whose start and length are remembered: a run works through days in order.
_DAYS_KEPT = 64


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
            # max(0.0, square) without the call (the same value, a NaN's 0.0 too).
            square = rate * rate + 2 * slope * remaining
            offset = (-rate + _sqrt(square if square > 0.0 else 0.0)) / slope
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


class WorkingDays:
    """The calendar as generators walk it: working days, who is active on them, and the
    instant at a position along a day's arrival curve."""

    __slots__ = (
        "_active",
        "_active_key",
        "_arrival_clock",
        "_cache",
        "_start_position",
        "calendar",
        "duration",
        "plain_day",
        "plain_start",
    )

    def __init__(self, workload: Workload, start: datetime, *, seed: int, duration: int) -> None:
        spec = workload.calendar or FLAT_CALENDAR
        self.calendar = Calendar(spec, start)
        self.duration = duration
        self._arrival_clock = self.calendar.arrival_clock
        self._active_key = stream_key(seed, "active")
        self._active = workload.active
        # day -> (virtual start, working?, 24 hours long?) for the few days the run is in.
        self._cache: dict[int, tuple[int, bool, bool]] = {}
        local = start.astimezone(ZoneInfo(spec.timezone))
        clock = (local.hour * 3600 + local.minute * 60 + local.second) * US_PER_SECOND
        self._start_position = self.calendar.share_between(0, clock + local.microsecond)
        # The last day of 24 hours `arrival` met, and its start: most arrivals fall on it
        # (public for a hot path to take `arrival`'s first case inline).
        self.plain_day = -1
        self.plain_start = 0

    @property
    def any_active(self) -> bool:
        """Whether anyone is ever active: a share above 0 and at least one working day."""
        return self._active > 0 and bool(self.calendar.days)

    @property
    def everyone_active(self) -> bool:
        """Whether every user is active on every working day (no draw needed)."""
        return self._active >= 1

    def day(self, day: int) -> tuple[int, bool, bool]:
        """(virtual start, a working day, 24 hours long) of `day`, remembered for a while."""
        known = self._cache.get(day)
        if known is None:
            if len(self._cache) >= _DAYS_KEPT:
                self._cache.clear()
            calendar = self.calendar
            start = calendar.day_start(day)
            plain = calendar.day_start(day + 1) - start == US_PER_DAY
            known = self._cache[day] = (start, calendar.is_working_day(day), plain)
        return known

    def is_active(self, user: int, day: int) -> bool:
        """The one rule of every generator: is user `user` (index) active on `day`?"""
        return chance(self._active_key, user, day) < self._active

    def arrival(self, day: int, position: float) -> int:
        """`Calendar.arrival`, sparing the time-zone arithmetic on a day with no clock change."""
        if day == self.plain_day:
            return self.plain_start + self._arrival_clock(position)
        start, _, plain = self.day(day)
        if plain:
            self.plain_day, self.plain_start = day, start
            return start + self._arrival_clock(position)
        return self.calendar.arrival(day, position)

    def first_position(self, day: int) -> float:
        """Where a day's arrivals begin for the run: the share of the curve's area before
        the run's start on the day it starts in (earlier arrivals are not made; a Poisson
        process is memoryless, so the later ones are as if the day had been whole), else 0."""
        return self._start_position if day == 0 else 0.0

    def next_active_day(self, user: int, day: int) -> int:
        """The user's next working day after `day` on which it is active (the workload's one
        rule), or -1 when that day begins after the run."""
        key, active, duration = self._active_key, self._active, self.duration
        while True:
            day += 1
            start, working, _ = self.day(day)
            if start >= duration:
                return -1
            if working and chance(key, user, day) < active:
                return day
