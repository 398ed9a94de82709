"""A result file is written whole or not at all; a killed run leaves the old one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from paths import REPO

from simulator.adapters.atomic import AtomicFile
from simulator.errors import InputError


def test_commit_replaces_the_target_whole(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    target.write_text("old\n")
    with AtomicFile(target) as out:
        assert target.read_text() == "old\n"  # untouched until the commit
        out.commit("new\n")
    assert target.read_text() == "new\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["summary.json"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_the_file_gets_the_mode_a_plain_write_would(tmp_path: Path, umask: int) -> None:
    """0666 less the umask, as `open(path, "w")` gives: not a temporary file's 0600, which
    left a summary unreadable to the user a verify runs as."""
    previous = os.umask(umask)
    try:
        with AtomicFile(tmp_path / "summary.json") as out:
            out.commit("{}\n")
    finally:
        os.umask(previous)
    assert (tmp_path / "summary.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_an_error_before_the_commit_leaves_the_target_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), AtomicFile(target):
        raise RuntimeError("the run failed")
    assert target.read_text() == "old\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["summary.json"]


def test_a_path_that_cannot_be_written_is_bad_input_at_once(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        AtomicFile(tmp_path / "no-such-dir" / "summary.json")
    assert caught.value.file == str(tmp_path / "no-such-dir" / "summary.json")
    assert caught.value.exit_code == 2


def test_a_fifo_is_written_directly(tmp_path: Path) -> None:
    fifo = tmp_path / "summary.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    out = AtomicFile(fifo)
    out.commit("through the pipe\n")
    assert reader.communicate(timeout=10)[0] == b"through the pipe\n"
    assert fifo.exists() and not fifo.is_file()  # still the FIFO, not replaced by a file


def test_a_run_killed_midway_leaves_the_previous_summary_whole(tmp_path: Path) -> None:
    """`run --summary` was left empty when the process was killed: now the summary of the
    last finished run stays until a new one is complete."""
    summary = tmp_path / "summary.json"
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "run", "lifecycle-demo", "--out", os.devnull,
         "--summary", str(summary)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first = json.loads(summary.read_text())
    child = subprocess.Popen(
        [sys.executable, "-m", "simulator", "run", "lifecycle-demo", "--out", os.devnull,
         "--speed", "1x", "--summary", str(summary)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while len(list(tmp_path.glob(".summary.json.*.tmp"))) == 0:
            assert time.monotonic() < deadline, "the run never opened its summary"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=20)
    assert json.loads(summary.read_text()) == first
