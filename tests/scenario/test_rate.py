"""Rates as written (`--rate 5000/s`, `stages:`): parsed, refused, and shown back as written."""

from __future__ import annotations

import pytest

from simulator.scenario.rate import RatePlan, RateStage, format_rate, parse_rate


def plan(*stages: tuple[float, float]) -> RatePlan:
    return RatePlan(tuple(RateStage(rate, seconds) for rate, seconds in stages))


@pytest.mark.parametrize(
    ("value", "rate"),
    [
        ("5000/s", 5000.0),
        ("5000", 5000.0),
        ("2.5/s", 2.5),
        ("0/s", 0.0),
        (" 7 / s ", 7.0),
        (40, 40.0),
    ],
)
def test_parse_rate(value: object, rate: float) -> None:
    assert parse_rate(value) == rate
    assert parse_rate(format_rate(rate)) == rate


@pytest.mark.parametrize("value", ["", "fast", "5000/m", "-5/s", "5k/s", "inf", True, None, [1]])
def test_parse_rate_rejects(value: object) -> None:
    with pytest.raises(ValueError, match=r"rate|negative"):
        parse_rate(value)


def test_plan_reads_as_written() -> None:
    assert str(RatePlan.constant(5000)) == "5000/s"
    assert str(plan((1000, 60), (0, 30))) == "stages 1000/s for 60s, 0/s for 30s"


def test_a_rate_of_a_million_or_more_is_shown_whole() -> None:
    assert format_rate(2_500_000.0) == "2500000/s"
    assert parse_rate(format_rate(2_500_000.4)) == 2_500_000.0
