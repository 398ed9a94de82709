"""Scenario durations (`350ms`, `3.5s`, `15m`, `2h`, `1d`, bare seconds) as exact microseconds."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Annotated

from pydantic import BeforeValidator

from simulator.errors import quoted

US_PER_UNIT: dict[str, int] = {
    "us": 1,
    "µs": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
}
_PATTERN = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-zµ]*)$")
# What a script's `at:` mostly is (`1.189s`, `15m`): read with one match and no other
# call; anything else (spaces, a bare number, more digits, an error) by _parse_text.
_COMMON = re.compile(r"([0-9]{1,18})(?:\.([0-9]{1,6}))?(s|ms|m|h|d|us|µs)").fullmatch
_SCALES = tuple(10**digits for digits in range(7))
_MAX_DIGITS = 40
_EXPECTED = "a duration like 350ms, 3.5s, 15m, 2h, 1d or a number of seconds"


class DurationError(ValueError):
    """A value that is not a duration; the message says what was expected."""


def _exact(amount: Fraction, us_per_unit: int, shown: str) -> int:
    us = amount * us_per_unit
    if us.denominator != 1:
        raise DurationError(f"{shown} is not a whole number of microseconds")
    return int(us)


def parse_duration(value: object) -> int:
    """The exact number of microseconds `value` stands for; a bare number is seconds.

    Floats are taken as the decimal they print as (0.1 is 100000 µs, not the binary
    neighbour of 0.1), since that is what the scenario's author wrote.
    """
    if type(value) is str:  # what a script's `at:` mostly is, 30,000 times in a big one
        common = _COMMON(value)
        if common is not None:
            whole: str
            fraction: str | None
            unit: str
            us: int
            remainder: int
            whole, fraction, unit = common.groups()
            if fraction is None:
                return int(whole) * US_PER_UNIT[unit]
            us, remainder = divmod(
                int(whole + fraction) * US_PER_UNIT[unit], _SCALES[len(fraction)]
            )
            if not remainder:
                return us
        return _parse_text(value)
    if isinstance(value, bool):
        raise DurationError(f"expected {_EXPECTED}, got {quoted(value)}")
    if isinstance(value, int):
        if value < 0:
            raise DurationError(f"must not be negative, got {value}")
        return value * US_PER_UNIT["s"]
    if isinstance(value, float | Decimal):
        if not math.isfinite(value):
            raise DurationError(f"expected {_EXPECTED}, got {value}")
        if value < 0:
            raise DurationError(f"must not be negative, got {value}")
        return _exact(
            Fraction(repr(value) if isinstance(value, float) else value), 1_000_000, str(value)
        )
    if isinstance(value, Fraction):
        if value < 0:
            raise DurationError(f"must not be negative, got {value}")
        return _exact(value, US_PER_UNIT["s"], str(value))
    if not isinstance(value, str):
        raise DurationError(f"expected {_EXPECTED}, got {quoted(value)}")
    return _parse_text(value)


def _parse_text(value: str) -> int:
    text = value.strip()
    if text.startswith("-"):
        raise DurationError(f"must not be negative, got {quoted(value)}")
    match = _PATTERN.match(text)
    if match is None:
        raise DurationError(f"expected {_EXPECTED}, got {quoted(value)}")
    number, unit = match.groups()
    if len(number) > _MAX_DIGITS:
        # Longer than any duration a TIMEDATE holds, and past 4,300 digits Python refuses
        # to read it as a number at all.
        raise DurationError(f"a number of {len(number):,} digits is too long for a duration")
    if unit not in US_PER_UNIT and unit != "":
        units = ", ".join(US_PER_UNIT)
        raise DurationError(f"unknown unit {quoted(unit)} in {quoted(value)} (one of {units})")
    return _exact_decimal(number, US_PER_UNIT[unit or "s"], value)


def _exact_decimal(number: str, us_per_unit: int, value: str) -> int:
    """`_exact` of a decimal text (`12`, `3.5`, `.25`), in integers: a script has a time
    for each of its actions, and a Fraction costs many times more."""
    whole, _, fraction = number.partition(".")
    scale: int = 10 ** len(fraction)
    us, remainder = divmod(int(whole + fraction or "0") * us_per_unit, scale)
    if remainder:
        raise DurationError(f"{quoted(value)} is not a whole number of microseconds")
    return us


def format_duration(us: int) -> str:
    """A short exact text for a duration, for messages; `parse_duration` reads it back."""
    if us < 0:
        return "-" + format_duration(-us)
    if us == 0:
        return "0s"
    for unit in ("d", "h", "m", "s"):
        size = US_PER_UNIT[unit]
        if us % size == 0:
            return f"{us // size}{unit}"
    if us >= US_PER_UNIT["s"]:
        whole, fraction = divmod(us, US_PER_UNIT["s"])
        return f"{whole}.{fraction:06d}".rstrip("0") + "s"
    if us % US_PER_UNIT["ms"] == 0:
        return f"{us // US_PER_UNIT['ms']}ms"
    return f"{us}us"


# A run's length (`duration:`, `--duration`) may also be this: until it is stopped.
FOREVER = "forever"


def parse_run_length(value: object) -> int | None:
    """A run's length in microseconds (> 0), or None for `forever`."""
    if isinstance(value, str) and value.strip().lower() == FOREVER:
        return None
    try:
        us = parse_duration(value)
    except DurationError as error:
        if str(error).startswith("expected"):
            raise DurationError(
                f"expected {_EXPECTED}, or {FOREVER}; got {quoted(value)}"
            ) from None
        raise
    if us == 0:
        raise DurationError(f"must be > 0, or {FOREVER}")
    return us


# A pydantic field type for scenario durations: validated to int microseconds.
DurationUs = Annotated[int, BeforeValidator(parse_duration)]
# A run's length: int microseconds, None for forever.
RunLength = Annotated[int | None, BeforeValidator(parse_run_length)]
