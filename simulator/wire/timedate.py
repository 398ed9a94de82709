"""Domino TIMEDATE: conversion to and from datetimes, virtual time and the text forms."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from simulator.errors import quoted

TICKS_PER_SECOND = 100
TICKS_PER_DAY = 86_400 * TICKS_PER_SECOND
MICROSECONDS_PER_TICK = 10_000
# Julian day number of 0001-01-01 minus its proleptic Gregorian ordinal (1).
_JDN_OF_ORDINAL_ZERO = 1_721_425
_DAY_MASK = 0x00FF_FFFF
_ZONE_BITS = 0xFF00_0000
_ZONE_HOURS_SHIFT = 24
_QUARTERS_SHIFT = 28
_EAST_BIT = 1 << 30
_DST_BIT = 1 << 31

_ID_RE = re.compile(r"^([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8})$")
_ISO_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{2})Z$")


class TimeDate(NamedTuple):
    """`TIMEDATE {DWORD Innards[2]}`: ticks since midnight GMT, then day, zone and DST bits."""

    ticks: int
    day_zone: int

    @property
    def julian_day(self) -> int:
        return self.day_zone & _DAY_MASK

    @property
    def zone_offset(self) -> timedelta:
        """The zone the TIMEDATE carries (east positive), quarter hours included."""
        hours = (self.day_zone >> _ZONE_HOURS_SHIFT) & 0xF
        quarters = (self.day_zone >> _QUARTERS_SHIFT) & 0x3
        minutes = hours * 60 + quarters * 15
        return timedelta(minutes=minutes if self.day_zone & _EAST_BIT else -minutes)

    @property
    def dst(self) -> bool:
        return bool(self.day_zone & _DST_BIT)


def zone_bits(standard: timedelta, daylight: bool) -> int:
    """Innards[1]'s zone and DST bits for a zone `standard` from GMT (east positive, whole
    quarter hours), in daylight saving time or not: what `TimeDate.zone_offset` and
    `TimeDate.dst` read back."""
    minutes = abs(int(standard.total_seconds())) // 60
    bits = (minutes // 60) << _ZONE_HOURS_SHIFT | (minutes % 60 // 15) << _QUARTERS_SHIFT
    if standard > timedelta(0):
        bits |= _EAST_BIT
    if daylight:
        bits |= _DST_BIT
    return bits


ZERO_TIMEDATE = TimeDate(0, 0)


def timedate_from_ticks(absolute_ticks: int) -> TimeDate:
    """A GMT TIMEDATE from hundredths of a second since midnight starting Julian day 0."""
    day, ticks = divmod(absolute_ticks, TICKS_PER_DAY)
    if not 0 <= day <= _DAY_MASK:
        raise ValueError(f"date out of TIMEDATE range (Julian day {day})")
    return TimeDate(ticks, day)


def absolute_ticks(moment: datetime) -> int:
    """Hundredths of a second since Julian day 0, truncated (never rounded), for an aware time."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no defined GMT instant")
    utc = moment.astimezone(UTC)
    day = utc.toordinal() + _JDN_OF_ORDINAL_ZERO
    seconds = utc.hour * 3600 + utc.minute * 60 + utc.second
    return (
        day * TICKS_PER_DAY + seconds * TICKS_PER_SECOND + utc.microsecond // MICROSECONDS_PER_TICK
    )


def absolute_microseconds(moment: datetime) -> int:
    """Microseconds since Julian day 0 midnight GMT: the exact base virtual time adds to."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no defined GMT instant")
    utc = moment.astimezone(UTC)
    day = utc.toordinal() + _JDN_OF_ORDINAL_ZERO
    seconds = utc.hour * 3600 + utc.minute * 60 + utc.second
    return (day * 86_400 + seconds) * 1_000_000 + utc.microsecond


def timedate_from_datetime(moment: datetime) -> TimeDate:
    """A GMT TIMEDATE (zone 0, no DST) for an aware datetime, truncated to hundredths."""
    return timedate_from_ticks(absolute_ticks(moment))


def datetime_from_timedate(value: TimeDate) -> datetime:
    """The instant a TIMEDATE names, as an aware UTC datetime (its zone bits only label it)."""
    if value.ticks >= TICKS_PER_DAY:
        raise ValueError(f"TIMEDATE time of day out of range: {value.ticks} ticks")
    date = datetime.fromordinal(value.julian_day - _JDN_OF_ORDINAL_ZERO).replace(tzinfo=UTC)
    return date + timedelta(microseconds=value.ticks * MICROSECONDS_PER_TICK)


# Julian day numbers of the Unix epoch, and of the first and last days a datetime holds.
JDN_OF_UNIX_EPOCH = 2_440_588
FIRST_DATETIME_JDN = _JDN_OF_ORDINAL_ZERO + 1
LAST_DATETIME_JDN = _JDN_OF_ORDINAL_ZERO + datetime.max.toordinal()
MICROSECONDS_PER_DAY = 86_400_000_000
JULIAN_DAY_MASK = _DAY_MASK  # Innards[1]'s bits that are the day


def readable_day(day: int) -> bool:
    """Whether a Julian day is one billsim reads back as a date (`report`, `check`, the
    add-in's stores turn times into datetimes: the years 1..9999, where `run` stops too).
    The hot readers (`unix_us_from_innards`, the add-in's generated rows) compare inline."""
    return FIRST_DATETIME_JDN <= day <= LAST_DATETIME_JDN


def unix_us_from_innards(ticks: int, day_zone: int) -> int:
    """The instant `datetime_from_timedate` gives for Innards[0], Innards[1], as µs since
    the Unix epoch, without making the datetime; the same ValueError where it has none."""
    day = day_zone & _DAY_MASK
    if ticks >= TICKS_PER_DAY or not FIRST_DATETIME_JDN <= day <= LAST_DATETIME_JDN:
        datetime_from_timedate(TimeDate(ticks, day_zone))  # says what is out of range
        raise AssertionError("unreachable")  # pragma: no cover
    return (day - JDN_OF_UNIX_EPOCH) * MICROSECONDS_PER_DAY + ticks * MICROSECONDS_PER_TICK


class VirtualTimeStamper:
    """Turns virtual microseconds since a scenario's start into TIMEDATEs, fast.

    Records are stamped hundreds of thousands of times a second; caching the day
    keeps that to a subtraction and a comparison in the common case.
    """

    __slots__ = ("_base_us", "_day", "_day_end_tick", "_day_start_tick")

    def __init__(self, start: datetime) -> None:
        self._base_us = absolute_microseconds(start)
        self._day = -1
        self._day_start_tick = 0
        self._day_end_tick = 0

    @property
    def base_us(self) -> int:
        """`ticks(v)` is `(base_us + v) // MICROSECONDS_PER_TICK`, for a hot path to work out
        without a call."""
        return self._base_us

    def ticks(self, virtual_us: int) -> int:
        """Absolute ticks of a virtual time: differences of these are elapsed hundredths."""
        return (self._base_us + virtual_us) // MICROSECONDS_PER_TICK

    def __call__(self, virtual_us: int) -> TimeDate:
        tick = (self._base_us + virtual_us) // MICROSECONDS_PER_TICK
        if not self._day_start_tick <= tick < self._day_end_tick:
            self._day = tick // TICKS_PER_DAY
            self._day_start_tick = self._day * TICKS_PER_DAY
            self._day_end_tick = self._day_start_tick + TICKS_PER_DAY
        # tuple.__new__: the NamedTuple without its Python-level __new__ (a record's stamp).
        return _new_tuple(TimeDate, (tick - self._day_start_tick, self._day))


_new_tuple = tuple.__new__


def format_timedate_id(value: TimeDate) -> str:
    """Replica-ID form `%08X:%08X` of Innards[1], Innards[0]: lossless for any TIMEDATE."""
    return f"{value.day_zone:08X}:{value.ticks:08X}"


def parse_timedate_id(text: str) -> TimeDate:
    match = _ID_RE.match(text)
    if match is None:
        raise ValueError(f"not a replica ID of the form 85258A3B:0052C1F0: {quoted(text)}")
    return TimeDate(int(match[2], 16), int(match[1], 16))


def format_timedate(value: TimeDate) -> str:
    """ISO-8601 UTC with hundredths for plain GMT times, else the lossless id form."""
    return format_innards(value[0], value[1])


_DATE_PREFIX: dict[int, str] = {}
# 00..99; hour < 24, minute and second < 60 and hundredths < 100 once ticks < TICKS_PER_DAY.
_TWO_DIGITS: tuple[str, ...] = tuple(f"{i:02d}" for i in range(100))
_MAX_ORDINAL = datetime.max.toordinal()


def format_innards(ticks: int, day_zone: int) -> str:
    """`format_timedate` of Innards[0], Innards[1]: the decoder's hot path, so dates are cached."""
    if day_zone & _ZONE_BITS or ticks >= TICKS_PER_DAY:
        return f"{day_zone:08X}:{ticks:08X}"
    prefix = _DATE_PREFIX.get(day_zone)
    if prefix is None:
        if not _JDN_OF_ORDINAL_ZERO < day_zone <= _JDN_OF_ORDINAL_ZERO + _MAX_ORDINAL:
            # Outside 0001..9999: no ISO date; the id form still says it exactly.
            return f"{day_zone:08X}:{ticks:08X}"
        date = datetime.fromordinal(day_zone - _JDN_OF_ORDINAL_ZERO)
        # Not strftime's %Y: glibc does not zero-pad years before 1000, and the parser needs 4.
        prefix = f"{date.year:04d}-{date.month:02d}-{date.day:02d}T"
        _DATE_PREFIX[day_zone] = prefix
    seconds, hundredths = divmod(ticks, TICKS_PER_SECOND)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    two = _TWO_DIGITS  # a table: six times faster than `:02d` format specs
    return f"{prefix}{two[hour]}:{two[minute]}:{two[second]}.{two[hundredths]}Z"


def parse_timedate(text: str) -> TimeDate:
    """Either form `format_timedate` writes."""
    match = _ISO_RE.match(text)
    if match is None:
        return parse_timedate_id(text)
    year, month, day, hour, minute, second, hundredths = (int(g) for g in match.groups())
    moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    return timedate_from_ticks(absolute_ticks(moment) + hundredths)


def shift_timedate(value: TimeDate, ticks: int) -> TimeDate:
    """`value` moved by `ticks` hundredths of a second, its zone and DST bits kept (they
    label the instant, which is GMT ticks and day); ValueError if the day leaves TIMEDATE's
    range or the time of day is not one."""
    return TimeDate(*shift_innards(value[0], value[1], ticks))


def shift_innards(time_of_day: int, day_zone: int, ticks: int) -> tuple[int, int]:
    """`shift_timedate` of Innards[0], Innards[1]: a replay's hot path, so no TimeDate."""
    if time_of_day >= TICKS_PER_DAY:
        raise ValueError(f"TIMEDATE time of day out of range: {time_of_day} ticks")
    day, moved = divmod((day_zone & _DAY_MASK) * TICKS_PER_DAY + time_of_day + ticks, TICKS_PER_DAY)
    if not 0 <= day <= _DAY_MASK:
        raise ValueError(f"date out of TIMEDATE range (Julian day {day})")
    return moved, day | (day_zone & _ZONE_BITS)


# Common-log time stamps name months in English whatever the locale (docs/scenario.md):
# never strftime.
ENGLISH_MONTHS: tuple[str, ...] = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_MONTH_NUMBER = {name: number for number, name in enumerate(ENGLISH_MONTHS, 1)}
_COMMON_LOG_RE = re.compile(
    r"^(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{2}\d{2})$"
)


def shift_common_log_time(text: str, ticks: int) -> str | None:
    """The HTTP time stamp string `text` (`21/Nov/2026:09:00:00 +0000`) moved by `ticks`
    hundredths of a second, written in the zone it names; None when `text` is no such
    time. The string holds whole seconds: the moved time is truncated to the second, as
    the server truncates when it writes one."""
    match = _COMMON_LOG_RE.match(text)
    if match is None or match[2] not in _MONTH_NUMBER:
        return None
    day, year, hour, minute, second = (int(match[i]) for i in (1, 3, 4, 5, 6))
    try:
        local = datetime(year, _MONTH_NUMBER[match[2]], day, hour, minute, second)
        moved = local + timedelta(microseconds=ticks * MICROSECONDS_PER_TICK)
    except (ValueError, OverflowError):
        return None
    if not 1 <= moved.year <= 9999:
        return None
    return (
        f"{moved.day:02d}/{ENGLISH_MONTHS[moved.month - 1]}/{moved.year:04d}:"
        f"{moved.hour:02d}:{moved.minute:02d}:{moved.second:02d} {match[7]}"
    )
