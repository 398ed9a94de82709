"""Exactly-once accounting on a broker that speaks MQTT 3.1.1 only (nats-server's MQTT
listener, tests/broker_processes.py): no properties carry `run` and `seq`, so with `--topic-meta`
they go in the topic and the add-in keys on it, and without it the add-in stores every
copy and says so, and `verify` compares totals only and says so. With `--topic-meta`,
frames lost on the way are named by `seq` as on MQTT 5. The MQTT 5 attempt that
NATS refuses leaves one billsim line on stderr and nothing of gmqtt's.

The publisher is `billsim run … --broker URL` as a child process, and so is the add-in;
a frame delivered twice is published again by hand (mosquitto_pub, MQTT 3.1.1, QoS 1).
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker_processes import NatsBroker, NatsFactory, find_program
from bundled_runs import run_bundled
from samples import SERVER_CN

from simulator.wire import constants as c

pytestmark = pytest.mark.broker

SCENARIO = "all-classes"
GMQTT_LINE = "[MqttPackageHandler]"
MQTT_STREAM = "$MQTT_msgs"  # where NATS keeps QoS 1 messages (JetStream)


def billsim(*args: str) -> list[str]:
    return [sys.executable, "-m", "simulator", *args]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Child processes a test starts; any left running is killed by its PID."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def reference(tmp_path: Path) -> list[bytes]:
    """The run's frames as `run --out` writes them: those the broker carries."""
    out = tmp_path / "reference.nbf"
    run_bundled(SCENARIO, out)  # in-process: the bytes `billsim run --out` writes
    data, frames, at = out.read_bytes(), [], 0
    while at < len(data):
        length = int.from_bytes(data[at : at + 2], "little")
        frames.append(data[at : at + length])
        at += length
    return frames


def first_agent(frames: list[bytes]) -> tuple[int, bytes]:
    """The seq and bytes of the run's AGENTREC: agent runs are billed by count, so a copy
    stored twice shows in the bill (a MAILREC would not: the bill counts a message once
    by its OriginatorID)."""
    for seq, frame in enumerate(frames, 1):
        if int.from_bytes(frame[4:8], "little") == c.BILL_CLASS_AGENT:
            return seq, frame
    raise AssertionError("no AGENTREC in the run")


class Addin:
    """`billsim addin` as a child process; its stderr goes to a file, read as it goes."""

    def __init__(self, broker: NatsBroker, directory: Path, *args: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.err_path = directory / "addin.err"
        self.summary = directory / "addin.json"
        self.store = f"sqlite:///{directory / 'billing.db'}"
        command = billsim(
            "addin", "--broker", broker.url, "--store", self.store,
            "--summary", str(self.summary), *args,
        )  # fmt: skip
        with self.err_path.open("wb") as err:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err)

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_subscribed(self) -> str:
        deadline = time.monotonic() + 20
        while "subscribed to" not in self.stderr():
            assert self.process.poll() is None, self.stderr()
            assert time.monotonic() < deadline, f"the add-in did not subscribe: {self.stderr()}"
            time.sleep(0.05)
        return self.stderr()

    def finish(self) -> tuple[int, str]:
        out, _ = self.process.communicate(timeout=60)
        return self.process.returncode, out.decode()

    def finish_when_drained(self, broker: NatsBroker) -> tuple[int, str]:
        """Once every message published so far has been acknowledged, SIGTERM (the add-in
        commits what it took and exits 0), and finish. NATS keeps QoS 1 messages in a
        JetStream stream that holds each only until its subscribers acknowledge it, and
        the add-in acknowledges a frame once committed (or counted as a duplicate): an
        empty stream is an add-in that has taken everything. No idle wait to end it, and
        no idle timer to race a publisher slow to start on a busy machine."""
        deadline = time.monotonic() + 60
        while broker.request(f"$JS.API.STREAM.INFO.{MQTT_STREAM}")["state"]["messages"]:
            assert self.process.poll() is None, self.stderr()
            assert time.monotonic() < deadline, f"the add-in did not take it all: {self.stderr()}"
            time.sleep(0.05)
        self.process.send_signal(signal.SIGTERM)
        return self.finish()


def publish_run(broker: NatsBroker, tmp_path: Path, *args: str) -> tuple[dict[str, object], str]:
    """`billsim run` to the broker: its summary and its stderr."""
    summary = tmp_path / "run.json"
    command = billsim(
        "run", SCENARIO, "--broker", broker.url, "--speed", "max",
        "--summary", str(summary), *args,
    )  # fmt: skip
    done = subprocess.run(command, check=False, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(summary.read_text()), done.stderr.decode()


def publish_again(broker: NatsBroker, topic: str, frame: bytes, path: Path, times: int) -> None:
    """The frame once more on `topic`, `times` times, as a redelivery would bring it."""
    path.write_bytes(frame)
    command = [
        find_program("mosquitto_pub"), "-V", "mqttv311", "-q", "1",
        "-h", broker.host, "-p", str(broker.port), "-t", topic, "-f", str(path),
    ]  # fmt: skip
    for _ in range(times):
        subprocess.run(command, check=True, capture_output=True, timeout=30)


def verify(expected: Path, store: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        billsim("verify", "--expected", str(expected), "--actual", store),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def fallback_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "mqtt5_refused" in line]


def test_with_topic_meta_the_add_in_stores_each_frame_once_on_nats_and_verify_passes(
    nats_factory: NatsFactory, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """run --topic-meta → NATS (3.1.1 only) → add-in: every frame once, a frame published
    twice more by hand counted as 2 duplicates and not stored; verify exits 0 and lists
    no missing or doubled seq. The add-in's second start finds its session at the
    broker (and drops filters of older add-ins it may hold) and still subscribes."""
    broker = nats_factory()
    frames = reference(tmp_path)
    first = Addin(broker, tmp_path / "first")
    processes.append(first.process)
    first.wait_subscribed()
    first.process.send_signal(signal.SIGTERM)
    assert first.finish()[0] == 0  # its session stays at the broker

    addin = Addin(broker, tmp_path / "addin")
    processes.append(addin.process)
    said = addin.wait_subscribed()
    assert "domino/billing/+/{session,database," in said and "(MQTT 3.1.1)" in said
    run, run_err = publish_run(broker, tmp_path, "--topic-meta")
    assert run["mqtt_version"] == "3.1.1" and run["delivered"] == len(frames)
    seq, agent = first_agent(frames)
    topic = f"domino/billing/{SERVER_CN}/agent/{run['run']}/{seq}"
    publish_again(broker, topic, agent, tmp_path / "agent.bin", times=2)
    code, out = addin.finish_when_drained(broker)
    assert code == 0, addin.stderr()
    summary = json.loads(addin.summary.read_text())
    assert (summary["stored"], summary["duplicates"], summary["rejects"]) == (len(frames), 2, 0)
    assert summary["without_seq"] == 0
    assert "cannot be told apart" not in out
    assert GMQTT_LINE not in addin.stderr() and GMQTT_LINE not in run_err
    # One line for the fallback, naming where run and seq went.
    (line,) = fallback_lines(run_err)
    assert "MQTT 3.1.1 only" in line and "run and seq are in the topic (--topic-meta)" in line

    result = verify(tmp_path / "run.json", addin.store)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("EQUAL: ")
    assert "totals only" not in result.stdout and "seq missing" not in result.stdout


def test_without_topic_meta_every_copy_is_stored_and_verify_compares_totals_only(
    nats_factory: NatsFactory, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """run → NATS without --topic-meta: no run and seq anywhere. The add-in stores every
    copy and says duplicates cannot be told apart; verify says it compares totals only —
    equal for the run as sent, and different (exit 1) once a copy of an agent frame was
    stored besides."""
    broker = nats_factory()
    frames = reference(tmp_path)
    addin = Addin(broker, tmp_path / "addin")
    processes.append(addin.process)
    addin.wait_subscribed()
    run, run_err = publish_run(broker, tmp_path)
    assert run["mqtt_version"] == "3.1.1"
    (line,) = fallback_lines(run_err)
    assert "--topic-meta puts run and seq in the topic" in line
    assert GMQTT_LINE not in run_err
    code, out = addin.finish_when_drained(broker)
    assert code == 0, addin.stderr()
    summary = json.loads(addin.summary.read_text())
    assert (summary["stored"], summary["duplicates"]) == (len(frames), 0)
    assert summary["without_seq"] == len(frames)
    assert "duplicates among them cannot be told apart" in out

    result = verify(tmp_path / "run.json", addin.store)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{SERVER_CN}: {len(frames)} frames in {addin.store} have no run and seq" in (
        result.stdout
    )
    assert "compared on totals only" in result.stdout
    assert result.stdout.splitlines()[-1].endswith(
        f"(totals only: {len(frames)} frames without run and seq)"
    )

    # A redelivered agent frame: a second row, which only the totals can show.
    again = Addin(broker, tmp_path / "addin")
    processes.append(again.process)
    again.wait_subscribed()
    _seq, agent = first_agent(frames)
    publish_again(broker, f"domino/billing/{SERVER_CN}/agent", agent, tmp_path / "a.bin", 1)
    assert again.finish_when_drained(broker)[0] == 0, again.stderr()
    assert json.loads(again.summary.read_text())["stored"] == 1  # stored again, not a duplicate
    result = verify(tmp_path / "run.json", addin.store)
    assert result.returncode == 1, result.stdout
    assert "CN=Bob Jones/O=Acme  agents " in result.stdout
    assert "totals only" in result.stdout and "seq missing" not in result.stdout


def start_recording(
    broker: NatsBroker, capture: Path, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    """`billsim record` of `broker` into `capture`, returned once it says it is recording."""
    with (tmp_path / "record.err").open("wb") as err:
        recorder = subprocess.Popen(
            billsim("record", "--broker", broker.url, "-o", str(capture)),
            stdout=subprocess.PIPE,
            stderr=err,
        )
    processes.append(recorder)
    deadline = time.monotonic() + 20
    while "recording" not in (tmp_path / "record.err").read_text():
        assert recorder.poll() is None and time.monotonic() < deadline, (
            tmp_path / "record.err"
        ).read_text()
        time.sleep(0.05)
    return recorder


def test_a_run_recorded_from_nats_replays_with_its_run_and_seq_in_the_topics(
    nats_factory: NatsFactory, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """record takes run and seq from --topic-meta topics (no properties on 3.1.1); replay
    --topic-meta publishes each frame again under its recorded run and seq; the add-in
    stores the replay once and verify holds it against the recorded run's summary, seq
    numbers included."""
    broker = nats_factory()
    capture = tmp_path / "capture.jsonl"
    recorder = start_recording(broker, capture, tmp_path, processes)
    run, _ = publish_run(broker, tmp_path, "--topic-meta")
    recorder.wait(60)  # it ends by itself: the run went offline
    lines = [json.loads(line) for line in capture.read_text().splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert all(line["props"] == {} for line in lines)
    assert lines[0]["topic"].endswith(f"/{run['run']}/1")

    addin = Addin(broker, tmp_path / "addin")
    processes.append(addin.process)
    addin.wait_subscribed()
    command = billsim(
        "replay", str(capture), "--broker", broker.url, "--speed", "max", "--topic-meta"
    )
    replayed = subprocess.run(command, check=False, capture_output=True, timeout=120)
    assert replayed.returncode == 0, replayed.stderr.decode()
    code, _out = addin.finish_when_drained(broker)
    assert code == 0, addin.stderr()
    summary = json.loads(addin.summary.read_text())
    assert (summary["stored"], summary["duplicates"], summary["without_seq"]) == (len(lines), 0, 0)
    result = verify(tmp_path / "run.json", addin.store)
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("EQUAL: ") and "totals only" not in result.stdout


@pytest.mark.parametrize("command", ["run", "replay"])
def test_topic_meta_goes_with_mqtt_not_with_out(command: str, tmp_path: Path) -> None:
    source = SCENARIO
    if command == "replay":
        source = str(tmp_path / "in.nbf")
        subprocess.run(billsim("run", SCENARIO, "--out", source), check=True, capture_output=True)
    done = subprocess.run(
        billsim(command, source, "--out", str(tmp_path / "x.nbf"), "--topic-meta"),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--topic-meta: goes with a" in done.stderr


def test_on_nats_verify_names_the_missing_seqs_and_the_add_in_counts_the_doubled(
    nats_factory: NatsFactory, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """What a lossy, redelivering path does to a run on a 3.1.1-only broker, made exact: a
    run published to NATS with --topic-meta is recorded there (no add-in yet); its frames
    are then published again by hand on their recorded topics (…/{run}/{seq}, MQTT 3.1.1)
    without seqs 2, 5 and 6 and with seq 8 twice. The add-in stores the rest once and counts
    the copy as a duplicate; verify, keying on the topic's run and seq as on MQTT 5, names
    the missing seqs (not a totals-only comparison) and exits 1."""
    broker = nats_factory()
    capture = tmp_path / "capture.jsonl"
    recorder = start_recording(broker, capture, tmp_path, processes)
    run, _ = publish_run(broker, tmp_path, "--topic-meta")
    recorder.wait(60)
    lines = [json.loads(line) for line in capture.read_text().splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))

    addin = Addin(broker, tmp_path / "addin")
    processes.append(addin.process)
    addin.wait_subscribed()
    lost, doubled = {2, 5, 6}, 8
    for line in lines:
        if line["seq"] not in lost:
            assert line["topic"].endswith(f"/{run['run']}/{line['seq']}")
            times = 2 if line["seq"] == doubled else 1
            frame = base64.b64decode(line["frame"])
            publish_again(broker, line["topic"], frame, tmp_path / "frame.bin", times)
    code, _out = addin.finish_when_drained(broker)
    assert code == 0, addin.stderr()
    summary = json.loads(addin.summary.read_text())
    stored = (summary["stored"], summary["duplicates"], summary["without_seq"])
    assert stored == (len(lines) - len(lost), 1, 0)

    result = verify(tmp_path / "run.json", addin.store)
    assert result.returncode == 1, result.stdout
    assert f"{SERVER_CN} run {run['run']}: seq missing 2, 5-6\n" in result.stdout
    last = result.stdout.splitlines()[-1]
    assert last.startswith("DIFFERENT: ") and "3 seqs missing" in last
    assert "totals only" not in result.stdout
