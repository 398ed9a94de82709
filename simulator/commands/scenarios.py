"""`billsim scenarios`: the bundled scenarios, one a line with its description."""

from __future__ import annotations

from typing import TextIO

from simulator.errors import InputError
from simulator.scenario.bundled import bundled_scenarios
from simulator.scenario.loader import load_scenario


def list_scenarios(stream: TextIO) -> None:
    for name, path in bundled_scenarios().items():
        try:
            description = load_scenario(path).description
        except InputError as error:
            description = f"(invalid: {error})"
        print(f"{name:<24} {description}", file=stream)
