"""Thresholds held against an add-in's summary: each limit met at its figure, missed just
above it, a latency limit missed when nothing was measured, a summary that is not one."""

from __future__ import annotations

import json

import pytest

from simulator.errors import InputError
from simulator.verify.thresholds import (
    MAX_LAG,
    MAX_P99,
    MAX_REJECTS,
    Thresholds,
    judge,
    read_addin_figures,
)


def summary_text(*, rejects: int = 0, p99: float = 40.0, most: float = 900.0) -> str:
    return json.dumps(
        {
            "committed": 10,
            "rejects": rejects,
            "latency_ms": {"p50": 1.0, "p90": 2.0, "p99": p99, "max": most, "frames": 10},
        }
    )


def test_no_limit_asked_judges_nothing() -> None:
    figures = read_addin_figures(summary_text(), "a.json")
    assert not Thresholds().given
    assert judge(Thresholds(), figures) == []


@pytest.mark.parametrize(
    ("thresholds", "name", "actual"),
    [
        (Thresholds(max_p99_us=40_000), MAX_P99, 40.0),
        (Thresholds(max_lag_us=900_000), MAX_LAG, 900.0),
        (Thresholds(max_rejects=3), MAX_REJECTS, 3.0),
    ],
)
def test_a_limit_equal_to_its_figure_is_met_and_one_below_it_missed(
    thresholds: Thresholds, name: str, actual: float
) -> None:
    figures = read_addin_figures(summary_text(rejects=3), "a.json")
    (check,) = judge(thresholds, figures)
    assert (check.name, check.actual, check.met) == (name, actual, True)
    tighter = Thresholds(
        max_p99_us=None if thresholds.max_p99_us is None else thresholds.max_p99_us - 1,
        max_lag_us=None if thresholds.max_lag_us is None else thresholds.max_lag_us - 1,
        max_rejects=None if thresholds.max_rejects is None else thresholds.max_rejects - 1,
    )
    (check,) = judge(tighter, figures)
    assert (check.name, check.met) == (name, False)


def test_lag_is_the_longest_latency_and_limits_are_in_milliseconds() -> None:
    figures = read_addin_figures(summary_text(p99=12.5, most=4_200.0), "a.json")
    p99, lag, rejects = judge(
        Thresholds(max_p99_us=100_000, max_lag_us=5_000_000, max_rejects=0), figures
    )
    assert (p99.limit, p99.actual, p99.unit) == (100.0, 12.5, "ms")
    assert (lag.limit, lag.actual) == (5000.0, 4200.0)
    assert (rejects.limit, rejects.actual, rejects.unit) == (0.0, 0.0, "")
    assert p99.met and lag.met and rejects.met


def test_a_latency_limit_without_latencies_is_missed_saying_why() -> None:
    figures = read_addin_figures(json.dumps({"rejects": 0}), "a.json")
    (check,) = judge(Thresholds(max_p99_us=1_000_000), figures)
    assert not check.met
    assert check.actual is None
    assert "not measured" in check.note


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"users": {}}', "rejects"),
        ('{"rejects": -1}', "rejects"),
        ('{"rejects": true}', "rejects"),
        ('{"rejects": 0, "latency_ms": {"p99": "fast", "max": 1}}', "latency_ms.p99"),
        ('{"rejects": 0, "latency_ms": {"p99": 1}}', "latency_ms.max"),
        ('{"rejects": 0, "latency_ms": [1, 2]}', "latency_ms"),
        # NaN compares false with every limit: it would read as a missed threshold (exit 1).
        ('{"rejects": 0, "latency_ms": {"p99": NaN, "max": 1}}', "latency_ms.p99"),
        ('{"rejects": 0, "latency_ms": {"p99": 1, "max": Infinity}}', "latency_ms.max"),
        ('{"rejects": 0, "latency_ms": {"p99": 1, "max": 1, "frames": -3}}', "latency_ms.frames"),
        ('{"rejects": 0, "latency_ms": {"p99": 1, "max": 1, "frames": "x"}}', "latency_ms.frames"),
        (f'{{"rejects": 0, "latency_ms": {{"p99": {"9" * 400}, "max": 1}}}}', "latency_ms.p99"),
        ('{"rejects": 5, "rejects": 0}', "rejects"),
    ],
)
def test_what_is_no_addin_summary_is_bad_input_naming_the_field(text: str, field: str) -> None:
    with pytest.raises(InputError) as raised:
        read_addin_figures(text, "a.json")
    assert (raised.value.file, raised.value.field) == ("a.json", field)


def test_text_that_is_not_json_names_its_line() -> None:
    with pytest.raises(InputError) as raised:
        read_addin_figures('{\n"rejects": 0,\n}', "a.json")
    assert (raised.value.file, raised.value.line) == ("a.json", 3)
