"""The workload's named distributions: parsing, errors, and draws by inversion."""

from __future__ import annotations

import random
import statistics

import pytest
from pydantic import BaseModel, ValidationError

from simulator.scenario.distributions import (
    NOTESBENCH,
    Constant,
    CountDistribution,
    Discrete,
    DurationDistribution,
    Exponential,
    LogNormal,
    RankDistribution,
    SizeDistribution,
    Uniform,
    ZipfExponent,
    parse_size,
    poisson,
    zipf,
)


class Fields(BaseModel):
    duration: DurationDistribution = Constant(0)
    size: SizeDistribution = Constant(0)
    count: CountDistribution = Constant(0)
    rank: RankDistribution = Constant(1)


def test_each_name_parses_to_its_distribution_in_the_fields_unit() -> None:
    parsed = Fields.model_validate(
        {
            "duration": {"lognormal": {"median": "4h", "sigma": 0.5}},
            "size": {"uniform": ["1KB", "2KB"]},
            "count": {"poisson": {"mean": 2}},
            "rank": {"zipf": 0.9},
        }
    )
    assert parsed.duration == LogNormal(4 * 3600e6, 0.5)
    assert parsed.size == Uniform(1024, 2048)
    assert isinstance(parsed.count, Discrete) and parsed.count.name == "poisson"
    assert parsed.rank == ZipfExponent(0.9)
    assert Fields.model_validate({"duration": {"exponential": {"mean": "90s"}}}).duration == (
        Exponential(90e6)
    )
    assert Fields.model_validate({"duration": "15m"}).duration == Constant(900e6)
    assert Fields.model_validate({"size": "notesbench"}).size is NOTESBENCH
    table = Fields.model_validate({"count": {"table": [[1, 3], [5, 1]]}}).count
    assert table.mean == pytest.approx((1 * 3 + 5 * 1) / 4)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("duration", {"gamma": {"k": 1}}, "unknown distribution 'gamma'"),
        ("duration", {"exponential": {"mean": "0s"}}, "positive mean"),
        ("duration", {"lognormal": {"median": "1h"}}, "lognormal needs sigma"),
        ("duration", {"uniform": ["2h", "1h"]}, "low <= high"),
        ("duration", {"exponential": {"mean": "1h", "x": 1}}, "no parameter x"),
        ("duration", {"exponential": {"mean": "1h"}, "constant": 1}, "got keys"),
        ("duration", "notesbench", "message sizes only"),
        ("count", {"zipf": 0.9}, "needs {exponent, count}"),
        ("size", "12 parsecs", "expected a size"),
        ("count", {"table": []}, "at least one row"),
        ("count", {"table": [[1, 0]]}, "positive total weight"),
    ],
)
def test_a_bad_distribution_says_what_is_wrong(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        Fields.model_validate({field: value})
    assert caught.value.errors()[0]["loc"][0] == field


def test_sizes_take_binary_units() -> None:
    assert parse_size("500") == 500
    assert parse_size("10KB") == 10 * 1024
    assert parse_size("1.5 MB") == 1.5 * 1024 * 1024
    with pytest.raises(ValueError):
        parse_size(-1)


def test_notesbench_is_the_sendmessage_table() -> None:
    assert NOTESBENCH.probability(50 * 1024) == pytest.approx(0.40)
    assert NOTESBENCH.probability(10 * 1024 * 1024) == pytest.approx(0.005)
    assert sum(NOTESBENCH.weights) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "distribution",
    [
        Uniform(10, 30),
        Exponential(90),
        LogNormal(100, 0.5),
        poisson(2.0),
        zipf(0.9, 50),
        NOTESBENCH,
    ],
    ids=lambda d: type(d).__name__ + getattr(d, "name", ""),
)
def test_draws_by_inversion_have_the_stated_mean(distribution: object) -> None:
    draws = random.Random(7)
    values = [distribution.draw(draws.random()) for _ in range(200_000)]  # type: ignore[attr-defined]
    assert statistics.fmean(values) == pytest.approx(distribution.mean, rel=0.03)  # type: ignore[attr-defined]


def test_a_draw_is_monotone_in_its_uniform() -> None:
    # Inversion: a larger u never gives a smaller value, so one u is one value.
    for distribution in (Exponential(5), LogNormal(5, 1), poisson(3), zipf(1.0, 10)):
        values = [distribution.draw(u / 1000) for u in range(1000)]
        assert values == sorted(values)
    assert LogNormal(5, 1).draw(0.0) > 0


def test_zipf_ranks_follow_the_power_law() -> None:
    ranks = zipf(1.0, 100)
    assert ranks.probability(1) / ranks.probability(10) == pytest.approx(10)
    assert ZipfExponent(1.0).over(100) == ranks
