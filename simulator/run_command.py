"""The work behind `billsim run`, `validate` and `scenarios`, without the typer layer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO, TextIO

from simulator.bundled import bundled_scenarios
from simulator.clock import Speed
from simulator.engine import RunOptions
from simulator.errors import EXIT_BAD_INPUT, EXIT_OK, InputError
from simulator.layout import Framing, Layout
from simulator.mq import QuotaPolicy
from simulator.runner import build, run_coroutine, run_to_sink
from simulator.scenario import load_scenario
from simulator.sinks import BinaryFileSink, FrameSink, JsonLinesSink
from simulator.summary import build_summary, print_summary, write_summary_json


def parse_speed(text: str) -> Speed:
    try:
        return Speed.parse(text)
    except ValueError as error:
        raise InputError(str(error), field="--speed") from None


def run_local(
    scenario_arg: str,
    *,
    out: Path | None,
    speed: str | None,
    seed: int | None,
    layout: Layout,
    framing: Framing,
    notes_ini: Path | None,
    stamp_policy: str | None,
    quota: int,
    queue_policy: QuotaPolicy,
    summary_path: Path | None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run to a `.nbf` file (`out`) or JSON lines on stdout; the summary goes to stderr."""
    # Looked up per call, not bound at import: a test runner swaps sys.stdout per command.
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    options = RunOptions(
        speed=parse_speed(speed or "max"),
        seed=seed,
        layout=layout,
        framing=framing,
        stamp_policy=stamp_policy,
        quota=quota,
        policy=queue_policy,
    )
    sim = build(scenario_arg, notes_ini, options)
    stream: BinaryIO | None = None
    try:
        if out is not None:
            try:
                stream = open(out, "wb")  # noqa: SIM115 -- closed below, after the run
            except OSError as error:
                raise InputError(error.strerror or str(error), file=str(out)) from None
            sink: FrameSink = BinaryFileSink(stream)
        else:
            sink = JsonLinesSink(stdout, sim.codec)
        written = run_coroutine(lambda: run_to_sink(sim, sink, stderr))
    finally:
        if stream is not None:
            stream.close()
    summary = build_summary(sim, delivered=written)
    if summary_path is not None:
        with open(summary_path, "w", encoding="utf-8") as handle:
            write_summary_json(summary, handle)
    print_summary(summary, stderr)
    return EXIT_OK


def validate(scenario_args: list[str], notes_ini: Path | None, stream: TextIO | None = None) -> int:
    """Each scenario checked in full; every bad one reported, exit 2 if any."""
    stream = stream or sys.stdout
    bad = 0
    for arg in scenario_args:
        try:
            sim = build(arg, notes_ini, RunOptions())
        except InputError as error:
            bad += 1
            print(f"billsim: {error}", file=sys.stderr)
            continue
        scenario = sim.scenario
        print(
            f"ok  {arg}: {scenario.name}, {len(scenario.script)} scripted action(s), "
            f"{len(scenario.users)} user(s), {len(scenario.databases)} database(s)",
            file=stream,
        )
    return EXIT_BAD_INPUT if bad else EXIT_OK


def list_scenarios(stream: TextIO) -> None:
    for name, path in bundled_scenarios().items():
        try:
            description = load_scenario(path).description
        except InputError as error:
            description = f"(invalid: {error})"
        print(f"{name:<24} {description}", file=stream)
