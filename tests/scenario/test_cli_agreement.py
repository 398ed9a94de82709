"""`validate`, `header` and `run` refuse the same scenarios, at the same file:line: field.

A check made only when a run starts lets `header` accept what `validate` and `run`
refuse; the load-time checks are the one place such rules live.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator import cli

runner = CliRunner()

SCENARIO = """\
name: t
start: "2026-11-21T09:00:00Z"
duration: 60m
server: CN=Mail01/O=Acme
databases:
  names.nsf: {{replica_id: "85258A3B:0052C100"}}
  archive/: {{}}
users:
  alice: {{name: "CN=Alice Smith/O=Acme", address: "10.1.2.3"}}
script:
  - {action}
"""
SCRIPT_LINE = SCENARIO.count("\n")
COMMANDS = [["validate"], ["header"], ["run", "--stdout"]]


def _write(tmp_path: Path, action: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(action=action))
    return path


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command[0])
@pytest.mark.parametrize(
    ("action", "error"),
    [
        (
            "{at: 1m, action: replicate, with: CN=Hub/O=Acme, databases: [{db: archive/}]}",
            "script[0].databases[0].db: 'archive/' is a directory: replicate needs a database",
        ),
        (
            "{at: 1m, action: agent, db: archive/, agent: A, signer: alice}",
            "script[0].db: 'archive/' is a directory: agent needs a database",
        ),
    ],
    ids=["replicate", "agent"],
)
def test_a_task_on_a_directory_exits_2_naming_file_line_and_field(
    tmp_path: Path, command: list[str], action: str, error: str
) -> None:
    path = _write(tmp_path, action)
    result = runner.invoke(cli.app, [command[0], str(path), *command[1:]])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{path}:{SCRIPT_LINE}: {error}" in result.stderr.splitlines()[0]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command[0])
def test_the_same_task_on_a_database_passes_every_command(
    tmp_path: Path, command: list[str]
) -> None:
    action = "{at: 1m, action: replicate, with: CN=Hub/O=Acme, databases: [{db: names.nsf}]}"
    path = _write(tmp_path, action)
    result = runner.invoke(cli.app, [command[0], str(path), *command[1:]])
    assert result.exit_code == 0, result.stderr
