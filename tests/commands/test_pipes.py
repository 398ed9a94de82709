"""Pipes as a user types them: the installed `billsim` console script in a shell pipeline.

`run --out -` and `run --stdout` into `check -` and `decode -`, both frame forms, the text
view, and empty input, which is an error, never a silent OK.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from console import sh


@pytest.mark.parametrize("scenario", ["notecreate"])  # custom records too; every scenario:
def test_binary_frames_on_stdout_pipe_into_check(  # tests/commands/test_check.py
    tmp_path: Path, scenario: str
) -> None:
    result = sh(f"billsim run {scenario} --out - | billsim check - --scenario {scenario}", tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.startswith("OK: <stdin>: ")
    assert list(tmp_path.iterdir()) == []  # no file named "-"


def test_json_lines_pipe_into_check(tmp_path: Path) -> None:
    result = sh("billsim run reopen --stdout | billsim check - --scenario reopen", tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "19 frames" in result.stdout


def test_decode_reads_either_form_and_gives_the_same_json_lines(tmp_path: Path) -> None:
    expected = sh("billsim run all-classes --stdout", tmp_path)
    # all-classes has a custom record: decode names its fields when told its type.
    declared = "--scenario all-classes"
    from_binary = sh(f"billsim run all-classes --out - | billsim decode - {declared}", tmp_path)
    from_json = sh(f"billsim run all-classes --stdout | billsim decode - {declared}", tmp_path)
    # Undeclared, its JSON line's fields are kept as given (docs/cli.md: shown silently).
    undeclared = sh("billsim run all-classes --stdout | billsim decode -", tmp_path)
    assert expected.returncode == from_binary.returncode == from_json.returncode == 0
    assert undeclared.returncode == 0, undeclared.stderr
    lines = expected.stdout.splitlines()
    assert len(lines) == 21
    assert from_binary.stdout.splitlines() == lines
    assert from_json.stdout.splitlines() == lines
    assert undeclared.stdout.splitlines() == lines


def test_the_text_view_offline_is_tails(tmp_path: Path) -> None:
    run_text = sh("billsim run lifecycle-demo --stdout --format text", tmp_path)
    decode_text = sh(
        "billsim run lifecycle-demo --out - | billsim decode - --format text", tmp_path
    )
    assert run_text.returncode == decode_text.returncode == 0, run_text.stderr
    assert run_text.stdout == decode_text.stdout
    lines = run_text.stdout.splitlines()
    assert lines[0] == "-- 2026-11-21"
    objects = [
        json.loads(line)
        for line in sh("billsim run lifecycle-demo --stdout", tmp_path).stdout.splitlines()
    ]
    assert len(lines) == 1 + len(objects)
    first = lines[1].split()
    # Action names, not numbers: the first frame is the session's START, seq 1.
    assert first[:4] == ["09:00:00.00", "Mail01", "session", "START"]
    assert first[-1] == "#1"
    assert lines[-1].split()[2:4] == ["session", "END"]


@pytest.mark.parametrize(
    "command",
    ["printf '' | billsim check -", "billsim check /dev/null", "printf '' | billsim decode -"],
)
def test_empty_input_is_exit_2_no_frames(tmp_path: Path, command: str) -> None:
    result = sh(command, tmp_path)
    assert result.returncode == 2
    assert "no frames" in result.stderr
    assert "OK" not in result.stdout


def test_format_goes_with_stdout(tmp_path: Path) -> None:
    result = sh("billsim run lifecycle-demo --out x.nbf --format text", tmp_path)
    assert result.returncode == 2
    assert "--format" in result.stderr
    assert not (tmp_path / "x.nbf").exists()


@pytest.mark.parametrize("reader", ["check -", "decode -"])
def test_the_text_view_piped_back_is_named_not_a_truncated_frame(
    tmp_path: Path, reader: str
) -> None:
    result = sh(
        f"billsim run lifecycle-demo --stdout --format text 2>/dev/null | billsim {reader}",
        tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "billsim: <stdin>:1: not BILLMSG frames nor JSON lines: it starts with text "
        "`-- 2026-11-21`; the text view (--format text) cannot be read back"
    )
    assert "OK" not in result.stdout


@pytest.mark.parametrize("reader", ["check", "decode"])
def test_a_text_file_is_named_for_what_it_starts_with(tmp_path: Path, reader: str) -> None:
    (tmp_path / "notes.txt").write_text("Frames of Monday's run\nsee the .nbf\n")
    result = sh(f"billsim {reader} notes.txt", tmp_path)
    assert result.returncode == 2
    assert "notes.txt:1: not BILLMSG frames nor JSON lines: it starts with text " in result.stderr
    assert "`Frames of Monday's run`" in result.stderr
    assert "truncated frame" not in result.stderr and "Traceback" not in result.stderr


def test_an_undeclared_custom_type_is_checked_by_its_header_in_either_form(tmp_path: Path) -> None:
    """Without --scenario, check reads a custom record it has no table for as binary
    bytes it cannot name the fields of; its JSON line, fields by name, the same way."""
    binary = sh("billsim run notecreate --out - 2>/dev/null | billsim check -", tmp_path)
    lines = sh("billsim run notecreate --stdout 2>/dev/null | billsim check -", tmp_path)
    assert binary.returncode == lines.returncode == 0, lines.stderr
    assert lines.stdout == binary.stdout
    assert "(DBREC 4, custom 3)" in lines.stdout


def test_a_win32_stream_checked_as_linux_says_try_layout_win32(tmp_path: Path) -> None:
    result = sh(
        "billsim run lifecycle-demo --layout win32 --out - 2>/dev/null "
        "| billsim check - --scenario lifecycle-demo",
        tmp_path,
    )
    assert result.returncode == 1
    assert "[bad-action]" in result.stdout
    assert "note: these frames look like the win32 layout: try --layout win32" in result.stdout
