"""TIMEDATE in ticks (hundredths of a second since Julian day 0, GMT): the checker's one
measure of time, and a duration in ticks written as people write it."""

from __future__ import annotations

from simulator.wire.timedate import TICKS_PER_DAY, TICKS_PER_SECOND, TimeDate

TICKS_PER_MINUTE = 60 * TICKS_PER_SECOND


def ticks_of(value: TimeDate) -> int:
    """Hundredths of a second since Julian day 0, GMT (Innards[0] is GMT whatever the zone)."""
    return value.julian_day * TICKS_PER_DAY + value.ticks


def format_ticks(ticks: int) -> str:
    """A duration in hundredths as people write it: `5m`, `7m30s`, `14m59.99s`, `-2s`."""
    if ticks < 0:
        return "-" + format_ticks(-ticks)
    seconds, hundredths = divmod(ticks, 100)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minute:
        parts.append(f"{minute}m")
    if hundredths:
        parts.append(f"{second}.{hundredths:02d}".rstrip("0") + "s")
    elif second or not parts:
        parts.append(f"{second}s")
    return "".join(parts)
