"""A run's speed as written (`max`, `realtime`, `60x`): parsed, refused, shown back."""

from __future__ import annotations

import pytest

from simulator.scenario.speed import Speed


@pytest.mark.parametrize(
    ("text", "factor", "shown"),
    [
        ("max", None, "max"),
        ("MAX", None, "max"),
        (" realtime ", 1.0, "realtime"),
        ("1x", 1.0, "realtime"),
        ("60x", 60.0, "60x"),
        ("60X", 60.0, "60x"),
        ("0.5x", 0.5, "0.5x"),
        ("1000x", 1000.0, "1000x"),
    ],
)
def test_speed_parse(text: str, factor: float | None, shown: str) -> None:
    speed = Speed.parse(text)
    assert speed.factor == factor
    assert str(speed) == shown
    assert Speed.parse(str(speed)) == speed


@pytest.mark.parametrize(
    "text", ["", "fast", "60", "x", "0x", "0.0x", "-5x", "60 x", "1e3x", "nanx"]
)
def test_speed_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="speed"):
        Speed.parse(text)
