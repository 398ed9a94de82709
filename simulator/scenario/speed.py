"""A run's speed (`max`, `realtime`, `60x`): how virtual time maps to wall time."""

from __future__ import annotations

import re
from dataclasses import dataclass

from simulator.errors import quoted

_SPEED = re.compile(r"^(?:(max)|(realtime)|(\d+(?:\.\d+)?)x)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Speed:
    """How virtual time maps to wall time: `factor` virtual seconds per wall second, None = max."""

    factor: float | None

    @classmethod
    def parse(cls, text: str) -> Speed:
        match = _SPEED.match(text.strip())
        if match is None:
            raise ValueError(f"speed must be max, realtime or Nx (e.g. 60x), not {quoted(text)}")
        if match[1]:
            return cls(None)
        if match[2]:
            return cls(1.0)
        factor = float(match[3])
        if factor <= 0:
            raise ValueError(f"speed factor must be positive, not {quoted(text)}")
        return cls(factor)

    def __str__(self) -> str:
        if self.factor is None:
            return "max"
        if self.factor == 1.0:
            return "realtime"
        return f"{self.factor:g}x"
