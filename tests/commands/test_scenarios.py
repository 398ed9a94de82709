"""`billsim scenarios`: each bundled scenario on one line with its description."""

from __future__ import annotations

import io

from simulator.commands.scenarios import list_scenarios
from simulator.scenario.bundled import bundled_scenarios
from simulator.scenario.loader import load_scenario


def test_one_line_a_bundled_scenario_name_then_description() -> None:
    stream = io.StringIO()
    list_scenarios(stream)
    lines = stream.getvalue().splitlines()
    bundled = bundled_scenarios()
    assert [line.split(" ", 1)[0] for line in lines] == list(bundled)
    demo = next(line for line in lines if line.startswith("lifecycle-demo "))
    description = load_scenario(bundled["lifecycle-demo"]).description
    assert description
    assert demo == f"{'lifecycle-demo':<24} {description}"
    assert "(invalid:" not in stream.getvalue()
