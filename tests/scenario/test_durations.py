"""Durations parse to exact microseconds and print back to the same value."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.scenario import durations
from simulator.scenario.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "us"),
    [
        ("350ms", 350_000),
        ("3.5s", 3_500_000),
        ("15m", 900_000_000),
        ("2h", 7_200_000_000),
        ("1d", 86_400_000_000),
        ("90s", 90_000_000),
        ("90", 90_000_000),
        ("0", 0),
        ("0m", 0),
        (".5s", 500_000),
        ("1.000001s", 1_000_001),
        ("250us", 250),
        ("15 m", 900_000_000),
        (" 2h ", 7_200_000_000),
        (90, 90_000_000),
        (0.1, 100_000),  # as written, not the binary double nearest 0.1
        (2.675, 2_675_000),
        (Decimal("0.3"), 300_000),
        (Fraction(1, 2), 500_000),
    ],
)
def test_parse(text: object, us: int) -> None:
    assert parse_duration(text) == us


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5m", "must not be negative"),
        (-1, "must not be negative"),
        (-0.5, "must not be negative"),
        ("abc", "expected a duration"),
        ("", "expected a duration"),
        ("5 m s", "expected a duration"),
        ("1e3", "expected a duration"),
        ("15M", "unknown unit 'M'"),
        ("3 days", "unknown unit 'days'"),
        ("1.5us", "not a whole number of microseconds"),
        (1e-7, "not a whole number of microseconds"),
        (float("nan"), "expected a duration"),
        (float("inf"), "expected a duration"),
        ("nan", "expected a duration"),
        (True, "expected a duration"),
        (None, "expected a duration"),
        ([1], "expected a duration"),
    ],
)
def test_rejects(value: object, message: str) -> None:
    with pytest.raises(DurationError, match=message):
        parse_duration(value)


def test_duration_error_is_a_value_error() -> None:
    # pydantic turns a ValueError from a validator into a field error.
    assert issubclass(DurationError, ValueError)


@pytest.mark.parametrize(
    ("us", "text"),
    [
        (0, "0s"),
        (5_400_000_000, "90m"),
        (86_400_000_000, "1d"),
        (7_200_000_000, "2h"),
        (3_500_000, "3.5s"),
        (90_000_001, "90.000001s"),
        (350_000, "350ms"),
        (1_500, "1500us"),
        (-60_000_000, "-1m"),
    ],
)
def test_format(us: int, text: str) -> None:
    assert format_duration(us) == text


@given(st.integers(min_value=0, max_value=10**15))
def test_format_round_trips(us: int) -> None:
    assert parse_duration(format_duration(us)) == us


@given(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=999_999),
    st.sampled_from(["s", "ms", "m", "h", "d", "us"]),
)
def test_decimal_text_is_exact(whole: int, micro: int, unit: str) -> None:
    factor = {"us": 1, "ms": 1_000, "s": 10**6, "m": 60 * 10**6, "h": 3600 * 10**6}.get(
        unit, 86_400 * 10**6
    )
    text = f"{whole}.{micro:06d}{unit}"
    exact = Fraction(whole) + Fraction(micro, 10**6)
    if (exact * factor).denominator == 1:
        assert parse_duration(text) == exact * factor
    else:
        with pytest.raises(DurationError):
            parse_duration(text)


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_floats_read_as_they_print(value: float) -> None:
    exact = Fraction(repr(value)) * 10**6
    if exact.denominator == 1:
        assert parse_duration(value) == exact
    else:
        with pytest.raises(DurationError):
            parse_duration(value)


def test_a_duration_of_thousands_of_digits_is_refused_not_a_traceback() -> None:
    # Past 4,300 digits Python will not read the text as a number at all.
    with pytest.raises(DurationError, match="a number of 5,000 digits is too long"):
        parse_duration("1" * 5000 + "s")


@given(
    st.text(alphabet="0123456789", min_size=1, max_size=20),
    st.none() | st.text(alphabet="0123456789", max_size=8),
    st.sampled_from(["s", "ms", "m", "h", "d", "us", "µs", "", "x"]),
)
def test_the_common_form_reads_as_the_full_parser_reads_it(
    whole: str, fraction: str | None, unit: str
) -> None:
    # parse_duration reads `1.189s` and its like with one match (durations._COMMON):
    # the same number, or the same error, as the general reader.
    text = whole + ("" if fraction is None else "." + fraction) + unit
    outcomes: list[int | str] = []
    for read in (parse_duration, durations._parse_text):
        try:
            outcomes.append(read(text))
        except DurationError as error:
            outcomes.append(str(error))
    assert outcomes[0] == outcomes[1]
