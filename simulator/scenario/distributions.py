"""Named distributions of the generated workload (docs/workload.md), each drawn by inversion.

A scenario names a distribution and its parameters, never code: `constant`, `uniform`,
`exponential`, `lognormal`, `poisson`, finite `zipf`, `table`, and for message sizes
`notesbench`. Every distribution turns ONE uniform number u in [0, 1) into one value
(`draw(u)`), so a caller's per-user stream advances by exactly one step per value, and
one user's parameters never shift another user's draws.

Values come in a unit chosen by the field: durations as integer-valued microseconds,
sizes as bytes, plain counts as numbers. `mean` is the exact mean (what statistical
tests and docs compare against).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from statistics import NormalDist
from typing import Annotated, Any, Protocol

from pydantic import PlainValidator

from simulator.errors import quoted
from simulator.scenario.durations import DurationError, parse_duration

_STANDARD_NORMAL = NormalDist()
# inv_cdf refuses 0 and 1; a uniform from [0, 1) is moved off 0 by the smallest step.
_TINY = 2.0**-53


class Distribution(Protocol):
    """What a generator needs: a value from one uniform number, and the mean for checks."""

    @property
    def mean(self) -> float: ...

    def draw(self, u: float) -> float: ...


@dataclass(frozen=True, slots=True)
class Constant:
    value: float

    @property
    def mean(self) -> float:
        return self.value

    def draw(self, u: float) -> float:
        return self.value


@dataclass(frozen=True, slots=True)
class Uniform:
    low: float
    high: float

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    def draw(self, u: float) -> float:
        return self.low + u * (self.high - self.low)


@dataclass(frozen=True, slots=True)
class Exponential:
    mean_value: float

    @property
    def mean(self) -> float:
        return self.mean_value

    def draw(self, u: float) -> float:
        return -math.log(1.0 - u) * self.mean_value


@dataclass(frozen=True, slots=True)
class LogNormal:
    """exp(N(ln median, sigma²)): the median is what a user knows ("sessions last 4 h")."""

    median: float
    sigma: float

    @property
    def mean(self) -> float:
        return self.median * math.exp(self.sigma * self.sigma / 2)

    def draw(self, u: float) -> float:
        return self.median * math.exp(self.sigma * _STANDARD_NORMAL.inv_cdf(u or _TINY))


@dataclass(frozen=True, slots=True)
class Discrete:
    """Values with weights (table, zipf, poisson, notesbench), drawn by a cumulative search."""

    values: tuple[float, ...]
    weights: tuple[float, ...]
    name: str = "table"
    _cumulative: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cumulative", tuple(accumulate(self.weights)))

    @property
    def total(self) -> float:
        return self._cumulative[-1]

    @property
    def mean(self) -> float:
        return sum(v * w for v, w in zip(self.values, self.weights, strict=True)) / self.total

    def draw(self, u: float) -> float:
        index = bisect_right(self._cumulative, u * self.total)
        return self.values[min(index, len(self.values) - 1)]

    def probability(self, value: float) -> float:
        """The share of draws that give `value` (for statistical checks)."""
        return sum(w for v, w in zip(self.values, self.weights, strict=True) if v == value) / (
            self.total
        )


def zipf(exponent: float, count: int) -> Discrete:
    """Ranks 1..count with weight 1/rank**exponent: rank 1 is the most popular."""
    ranks = tuple(float(rank) for rank in range(1, count + 1))
    return Discrete(ranks, tuple(rank**-exponent for rank in ranks), name="zipf")


def poisson(mean: float) -> Discrete:
    """Poisson(mean) cut where the tail's probability is below 1e-12 (no draw can reach it)."""
    limit = int(mean + 12 * math.sqrt(mean) + 12)
    weights = [math.exp(-mean)]
    for k in range(1, limit + 1):
        weights.append(weights[-1] * mean / k)
    return Discrete(tuple(float(k) for k in range(limit + 1)), tuple(weights), name="poisson")


KIB = 1024
MIB = 1024 * KIB
# The NotesBench mail workloads' SendMessage sizes (docs/workload.md): bytes, share.
NOTESBENCH_SIZES: tuple[tuple[int, float], ...] = (
    (500, 0.10),
    (10 * KIB, 0.30),
    (50 * KIB, 0.40),
    (100 * KIB, 0.10),
    (150 * KIB, 0.095),
    (10 * MIB, 0.005),
)
NOTESBENCH = Discrete(
    tuple(float(size) for size, _ in NOTESBENCH_SIZES),
    tuple(share for _, share in NOTESBENCH_SIZES),
    name="notesbench",
)


@dataclass(frozen=True, slots=True)
class ZipfExponent:
    """`zipf: s` where the set (and so its size) comes from the field, e.g. the databases."""

    exponent: float

    def over(self, count: int) -> Discrete:
        return zipf(self.exponent, count)


# --- parsing: one validator per unit ----------------------------------------------------------

_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(B|KB|MB|GB)?$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": KIB, "mb": MIB, "gb": 1024 * MIB}
_NAMES = "constant, uniform, exponential, lognormal, poisson, zipf, table"


def parse_size(value: object) -> float:
    """Bytes from `500`, `10KB`, `2MB`, `1.5 MB` (KB = 1024 bytes, as Notes shows sizes)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a size like 500, 10KB or 2MB, got {quoted(value)}")
    if isinstance(value, int | float):
        number = float(value)
    else:
        match = _SIZE.match(value.strip())
        if match is None:
            raise ValueError(f"expected a size like 500, 10KB or 2MB, got {quoted(value)}")
        number = float(match[1]) * _SIZE_UNITS[(match[2] or "b").lower()]
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"a size must be a non-negative number of bytes, got {quoted(value)}")
    return number


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {quoted(value)}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"expected a non-negative number, got {quoted(value)}")
    return number


def _duration(value: object) -> float:
    try:
        return float(parse_duration(value))
    except DurationError as error:
        raise ValueError(str(error)) from None


Unit = Callable[[object], float]


def _one_key(value: dict[Any, Any]) -> tuple[str, Any]:
    if len(value) != 1:
        keys = ", ".join(map(str, value)) or "none"
        raise ValueError(f"a distribution is one of {_NAMES} with its parameters; got keys {keys}")
    ((name, params),) = value.items()
    return str(name), params


def _params(
    name: str, params: object, required: Sequence[str], optional: Sequence[str] = ()
) -> dict[str, Any]:
    if not isinstance(params, dict):
        wanted = ", ".join(required)
        raise ValueError(f"{name} takes {{{wanted}}}, got {quoted(params)}")
    missing = [key for key in required if key not in params]
    unknown = [key for key in params if key not in (*required, *optional)]
    if missing:
        raise ValueError(f"{name} needs {', '.join(missing)}")
    if unknown:
        raise ValueError(f"{name} has no parameter {', '.join(map(str, unknown))}")
    return params


def _parse(value: object, unit: Unit, *, allow_zipf: bool, allow_notesbench: bool) -> Any:
    if isinstance(value, str) and value.strip().lower() == "notesbench":
        if not allow_notesbench:
            raise ValueError("notesbench is a distribution of message sizes only")
        return NOTESBENCH
    if not isinstance(value, dict):
        return Constant(unit(value))  # a bare value: always that value
    name, params = _one_key(value)
    if name == "constant":
        return Constant(unit(params))
    if name == "uniform":
        if not isinstance(params, list | tuple) or len(params) != 2:
            raise ValueError(f"uniform takes [low, high], got {quoted(params)}")
        low, high = unit(params[0]), unit(params[1])
        if high < low:
            raise ValueError(f"uniform [low, high] needs low <= high, got {quoted(params)}")
        return Uniform(low, high)
    if name == "exponential":
        mean = unit(_params(name, params, ["mean"])["mean"])
        if mean <= 0:
            raise ValueError("exponential needs a positive mean")
        return Exponential(mean)
    if name == "lognormal":
        given = _params(name, params, ["median", "sigma"])
        median, sigma = unit(given["median"]), _number(given["sigma"])
        if median <= 0:
            raise ValueError("lognormal needs a positive median")
        return LogNormal(median, sigma)
    if name == "poisson":
        mean = _number(_params(name, params, ["mean"])["mean"])
        if mean > 10_000:
            raise ValueError(f"poisson mean {mean} is too large (at most 10000)")
        return poisson(mean)
    if name == "zipf":
        if isinstance(params, dict):
            given = _params(name, params, ["exponent", "count"])
            count = given["count"]
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1_000_000:
                raise ValueError(f"zipf count must be an integer 1..1000000, got {quoted(count)}")
            return zipf(_number(given["exponent"]), count)
        if not allow_zipf:
            raise ValueError("zipf here needs {exponent, count}: the set has no size of its own")
        return ZipfExponent(_number(params))
    if name == "table":
        if not isinstance(params, list) or not params:
            raise ValueError("table takes [[value, weight], …] with at least one row")
        values, weights = [], []
        for row in params:
            if not isinstance(row, list | tuple) or len(row) != 2:
                raise ValueError(f"a table row is [value, weight], got {quoted(row)}")
            values.append(unit(row[0]))
            weights.append(_number(row[1]))
        if sum(weights) <= 0:
            raise ValueError("a table needs a positive total weight")
        return Discrete(tuple(values), tuple(weights))
    raise ValueError(f"unknown distribution {quoted(name)} (one of {_NAMES})")


def _validator(
    unit: Unit, *, allow_zipf: bool = False, allow_notesbench: bool = False
) -> PlainValidator:
    def validate(value: object) -> Any:
        if isinstance(
            value, Constant | Uniform | Exponential | LogNormal | Discrete | ZipfExponent
        ):
            return value  # already parsed (a preset's default, or a model copied)
        return _parse(value, unit, allow_zipf=allow_zipf, allow_notesbench=allow_notesbench)

    return PlainValidator(validate)


# Field types for the workload's models.
DurationDistribution = Annotated[Distribution, _validator(_duration)]
SizeDistribution = Annotated[Distribution, _validator(parse_size, allow_notesbench=True)]
CountDistribution = Annotated[Distribution, _validator(_number)]
# `zipf: s` over a set the field names (database popularity); any other distribution of ranks too.
RankDistribution = Annotated[Distribution | ZipfExponent, _validator(_number, allow_zipf=True)]
