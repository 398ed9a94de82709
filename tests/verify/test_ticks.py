"""TIMEDATE as ticks, and durations in ticks as people write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulator.verify.ticks import TICKS_PER_MINUTE, format_ticks, ticks_of
from simulator.wire.timedate import TimeDate, timedate_from_datetime, zone_bits

MINUTE = TICKS_PER_MINUTE


@pytest.mark.parametrize(
    ("ticks", "text"),
    [
        (15 * MINUTE, "15m"),
        (7 * MINUTE + 3050, "7m30.5s"),
        (14 * MINUTE + 5999, "14m59.99s"),
        (-(2 * 60 * MINUTE + 1), "-2h0.01s"),
        (-200, "-2s"),
        (60 * MINUTE, "1h"),
        (0, "0s"),
    ],
)
def test_a_duration_reads_as_people_write_it(ticks: int, text: str) -> None:
    assert format_ticks(ticks) == text


def test_ticks_count_hundredths_across_midnight_whatever_the_zone() -> None:
    before = datetime(2026, 11, 23, 23, 59, 59, 990_000, tzinfo=UTC)
    after = before + timedelta(milliseconds=20)
    assert ticks_of(timedate_from_datetime(after)) - ticks_of(timedate_from_datetime(before)) == 2
    # Innards[0] is GMT: the zone and DST bits of Innards[1] do not move the instant.
    stamp = timedate_from_datetime(before)
    other_zone = TimeDate(stamp.ticks, stamp.day_zone | zone_bits(timedelta(hours=1), True))
    assert other_zone.dst and other_zone.julian_day == stamp.julian_day
    assert ticks_of(other_zone) == ticks_of(stamp)
