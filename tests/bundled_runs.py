"""Bundled scenarios run once per test process: `bundled_out(name, layout)` is the file
`billsim run NAME --out FILE --layout LAYOUT --summary SUMMARY` writes (its summary beside
it: `summary_of(file)`), `bundled_lines(name)` what `billsim run NAME --stdout` prints.
The tests that take them only read them: typical-mail's 50k frames cost seconds a run,
and several modules check the same run in their own ways."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from simulator.commands.run import RunRequest
from simulator.commands.run import run as run_command
from simulator.wire.layout import Layout

BundledOut = Callable[[str, Layout], Path]
BundledLines = Callable[[str], str]


def summary_of(out: Path) -> Path:
    """Where `bundled_out` wrote the run's `--summary`."""
    return out.with_suffix(".summary.json")


def run_bundled(
    name: str,
    out: Path | None = None,
    layout: Layout = Layout.LINUX_X86_64,
    summary: Path | None = None,
) -> str:
    """`billsim run NAME --stdout` (or `--out OUT --layout LAYOUT`, and `--summary`)
    in-process: its stdout.

    Through run_command.run with the CLI's defaults, not typer's CliRunner (one process
    runs many: see test_bundled_scenarios.test_cli_runs_twice_in_one_process).
    """
    stdout, stderr = io.StringIO(), io.StringIO()
    request = RunRequest(
        scenario=name, out=out, stdout=out is None, layout=layout, summary_path=summary
    )
    code = run_command(request, stdout=stdout, stderr=stderr)
    assert code == 0, stderr.getvalue()
    return stdout.getvalue()


@pytest.fixture(scope="session")
def bundled_out(tmp_path_factory: pytest.TempPathFactory) -> BundledOut:
    directory = tmp_path_factory.mktemp("bundled-out")

    @cache
    def out(name: str, layout: Layout = Layout.LINUX_X86_64) -> Path:
        path = directory / f"{name}.{layout.value}.nbf"
        assert run_bundled(name, path, layout, summary_of(path)) == ""
        return path

    return out


@pytest.fixture(scope="session")
def bundled_lines() -> BundledLines:
    return cache(run_bundled)
