"""The load-test loop as the README runs it, every record type, both stores, both
payloads: `billsim addin` drains a real mosquitto into SQLite or PostgreSQL while `billsim
run` publishes, `billsim verify` finds the stored bill equal to the run's ground truth;
one frame taken out of the store, and verify names the user and field (exit 1)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from broker_processes import MosquittoBroker
from test_addin import billsim, processes, start_addin, stop_when_stored, wait_subscribed

pytestmark = pytest.mark.broker

__all__ = ["processes"]  # the fixture, used by name below


def loop(
    broker: MosquittoBroker,
    store: str,
    payload: str,
    tmp_path: Path,
    children: list[subprocess.Popen[bytes]],
) -> Path:
    """The add-in subscribed, all-classes published, the add-in drained: the truth file."""
    addin = start_addin(broker, "--store", store, "--scenario", "all-classes")
    children.append(addin)
    wait_subscribed(addin, broker)
    truth = tmp_path / "truth.json"
    subprocess.run(
        billsim(
            "run", "all-classes", "--broker", broker.url, "--speed", "max",
            "--payload", payload, "--summary", str(truth),
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    [(code, out, err)] = stop_when_stored([addin], [store], 21)
    assert code == 0, err
    assert "21 frame(s) committed: stored 21 (" in out and "duplicates 0, rejects 0" in out, out
    return truth


def verify(truth: Path, store: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        billsim("verify", "--expected", str(truth), "--actual", store),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# The payload is made a frame before any store sees it (addin/intake.py): one store takes
# JSON payloads here, the other binary, and between them every record type both ways.
def test_sqlite_store_verifies_equal_and_a_missing_frame_is_named(
    mosquitto: MosquittoBroker,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    db = tmp_path / "billing.db"
    store = f"sqlite:///{db}"
    truth = loop(mosquitto, store, "json", tmp_path, processes)
    assert json.loads(truth.read_text())["records"] == 21
    equal = verify(truth, store)
    assert equal.returncode == 0, equal.stdout + equal.stderr
    assert equal.stdout.startswith("EQUAL: 5 users, 14 fields each")
    with sqlite3.connect(db) as conn:  # the consumer "loses" Bob's agent run
        (seq,) = conn.execute("SELECT seq FROM agentrec").fetchone()
        conn.execute("DELETE FROM agentrec")
    different = verify(truth, store)
    assert different.returncode == 1
    assert "CN=Bob Jones/O=Acme  agents " in different.stdout
    assert "CN=Bob Jones/O=Acme  agent_time " in different.stdout
    assert f"seq missing {seq}" in different.stdout


def test_postgresql_store_verifies_equal(
    mosquitto: MosquittoBroker,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
    postgres_url: str,
) -> None:
    truth = loop(mosquitto, postgres_url, "binary", tmp_path, processes)
    equal = verify(truth, postgres_url)
    assert equal.returncode == 0, equal.stdout + equal.stderr
    assert equal.stdout.startswith("EQUAL: 5 users, 14 fields each")
