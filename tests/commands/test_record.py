"""`billsim record` and `billsim replay` against a real mosquitto (tests/broker_processes.py), as a
user runs them: a run recorded, replayed moved to another day, drained by the add-in and
verified against the run's own summary (issue 13's done-when); a looped replay stored as
new sessions, `check` clean, verified against the replay's summary. And the recorder's
rules without a broker."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from broker_processes import Collector, MosquittoBroker, Received
from samples import FRAMES
from test_addin import (
    billsim,
    finish,
    frames_of,
    processes,
    start_addin,
    stop_when_stored,
    wait_subscribed,
)
from typer.testing import CliRunner

from simulator.adapters.capture import CaptureWriter
from simulator.cli import app
from simulator.commands.record import Recorder
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder, dumps_frame
from simulator.wire.layout import Layout

__all__ = ["processes"]  # the fixture, used by name below

CODEC = FrameCodec()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(billsim(*args), capture_output=True, text=True, timeout=120, check=False)


def wait_recording(process: subprocess.Popen[bytes], broker: MosquittoBroker) -> None:
    deadline = time.monotonic() + 15
    while "SUBSCRIBE from billsim-record" not in broker.log_text():
        assert process.poll() is None, finish(process)
        assert time.monotonic() < deadline, "record did not subscribe"
        time.sleep(0.05)


@pytest.mark.broker
def test_a_recorded_run_replayed_rebased_into_the_addin_verifies_against_its_summary(
    mosquitto: MosquittoBroker, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    capture, truth = tmp_path / "capture.jsonl", tmp_path / "truth.json"
    recorder = subprocess.Popen(
        billsim("record", "--broker", mosquitto.url, "-o", str(capture)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    processes.append(recorder)
    wait_recording(recorder, mosquitto)
    published = run(
        "run", "all-classes", "--broker", mosquitto.url, "--speed", "max", "--summary", str(truth)
    )
    assert published.returncode == 0, published.stderr
    code, _out, err = finish(recorder)  # it ends by itself: the run went offline
    assert code == 0, err
    assert "21 frame(s) recorded" in err
    summary = json.loads(truth.read_text())
    lines = [json.loads(line) for line in capture.read_text().splitlines()]
    reference = tmp_path / "reference.nbf"
    assert run("run", "all-classes", "--out", str(reference)).returncode == 0
    assert [base64.b64decode(line["frame"]) for line in lines] == frames_of(reference.read_bytes())
    assert [line["seq"] for line in lines] == list(range(1, 22))
    assert {line["props"]["run"] for line in lines} == {summary["run"]}
    times = [line["at"] for line in lines]
    assert times[0] == 0 and times == sorted(times)

    db = tmp_path / "billing.db"
    addin = start_addin(mosquitto, "--store", f"sqlite:///{db}", "--scenario", "all-classes")
    processes.append(addin)
    wait_subscribed(addin, mosquitto)
    replayed = run(
        "replay", str(capture), "--broker", mosquitto.url, "--rebase", "2027-03-01T09:00:00Z",
        "--speed", "max", "--summary", str(tmp_path / "replay.json"),
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    [(code, out, err)] = stop_when_stored([addin], [f"sqlite:///{db}"], 21)
    assert code == 0, err
    assert "stored 21" in out and "duplicates 0, rejects 0" in out, out
    verified = run("verify", "--expected", str(truth), "--actual", f"sqlite:///{db}")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("EQUAL: 5 users")
    with sqlite3.connect(db) as conn:
        first, last = conn.execute(
            "SELECT min(time_stamp), max(time_stamp) FROM sessionrec"
        ).fetchone()
    assert (first[:19], last[:19]) == ("2027-03-01T09:00:00", "2027-03-01T09:29:00")
    own = run("verify", "--expected", str(tmp_path / "replay.json"), "--actual", f"sqlite:///{db}")
    assert own.returncode == 0, own.stdout


def frames_in(collector: Collector) -> list[Received]:
    return [m for m in collector.messages if not m.topic.endswith("/status")]


@pytest.mark.broker
async def test_a_looped_replay_reaches_a_consumer_as_new_sessions_with_new_seqs(
    mosquitto: MosquittoBroker, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    nbf, store, summary = tmp_path / "all.nbf", tmp_path / "store.nbf", tmp_path / "replay.json"
    assert run("run", "all-classes", "--out", str(nbf)).returncode == 0
    collector = await Collector(mosquitto, ["domino/billing/Mail01/#"]).start()
    addin = start_addin(mosquitto, "--store", f"nbf:{store}")
    processes.append(addin)
    wait_subscribed(addin, mosquitto)
    replayed = run(
        "replay", str(nbf), "--broker", mosquitto.url, "--loop", "3", "--speed", "max",
        "--summary", str(summary),
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    assert await collector.wait_for(lambda: len(frames_in(collector)) == 63)
    await collector.stop()
    frames = frames_in(collector)
    written = json.loads(summary.read_text())
    assert [int(m.user_properties["seq"]) for m in frames] == list(range(1, 64))
    assert {m.user_properties["run"] for m in frames} == {written["run"]}
    assert all("sent" in m.user_properties for m in frames)
    [(code, out, err)] = stop_when_stored([addin], [store], 63)
    assert code == 0 and "stored 63" in out, err + out
    checked = run("check", str(store), "--scenario", "all-classes")
    assert checked.returncode == 0 and "6 sessions, no violations" in checked.stdout, checked.stdout
    verified = run("verify", "--expected", str(summary), "--actual", f"nbf:{store}")
    assert verified.returncode == 0, verified.stdout


# -- the recorder, without a broker ---------------------------------------------------------


def recorder() -> tuple[Recorder, io.StringIO]:
    stream = io.StringIO()
    return Recorder(CaptureWriter(stream), Layout.LINUX_X86_64), stream


def props(**user: str) -> dict[str, Any]:
    return {"user_property": list(user.items())}


def test_frames_are_recorded_binary_whatever_their_payload_and_others_byte_for_byte() -> None:
    rec, stream = recorder()
    frame = CODEC.encode(FRAMES["SESSIONREC"])
    as_json = dumps_frame(JsonDecoder(CODEC)(frame, 0, 7)).encode()
    rec.handle("domino/billing/Mail01/session", frame, props(seq="6", run="r"))
    rec.handle(
        "domino/billing/Mail01/session",
        as_json,
        {**props(seq="7", run="r"), "content_type": ["application/json"]},
    )
    rec.handle("domino/billing/Mail01/session/r/8", b"garbage", {})
    rec.handle("domino/billing/Mail01/stats", b"{}", {})
    rec.handle("elsewhere", frame, {})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["seq"], base64.b64decode(line["frame"])) for line in lines] == [
        (6, frame),
        (7, frame),
        (8, b"garbage"),
    ]
    assert lines[0]["props"] == {"seq": "6", "run": "r"} and lines[2]["props"] == {}


def test_recording_ends_when_every_server_seen_online_went_offline() -> None:
    rec, _ = recorder()
    rec.handle("domino/billing/Mail01/status", b"offline", {"retain": [True]})  # an old run's
    assert not rec.ended
    rec.handle("domino/billing/Mail01/status", b"online", {})
    rec.handle("domino/billing/Mail02/status", b"online", {})
    rec.handle("domino/billing/Mail01/status", b"offline", {})
    assert not rec.ended
    rec.handle("domino/billing/Mail02/status", b"offline", {})
    assert rec.ended


@pytest.mark.parametrize("server", ["a/b", "", "Mail#1"])
def test_a_server_addin_would_refuse_exits_2_before_connecting(tmp_path: Path, server: str) -> None:
    # `a/b` once recorded server a's frames: addin refuses it, and record now does too.
    out = tmp_path / "r.cap"
    result = CliRunner().invoke(
        app, ["record", "-o", str(out), "--server", server, "--broker", "mqtt://127.0.0.1:1"]
    )
    assert result.exit_code == 2, result.output
    assert "--server" in result.output
