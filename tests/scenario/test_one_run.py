"""One run of `billsim validate` reports every problem of a file, by line: the schema's,
the cross-checks' on all that did validate, and the script's dry run on what can still
run; never a problem that only follows from another (issue 15).

`run` reports the same; `header` and `check --scenario`, which make no dry run, the same
loader problems.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from console import sh
from typer.testing import CliRunner

from simulator import cli
from simulator.scenario.loader import ScenarioError, load_scenario_text

runner = CliRunner()

HEAD = """\
name: mixed
start: "2026-11-21T09:00:00Z"
duration: 1h
server: CN=Mail01/O=Acme
databases:
  mail/a.nsf: {replica_id: "85258A3B:0052C1F0"}
  apps/x.nsf: {replica_id: "85258A3B:0052C1F1"}
"""
USERS = """\
users:
  alice: {name: "CN=Alice/O=Acme", address: "10.1.2.3"}
  carol: {name: "CN=Carol/O=Acme", address: "10.1.2.4"}
"""
# Line by line: a schema error (8), a dry-run error (11), a cross-check error (12), then
# a dry-run error (13) after them.
MIXED = (
    HEAD
    + USERS
    + """\
script:
  - {at: 0m, user: alice, action: open, db: mail/a.nsf, bytes_in: -1}
  - {at: 1m, user: carol, action: close, db: apps/x.nsf}
  - {at: 2m, user: alice, action: read, db: mail/a.nsf, note_id: 5}
  - {at: 3m, user: carol, action: logout}
"""
)
EXPECTED = [
    (12, "script[0].bytes_in", "must be ≥ 0"),
    (13, "script[1].action", "close of apps/x.nsf by CN=Carol/O=Acme, who has no open session"),
    (
        14,
        "script[2].note_id",
        "note 0x5 is not a document of databases[mail/a.nsf].documents, so it would be billed "
        "nothing: declare it there with its charge_read / charge_write, or leave note_id out",
    ),
    (15, "script[3].action", "logout of CN=Carol/O=Acme at 10.1.2.4, who has no open session"),
]
PROBLEM = re.compile(r"^(?:billsim: )?(\S+?):(\d+): (\S+): (.+)$")


def _write(tmp_path: Path, text: str, name: str = "mixed.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _problems(path: Path, output: str) -> list[tuple[int, str, str]]:
    """Each `file:line: field: message` line of `output`, and no other line."""
    problems = []
    for line in output.splitlines():
        match = PROBLEM.match(line)
        assert match, f"not a problem line: {line!r}"
        assert match[1] == str(path)
        problems.append((int(match[2]), match[3], match[4]))
    return problems


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli.app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.stderr


def test_schema_cross_check_and_dry_run_errors_come_in_one_run_by_line(tmp_path: Path) -> None:
    path = _write(tmp_path, MIXED)
    code, stderr = _invoke("validate", str(path))
    assert code == 2
    assert _problems(path, stderr) == EXPECTED


def test_run_reports_what_validate_reports(tmp_path: Path) -> None:
    path = _write(tmp_path, MIXED)
    code, stderr = _invoke("run", str(path), "--out", str(tmp_path / "x.nbf"))
    assert code == 2
    assert _problems(path, stderr) == EXPECTED
    assert not (tmp_path / "x.nbf").exists()


@pytest.mark.parametrize(
    "command",
    [["header"], ["check", "-", "--scenario"]],
    ids=lambda command: command[0],
)
def test_commands_with_no_dry_run_report_the_loaders_problems(
    tmp_path: Path, command: list[str]
) -> None:
    path = _write(tmp_path, MIXED)
    name, *rest = command
    code, stderr = _invoke(name, *rest, str(path))
    assert code == 2
    assert _problems(path, stderr) == [EXPECTED[0], EXPECTED[2]]


def test_the_installed_billsim_reports_all_three_kinds(tmp_path: Path) -> None:
    _write(tmp_path, MIXED)
    result = sh("billsim validate mixed.yaml", tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{'billsim: ' if n == 0 else ''}mixed.yaml:{line}: {field}: {message}"
        for n, (line, field, message) in enumerate(EXPECTED)
    ]


# --- what follows from a problem is not reported -------------------------------------------


def test_what_refers_to_an_invalid_entry_is_no_further_problem(tmp_path: Path) -> None:
    """A user, a database and a custom type whose entries are invalid: the actions that
    name them are neither "unknown" nor dry-run (bob's close would be a state error only
    because his open, on the bad database, is left out), and the valid rest is checked."""
    path = _write(
        tmp_path,
        HEAD
        + """\
  apps/bad.nsf: {replica_id: nope}
users:
  alice: {name: "CN=Alice/O=Acme", address: "10.1.2.3"}
  bob: {name: "CN=Bob/O=Acme", address: "10.1.2.5"}
  dave: {name: "CN=Dave/O=Acme"}
custom_types:
  NOTEREC: {struct_type: 5, class: Database, fields: [[Count, WORD]]}
script:
  - {at: 0m, user: dave, action: open, db: mail/a.nsf}
  - {at: 1m, user: dave, action: close, db: apps/x.nsf}
  - {at: 2m, user: bob, action: open, db: apps/bad.nsf}
  - {at: 3m, user: bob, action: close, db: apps/x.nsf}
  - {at: 4m, action: custom, type: NOTEREC, values: {Count: 1}}
  - {at: 5m, action: agent, db: apps/bad.nsf, agent: A, signer: dave}
  - {at: 2h, user: bob, action: logout}
  - {at: 6m, user: alice, action: close, db: mail/a.nsf}
""",
    )
    code, stderr = _invoke("validate", str(path))
    assert code == 2
    *problems, last = stderr.splitlines()
    assert last.endswith(
        ": the actions of bob, dave are dry-run for state errors once the problems"
        " of their entries and actions are fixed"
    )  # dave's entry has no address: no session of his can be made, and that is said
    assert [(line, field) for line, field, _ in _problems(path, "\n".join(problems))] == [
        (8, "databases[apps/bad.nsf].replica_id"),
        (12, "users.dave.address"),
        (14, "custom_types.NOTEREC.struct_type"),
        (22, "script[6].at"),  # a cross-check, on an action of a valid user
        (23, "script[7].action"),  # the dry run, of alice: nothing bad touches her
    ]


def test_a_user_with_a_bad_action_is_left_out_of_the_dry_run() -> None:
    """alice's open names no database it can be: her close is not dry-run, where it would
    be refused for a database not open; carol's actions are, and the loader's error names
    alice as left out."""
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(
            HEAD
            + USERS
            + """\
script:
  - {at: 0m, user: alice, action: open, db: [mail/a.nsf]}
  - {at: 1m, user: alice, action: close, db: mail/a.nsf}
  - {at: 2m, user: carol, action: open, db: mail/a.nsf}
  - {at: 3m, user: carol, action: close, db: mail/a.nsf}
  - {at: 4m, action: mail, from: carol, to: [alice]}
""",
            "s.yaml",
        )
    runnable = caught.value.runnable
    assert runnable is not None
    assert [action.index for action in runnable.script] == [2, 3]  # no task: none is refused
    assert list(runnable.users) == ["carol"]
    assert caught.value.left_out == ("alice",)
    assert caught.value.blocked == ()


def test_an_action_wrong_only_where_the_dry_run_does_not_read_stands_in(tmp_path: Path) -> None:
    """alice's open has a bad byte count and a field no open has: both are reported, and
    the open, without them, is dry-run with the rest, so her second close is found too."""
    path = _write(
        tmp_path,
        HEAD
        + USERS
        + """\
script:
  - {at: 0m, user: alice, action: open, db: mail/a.nsf, bytes_out: x, note_id: 3}
  - {at: 1m, user: alice, action: close, db: mail/a.nsf}
  - {at: 2m, user: alice, action: close, db: mail/a.nsf}
""",
    )
    code, stderr = _invoke("validate", str(path))
    assert code == 2
    assert _problems(path, stderr) == [
        (12, "script[0].bytes_out", "must be a whole number"),
        (12, "script[0].note_id", "unknown field"),
        (
            14,
            "script[2].action",
            "close of mail/a.nsf by CN=Alice/O=Acme, who does not have it open",
        ),
    ]


def test_the_users_left_out_of_the_dry_run_are_named_on_the_last_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        HEAD
        + USERS
        + """\
script:
  - {at: 0m, user: alice, action: open, db: mail/a.nsf, at2: 1}
  - {at: 1m, user: carol, action: open, db: apps/nowhere.nsf}
  - {at: 2m, user: carol, action: logout}
""",
    )
    code, stderr = _invoke("validate", str(path))
    assert code == 2
    *problems, last = stderr.splitlines()
    assert _problems(path, "\n".join(problems)) == [
        (12, "script[0].at2", "unknown field (did you mean at?)"),
        (13, "script[1].db", "database 'apps/nowhere.nsf' is not declared in databases"),
    ]
    assert last == (
        f"{path}: the actions of carol are dry-run for state errors once the problems of "
        "their entries and actions are fixed"
    )


def test_an_unknown_top_level_key_and_an_unknown_user_field_leave_the_dry_run_made(
    tmp_path: Path,
) -> None:
    """A key no scenario has (`bogus`), a field no user has (carol's `colour`), an action's
    bad byte count, a note that bills nothing and two state errors: all in one run. carol
    is dry-run with the name and address written, so her logout with no session is
    found."""
    path = _write(
        tmp_path,
        MIXED.replace("server: CN=Mail01", "bogus: 1\nserver: CN=Mail01").replace(
            'address: "10.1.2.4"}', 'address: "10.1.2.4", colour: red}'
        ),
    )
    code, stderr = _invoke("validate", str(path))
    assert code == 2
    assert _problems(path, stderr) == [
        (4, "bogus", "unknown field"),
        (11, "users.carol.colour", "unknown field"),
        *((line + 1, field, message) for line, field, message in EXPECTED),
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (('start: "2026-11-21T09:00:00Z"', "start: 2026-11-21 09:00"), "start"),
        (("server: CN=Mail01/O=Acme", "server: CN=Mail+01/O=Acme"), "server"),
    ],
)
def test_a_bad_start_or_server_leaves_the_dry_run_made(
    tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    """Every `at` is from `start`, and no state depends on the server's name: the dry run
    is made with their stand-ins, and finds carol's close and logout."""
    path = _write(tmp_path, MIXED.replace(*change))
    code, stderr = _invoke("validate", str(path))
    assert code == 2
    problems = _problems(path, stderr)
    assert [(line, name) for line, name, _ in problems[:1]] == [
        (2 if field == "start" else 4, field)
    ]
    assert problems[1:] == EXPECTED


def test_a_database_wrong_only_in_a_field_no_database_has_is_dry_run(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        MIXED.replace(
            '{replica_id: "85258A3B:0052C1F1"}', '{replica_id: "85258A3B:0052C1F1", size: 5}'
        ),
    )
    code, stderr = _invoke("validate", str(path))
    assert code == 2
    assert _problems(path, stderr) == [
        (7, "databases[apps/x.nsf].size", "unknown field"),
        *EXPECTED,  # carol's close of apps/x.nsf among them: she is not left out
    ]


def test_a_database_with_an_unknown_field_and_no_replica_id_is_not_dry_run(tmp_path: Path) -> None:
    """`replica` is a field no database has, and leaves the database with no replica ID:
    what the cross-checks refuse is no stand-in (the dry run would fail on it)."""
    path = _write(
        tmp_path,
        MIXED.replace('{replica_id: "85258A3B:0052C1F1"}', '{replica: "85258A3B:0052C1F1"}'),
    )
    code, stderr = _invoke("validate", str(path))
    assert code == 2
    *problems, last = stderr.splitlines()
    assert _numbered(problems)[0] == (7, "databases[apps/x.nsf].replica")
    assert last.endswith(
        ": the actions of carol are dry-run for state errors once the problems of their"
        " entries and actions are fixed"
    )


def test_an_unknown_key_that_may_be_a_run_field_misspelled_stops_the_dry_run(
    tmp_path: Path,
) -> None:
    """`idle-timeout` may be meant as idle_timeout, which ends sessions: a dry run without
    it could report what the file, once fixed, does not do."""
    path = _write(
        tmp_path, MIXED.replace("server: CN=Mail01", "idle-timeout: 5m\nserver: CN=Mail01")
    )
    code, stderr = _invoke("validate", str(path))
    assert code == 2
    *problems, note = stderr.splitlines()
    assert _numbered(problems) == [
        (4, "[idle-timeout]"),
        (13, "script[0].bytes_in"),
        (15, "script[2].note_id"),
    ]
    assert note.endswith("once the problems of [idle-timeout] are fixed")


def test_a_user_whose_name_or_address_is_wrong_is_named_as_left_out(tmp_path: Path) -> None:
    path = _write(tmp_path, MIXED.replace('address: "10.1.2.4"}', 'address: ""}'))
    code, stderr = _invoke("validate", str(path))
    assert code == 2
    *problems, last = stderr.splitlines()
    assert [line for line, _ in _numbered(problems)] == [10, 12, 14]  # not carol's actions
    assert last == (
        f"{path}: the actions of carol are dry-run for state errors once the problems of "
        "their entries and actions are fixed"
    )


@pytest.mark.parametrize(
    ("change", "line", "why"),
    [
        (("duration: 1h", "duration: 1 hour"), 3, "duration"),
        (("  - {at: 1m, user: carol", "  - {at: 1m, usr: carol"), 13, "script[1]"),
    ],
    ids=["duration", "an action of no user"],
)
def test_when_the_dry_run_cannot_be_made_one_line_says_so(
    tmp_path: Path, change: tuple[str, str], line: int, why: str
) -> None:
    path = _write(tmp_path, MIXED.replace(*change))
    code, stderr = _invoke("validate", str(path))
    assert code == 2
    *problems, note = stderr.splitlines()
    assert {n for n, _ in _numbered(problems)} == {line, 12, 14}
    assert note == (
        f"{path}: the script is dry-run for state errors (a logout with no session, …) "
        f"once the problems of {why} are fixed"
    )


def _numbered(lines: list[str]) -> list[tuple[int, str]]:
    out = []
    for text in lines:
        match = PROBLEM.match(text)
        assert match, text
        out.append((int(match[2]), match[3]))
    return out


def test_the_cap_on_problems_keeps_the_line_on_the_dry_run(tmp_path: Path) -> None:
    script = "".join(
        f"  - {{at: {n}s, user: nobody{n}, action: open, db: mail/a.nsf}}\n" for n in range(300)
    )
    path = _write(tmp_path, HEAD.replace("duration: 1h", "duration: 1 hour") + "script:\n" + script)
    code, stderr = _invoke("validate", str(path))
    assert code == 2
    lines = stderr.splitlines()
    assert len(lines) == 52
    assert lines[50] == f"… and 251 more problems in {path}"
    assert lines[51].endswith("once the problems of duration are fixed")


def test_a_bad_notes_ini_file_is_said_instead_of_the_dry_run(tmp_path: Path) -> None:
    path = _write(tmp_path, MIXED)
    ini = tmp_path / "notes.ini"
    ini.write_text("BillingClass=Nope\n")
    code, stderr = _invoke("validate", str(path), "--notes-ini", str(ini))
    assert code == 2
    *problems, note = stderr.splitlines()
    assert _problems(path, "\n".join(problems)) == [EXPECTED[0], EXPECTED[2]]
    assert note.startswith(f"{ini}:1: BillingClass: unknown billing class 'Nope'")
    assert note.endswith("(so the script was not dry-run)")


def test_a_bad_notes_ini_block_is_said_once(tmp_path: Path) -> None:
    """The scenario's own notes_ini problem stops the dry run too: said once, with what
    it stopped, not again as the dry run's."""
    path = _write(tmp_path, HEAD + 'notes_ini: {BillingClass: "Session,Databases"}\n')
    code, stderr = _invoke("validate", str(path))
    assert code == 2
    problem, note = stderr.splitlines()
    assert "notes_ini.BillingClass: unknown billing class 'Databases'" in problem
    assert (
        note == f"{path}: the script is dry-run for state errors once notes_ini's problem is fixed"
    )
