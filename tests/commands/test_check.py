"""`billsim check` as a user runs it: against the settings the stream was written with, on
binary frames or JSON lines, from a file or a pipe, never a silent OK on nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from bundled_runs import BundledLines, BundledOut
from typer.testing import CliRunner

from simulator import cli
from simulator.commands.check import check_file, stream_settings
from simulator.commands.decode import decode_file
from simulator.scenario.bundled import bundled_scenarios
from simulator.wire.layout import Layout

runner = CliRunner()
NAMES = sorted(bundled_scenarios())


def run_to(tmp_path: Path, scenario: str, *args: str) -> Path:
    out = tmp_path / f"{scenario}.nbf"
    result = runner.invoke(cli.app, ["run", scenario, "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return out


def stdout_of(scenario: str) -> bytes:
    result = runner.invoke(cli.app, ["run", scenario, "--stdout"])
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


@pytest.mark.parametrize("scenario", NAMES)
def test_every_bundled_scenario_checks_clean_with_its_own_settings(
    bundled_out: BundledOut, scenario: str
) -> None:
    path = bundled_out(scenario, Layout.LINUX_X86_64)
    result = runner.invoke(cli.app, ["check", str(path), "--scenario", scenario])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"OK: {path}: ")


@pytest.mark.parametrize("scenario", NAMES)
def test_json_lines_on_stdin_check_the_same_as_the_binary_file(
    bundled_out: BundledOut, bundled_lines: BundledLines, scenario: str
) -> None:
    binary = runner.invoke(
        cli.app, ["check", str(bundled_out(scenario, Layout.LINUX_X86_64)), "--scenario", scenario]
    )
    lines = runner.invoke(
        cli.app, ["check", "-", "--scenario", scenario], input=bundled_lines(scenario).encode()
    )
    assert lines.exit_code == binary.exit_code == 0, lines.output
    # Same frames, same counts: only the name of the source differs.
    assert lines.stdout.split(": ", 2)[2] == binary.stdout.split(": ", 2)[2]


def test_without_settings_a_settings_violation_says_what_was_assumed(tmp_path: Path) -> None:
    # reopen runs with BillingSuppressTime 10: against the assumed 15 it breaks rules.
    path = run_to(tmp_path, "reopen")
    result = runner.invoke(cli.app, ["check", str(path)])
    assert result.exit_code == 1
    assert "[suppress-time]" in result.stdout
    note = result.stdout.splitlines()[-1]
    assert note.startswith("note: linux-x86_64, BillingSuppressTime 15m, timer policy")
    assert "--scenario" in note and "--suppress-time" in note and "--stamp-policy" in note
    # The settings given by hand are as good as the scenario's.
    by_hand = runner.invoke(cli.app, ["check", str(path), "--suppress-time", "10"])
    assert by_hand.exit_code == 0, by_hand.output


def test_a_suppress_time_notes_ini_would_refuse_exits_2(tmp_path: Path) -> None:
    # notes.ini's BillingSuppressTime is a C long: at most 2147483647 minutes.
    path = run_to(tmp_path, "reopen")
    result = runner.invoke(cli.app, ["check", str(path), "--suppress-time", "2147483648"])
    assert result.exit_code == 2
    assert "--suppress-time" in result.output


def test_flags_win_over_the_scenario(tmp_path: Path) -> None:
    path = run_to(tmp_path, "reopen")
    result = runner.invoke(
        cli.app, ["check", str(path), "--scenario", "reopen", "--suppress-time", "15"]
    )
    assert result.exit_code == 1
    assert "BillingSuppressTime 15m" in result.stdout
    assert "note:" not in result.stdout  # the settings were given, not assumed


def test_notes_ini_wins_over_the_scenario_block(tmp_path: Path) -> None:
    ini = tmp_path / "notes.ini"
    ini.write_text("[Notes]\nBillingSuppressTime=5\n")
    path = run_to(tmp_path, "lifecycle-demo", "--notes-ini", str(ini))
    assert runner.invoke(cli.app, ["check", str(path), "--scenario", "lifecycle-demo"]).exit_code
    result = runner.invoke(
        cli.app, ["check", str(path), "--scenario", "lifecycle-demo", "--notes-ini", str(ini)]
    )
    assert result.exit_code == 0, result.output
    assert "BillingSuppressTime 5m" in result.stdout


def test_custom_types_come_from_the_scenario(tmp_path: Path) -> None:
    path = run_to(tmp_path, "notecreate")
    result = runner.invoke(cli.app, ["check", str(path), "--scenario", "notecreate"])
    assert result.exit_code == 0, result.output
    assert "custom 3" in result.stdout


def test_empty_input_is_no_frames(tmp_path: Path) -> None:
    empty = tmp_path / "empty.nbf"
    empty.write_bytes(b"")
    for args, stdin in (([str(empty)], None), (["-"], b"")):
        result = runner.invoke(cli.app, ["check", *args], input=stdin)
        assert result.exit_code == 2
        assert "no frames" in result.output
        assert "OK" not in result.output


def test_a_bad_json_line_is_named_by_line(tmp_path: Path) -> None:
    lines = stdout_of("lifecycle-demo").decode().splitlines()
    broken = json.loads(lines[2])
    del broken["rec"]
    lines[2] = json.dumps(broken)
    lines.insert(4, "not json")
    result = runner.invoke(
        cli.app, ["check", "-", "--scenario", "lifecycle-demo"], input="\n".join(lines) + "\n"
    )
    assert result.exit_code == 2
    assert "<stdin>:3: rec: missing 'rec'" in result.output


def test_a_username_byte_that_is_not_utf8_is_shown_escaped_on_a_strict_stream(
    tmp_path: Path,
) -> None:
    """`check` writes the name as `decode` does (`\\udcff`), never crashing on a stdout
    that is strict UTF-8 nor writing the raw byte."""
    stream = bytearray((run_to(tmp_path, "lifecycle-demo")).read_bytes())
    del stream[-1000:]  # the END: a violation that names the session's user
    at = 0
    while (at := stream.find(b"CN=Alice", at)) >= 0:
        stream[at + 3] = 0xFF
        at += 1
    path = tmp_path / "bad-name.nbf"
    path.write_bytes(bytes(stream))
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    report = check_file(str(path), out)
    assert report.exit_code == 1
    text = raw.getvalue().decode("utf-8")
    assert "session (1,1) CN=\\udcfflice Smith/O=Acme: no END" in text
    decoded = io.StringIO()
    decode_file(str(path), decoded, io.StringIO())
    assert '"Username":"CN=\\udcfflice Smith/O=Acme"' in decoded.getvalue()


@pytest.mark.parametrize(
    ("fault", "event"),
    [
        ("crash={at: 9m, restart_after: 2m}", "server restart at "),
        ("clock_step={at: 9m, by: -1h}", "clock step at "),
        ("truncate=0.2", None),  # the unreadable-record violation names the server
    ],
)
def test_a_server_name_byte_that_is_not_utf8_is_shown_escaped_in_every_line(
    tmp_path: Path, fault: str, event: str | None
) -> None:
    """A restart's, a clock step's and a cut frame's lines name the server as `decode`
    does (`\udcff`): they once wrote the raw byte, and crashed on a strict UTF-8 stdout."""
    stream = bytearray(run_to(tmp_path, "all-classes", "--fault", fault).read_bytes())
    at = 0
    while (at := stream.find(b"CN=Mail01", at)) >= 0:
        stream[at + 3] = 0xFF
        at += 1
    path = tmp_path / "bad-server.nbf"
    path.write_bytes(bytes(stream))
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    settings = stream_settings(scenario="all-classes")
    report = check_file(str(path), out, settings)
    text = raw.getvalue().decode("utf-8")
    assert report.exit_code == (0 if event else 1), text
    named = [line for line in text.splitlines() if "CN=\\udcffail01/O=Acme" in line]
    if event:
        assert [line.startswith(event) for line in named] == [True]
    else:
        assert named and all(line.endswith("[unreadable-record]") for line in named)


@pytest.mark.parametrize("command", ["check", "decode"])
def test_a_json_line_with_a_surrogate_no_byte_stands_for_is_bad_input_at_its_line(
    tmp_path: Path, command: str
) -> None:
    """`\\udcff` stands for the byte 0xFF; `\\ud800` for nothing a frame can hold: refused
    with its line and field (it ended check and decode with a UnicodeEncodeError)."""
    line = stdout_of("lifecycle-demo").splitlines()[0].decode()
    path = tmp_path / "surrogate.jsonl"
    path.write_text(line.replace("CN=Alice", "CN=\\ud800lice") + "\n")
    result = runner.invoke(cli.app, [command, str(path)])
    assert result.exit_code == 2
    assert f"billsim: {path}:1: rec: Username: \\ud800 is no text a frame can hold" in result.output


@pytest.mark.parametrize(
    ("scenario", "code"),
    # bad-action violations; records that cannot be read (unreadable-record)
    [("lifecycle-demo", 1), ("all-classes", 1)],
)
def test_win32_frames_read_as_linux_say_which_layout_they_look_like(
    tmp_path: Path, scenario: str, code: int
) -> None:
    path = run_to(tmp_path, scenario, "--layout", "win32")
    result = runner.invoke(cli.app, ["check", str(path), "--scenario", scenario])
    assert result.exit_code == code  # as without the hint
    hint = "note: these frames look like the win32 layout: try --layout win32"
    assert hint in result.stdout
    right = runner.invoke(
        cli.app, ["check", str(path), "--scenario", scenario, "--layout", "win32"]
    )
    assert right.exit_code == 0, right.output
    assert "look like" not in right.stdout


def test_linux_frames_read_as_win32_say_so_too(tmp_path: Path) -> None:
    path = run_to(tmp_path, "lifecycle-demo")
    result = runner.invoke(cli.app, ["check", "-", "--layout", "win32"], input=path.read_bytes())
    assert result.exit_code == 1
    last = result.stdout.splitlines()[-1]
    assert last == "note: these frames look like the linux-x86_64 layout: try --layout linux-x86_64"


def test_violations_of_a_stream_in_its_own_layout_give_no_layout_hint(tmp_path: Path) -> None:
    result = runner.invoke(cli.app, ["check", str(run_to(tmp_path, "reopen"))])
    assert result.exit_code == 1
    assert "look like the" not in result.stdout


def test_a_cut_frame_is_named_unreadable_and_the_rest_of_the_stream_is_checked(
    tmp_path: Path,
) -> None:
    """The `truncate` fault's frames keep a Len that frames them: `check` names each one
    (its frame number and why), judges every other frame, and says the same of `--out`'s
    binary frames and `--stdout`'s JSON lines (binary once stopped at the first, exit 2)."""
    summary = tmp_path / "summary.json"
    nbf = run_to(tmp_path, "all-classes", "--fault", "truncate=0.2", "--summary", str(summary))
    faults = json.loads(summary.read_text())["faults"]
    assert {fault["fault"] for fault in faults} == {"truncate"}
    cut = sorted(seq for fault in faults for seq in fault["seq"])
    assert len(cut) >= 2
    jsonl = tmp_path / "all-classes.jsonl"
    stdout = runner.invoke(cli.app, ["run", "all-classes", "--stdout", "--fault", "truncate=0.2"])
    jsonl.write_text(stdout.stdout)
    outputs = []
    for path in (nbf, jsonl):
        result = runner.invoke(cli.app, ["check", str(path), "--scenario", "all-classes"])
        assert result.exit_code == 1, result.output
        named = [
            int(line.split(":")[0].removeprefix("frame "))
            for line in result.stdout.splitlines()
            if line.endswith("[unreadable-record]")
        ]
        assert named == cut
        assert "a cut or damaged frame, its record not judged" in result.stdout
        last = result.stdout.splitlines()[-1]
        assert last.startswith(f"{path}: ") and " in 21 frames (" in last  # all of them read
        outputs.append(result.stdout.replace(str(path), "STREAM"))
    assert outputs[0] == outputs[1]
