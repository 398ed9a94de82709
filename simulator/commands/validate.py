"""`billsim validate`: each scenario loaded and its script dry-run, every bad one reported."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from simulator.commands.loading import BILLS_NOTHING, check_script, load
from simulator.domino.simulation import RunOptions
from simulator.errors import EXIT_BAD_INPUT, EXIT_OK, InputError
from simulator.scenario.loader import parse_workload


def validate(scenario_args: list[str], notes_ini: Path | None, stream: TextIO | None = None) -> int:
    """Each scenario checked in full; every bad one reported, exit 2 if any."""
    stream = stream or sys.stdout
    bad = 0
    for arg in scenario_args:
        try:
            scenario, settings = load(arg, notes_ini)
            check_script(scenario, settings, RunOptions())
        except InputError as error:
            bad += 1
            print(f"billsim: {error}", file=sys.stderr)
            continue
        users = f"{len(scenario.users)} user(s)"
        if scenario.workload:
            generated = parse_workload(scenario.workload, scenario.databases, scenario.filename)
            users += f" + {generated.users:,} generated"
        nothing = "" if settings.billing_class else f"; {BILLS_NOTHING}"
        print(
            f"ok  {arg}: {scenario.name}, {len(scenario.script)} scripted action(s), "
            f"{users}, {len(scenario.databases)} database(s){nothing}",
            file=stream,
        )
    return EXIT_BAD_INPUT if bad else EXIT_OK
