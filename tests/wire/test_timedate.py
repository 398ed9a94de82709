"""TIMEDATE (docs/wire-format.md): Julian days, hundredths by truncation, zone/DST bits, text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.wire.timedate import (
    TICKS_PER_DAY,
    ZERO_TIMEDATE,
    TimeDate,
    VirtualTimeStamper,
    absolute_microseconds,
    absolute_ticks,
    datetime_from_timedate,
    format_innards,
    format_timedate,
    format_timedate_id,
    parse_timedate,
    parse_timedate_id,
    shift_common_log_time,
    shift_timedate,
    timedate_from_datetime,
    timedate_from_ticks,
    zone_bits,
)

JDN_2026_11_21 = 2461366  # 2026-11-21 is Julian day 2461366
JDN_0001_01_01 = 1721426
JDN_9999_12_31 = 5373484
DWORD = 2**32


def test_ticks_per_day() -> None:
    assert TICKS_PER_DAY == 8_640_000


def test_julian_day_of_a_known_date() -> None:
    moment = datetime(2026, 11, 21, 9, 15, tzinfo=UTC)
    value = timedate_from_datetime(moment)
    assert value == TimeDate((9 * 3600 + 15 * 60) * 100, JDN_2026_11_21)
    assert value.julian_day == JDN_2026_11_21
    assert value.zone_offset == timedelta(0)
    assert not value.dst
    assert datetime_from_timedate(value) == moment


def test_midnight_and_last_hundredth_of_the_day() -> None:
    assert timedate_from_datetime(datetime(2026, 11, 21, tzinfo=UTC)) == TimeDate(0, JDN_2026_11_21)
    last = datetime(2026, 11, 21, 23, 59, 59, 999_999, tzinfo=UTC)
    assert timedate_from_datetime(last) == TimeDate(TICKS_PER_DAY - 1, JDN_2026_11_21)


def test_julian_day_range_ends() -> None:
    assert timedate_from_datetime(datetime(1, 1, 1, tzinfo=UTC)).julian_day == JDN_0001_01_01
    assert timedate_from_datetime(datetime(9999, 12, 31, tzinfo=UTC)).julian_day == JDN_9999_12_31
    assert timedate_from_datetime(datetime(2000, 1, 1, 12, tzinfo=UTC)) == TimeDate(
        4_320_000, 2451545
    )


@pytest.mark.parametrize(
    ("microsecond", "hundredths"),
    [(0, 0), (9_999, 0), (10_000, 1), (19_999, 1), (994_999, 99), (995_000, 99), (999_999, 99)],
)
def test_truncation_to_hundredths_never_rounds(microsecond: int, hundredths: int) -> None:
    moment = datetime(2026, 11, 21, 9, 15, 0, microsecond, tzinfo=UTC)
    value = timedate_from_datetime(moment)
    assert value.ticks == (9 * 3600 + 15 * 60) * 100 + hundredths
    assert value.julian_day == JDN_2026_11_21
    assert format_timedate(value) == f"2026-11-21T09:15:00.{hundredths:02d}Z"


def test_other_zone_is_converted_to_gmt() -> None:
    # 2026-11-21T04:15 at UTC-5 is 09:15 GMT; 2026-11-22T01:00 at UTC+2 is the 21st, 23:00 GMT.
    west = datetime(2026, 11, 21, 4, 15, tzinfo=timezone(timedelta(hours=-5)))
    assert timedate_from_datetime(west) == TimeDate(3_330_000, JDN_2026_11_21)
    east = datetime(2026, 11, 22, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert timedate_from_datetime(east) == TimeDate(23 * 360_000, JDN_2026_11_21)
    # The simulator writes GMT: no zone, no DST bits.
    assert timedate_from_datetime(east).day_zone & 0xFF00_0000 == 0


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        timedate_from_datetime(datetime(2026, 11, 21))
    with pytest.raises(ValueError, match="naive"):
        absolute_microseconds(datetime(2026, 11, 21))


def test_timedate_from_ticks_range() -> None:
    assert timedate_from_ticks(JDN_2026_11_21 * TICKS_PER_DAY + 5) == TimeDate(5, JDN_2026_11_21)
    assert timedate_from_ticks(0) == ZERO_TIMEDATE
    assert timedate_from_ticks(0x00FF_FFFF * TICKS_PER_DAY) == TimeDate(0, 0x00FF_FFFF)
    with pytest.raises(ValueError, match="out of TIMEDATE range"):
        timedate_from_ticks(-1)
    with pytest.raises(ValueError, match="out of TIMEDATE range"):
        timedate_from_ticks(0x0100_0000 * TICKS_PER_DAY)


def test_datetime_from_timedate_refuses_ticks_past_the_day() -> None:
    with pytest.raises(ValueError, match="out of range"):
        datetime_from_timedate(TimeDate(TICKS_PER_DAY, JDN_2026_11_21))


def test_zone_and_dst_bits_of_a_replica_id() -> None:
    # 0x85 = DST (bit 31), west (bit 30 clear), no quarters, 5 zone hours; day 0x2563FC.
    value = parse_timedate_id("852563FC:006CDCC0")
    assert value == TimeDate(0x006CDCC0, 0x852563FC)
    assert value.dst
    assert value.zone_offset == timedelta(hours=-5)
    assert value.julian_day == 0x2563FC == 2450428
    assert value.ticks == 7_134_400  # 19:49:04.00
    # Zone or DST bits set: rendered in the lossless id form, never as ISO.
    assert format_timedate(value) == "852563FC:006CDCC0"
    assert format_timedate_id(value) == "852563FC:006CDCC0"
    # The instant is the GMT one; the zone bits only label it.
    assert datetime_from_timedate(value) == datetime(1996, 12, 10, 19, 49, 4, tzinfo=UTC)


def test_zone_east_with_quarter_hours() -> None:
    east_5_30 = (1 << 30) | (2 << 28) | (5 << 24) | JDN_2026_11_21
    value = TimeDate(0, east_5_30)
    assert value.zone_offset == timedelta(hours=5, minutes=30)
    assert not value.dst
    assert value.julian_day == JDN_2026_11_21
    assert format_timedate(value) == f"{east_5_30:08X}:00000000"
    west_3_45 = (3 << 28) | (3 << 24) | JDN_2026_11_21
    assert TimeDate(0, west_3_45).zone_offset == -timedelta(hours=3, minutes=45)


def test_zone_bits_are_the_bits_a_replica_id_shows() -> None:
    # The two examples above, written: 0x85 (DST, west, 5 hours), 0x65 (east, 2 quarters, 5 hours).
    assert zone_bits(timedelta(hours=-5), daylight=True) == 0x8500_0000
    assert zone_bits(timedelta(hours=5, minutes=30), daylight=False) == 0x6500_0000
    assert zone_bits(timedelta(0), daylight=False) == 0


@given(
    quarters=st.integers(-12 * 4, 14 * 4),
    daylight=st.booleans(),
    day=st.integers(0, 0x00FF_FFFF),
)
def test_zone_bits_read_back_as_the_zone_and_dst(quarters: int, daylight: bool, day: int) -> None:
    standard = timedelta(minutes=15 * quarters)
    value = TimeDate(0, day | zone_bits(standard, daylight))
    assert (value.zone_offset, value.dst, value.julian_day) == (standard, daylight, day)


@pytest.mark.parametrize("bit", [24, 27, 28, 29, 30, 31])
def test_any_zone_bit_forces_id_form(bit: int) -> None:
    value = TimeDate(3_330_000, JDN_2026_11_21 | (1 << bit))
    text = format_timedate(value)
    assert text == f"{JDN_2026_11_21 | (1 << bit):08X}:0032CFD0"
    assert parse_timedate(text) == value


def test_iso_form() -> None:
    value = TimeDate(3_330_000, JDN_2026_11_21)
    assert format_timedate(value) == "2026-11-21T09:15:00.00Z"
    assert format_innards(3_330_000, JDN_2026_11_21) == "2026-11-21T09:15:00.00Z"
    assert format_timedate(TimeDate(TICKS_PER_DAY - 1, JDN_2026_11_21)) == (
        "2026-11-21T23:59:59.99Z"
    )
    assert parse_timedate("2026-11-21T09:15:00.00Z") == value
    assert parse_timedate("2026-11-21T23:59:59.99Z") == TimeDate(TICKS_PER_DAY - 1, JDN_2026_11_21)


def test_id_form() -> None:
    value = TimeDate(0x0052C1F0, 0x85258A3B)
    assert format_timedate_id(value) == "85258A3B:0052C1F0"
    assert parse_timedate_id("85258A3B:0052C1F0") == value
    assert parse_timedate_id("85258a3b:0052c1f0") == value
    assert parse_timedate("85258A3B:0052C1F0") == value
    # A plain GMT TIMEDATE still has an id form (replica IDs are ids, not times).
    assert format_timedate_id(TimeDate(3_330_000, JDN_2026_11_21)) == "00258EB6:0032CFD0"
    assert parse_timedate("00258EB6:0032CFD0") == TimeDate(3_330_000, JDN_2026_11_21)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "85258A3B0052C1F0",
        "85258A3B:0052C1F",
        "85258A3B:0052C1F0 ",
        "G5258A3B:0052C1F0",
        "2026-11-21T09:15:00Z",
        "2026-11-21T09:15:00.000Z",
        "2026-11-21 09:15:00.00Z",
        "2026-11-21T09:15:00.00+00:00",
    ],
)
def test_bad_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError):  # either form's message
        parse_timedate(text)


def test_impossible_iso_date_is_refused() -> None:
    with pytest.raises(ValueError):  # datetime's own message
        parse_timedate("2026-02-30T00:00:00.00Z")


def test_ticks_past_the_day_render_as_id() -> None:
    value = TimeDate(TICKS_PER_DAY, JDN_2026_11_21)
    assert format_timedate(value) == "00258EB6:0083D600"
    assert parse_timedate(format_timedate(value)) == value


@pytest.mark.parametrize(
    ("day", "iso"),
    [
        (0, None),
        (JDN_0001_01_01 - 1, None),
        (JDN_0001_01_01, "0001-01-01T00:00:00.00Z"),
        (JDN_9999_12_31, "9999-12-31T00:00:00.00Z"),
        (JDN_9999_12_31 + 1, None),
        (0x00FF_FFFF, None),
    ],
)
def test_dates_outside_0001_9999_render_as_id(day: int, iso: str | None) -> None:
    value = TimeDate(0, day)
    text = format_timedate(value)
    assert text == (iso if iso is not None else f"{day:08X}:00000000")
    assert parse_timedate(text) == value


def test_virtual_time_stamper_across_midnight() -> None:
    start = datetime(2026, 11, 21, 23, 59, 59, 990_000, tzinfo=UTC)
    stamp = VirtualTimeStamper(start)
    assert stamp(0) == TimeDate(TICKS_PER_DAY - 1, JDN_2026_11_21)
    assert stamp(9_999) == TimeDate(TICKS_PER_DAY - 1, JDN_2026_11_21)  # truncated
    assert stamp(10_000) == TimeDate(0, JDN_2026_11_21 + 1)
    assert stamp(10_000 + 86_400_000_000) == TimeDate(0, JDN_2026_11_21 + 2)
    # Going back in virtual time refreshes the cached day.
    assert stamp(5_000) == TimeDate(TICKS_PER_DAY - 1, JDN_2026_11_21)
    assert stamp(3_600_000_000) == TimeDate(359_999, JDN_2026_11_21 + 1)
    # Elapsed values are differences of ticks, never rounded floats.
    assert stamp.ticks(10_000) - stamp.ticks(0) == 1
    assert stamp.ticks(19_999) - stamp.ticks(0) == 1
    assert stamp.ticks(3_500_000) - stamp.ticks(0) == 350


def test_virtual_time_stamper_truncates_sub_hundredth_start() -> None:
    # A start between hundredths: ticks count from the exact microsecond, then truncate.
    stamp = VirtualTimeStamper(datetime(2026, 11, 21, 9, 0, 0, 5_000, tzinfo=UTC))
    assert stamp(0) == TimeDate(3_240_000, JDN_2026_11_21)
    assert stamp(4_999) == TimeDate(3_240_000, JDN_2026_11_21)
    assert stamp(5_000) == TimeDate(3_240_001, JDN_2026_11_21)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, DWORD - 1), st.integers(0, DWORD - 1))
def test_text_round_trip_of_any_timedate(ticks: int, day_zone: int) -> None:
    value = TimeDate(ticks, day_zone)
    assert parse_timedate(format_timedate(value)) == value
    assert parse_timedate_id(format_timedate_id(value)) == value
    assert format_innards(ticks, day_zone) == format_timedate(value)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, TICKS_PER_DAY - 1), st.integers(JDN_0001_01_01, JDN_9999_12_31))
def test_plain_gmt_timedates_render_as_iso(ticks: int, day: int) -> None:
    value = TimeDate(ticks, day)
    text = format_timedate(value)
    assert text.endswith("Z")
    assert len(text) == len("2026-11-21T09:15:00.00Z")
    assert parse_timedate(text) == value
    assert timedate_from_datetime(datetime_from_timedate(value)) == value


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59, 59, 999_999),
        timezones=st.just(UTC),
    )
)
def test_datetime_round_trip_truncates(moment: datetime) -> None:
    value = timedate_from_datetime(moment)
    back = datetime_from_timedate(value)
    assert back == moment.replace(microsecond=moment.microsecond // 10_000 * 10_000)
    assert absolute_ticks(moment) == value.julian_day * TICKS_PER_DAY + value.ticks
    assert absolute_microseconds(moment) // 10_000 == absolute_ticks(moment)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10 * 86_400_000_000), st.integers(0, 10 * 86_400_000_000))
def test_virtual_time_stamper_agrees_with_datetime(first: int, second: int) -> None:
    start = datetime(2026, 11, 21, 23, 0, 0, 123_456, tzinfo=UTC)
    stamp = VirtualTimeStamper(start)
    for virtual_us in (first, second, first):
        expected = timedate_from_datetime(start + timedelta(microseconds=virtual_us))
        assert stamp(virtual_us) == expected
        assert stamp.ticks(virtual_us) == expected.julian_day * TICKS_PER_DAY + expected.ticks


# -- moving times (billsim replay --rebase) ------------------------------------------------


def test_shift_timedate_moves_the_instant_across_days_and_keeps_zone_bits() -> None:
    eastern_dst = (5 << 24) | (1 << 31)  # zone 5 hours west, DST in effect
    value = TimeDate(TICKS_PER_DAY - 50, JDN_2026_11_21 | eastern_dst)
    moved = shift_timedate(value, 80)
    assert moved == TimeDate(30, (JDN_2026_11_21 + 1) | eastern_dst)
    assert shift_timedate(moved, -80) == value
    assert shift_timedate(value, -400 * TICKS_PER_DAY).julian_day == JDN_2026_11_21 - 400


def test_shift_timedate_out_of_range_or_of_no_time_of_day_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="out of TIMEDATE range"):
        shift_timedate(TimeDate(0, 1), -2 * TICKS_PER_DAY)
    with pytest.raises(ValueError, match="time of day"):
        shift_timedate(TimeDate(TICKS_PER_DAY, JDN_2026_11_21), 1)


@pytest.mark.parametrize(
    ("text", "ticks", "moved"),
    [
        ("21/Nov/2026:09:15:00 +0000", 100 * 86_400 * 41, "01/Jan/2027:09:15:00 +0000"),
        ("31/Dec/2026:23:59:59 +0000", 100, "01/Jan/2027:00:00:00 +0000"),
        # Whole seconds only: the moved time is truncated, never rounded.
        ("21/Nov/2026:09:15:00 +0000", 99, "21/Nov/2026:09:15:00 +0000"),
        ("21/Nov/2026:09:15:00 +0000", -1, "21/Nov/2026:09:14:59 +0000"),
        # Written in the zone it names.
        ("01/Mar/2028:00:30:00 +0100", -3600 * 100, "29/Feb/2028:23:30:00 +0100"),
    ],
)
def test_shift_common_log_time(text: str, ticks: int, moved: str) -> None:
    assert shift_common_log_time(text, ticks) == moved


@pytest.mark.parametrize(
    "text", ["", "21/Nov/2026 09:15:00", "21/Foo/2026:09:15:00 +0000", "31/Feb/2026:00:00:00 +0000"]
)
def test_a_string_that_is_no_common_log_time_is_not_moved(text: str) -> None:
    assert shift_common_log_time(text, 100) is None
    assert shift_common_log_time("31/Dec/9999:23:59:59 +0000", 100) is None
