"""A scenario loaded for a command: its problems with those of a dry run of its script.

Apart from `run` (which imports all a run needs: asyncio, the sinks, the summary), so
that `validate` imports only what loading and a dry run do.
"""

from __future__ import annotations

from pathlib import Path

from simulator.domino.simulation import RunOptions, Simulation
from simulator.errors import InputError
from simulator.scenario.bundled import resolve_scenario
from simulator.scenario.faults import Faults
from simulator.scenario.loader import ScenarioError, load_scenario
from simulator.scenario.models import Scenario
from simulator.scenario.notes_ini import NotesIniSettings, read_notes_ini
from simulator.scenario.yamlsource import paused_gc

BILLS_NOTHING = (
    "it bills nothing: notes_ini sets no BillingClass (for one: notes_ini: {BillingClass: Session})"
)
"""What `validate` and `run` say of a scenario whose server bills no class: valid, and
each of its runs an empty stream."""


def load(scenario_arg: str, notes_ini: Path | None) -> tuple[Scenario, NotesIniSettings]:
    """The scenario and its settings (a notes.ini file wins over the scenario's block).

    A scenario with problems is refused with them all and, in the same error, what a dry
    run of the rest of its script finds (`with_dry_run`).
    """
    try:
        scenario = load_scenario(resolve_scenario(scenario_arg))
    except ScenarioError as error:
        raise with_dry_run(error, notes_ini) from None
    return scenario, settings_of(scenario, notes_ini)


def settings_of(scenario: Scenario, notes_ini: Path | None) -> NotesIniSettings:
    """The scenario's notes.ini settings, with a notes.ini file's over them."""
    layers = [read_notes_ini(notes_ini)] if notes_ini is not None else []
    return scenario.settings_with(*layers)


def with_dry_run(error: ScenarioError, notes_ini: Path | None) -> ScenarioError:
    """The loader's problems and those of the dry run of what it left runnable, by line:
    one run of `validate` (or `run`) says all that is wrong. When nothing could be dry-run,
    a last line says so, and for which problems."""
    runnable = error.runnable
    if runnable is None:
        why = ", ".join(error.blocked)
        return error.with_note(
            f"{error.file}: the script is dry-run for state errors (a logout with no session, "
            f"…) once {f'the problems of {why}' if why else 'these problems'} are fixed"
        )
    try:
        settings = settings_of(runnable, notes_ini)
    except InputError as other:  # the notes.ini file, or the scenario's own block again
        if str(other) in str(error):
            # Already one of the loader's problems: say only what it stopped.
            return error.with_note(
                f"{error.file}: the script is dry-run for state errors once notes_ini's "
                "problem is fixed"
            )
        return error.with_note(f"{other} (so the script was not dry-run)")
    try:
        check_script(runnable, settings, RunOptions())
    except ScenarioError as dry_run:
        found = error.with_errors(dry_run.errors)
    else:
        found = error.with_errors(())
    if error.left_out:
        users = ", ".join(error.left_out)
        return found.with_note(
            f"{error.file}: the actions of {users} are dry-run for state errors once the "
            "problems of their entries and actions are fixed"
        )
    return found


def without_faults(scenario: Scenario) -> Scenario:
    """The scenario with no faults: what a dry run of its script checks."""
    return scenario.model_copy(update={"faults": Faults()}) if scenario.faults.any else scenario


def check_script(scenario: Scenario, settings: NotesIniSettings, options: RunOptions) -> None:
    """Dry-run the script: its state errors (logout with no session, …) raise InputError
    before a single frame is written anywhere. Generated users are left out: they cannot
    make such errors, and a big workload would run twice."""
    with paused_gc():  # what a dry run of a big script makes, walked again and again
        Simulation(without_faults(scenario), settings, options, generate=False).dry_run()
