"""Faults end to end (docs/faults.md): a run with every frame fault and a crash, published to
a real mosquitto, drained by `billsim addin` into SQLite; `billsim verify` explains every
difference by the faults the summary lists (exit 0) — and when the test itself withholds
one more frame, one no fault touched, verify names that frame and exits 1."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from broker_processes import MosquittoBroker
from test_addin import billsim, processes, start_addin, stop_when_acknowledged, wait_subscribed

pytestmark = pytest.mark.broker

__all__ = ["processes"]  # the fixture, used by name below

# Every class of a small generated day, long enough for a crash at 2h with sessions open.
SCENARIO = """\
name: faults-e2e
seed: 11
start: "2026-11-23T07:00:00Z"
duration: 4h
server: CN=Mail01/O=Acme
notes_ini: {BillingClass: "Session,Database,Document,Mail,Replication,Agent,HttpRequest"}
workload: {preset: typical-mail, users: 120}
faults:
  duplicate: 0.01
  reorder: {share: 0.01, window: 20}
  corrupt: 0.004
  truncate: 0.004
  crash: {at: 2h, restart_after: 5m}
"""


def _faulted_run_into_a_store(
    broker: MosquittoBroker, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> tuple[Path, Path, dict[str, Any]]:
    scenario = tmp_path / "faults.yaml"
    scenario.write_text(SCENARIO)
    store = tmp_path / "billing.db"
    addin = start_addin(broker, "--store", f"sqlite:///{store}")
    children.append(addin)
    wait_subscribed(addin, broker)
    truth = tmp_path / "truth.json"
    subprocess.run(
        billsim(
            "run", str(scenario), "--broker", broker.url, "--speed", "max",
            "--summary", str(truth),
        ),
        check=True,
        capture_output=True,
        timeout=180,
    )  # fmt: skip
    code, _out, err = stop_when_acknowledged(addin, broker)
    assert code == 0, err
    return truth, store, json.loads(truth.read_text())


def _verify(truth: Path, store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        billsim("verify", "--expected", str(truth), "--actual", f"sqlite:///{store}"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _touched(summary: dict[str, Any]) -> set[int]:
    return {seq for fault in summary["faults"] for seq in fault["seq"]}


def test_a_faulted_run_verifies_with_every_difference_explained_and_fails_on_a_withheld_frame(
    mosquitto: MosquittoBroker, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    truth, store, summary = _faulted_run_into_a_store(mosquitto, tmp_path, processes)
    kinds = {fault["fault"] for fault in summary["faults"]}
    assert kinds == {"duplicate", "reorder", "corrupt", "truncate", "crash"}, kinds

    result = _verify(truth, store)
    assert result.returncode == 0, result.stdout + result.stderr
    # The truncated frames never decode: the store misses them, and verify says which
    # fault took each one.
    truncated = [seq for f in summary["faults"] if f["fault"] == "truncate" for seq in f["seq"]]
    for seq in truncated:
        assert re.search(rf"seq missing {seq}: truncate on Mail01 seq {seq}\b", result.stdout), (
            result.stdout
        )
    # Every fault injected is listed, and nothing is blamed on the consumer.
    for kind in kinds:
        assert f"{kind} on Mail01" in result.stdout, (kind, result.stdout)
    assert "DIFFERENT" not in result.stdout

    # Now the consumer loses one frame on its own: a mail record no fault touched.
    touched = _touched(summary)
    with sqlite3.connect(store) as db:
        seq, user = next(
            (seq, user)
            for seq, user in db.execute("SELECT seq, Originator FROM MAILREC ORDER BY seq")
            if seq not in touched
        )
        db.execute("DELETE FROM MAILREC WHERE seq = ?", (seq,))
    result = _verify(truth, store)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(rf"seq missing[^\n]*\b{seq}\b", result.stdout), result.stdout
    consumer_part = result.stdout.split("explained by injected faults:")[0]
    assert user in consumer_part and "mail" in consumer_part, result.stdout
