"""`billsim validate` as a newcomer writing a first scenario meets it: every problem of a
file in one run (file:line: field each), a note read or write that would bill nothing
refused by name (by `run` too), and a generated workload's users counted."""

from __future__ import annotations

import os
import re
from pathlib import Path

from console import sh
from typer.testing import CliRunner

from simulator import cli
from simulator.commands.loading import BILLS_NOTHING as NO_CLASS_NOTE

runner = CliRunner()

HEAD = """\
name: first
start: "2026-11-21T09:00:00Z"
duration: 1h
server: CN=Mail01/O=Acme
databases:
  mail/a.nsf: {replica_id: "85258A3B:0052C1F0"}
  apps/x.nsf:
    replica_id: "85258A3B:0052C1F1"
    documents: {0x10: {charge_read: 0.1}, 0x11: {}, 0x13: {charge_read: 0.1, charge_write: 0}}
"""
PROBLEM = re.compile(r"^(?:billsim: )?(\S+?):(\d+): (\S+): (.+)$")


def validate(tmp_path: Path, text: str) -> tuple[int, list[tuple[int, str, str]]]:
    path = tmp_path / "first.yaml"
    path.write_text(text)
    result = runner.invoke(cli.app, ["validate", str(path)])
    problems = []
    for line in result.output.splitlines():
        match = PROBLEM.match(line)
        if match:
            assert match[1] == str(path)
            problems.append((int(match[2]), match[3], match[4]))
    return result.exit_code, problems


def test_model_errors_and_undeclared_names_come_in_one_run(tmp_path: Path) -> None:
    code, problems = validate(
        tmp_path,
        HEAD
        + """\
users:
  alice: {name: "CN=Alice/O=Acme", address: "10.1.2.3"}
  bob: {name: "CN=Bob/O=Acme"}
script:
  - {at: 0m, user: alice, action: open, db: mail/a.nsf}
  - {at: 1m, user: carol, action: open, db: mail/a.nsf}
  - {at: 2m, user: alice, action: open, db: mail/z.nsf}
  - {at: 5m, user: bob, action: fly}
""",
    )
    assert code == 2
    assert [(line, field) for line, field, _ in problems] == [
        (12, "users.bob.address"),
        (15, "script[1].user"),
        (16, "script[2].db"),
        (17, "script[3].action"),
    ]
    assert "unknown user 'carol'" in problems[1][2]
    assert "'mail/z.nsf' is not declared" in problems[2][2]


def test_every_state_error_of_the_dry_run_in_one_run(tmp_path: Path) -> None:
    code, problems = validate(
        tmp_path,
        HEAD
        + """\
users:
  alice: {name: "CN=Alice/O=Acme", address: "10.1.2.3"}
script:
  - {at: 0m, user: alice, action: logout}
  - {at: 1m, user: alice, action: open, db: mail/a.nsf}
  - {at: 2m, user: alice, action: close, db: mail/a.nsf}
  - {at: 3m, user: alice, action: close, db: mail/a.nsf}
  - {at: 4m, user: alice, action: logout}
  - {at: 5m, user: alice, action: logout}
""",
    )
    assert code == 2
    assert [(line, field) for line, field, _ in problems] == [
        (13, "script[0].action"),
        (16, "script[3].action"),
        (18, "script[5].action"),
    ]
    assert "who has no open session" in problems[0][2]
    assert "does not have it open" in problems[1][2]


BILLS_NOTHING = """\
users:
  alice: {name: "CN=Alice/O=Acme", address: "10.1.2.3"}
script:
  - {at: 0m, user: alice, action: read, db: apps/x.nsf, note_id: 0x10}
  - {at: 1m, user: alice, action: read, db: apps/x.nsf, note_id: 0x2306}
  - {at: 2m, user: alice, action: write, db: apps/x.nsf, note_id: 0x10}
  - {at: 3m, user: alice, action: read, db: apps/x.nsf, note_id: 0x11}
  - {at: 4m, user: alice, action: write, db: apps/x.nsf, note_id: 0x13}
  - {at: 5m, user: alice, action: read, db: apps/x.nsf}
  - {at: 6m, user: alice, action: write, db: apps/x.nsf, note_id: 0x12}
"""


def test_a_note_read_or_write_that_would_bill_nothing_is_refused_by_name(tmp_path: Path) -> None:
    code, problems = validate(tmp_path, HEAD + BILLS_NOTHING)
    assert code == 2
    assert [(line, field) for line, field, _ in problems] == [
        (14, "script[1].note_id"),
        (15, "script[2].note_id"),
        (16, "script[3].note_id"),
        (17, "script[4].note_id"),
        (19, "script[6].note_id"),
    ]
    undeclared, no_write, uncharged, zero, _ = (message for _, _, message in problems)
    assert undeclared.startswith("note 0x2306 is not a document of databases[apps/x.nsf].documents")
    assert "leave note_id out" in undeclared
    # Declared, but without the charge the action bills: named, with what is missing.
    assert no_write.startswith(
        "a write of note 0x10 in apps/x.nsf bills nothing: it has no charge_write"
    )
    assert "leave note_id out" in no_write
    assert uncharged.startswith(
        "a read of note 0x11 in apps/x.nsf bills nothing: it has no charge_read"
    )
    assert zero.startswith(
        "a write of note 0x13 in apps/x.nsf bills nothing: its charge_write is 0"
    )


def test_run_refuses_what_validate_refuses(tmp_path: Path) -> None:
    """The installed billsim, as a user runs it: `run` loads the file as `validate` does,
    so a write of an uncharged note is exit 2 before any frame, with file:line: field."""
    path = tmp_path / "first.yaml"
    path.write_text(HEAD + BILLS_NOTHING)
    for command in ("validate first.yaml", "run first.yaml --out x.nbf"):
        result = sh(f"billsim {command}", tmp_path)
        assert result.returncode == 2, result.stderr
        assert (
            "first.yaml:15: script[2].note_id: a write of note 0x10 in apps/x.nsf bills nothing"
            in result.stderr
        )
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.nbf").exists()


def test_charged_notes_and_reads_without_a_note_are_fine(tmp_path: Path) -> None:
    code, problems = validate(
        tmp_path,
        HEAD
        + """\
users:
  alice: {name: "CN=Alice/O=Acme", address: "10.1.2.3"}
script:
  - {at: 0m, user: alice, action: read, db: apps/x.nsf, note_id: 0x10}
  - {at: 1m, user: alice, action: read, db: apps/x.nsf, note_id: 0x13}
  - {at: 2m, user: alice, action: write, db: apps/x.nsf}
  - {at: 3m, user: alice, action: read, db: mail/a.nsf}
""",
    )
    assert (code, problems) == (0, [])


def test_a_workload_counts_its_users(tmp_path: Path) -> None:
    path = tmp_path / "load.yaml"
    path.write_text(HEAD + "workload: {users: 10000, arrival: 30m, think_time: 2m}\n")
    result = runner.invoke(cli.app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "0 user(s) + 10,000 generated" in result.output


def test_documents_of_a_directory_are_refused(tmp_path: Path) -> None:
    code, problems = validate(
        tmp_path,
        HEAD
        + """\
  help/:
    documents: {0x10: {charge_read: 1.0}}
users:
  alice: {name: "CN=Alice/O=Acme", address: "10.1.2.3"}
""",
    )
    assert code == 2
    assert [(line, field) for line, field, _ in problems] == [(11, "databases[help/].documents")]
    assert "a directory holds no documents" in problems[0][2]


# --- what is at the path, when it is no scenario file ---------------------------------------


def test_a_directory_a_fifo_and_a_path_under_a_file_are_named_as_such(tmp_path: Path) -> None:
    directory = tmp_path / "scenarios.yaml"
    directory.mkdir()
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    plain = tmp_path / "plain.yaml"
    plain.write_text(HEAD)
    under = plain / "inner.yaml"
    result = runner.invoke(cli.app, ["validate", str(directory), str(fifo), str(under)])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"billsim: {directory}: is a directory, not a scenario file",
        f"billsim: {fifo}: is a FIFO (a named pipe), not a scenario file",
        f"billsim: {under}: no such file: {plain} is a file, not a directory",
    ]


def test_only_a_missing_path_is_no_such_file(tmp_path: Path) -> None:
    result = runner.invoke(cli.app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml: no such file, nor a bundled scenario (bundled: " in result.output


def test_one_bad_file_prints_fifty_problems_and_counts_the_rest(tmp_path: Path) -> None:
    script = "".join(
        f"  - {{at: {n}s, user: nobody{n}, action: open, db: mail/a.nsf}}\n" for n in range(3000)
    )
    path = tmp_path / "many.yaml"
    path.write_text(HEAD + "users: {}\nscript:\n" + script)
    result = runner.invoke(cli.app, ["validate", str(path)])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert len(lines) == 51
    assert all(PROBLEM.match(line) for line in lines[:50])
    assert lines[50] == f"… and 2,950 more problems in {path}"


def test_a_server_that_bills_no_class_is_valid_and_said_to_bill_nothing(tmp_path: Path) -> None:
    """Without notes_ini.BillingClass a run is empty: `validate` and `run` say why, once;
    with a class they say nothing."""
    script = 'users: {u1: {name: "CN=A B/O=Acme", address: 10.0.0.1}}\n'
    script += "script:\n  - {at: 1m, user: u1, action: transfer}\n"
    path = tmp_path / "first.yaml"
    path.write_text(HEAD + script)
    result = runner.invoke(cli.app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"; {NO_CLASS_NOTE}")
    assert "notes_ini: {BillingClass: Session}" in NO_CLASS_NOTE
    ran = runner.invoke(cli.app, ["run", str(path), "--out", str(tmp_path / "x.nbf")])
    assert ran.exit_code == 0, ran.output
    assert ran.stderr.count("billsim: note: it bills nothing") == 1
    path.write_text(HEAD + "notes_ini: {BillingClass: Session}\n" + script)
    assert "bills nothing" not in runner.invoke(cli.app, ["validate", str(path)]).output
    ran = runner.invoke(cli.app, ["run", str(path), "--out", str(tmp_path / "x.nbf")])
    assert ran.exit_code == 0 and "bills nothing" not in ran.stderr
