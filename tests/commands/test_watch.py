"""A demo you watch from the first frame, with the installed `billsim` as a newcomer runs it:
`run --watch`, `--start-after` with a `tail` started by hand, `--embedded-port`, and `tail`
ending with the run (or following the next with `--follow`)."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker_processes import free_port

from simulator.commands.run import RunRequest, watches

pytestmark = pytest.mark.broker

BILLSIM = Path(sys.executable).parent / "billsim"
FIRST_FRAME = re.compile(r"^09:00:00\.00 Mail01 +session +START +Alice Smith/Acme .*#1$", re.M)
LAST_FRAME = re.compile(r"^10:00:00\.00 Mail01 +session +END +Alice Smith/Acme .*#12$", re.M)


class Child:
    """The installed billsim as a child process, its output in files read as they grow."""

    def __init__(self, directory: Path, name: str, *args: str) -> None:
        self.out_path = directory / f"{name}.out"
        self.err_path = directory / f"{name}.err"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BILLSIM_")}
        env["BILLSIM_EMBEDDED_BROKER"] = "mosquitto"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.process = subprocess.Popen(
                [str(BILLSIM), *args], stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env
            )

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_stderr(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.stderr)) is None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no {pattern!r} in stderr:\n{self.stderr}")
            time.sleep(0.05)
        return found

    def finish(self, timeout: float = 60.0) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"still running after {timeout} s:\n{self.stderr}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def children(tmp_path: Path) -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.stop()


def start(children: list[Child], tmp_path: Path, name: str, *args: str) -> Child:
    if not BILLSIM.is_file():
        pytest.fail(f"the console script is not installed at {BILLSIM}: pip install -e .")
    child = Child(tmp_path, name, *args)
    children.append(child)
    return child


def test_watch_prints_the_run_from_its_first_frame(tmp_path: Path, children: list[Child]) -> None:
    run = start(
        children, tmp_path, "run", "run", "lifecycle-demo", "--watch", "--speed", "max",
        "--embedded-port", str(free_port()),
    )  # fmt: skip
    assert run.finish() == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "-- Mail01 status online"
    frames = [line for line in lines if not line.startswith("--")]
    assert len(frames) == 12
    assert FIRST_FRAME.match(frames[0]) and LAST_FRAME.match(frames[-1])
    assert lines[-1] == "-- Mail01 status offline"


def test_a_tail_started_by_hand_during_start_after_sees_the_first_start(
    tmp_path: Path, children: list[Child]
) -> None:
    port = free_port()
    run = start(
        children, tmp_path, "run", "run", "lifecycle-demo", "--no-watch", "--speed", "max",
        "--embedded-port", str(port), "--start-after", "3s",
    )  # fmt: skip
    command = run.wait_stderr(r"watch it with:  (billsim tail --broker \S+ --server Mail01)")[1]
    assert f"mqtt://127.0.0.1:{port}" in command  # the port asked for, it was free
    run.wait_stderr("the first frame in 3 s")
    tail = start(children, tmp_path, "tail", *command.split()[1:])
    tail.wait_stderr("subscribed to")
    assert run.finish() == 0, run.stderr
    # tail ends by itself when the run's server goes offline, saying so.
    assert tail.finish(20) == 0, tail.stderr
    assert "Mail01 went offline" in tail.stderr
    assert FIRST_FRAME.search(tail.stdout) and LAST_FRAME.search(tail.stdout)
    assert tail.stdout.rstrip().endswith("-- Mail01 status offline")


def test_tail_follow_keeps_waiting_for_the_next_run(tmp_path: Path, children: list[Child]) -> None:
    port = free_port()
    first = start(
        children, tmp_path, "run1", "run", "lifecycle-demo", "--no-watch", "--speed", "max",
        "--embedded-port", str(port), "--start-after", "30s",
    )  # fmt: skip
    first.wait_stderr("the first frame in 30 s")
    url = f"mqtt://127.0.0.1:{port}"
    tail = start(children, tmp_path, "tail", "tail", "--broker", url, "--follow")
    tail.wait_stderr("subscribed to")
    first.process.send_signal(signal.SIGINT)  # ends the wait: the run shuts down, offline
    assert first.finish() == 0, first.stderr
    time.sleep(1.0)
    assert tail.process.poll() is None, tail.stderr  # still there for the next run
    assert "-- Mail01 status offline" in tail.stdout


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_watch_is_on_by_default_only_for_a_bundled_demo_on_the_embedded_broker_in_a_terminal(
    tmp_path: Path,
) -> None:
    terminal, pipe = FakeTerminal(True), FakeTerminal(False)
    assert watches(RunRequest(scenario="lifecycle-demo"), terminal)
    assert not watches(RunRequest(scenario="lifecycle-demo"), pipe)
    assert not watches(RunRequest(scenario="lifecycle-demo", broker="mqtt://h:1"), terminal)
    mine = tmp_path / "mine.yaml"
    mine.write_text("name: mine\n")
    assert not watches(RunRequest(scenario=str(mine)), terminal)
    assert not watches(RunRequest(scenario="lifecycle-demo", watch=False), terminal)
    assert watches(RunRequest(scenario=str(mine), watch=True), pipe)
