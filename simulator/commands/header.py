"""`billsim header SCENARIO`: the C header of a scenario's custom record types."""

from __future__ import annotations

from simulator.scenario.models import Scenario
from simulator.wire.cheader import generate_header


def scenario_header(scenario: Scenario, source: str | None = None) -> str:
    """The header's text; `source` names the scenario file in its first comment."""
    return generate_header(scenario.custom_kinds(), scenario.name, scenario.description, source)
