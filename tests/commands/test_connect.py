"""The first connection to a broker fails fast: `run` and `tail` exit 1 within
--connect-timeout, naming the URL and the reason, before a single frame is written; an
unparseable URL is exit 2 at once, for every command that takes --broker.

Each test starts what it needs on loopback (a closed port, a TLS mosquitto, a mosquitto
with passwords) and runs the installed console script as a user would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from broker_processes import BrokerFactory, free_port, make_tls_files
from paths import GOLDEN_FRAMES

pytestmark = pytest.mark.broker

BILLSIM = Path(sys.executable).parent / "billsim"
# What the process needs besides the timeout itself: start-up, the scenario, shutdown.
SLACK_S = 6.0


def billsim(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [str(BILLSIM), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result, time.monotonic() - started


def test_run_to_a_closed_port_exits_1_within_the_timeout(tmp_path: Path) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    summary = tmp_path / "summary.json"
    result, took = billsim(
        "run", "lifecycle-demo", "--broker", url, "--connect-timeout", "1",
        "--summary", str(summary), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert f"billsim: cannot connect to the broker {url} within 1 s: connection refused" in (
        result.stderr
    )
    assert 1 <= took < 1 + SLACK_S
    assert "records" not in result.stderr.splitlines()[-1]  # no summary of a run not made


def test_run_refused_login_exits_1_at_once(
    tmp_path: Path, mosquitto_factory: BrokerFactory
) -> None:
    broker = mosquitto_factory(passwords={"billing": "right"})
    url = f"mqtt://billing:wrong@127.0.0.1:{broker.port}"
    result, took = billsim(
        "run", "lifecycle-demo", "--broker", url, "--connect-timeout", "20", cwd=tmp_path
    )
    assert result.returncode == 1
    assert f"127.0.0.1:{broker.port}" in result.stderr
    assert "login refused" in result.stderr
    assert "wrong" not in result.stderr  # the password is never shown
    assert took < SLACK_S  # not the 20 s of the timeout: a refusal is final


def test_run_with_an_untrusted_certificate_exits_1_at_once(
    tmp_path: Path, mosquitto_factory: BrokerFactory
) -> None:
    broker = mosquitto_factory(tls=make_tls_files(tmp_path / "tls"))
    result, took = billsim(
        "run", "lifecycle-demo", "--broker", broker.url, "--connect-timeout", "20", cwd=tmp_path
    )
    assert result.returncode == 1
    assert broker.url in result.stderr
    assert "certificate verify failed" in result.stderr
    assert took < SLACK_S


def test_tail_to_a_closed_port_exits_1_within_the_timeout(tmp_path: Path) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    result, took = billsim("tail", "--broker", url, "--connect-timeout", "1", cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot connect to the broker {url} within 1 s: connection refused" in result.stderr
    assert "refused" in result.stderr
    assert 1 <= took < 1 + SLACK_S


def test_tail_with_an_untrusted_certificate_exits_1_at_once(
    tmp_path: Path, mosquitto_factory: BrokerFactory
) -> None:
    broker = mosquitto_factory(tls=make_tls_files(tmp_path / "tls"))
    result, took = billsim("tail", "--broker", broker.url, "--connect-timeout", "20", cwd=tmp_path)
    assert result.returncode == 1
    assert "certificate verify failed" in result.stderr
    assert took < SLACK_S


def test_a_connected_run_reports_the_real_wall_time(
    tmp_path: Path, mosquitto_factory: BrokerFactory
) -> None:
    broker = mosquitto_factory()
    summary = tmp_path / "summary.json"
    result, took = billsim(
        "run", "lifecycle-demo", "--broker", broker.url, "--speed", "max",
        "--summary", str(summary), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    wall = json.loads(summary.read_text())["wall_time_s"]
    assert 0 < wall <= took
    assert json.loads(summary.read_text())["rate_per_s"] > 0


@pytest.mark.parametrize(
    "command",
    [
        ["run", "lifecycle-demo"],
        ["tail"],
        ["addin"],
        ["record", "--out", "capture.jsonl"],
        ["replay", "frames.nbf"],
    ],
)
@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("mqtt://bad url", "host 'bad url' has a space"),
        ("mqtt://host;x:1883", "host 'host;x' has ';'"),
    ],
)
def test_an_unparseable_broker_url_is_exit_2_at_once_naming_broker(
    tmp_path: Path, command: list[str], url: str, why: str
) -> None:
    """Not a name lookup failing until the connect timeout: nothing is made or sent."""
    shutil.copy(GOLDEN_FRAMES / "linux-x86_64-pad-union.nbf", tmp_path / "frames.nbf")
    result, took = billsim(*command, "--broker", url, "--connect-timeout", "30", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"billsim: --broker: not a broker URL ({why}")
    # Far from the 30 s of the timeout (a loaded machine's start-up alone can near SLACK_S).
    assert took < 2 * SLACK_S
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames.nbf"]  # no capture, no store
