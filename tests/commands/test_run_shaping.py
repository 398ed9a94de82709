"""`billsim run --rate`, `stages:` and `--duration forever` through the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from paths import REPO
from typer.testing import CliRunner

from simulator import cli
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder

runner = CliRunner()

# A generated workload: about 3,000 records over its hour.
SCENARIO = """\
name: shaped
seed: 9
start: "2026-11-21T09:00:00Z"
duration: {duration}
server: CN=Mail01/O=Acme
notes_ini: {{BillingClass: "Session,Database,Document", BillingSuppressTime: 1}}
stamp_policy: activity
databases:
  mail/a.nsf: {{replica_id: "85258A3B:0052C1F0"}}
workload: {{users: 60, arrival: 1m, think_time: 1m, session_length: 20m}}
{extra}"""


def write(tmp_path: Path, *, duration: str = "1h", extra: str = "") -> Path:
    path = tmp_path / "shaped.yaml"
    path.write_text(SCENARIO.format(duration=duration, extra=extra))
    return path


def invoke(*args: str) -> Any:
    return runner.invoke(cli.app, list(args))


def run_out(scenario: Path, out: Path, *args: str) -> bytes:
    result = invoke("run", str(scenario), "--out", str(out), *args)
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def test_a_rate_changes_only_the_pace_not_a_byte(tmp_path: Path) -> None:
    scenario = write(tmp_path)
    at_max = run_out(scenario, tmp_path / "max.nbf", "--speed", "max")
    assert len(at_max) > 2000 * 1000
    assert run_out(scenario, tmp_path / "rate.nbf", "--rate", "20000/s") == at_max
    assert run_out(scenario, tmp_path / "bare.nbf", "--rate", "50000") == at_max


def test_stages_change_only_the_pace_and_rate_replaces_them(tmp_path: Path) -> None:
    at_max = run_out(write(tmp_path), tmp_path / "max.nbf")
    stages = (
        "stages: [{rate: 20000/s, for: 0.1s}, {rate: 0/s, for: 0.1s}, {rate: 40000/s, for: 0s}]\n"
    )
    shaped = write(tmp_path, extra=stages)
    summary = tmp_path / "summary.json"
    assert run_out(shaped, tmp_path / "stages.nbf", "--summary", str(summary)) == at_max
    assert json.loads(summary.read_text())["speed"].startswith("stages 20000/s for 0.1s, ")
    assert run_out(shaped, tmp_path / "rate.nbf", "--rate", "30000/s", "--summary", str(summary))
    assert json.loads(summary.read_text())["speed"] == "30000/s"


def test_a_rate_works_with_stdout_too(tmp_path: Path) -> None:
    scenario = write(tmp_path, duration="10m")
    plain = invoke("run", str(scenario), "--stdout")
    shaped = invoke("run", str(scenario), "--stdout", "--rate", "20000/s")
    assert plain.exit_code == shaped.exit_code == 0
    assert plain.stdout == shaped.stdout and plain.stdout.count("\n") > 100


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("--rate", "fast"), "billsim: --rate: expected a rate like 5000/s"),
        (("--rate", "-5/s"), "billsim: --rate: must not be negative"),
        (("--rate", "0/s"), "billsim: --rate: must be more than 0/s"),
        (("--rate", "5/s", "--speed", "60x"), "billsim: --rate: goes without --speed"),
        (("--duration", "0"), "billsim: --duration: must be > 0, or forever"),
        (("--duration", "soon"), "billsim: --duration: expected a duration like"),
        (("--duration", "3000000d"), "billsim: --duration: the run would end after the year 9999"),
    ],
)
def test_bad_rate_and_duration_options_exit_2_naming_them(
    tmp_path: Path, args: tuple[str, ...], error: str
) -> None:
    result = invoke("run", str(write(tmp_path)), "--stdout", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(error), result.stderr
    assert result.stdout == ""


def test_a_scenario_with_stages_takes_no_speed(tmp_path: Path) -> None:
    path = write(tmp_path, extra="stages: [{rate: 100/s, for: 1m}]\n")
    result = invoke("run", str(path), "--stdout", "--speed", "max")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"billsim: --speed: {path} shapes the rate of records")


STAGES_LINE = SCENARIO.count("\n") + 1  # `stages:` is the line after the workload


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (
            "stages:\n  - {rate: 100/s, for: 1m}\n  - {rate: fast, for: 1m}\n",
            f":{STAGES_LINE + 2}: stages[1].rate: expected a rate like 5000/s",
        ),
        (
            "stages:\n  - {rate: 100/s}\n",
            f":{STAGES_LINE + 1}: stages[0].for: required field missing",
        ),
        (
            "stages:\n  - {rate: 100/s, for: -1m}\n",
            f":{STAGES_LINE + 1}: stages[0].for: must not be negative",
        ),
        (
            "stages:\n  - {rate: -1/s, for: 1m}\n",
            f":{STAGES_LINE + 1}: stages[0].rate: must not be negative",
        ),
        (
            "stages:\n  - {rate: 100/s, for: 1m, ramp: true}\n",
            f":{STAGES_LINE + 1}: stages[0].ramp: unknown field",
        ),
        ("stages: [{rate: 1/s, for: 1s}]\nspeed: 60x\n", f":{STAGES_LINE}: stages: stages shape"),
    ],
)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_stages_exit_2_naming_file_line_and_field(
    tmp_path: Path, extra: str, error: str, command: str
) -> None:
    path = write(tmp_path, extra=extra)
    result = invoke(command, str(path), *(["--stdout"] if command == "run" else []))
    assert result.exit_code == 2
    assert f"{path}{error}" in result.stderr, result.stderr


def test_a_bad_duration_in_the_scenario_names_it(tmp_path: Path) -> None:
    path = write(tmp_path, duration="someday")
    result = invoke("validate", str(path))
    assert result.exit_code == 2
    assert f"{path}:4: duration: expected a duration like" in result.stderr
    assert "or forever" in result.stderr


def test_forever_validates(tmp_path: Path) -> None:
    result = invoke("validate", str(write(tmp_path, duration="forever")))
    assert result.exit_code == 0, result.output


# --- forever, stopped by a signal ---------------------------------------------------------


def start_forever(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    summary = tmp_path / "summary.json"
    command = [sys.executable, "-m", "simulator", "run", str(write(tmp_path))]
    command += ["--duration", "forever", "--rate", "2000/s", "--summary", str(summary), *args]
    return subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if "--stdout" in args else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def stop(child: subprocess.Popen[bytes], signum: int) -> tuple[bytes, str]:
    child.send_signal(signum)
    try:
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    return out or b"", err.decode()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_forever_to_a_file_runs_until_a_signal_then_shuts_down_with_a_summary(
    tmp_path: Path, signum: signal.Signals
) -> None:
    out = tmp_path / "forever.nbf"
    child = start_forever(tmp_path, "--out", str(out))
    # Past the scenario's own hour: 3,000 records would have ended it by then.
    wait_for(lambda: out.exists() and out.stat().st_size > 4000 * 1000)
    _, err = stop(child, signum)
    assert child.returncode == 0, err
    assert f"{signum.name}: shutting down: ending" in err
    assert "Traceback" not in err
    summary = json.loads((tmp_path / "summary.json").read_text())
    data = out.read_bytes()
    assert summary["records"] == len(data) // 1000 > 4000
    assert summary["speed"] == "2000/s"
    assert summary["virtual_span_s"] > 3600  # where the stop found it: past the hour
    decode = JsonDecoder(FrameCodec())
    last = decode(data, len(data) - 1000)
    assert (last["StructType"], last["rec"]["Action"]) == (c.BILL_SESSIONREC, c.BILL_SESSION_END)


def test_forever_to_stdout_stops_on_a_signal_too(tmp_path: Path) -> None:
    child = start_forever(tmp_path, "--stdout")
    assert child.stdout is not None
    for lines, _ in enumerate(child.stdout, 1):
        if lines == 500:
            break
    _, err = stop(child, signal.SIGTERM)
    assert child.returncode == 0, err
    assert "SIGTERM: shutting down" in err
    assert json.loads((tmp_path / "summary.json").read_text())["records"] >= 500
