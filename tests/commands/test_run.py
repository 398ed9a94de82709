"""`billsim run`, `validate` and `scenarios` through the command line (docs/cli.md)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from paths import REPO
from typer.testing import CliRunner

from simulator import cli
from simulator.commands.summary import user_table_lines
from simulator.scenario.bundled import bundled_scenarios
from simulator.wire import constants as c

runner = CliRunner()
ALICE = "CN=Alice Smith/O=Acme"  # the user of scenarios/lifecycle-demo.yaml, pinned by that file

# lifecycle-demo worked out from docs/lifecycles.md: (StructType, Action or Type, minutes).
DEMO = [
    (c.BILL_SESSIONREC, c.BILL_SESSION_START, 0),
    (c.BILL_DBREC, c.BILL_DB_OPEN, 0),
    (c.BILL_SESSIONREC, c.BILL_SESSION_STAMP, 15),
    (c.BILL_DBREC, c.BILL_DB_STAMP, 15),
    (c.BILL_DBREC, c.BILL_DB_OPEN, 20),
    (c.BILL_DOCCHARGE, c.BILLCHARGEREAD, 20),
    (c.BILL_SESSIONREC, c.BILL_SESSION_STAMP, 30),
    (c.BILL_DBREC, c.BILL_DB_CLOSE, 40),
    (c.BILL_SESSIONREC, c.BILL_SESSION_STAMP, 45),
    (c.BILL_DBREC, c.BILL_DB_CLOSE_END, 60),
    (c.BILL_DBREC, c.BILL_DB_CLOSE_END, 60),
    (c.BILL_SESSIONREC, c.BILL_SESSION_END, 60),
]


def invoke(*args: str) -> Any:
    return runner.invoke(cli.app, list(args))


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def shape(obj: dict[str, Any]) -> tuple[int, int, int]:
    rec = obj["rec"]
    detail = rec["Type"] if obj["StructType"] == c.BILL_DOCCHARGE else rec["Action"]
    hour, minute = int(obj["TimeStamp"][11:13]), int(obj["TimeStamp"][14:16])
    return (obj["StructType"], detail, (hour - 9) * 60 + minute)


def test_run_stdout_through_python_dash_m_gives_the_demo_as_12_json_lines() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "simulator", "run", "lifecycle-demo", "--stdout"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    objs = json_lines(proc.stdout)
    assert len(objs) == 12
    assert [o["seq"] for o in objs] == list(range(1, 13))
    assert [shape(o) for o in objs] == DEMO
    end = objs[-1]["rec"]
    assert (end["BytesIn"], end["BytesOut"]) == (1700, 3400)
    assert [o["rec"]["DBOpenTime"] for o in objs if o["StructType"] == c.BILL_DBREC] == [
        0,
        90000,
        0,
        240000,
        240000,
        240000,
    ]
    assert "12 records" in proc.stderr  # the summary goes to stderr, not into the JSON


def test_out_and_decode_agree_with_stdout_and_summary_has_the_ground_truth(
    tmp_path: Path,
) -> None:
    out, summary_path = tmp_path / "demo.nbf", tmp_path / "summary.json"
    result = invoke("run", "lifecycle-demo", "--stdout")
    assert result.exit_code == 0, result.stderr
    stdout_objs = json_lines(result.stdout)

    started = time.monotonic()
    result = invoke("run", "lifecycle-demo", "--out", str(out), "--summary", str(summary_path))
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert len(out.read_bytes()) == 12 * 1000

    result = invoke("decode", str(out))
    assert result.exit_code == 0, result.stderr
    assert json_lines(result.stdout) == stdout_objs

    summary = json.loads(summary_path.read_text())
    for key in (
        "records_by_class",
        "records_by_type",
        "users",
        "virtual_span_s",
        "wall_time_s",
        "rate_per_s",
        "dropped",
        "abandoned_tasks",
    ):
        assert key in summary, key
    assert summary["records_by_class"] == {"session": 5, "database": 6, "document": 1}
    assert summary["records_by_type"]["SESSIONREC"] == {"START": 1, "STAMP": 3, "END": 1}
    assert summary["records_by_type"]["DBREC"] == {
        "OPEN": 2,
        "STAMP": 1,
        "CLOSE": 1,
        "CLOSE_END": 2,
    }
    alice = summary["users"][ALICE]
    assert (alice["bytes_in"], alice["bytes_out"]) == (1700, 3400)
    assert alice["db_open_time"] == 480000  # the two CLOSE_ENDs: 40 min + 40 min
    assert alice["charges"] == pytest.approx(0.05)
    assert alice["sessions"] == 1
    assert summary["virtual_span_s"] == 5400
    assert summary["dropped"] == 0
    assert summary["abandoned_tasks"] == 0
    # The wall time is the run's own, in seconds: within the time the command took. The
    # rate is the records over it (wall_time_s is rounded to the microsecond, the rate to 0.1).
    wall = summary["wall_time_s"]
    assert 0 < wall <= elapsed
    assert 12 / (wall + 5e-7) - 0.05 <= summary["rate_per_s"] <= 12 / (wall - 5e-7) + 0.05


def test_notes_ini_file_wins_over_the_scenario_block(tmp_path: Path) -> None:
    ini = tmp_path / "notes.ini"
    ini.write_text("[Notes]\nBillingClass=Session\nServerName=CN=Other/O=Acme\n")
    result = invoke("run", "lifecycle-demo", "--stdout", "--notes-ini", str(ini))
    assert result.exit_code == 0, result.stderr
    objs = json_lines(result.stdout)
    assert [shape(o) for o in objs] == [s for s in DEMO if s[0] == c.BILL_SESSIONREC]
    assert {o["ServerName"] for o in objs} == {"CN=Other/O=Acme"}


def test_unknown_billing_class_word_exits_2_naming_it(tmp_path: Path) -> None:
    ini = tmp_path / "bad.ini"
    ini.write_text("BillingClass=Session, Bogus\n")
    result = invoke("run", "lifecycle-demo", "--stdout", "--notes-ini", str(ini))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{ini}:1: BillingClass: " in result.stderr
    assert "'Bogus'" in result.stderr
    # Bad input is the one line BillsimGroup writes. (CliRunner keeps an escaping exception
    # in result.exception, so stderr never holds a traceback to look for.)
    assert len(result.stderr.splitlines()) == 1, result.stderr


@pytest.mark.parametrize("speed", ["fast", "0x", "-1x", "60"])
def test_bad_speed_exits_2(speed: str) -> None:
    result = invoke("run", "lifecycle-demo", "--stdout", "--speed", speed)
    assert result.exit_code == 2
    assert "--speed" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("seed", ["-1", "1" + "0" * 38])
def test_a_seed_the_scenario_file_would_refuse_exits_2(seed: str) -> None:
    # A file's seed: takes 0 to 38 digits; the option took -1 and 50 digits.
    result = invoke("run", "lifecycle-demo", "--stdout", "--seed", seed)
    assert result.exit_code == 2, result.stderr
    assert "--seed" in result.stderr
    assert result.stdout == ""
    assert "Input should be" not in result.stderr  # pydantic's words, not the loader's
    if seed == "-1":
        assert "Invalid value for '--seed': must be ≥ 0" in result.stderr


@pytest.mark.parametrize("option", ["--ca-file", "--cert-file", "--key-file"])
def test_a_tls_file_that_is_not_there_is_named_with_its_option(tmp_path: Path, option: str) -> None:
    missing = tmp_path / "missing.pem"
    result = invoke("run", "lifecycle-demo", "--broker", "mqtt://127.0.0.1:1", option, str(missing))
    assert result.exit_code == 2
    assert f"billsim: {missing}: {option}: no such file" in result.stderr


def test_a_value_an_option_does_not_take_is_said_without_pydantics_prefix() -> None:
    result = invoke("run", "lifecycle-demo", "--stdout", "--layout", "win64")
    assert result.exit_code == 2
    assert "Invalid value for '--layout': 'win64' is not one of" in result.stderr
    assert "Value error" not in result.stderr


@pytest.mark.parametrize(
    "option",
    [
        ("--ca-file", "/nonexistent"),
        ("--qos", "0"),
        ("--payload", "json"),
        ("--mqtt-version", "3.1.1"),
        ("--drain-timeout", "5"),
        ("--control",),
        ("--stats-interval", "1"),
        ("--connect-timeout", "3"),
    ],
)
@pytest.mark.parametrize("where", [("--stdout",), ("--out", "-")])
def test_an_mqtt_option_changed_from_its_default_is_refused_off_mqtt(
    option: tuple[str, ...], where: tuple[str, ...]
) -> None:
    # Once taken and ignored, as --topic-meta never was.
    result = invoke("run", "lifecycle-demo", *where, *option)
    assert result.exit_code == 2, result.stderr
    assert result.stderr == f"billsim: {option[0]}: goes with a run on MQTT\n"
    assert result.stdout == ""


def test_mqtt_options_at_their_defaults_pass_off_mqtt() -> None:
    # A script may pass the defaults whichever the output.
    defaults = ("--qos", "1", "--payload", "binary", "--mqtt-version", "5")
    more = ("--drain-timeout", "30", "--stats-interval", "5", "--connect-timeout", "10")
    result = invoke("run", "lifecycle-demo", "--stdout", *defaults, *more)
    assert result.exit_code == 0, result.stderr


def test_scenarios_lists_the_bundled_ones() -> None:
    result = invoke("scenarios")
    assert result.exit_code == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert "lifecycle-demo" in names
    assert names == list(bundled_scenarios())
    assert all("invalid" not in line for line in result.stdout.splitlines())


def test_validate_every_bundled_scenario() -> None:
    names = list(bundled_scenarios())
    result = invoke("validate", *names)
    assert result.exit_code == 0, result.stderr
    assert [line.split()[:2] for line in result.stdout.splitlines()] == [
        ["ok", f"{name}:"] for name in names
    ]


BASE = """\
name: t
start: "2026-11-21T09:00:00Z"
duration: 90m
server: CN=Mail01/O=Acme
notes_ini: {BillingClass: "Session,Database"}
databases:
  mail/a.nsf: {replica_id: "85258A3B:0052C1F0"}
users:
  alice: {name: "CN=Alice/O=Acme", address: "10.0.0.1"}
script:
  - {at: 0m, user: alice, action: open, db: mail/a.nsf}
"""
BASE_LINES = BASE.count("\n")


@pytest.mark.parametrize(
    ("extra", "bad_line", "where", "message"),
    [
        ("  - {at: 1m, user: alice, action: open]\n", 1, "", "invalid YAML"),
        ("  - {at: 1m, user: alice, action: dance}\n", 1, "script[1].action", "unknown action"),
        ("  - {at: 1m, user: alice, action: open}\n", 1, "script[1].db", "missing"),
        ("  - {at: 1m, user: mallory, action: transfer}\n", 1, "script[1].user", "mallory"),
        ("  - {at: 1m, user: alice, action: read, db: x.nsf}\n", 1, "script[1].db", "x.nsf"),
        (
            "  - {at: 1m, user: alice, action: transfer, bytes_in: -1}\n",
            1,
            "script[1].bytes_in",
            "≥ 0",
        ),
        ("  - {at: 90m, user: alice, action: transfer}\n", 1, "script[1].at", "90m"),
        ("  - {at: 91m, user: alice, action: transfer}\n", 1, "script[1].at", "91m"),
        (
            "  - {at: 1m, user: alice, action: logout}\n"
            "  - {at: 2m, user: alice, action: logout}\n",
            2,
            "script[2].action",
            "no open session",
        ),
        (
            "  - {at: 1m, user: alice, action: close, db: mail/a.nsf}\n"
            "  - {at: 2m, user: alice, action: close, db: mail/a.nsf}\n",
            2,
            "script[2].action",
            "mail/a.nsf",
        ),
    ],
)
def test_validate_names_file_line_and_field_of_a_bad_scenario(
    tmp_path: Path, extra: str, bad_line: int, where: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BASE + extra)
    prefix = f"{path}:{BASE_LINES + bad_line}: " + (f"{where}: " if where else "")
    for args in (("validate", str(path)), ("run", str(path), "--stdout")):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.stdout)
        assert result.stdout == ""
        assert result.stderr.startswith(f"billsim: {prefix}"), result.stderr
        first, *rest = result.stderr.splitlines()
        assert message in first
        # Beside the problem, at most the line naming whom the dry run had to leave out.
        assert rest in ([], [f"{path}: {LEFT_OUT}"]), result.stderr


LEFT_OUT = (
    "the actions of alice are dry-run for state errors once the problems of their entries "
    "and actions are fixed"
)


def test_validate_reports_every_bad_file_and_still_passes_the_good_ones(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE + "  - {at: 1m, user: alice, action: dance}\n")
    good = tmp_path / "good.yaml"
    good.write_text(BASE)
    result = invoke("validate", str(bad), str(good))
    assert result.exit_code == 2
    assert result.stdout.startswith(f"ok  {good}: t, 1 scripted action(s)")
    assert f"{bad}:{BASE_LINES + 1}: script[1].action: unknown action" in result.stderr


def test_unknown_billing_class_in_the_scenario_block_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(BASE.replace('"Session,Database"', '"Session,Databse"'))
    result = invoke("validate", str(path))
    assert result.exit_code == 2
    assert f"{path}:5: notes_ini.BillingClass: " in result.stderr
    assert "'Databse'" in result.stderr


@pytest.mark.parametrize(
    ("extra", "where", "message"),
    [
        ("workload: {users: 3, rate: 5}\n", "workload.rate", "unknown field"),
        ("workload: {users: 3, think_time: -1}\n", "workload.think_time", "must not be negative"),
        (
            "workload: {users: 3, name: 'CN=" + "x" * 300 + " {n}/O=Acme'}\n",
            "workload.name",
            "for user 3: name is 312 bytes of UTF-8, longer than 256",
        ),
        (
            "workload: {users: 3, address: '" + "1" * 63 + "{c}'}\n",
            "workload.address",
            "for user 3: address is 64 bytes of UTF-8, longer than 63",
        ),
        ("speed: 60 x\n", "speed", "60 x"),
        ("speed: .5x\n", "speed", ".5x"),
    ],
)
def test_validate_refuses_what_run_would_refuse(
    tmp_path: Path, extra: str, where: str, message: str
) -> None:
    # Validate and run agree: each of these once validated ok, then failed at run time.
    path = tmp_path / "bad.yaml"
    path.write_text(BASE + extra)
    for args in (("validate", str(path)), ("run", str(path), "--stdout")):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert result.stdout == ""
        first = result.stderr.splitlines()[0]
        assert first.startswith(f"billsim: {path}:{BASE_LINES + 1}: {where}: "), first
        assert message in first


@pytest.mark.parametrize("option", ["--summary", "--out"])
@pytest.mark.parametrize("where", ["missing-dir/x", "."])
def test_unwritable_summary_or_out_is_bad_input_before_the_run(
    tmp_path: Path, option: str, where: str
) -> None:
    target = tmp_path / where
    args = ["run", "lifecycle-demo", option, str(target)]
    if option == "--summary":
        args.append("--stdout")
    result = invoke(*args)
    assert result.exit_code == 2, (result.stderr, result.exception)
    # Found before the run: not a frame written, no summary printed.
    assert result.stdout == ""
    assert "records" not in result.stderr.lower()
    assert result.stderr.startswith(f"billsim: {target}: {option}: "), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_the_command_list_is_never_cut_short() -> None:
    """`billsim --help` on a narrow terminal wraps each command's summary; no `...`."""
    result = CliRunner().invoke(cli.app, ["--help"], env={"COLUMNS": "50"}, terminal_width=50)
    assert result.exit_code == 0
    commands = result.output.split("Commands:", 1)[1]
    assert "..." not in commands
    assert "lifecycle" in commands and "invariants." in commands


def test_the_user_table_keeps_names_and_numbers_whole_on_a_narrow_terminal() -> None:
    # user, then the 14 bill fields in order
    rows = [
        ("CN=Alexandra Featherstonehaugh/OU=Sales/O=Acme", "1", "1600", "2500", "114000",
         "0.00", "0", "1", "48213", "0", "0", "0", "0", "1", "5120"),
        ("CN=Bob Jones/O=Acme", "12", "400", "950", "156000", "0.05", "1", "0", "0", "0", "0",
         "1", "357", "0", "0"),
    ]  # fmt: skip
    wide = user_table_lines(rows, 300)
    assert wide[0].split()[:3] == ["user", "sessions", "bytes"]
    assert wide[1].startswith(rows[0][0] + "  ") and wide[1].endswith("  5120")
    assert len({len(line.rstrip()) for line in wide[1:]}) == 1  # columns line up
    narrow = user_table_lines(rows, 80)
    assert narrow[0].splitlines() == [
        rows[0][0],
        "  sessions 1, bytes in 1600, bytes out 2500, db open (1/100 s) 114000, charges 0.00,"
        " docs 0, mail 1, mail bytes 48213, repl in 0, repl out 0, agents 0,"
        " agent time (1/100 s) 0, web 1, web bytes 5120",
    ]
    assert narrow[1].startswith("CN=Bob Jones/O=Acme\n  sessions 12,")
