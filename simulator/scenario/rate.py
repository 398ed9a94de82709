"""Rate shaping as written (`--rate 5000/s`, a scenario's `stages:`): records per second.

A rate paces a run by its output, not by its virtual time: the records are the same at
any rate, only the wall clock they take changes (docs/scenario.md, Rate shaping).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from simulator.errors import quoted

_RATE = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?:/\s*s)?$")
_EXPECTED = "a rate like 5000/s (records per second) or a bare number"


def parse_rate(value: object) -> float:
    """Records per second from `5000/s`, `2.5/s`, `5000` or a YAML number; 0 is allowed."""
    if isinstance(value, bool):
        raise ValueError(f"expected {_EXPECTED}, got {quoted(value)}")
    if isinstance(value, int | float):
        rate = float(value)
    elif isinstance(value, str):
        match = _RATE.match(value.strip())
        if match is None:
            if value.strip().startswith("-"):
                raise ValueError(f"must not be negative, got {quoted(value)}")
            raise ValueError(f"expected {_EXPECTED}, got {quoted(value)}")
        rate = float(match[1])
    else:
        raise ValueError(f"expected {_EXPECTED}, got {quoted(value)}")
    if not math.isfinite(rate):
        raise ValueError(f"expected {_EXPECTED}, got {quoted(value)}")
    if rate < 0:
        raise ValueError(f"must not be negative, got {quoted(value)}")
    return rate


def format_rate(rate: float) -> str:
    """`5000/s`, `2.5/s`: what `parse_rate` reads back."""
    return f"{rate:g}/s" if rate < 1e6 else f"{rate:.0f}/s"


@dataclass(frozen=True, slots=True)
class RateStage:
    """One stage: `rate` records/s reached over `seconds` of wall time (0: at once)."""

    rate: float
    seconds: float


@dataclass(frozen=True, slots=True)
class RatePlan:
    """The run's target rate over wall time: its stages in order (see RateSchedule).

    `--rate N` is one stage of N/s reached at once, held to the end of the run.
    """

    stages: tuple[RateStage, ...]

    @classmethod
    def constant(cls, rate: float) -> RatePlan:
        return cls((RateStage(rate, 0.0),))

    def __str__(self) -> str:
        if len(self.stages) == 1 and self.stages[0].seconds == 0:
            return format_rate(self.stages[0].rate)
        return "stages " + ", ".join(
            f"{format_rate(stage.rate)} for {stage.seconds:g}s" for stage in self.stages
        )
