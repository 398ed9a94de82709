"""`billsim run` on MQTT, end to end: the issue-4 acceptance tests at the daemon level.

Each test drives the real command line (`python -m simulator run …` as a child process)
against a private mosquitto of its own on a free loopback port (tests/broker_processes.py), never
the system broker on 1883, and looks at what a consumer subscribed to the broker sees.
Reference frames come from an in-process `--out` / `--stdout` run of the same scenario
(`simulator.commands.run.run` in a thread: it runs its own event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

import pytest
from broker_processes import (
    BrokerFactory,
    Collector,
    MosquittoBroker,
    MQTTv311,
    Received,
    free_port,
    make_tls_files,
)
from console import sh
from paths import REPO

from simulator.adapters.broker import find_mosquitto_sub
from simulator.commands.run import RunRequest, run
from simulator.commands.run_live import shutdown_on_signals
from simulator.commands.run_mqtt import StatsMeter, embedded_port, live_view
from simulator.domino.simulation import RunOptions, Simulation
from simulator.errors import InputError
from simulator.scenario.bundled import resolve_scenario
from simulator.scenario.loader import load_scenario
from simulator.scenario.rate import RatePlan, RateStage
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder
from simulator.wire.layout import Framing, Layout

pytestmark = pytest.mark.broker

CN = "Mail01"  # the server of the scenarios run here (STEADY and the bundled ones)
ROOT = f"domino/billing/{CN}/"
STATUS = ROOT + "status"
STATS = ROOT + "stats"
CONTROL = ROOT + "control"
REPLY = ROOT + "control/reply"
SERVICE_TOPICS = (STATUS, STATS, CONTROL, REPLY)
ANSWERS = "test/answers/"  # response topics of the control test's requests
BINARY = "application/x-domino-billmsg"
JSON_TYPE = "application/json"
STATS_KEYS = {
    "virtual_time",
    "records",
    "queue_depth",
    "in_flight",
    "delivered",
    "dropped",
    "rate",
    "target_rate",
    "run",
}
# docs/mqtt.md topic names, written out here rather than taken from the code under test.
TOPIC_OF_STRUCT_TYPE = {
    c.BILL_SESSIONREC: "session",
    c.BILL_DBREC: "database",
    c.BILL_DOCCHARGE: "document",
    c.BILL_MAILREC: "mail",
    c.BILL_REPLREC: "replication",
    c.BILL_AGENTREC: "agent",
    c.BILL_HTTPREQREC: "httprequest",
}
ALICE = "CN=Alice Smith/O=Acme"  # the user of scenarios/lifecycle-demo.yaml, pinned by that file
PASSWORD = "Pw-7qXk2-never-shown"
WRONG_PASSWORD = "Wrong-9zTq-never-shown"

# A generated workload: a steady stream of about 1,100 frames over 10 virtual minutes.
STEADY = """\
name: steady
seed: 3
start: "2026-11-21T09:00:00Z"
duration: 10m
server: CN=Mail01/O=Acme
notes_ini: {{BillingClass: "Session,Database,Document", BillingSuppressTime: {suppress}}}
databases:
  mail/a.nsf: {{replica_id: "85258A3B:0052C1F0"}}
  apps/b.nsf:
    replica_id: "85258A3B:0052C1F1"
    documents: {{0x2306: {{charge_read: 0.05, charge_write: 0.25}}}}
workload: {{users: 40, think_time: 5s, session_length: 5m}}
"""


# -- helpers -------------------------------------------------------------------------------


def steady_scenario(directory: Path, suppress: int = 15) -> Path:
    path = directory / f"steady-{suppress}.yaml"
    path.write_text(STEADY.format(suppress=suppress))
    return path


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child billsim: none of the test runner's broker settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in (
            "BILLSIM_MQTT_USERNAME",
            "BILLSIM_MQTT_PASSWORD",
            "BILLSIM_EMBEDDED_BROKER",
            "BILLSIM_EMBEDDED_PORT",
        )
    }
    env.update(extra)
    return env


class Billsim:
    """`python -m simulator run …` as a child process; its output read as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.out = bytearray()
        self.err = bytearray()
        self._changed = asyncio.Event()
        assert process.stdout is not None and process.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(process.stdout, self.out)),
            asyncio.create_task(self._read(process.stderr, self.err)),
        ]

    @classmethod
    async def start(cls, *args: str, env: dict[str, str] | None = None) -> Billsim:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "simulator",
            "run",
            *args,
            cwd=REPO,
            env=env if env is not None else child_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def _read(self, stream: asyncio.StreamReader, into: bytearray) -> None:
        while chunk := await stream.read(65536):
            into += chunk
            self._changed.set()
        self._changed.set()

    @property
    def stderr(self) -> str:
        return self.err.decode(errors="replace")

    @property
    def stdout(self) -> str:
        return self.out.decode(errors="replace")

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    async def wait_stderr(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        """The first match of `pattern` in stderr, as soon as it is written."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = re.search(pattern, self.stderr)
            if found is not None:
                return found
            remaining = deadline - loop.time()
            done = all(reader.done() for reader in self._readers)
            assert remaining > 0 and not done, (
                f"no {pattern!r} in billsim's stderr{' (it exited)' if done else ''}:\n"
                f"{self.stderr}"
            )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.25))

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    async def finish(self, timeout: float = 30.0) -> int:
        """Wait for the exit (killing the child after `timeout` s); its exit code."""
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.kill()
            await self.process.wait()
            pytest.fail(f"billsim did not exit within {timeout} s:\n{self.stderr}")
        await asyncio.wait(self._readers, timeout=5)
        code = self.process.returncode
        assert code is not None
        return code

    def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()


class StartBillsim(Protocol):
    async def __call__(self, *args: str, env: dict[str, str] | None = None) -> Billsim: ...


@pytest.fixture
async def billsims() -> AsyncIterator[StartBillsim]:
    """Start billsim children; any still running at the end of the test are killed."""
    started: list[Billsim] = []

    async def start(*args: str, env: dict[str, str] | None = None) -> Billsim:
        child = await Billsim.start(*args, env=env)
        started.append(child)
        return child

    yield start
    for child in started:
        child.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(child.process.wait(), 10)


@contextlib.asynccontextmanager
async def collecting(
    broker: MosquittoBroker, *topics: str, **kwargs: Any
) -> AsyncIterator[Collector]:
    collector = await Collector(broker, topics or (ROOT + "#",), **kwargs).start()
    try:
        yield collector
    finally:
        await collector.stop()


def view_of(port: int, directory: Path) -> MosquittoBroker:
    """A MosquittoBroker that is never started: only its address, for a Collector to
    reach a broker this test did not start (the embedded one)."""
    return MosquittoBroker(directory, port=port)


def frames_of(collector: Collector) -> list[Received]:
    return [
        m for m in collector.messages if m.topic.startswith(ROOT) and m.topic not in SERVICE_TOPICS
    ]


def seq_of(message: Received) -> int:
    return int(message.user_properties["seq"])


def statuses(collector: Collector) -> list[bytes]:
    return [m.payload for m in collector.on(STATUS)]


def stats_of(collector: Collector) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in collector.on(STATS)]


def split_frames(data: bytes) -> list[bytes]:
    """Frames back to back (the .nbf form), cut at each frame's Len."""
    frames: list[bytes] = []
    pos = 0
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 2], "little")
        assert length >= 8, f"a frame at {pos} with Len {length}"
        frames.append(data[pos : pos + length])
        pos += length
    return frames


def struct_type_of(frame: bytes) -> int:
    return int.from_bytes(frame[2:4], "little")


def expected_topic(frame: bytes) -> str:
    struct_type = struct_type_of(frame)
    if struct_type >= c.CUSTOM_STRUCT_TYPE_MIN:
        return f"{ROOT}custom/{struct_type}"
    return ROOT + TOPIC_OF_STRUCT_TYPE[struct_type]


async def reference_frames(scenario: str | Path, directory: Path, **options: Any) -> list[bytes]:
    """The frames of an in-process `--out` run of the scenario (same options)."""
    out = directory / f"reference-{len(list(directory.glob('reference-*')))}.nbf"
    request = RunRequest(scenario=str(scenario), out=out, **options)
    code = await asyncio.to_thread(run, request, io.StringIO(), io.StringIO())
    assert code == 0
    return split_frames(out.read_bytes())


async def reference_json_lines(scenario: str | Path, **options: Any) -> list[str]:
    """The lines of an in-process `--stdout` run (the JSON form, one frame a line)."""
    stdout = io.StringIO()
    request = RunRequest(scenario=str(scenario), stdout=True, **options)
    code = await asyncio.to_thread(run, request, stdout, io.StringIO())
    assert code == 0
    return stdout.getvalue().splitlines()


def read_summary(path: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(path.read_text())
    return summary


def accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


async def wait_online(collector: Collector, child: Billsim, timeout: float = 15.0) -> None:
    """Until the daemon said `online` and published a first stats message (by then its
    control subscription, sent right after `online`, is in place)."""

    def ready() -> bool:
        return b"online" in statuses(collector) and bool(collector.on(STATS))

    ok = await collector.wait_for(lambda: ready() or not child.running, timeout)
    assert ok and child.running, f"billsim not online:\n{child.stderr}"


def wall_us() -> int:
    return time.time_ns() // 1000


def assert_once_in_order(
    messages: Sequence[Received],
    reference: Sequence[bytes],
    run_id: str,
    content_type: str,
    wall: tuple[int, int],
) -> None:
    """Every frame once, in order, byte-identical, on its topic, with its properties;
    ``sent`` (microseconds since the epoch) within ``wall``, the run's wall time, and
    never earlier than the frame before's."""
    assert [seq_of(m) for m in messages] == list(range(1, len(reference) + 1))
    earliest, latest = wall
    for message, frame in zip(messages, reference, strict=True):
        assert message.payload == frame, seq_of(message)
        assert message.topic == expected_topic(frame)
        assert message.qos == 1
        assert not message.retain
        assert message.prop("content_type") == content_type
        properties = message.user_properties
        sent = properties.pop("sent")
        assert sent.isdigit()
        assert earliest <= int(sent) <= latest, (earliest, sent, latest)
        earliest = int(sent)
        assert properties == {
            "seq": str(seq_of(message)),
            "run": run_id,
            "structtype": str(struct_type_of(frame)),
        }


# -- 1. every frame once, in order, as `--out` writes it ---------------------------------


@pytest.mark.parametrize(
    ("scenario", "args", "options"),
    [
        ("all-classes", (), {}),
        (
            "lifecycle-demo",
            ("--seed", "5", "--layout", "win32", "--frame", "compact"),
            {"seed": 5, "layout": Layout.WIN32, "framing": Framing.COMPACT},
        ),
    ],
)
async def test_qos1_every_frame_once_in_order_as_out_writes_it(
    mosquitto: MosquittoBroker,
    billsims: StartBillsim,
    tmp_path: Path,
    scenario: str,
    args: tuple[str, ...],
    options: dict[str, Any],
) -> None:
    reference = await reference_frames(scenario, tmp_path, **options)
    summary_path = tmp_path / "summary.json"
    async with collecting(mosquitto) as collector:
        started = wall_us()
        child = await billsims(
            scenario, "--broker", mosquitto.url, "--speed", "max",
            "--summary", str(summary_path), *args,
        )  # fmt: skip
        assert await child.finish() == 0, child.stderr
        ended = wall_us()
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= len(reference))
        await asyncio.sleep(0.2)  # room for a duplicate, which must not come
    summary = read_summary(summary_path)
    assert summary["records"] == summary["delivered"] == len(reference)
    assert summary["undelivered"] == 0 and summary["dropped"] == 0
    assert summary["qos"] == 1 and summary["mqtt_version"] == "5"
    assert_once_in_order(frames_of(collector), reference, summary["run"], BINARY, (started, ended))
    if scenario == "all-classes":  # every class, and the custom record on its own topic
        topics = {m.topic for m in frames_of(collector)}
        assert topics == {ROOT + name for name in TOPIC_OF_STRUCT_TYPE.values()} | {
            ROOT + "custom/32001"
        }
    assert statuses(collector) == [b"online", b"offline"]


async def test_json_payload_is_the_stdout_form(
    mosquitto: MosquittoBroker, billsims: StartBillsim, tmp_path: Path
) -> None:
    lines = await reference_json_lines("all-classes")
    summary_path = tmp_path / "summary.json"
    async with collecting(mosquitto) as collector:
        child = await billsims(
            "all-classes", "--broker", mosquitto.url, "--speed", "max", "--payload", "json",
            "--summary", str(summary_path),
        )  # fmt: skip
        assert await child.finish() == 0, child.stderr
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= len(lines))
    run_id = read_summary(summary_path)["run"]
    messages = frames_of(collector)
    assert [seq_of(m) for m in messages] == list(range(1, len(lines) + 1))
    for message, line in zip(messages, lines, strict=True):
        assert message.payload.decode() == line
        obj = json.loads(line)
        assert message.prop("content_type") == JSON_TYPE
        properties = message.user_properties
        assert properties.pop("sent").isdigit()
        assert properties == {
            "seq": str(obj["seq"]),
            "run": run_id,
            "structtype": str(obj["StructType"]),
        }
        name = TOPIC_OF_STRUCT_TYPE.get(obj["StructType"], f"custom/{obj['StructType']}")
        assert message.topic == ROOT + name


# -- 2. QoS 0 ------------------------------------------------------------------------------


async def test_qos0_delivers_every_frame_to_a_subscriber_keeping_up(
    mosquitto: MosquittoBroker, billsims: StartBillsim, tmp_path: Path
) -> None:
    scenario = steady_scenario(tmp_path)
    reference = await reference_frames(scenario, tmp_path)
    summary_path = tmp_path / "summary.json"
    async with collecting(mosquitto, qos=0) as collector:
        child = await billsims(
            str(scenario), "--broker", mosquitto.url, "--speed", "max", "--qos", "0",
            "--summary", str(summary_path),
        )  # fmt: skip
        assert await child.finish() == 0, child.stderr
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= len(reference))
        await asyncio.sleep(0.2)
    messages = frames_of(collector)
    assert [seq_of(m) for m in messages] == list(range(1, len(reference) + 1))
    assert [m.payload for m in messages] == reference
    assert all(m.qos == 0 for m in messages)
    summary = read_summary(summary_path)
    assert summary["qos"] == 0
    assert summary["delivered"] == summary["records"] == len(reference) > 1000
    assert summary["undelivered"] == 0


# -- 3. the broker goes away and comes back --------------------------------------------------


async def test_broker_restart_mid_run_loses_no_seq(
    mosquitto_factory: BrokerFactory, billsims: StartBillsim, tmp_path: Path
) -> None:
    broker = mosquitto_factory(persistence=True)  # keeps the subscriber's session
    scenario = steady_scenario(tmp_path)
    reference = await reference_frames(scenario, tmp_path)
    summary_path = tmp_path / "summary.json"
    async with collecting(broker, client_id="outage-sub", session_expiry=600) as collector:
        child = await billsims(
            str(scenario), "--broker", broker.url, "--speed", "150x",  # 10 min in 4 s
            "--summary", str(summary_path),
        )  # fmt: skip
        assert await collector.wait_for(lambda: len(frames_of(collector)) > 0 or not child.running)
        await asyncio.sleep(1.0)
        assert child.running, "the run ended before the outage: slow it down"
        before = len(frames_of(collector))
        await broker.astop()
        await asyncio.sleep(1.0)
        assert child.running, "the run ended during the outage: slow it down"
        await broker.astart()
        assert await child.finish() == 0, child.stderr
        wanted = set(range(1, len(reference) + 1))
        assert await collector.wait_for(
            lambda: {seq_of(m) for m in frames_of(collector)} >= wanted, 20
        ), broker.log_text()[-3000:]
    assert 0 < before < len(reference)
    first: list[int] = []
    for message in frames_of(collector):
        seq = seq_of(message)
        assert message.payload == reference[seq - 1]  # a duplicate is the same frame
        assert message.topic == expected_topic(reference[seq - 1])
        if seq not in first:
            first.append(seq)
    assert first == sorted(first) == list(range(1, len(reference) + 1))
    summary = read_summary(summary_path)
    assert summary["reconnects"] >= 1
    assert summary["undelivered"] == 0 and summary["dropped"] == 0
    assert summary["delivered"] == summary["records"] == len(reference)
    assert "mqtt.disconnected" in child.stderr


async def test_a_killed_broker_is_told_in_billsims_words_not_gmqtts_traceback(
    mosquitto_factory: BrokerFactory, billsims: StartBillsim, tmp_path: Path
) -> None:
    broker = mosquitto_factory()
    child = await billsims(
        str(steady_scenario(tmp_path)), "--broker", broker.url, "--speed", "150x",
    )  # fmt: skip
    await child.wait_stderr(r"mqtt\.connected")
    await asyncio.sleep(0.5)
    assert child.running, "the run ended before the outage: slow it down"
    # Frames written while it is stopped wait unread in its socket: killed so, it resets
    # the connection (a plain close would be an end of stream).
    broker.pause()
    await asyncio.sleep(0.5)
    await asyncio.to_thread(broker.kill)
    await child.wait_stderr(r"mqtt\.disconnected")
    await broker.astart()
    assert await child.finish() == 0, child.stderr
    assert "Traceback" not in child.stderr
    assert "[EXC: CONN LOST]" not in child.stderr
    assert re.search(r"mqtt\.disconnected .*reason='?connection reset by peer", child.stderr), (
        child.stderr
    )


# -- 4. drop policy with no broker ----------------------------------------------------------


async def test_drop_policy_with_the_broker_gone_counts_and_reports(
    mosquitto: MosquittoBroker, billsims: StartBillsim, tmp_path: Path
) -> None:
    summary_path = tmp_path / "summary.json"
    child = await billsims(
        "lifecycle-demo", "--broker", mosquitto.url, "--speed", "max", "--queue-policy", "drop",
        "--quota", "3", "--drain-timeout", "1", "--summary", str(summary_path),
        "--start-after", "1s",
    )  # fmt: skip
    # Connected (a first connection that fails ends the run at once): then the broker goes,
    # before the first frame, and nobody listens for the rest of the run.
    await child.wait_stderr("the first frame in")
    mosquitto.stop()
    started = time.monotonic()
    assert await child.finish() == 1, child.stderr
    assert time.monotonic() - started < 15
    summary = read_summary(summary_path)
    assert summary["records"] == 12  # put attempts
    assert summary["queue"]["put"] == 3  # the quota
    assert summary["delivered"] == 0
    assert summary["undelivered"] == 3
    assert summary["dropped"] == 9 == summary["records"] - summary["queue"]["put"]
    assert summary["dropped"] == summary["records"] - summary["delivered"] - summary["undelivered"]
    assert "billsim: 3 frame(s) were not acknowledged by the broker" in child.stderr
    # The log says why: the drain timeout ran out, and what to give it.
    assert "--drain-timeout 1 s ran out with 3 frame(s) not acknowledged" in child.stderr
    assert "none was acknowledged meanwhile" in child.stderr
    assert "dropped 9" in child.stderr  # the printed summary says it too
    assert "Traceback" not in child.stderr


async def test_a_full_queue_cannot_keep_a_refused_run_from_ending(
    mosquitto_factory: BrokerFactory, billsims: StartBillsim
) -> None:
    """A broker that refuses the login for good while MQ$BILLING is full (block policy):
    the run ends at once, exit 1 with the broker's refusal (it used to hang for ever:
    the shutdown waited for room that no drain would make)."""
    broker = mosquitto_factory(passwords={"billsim": PASSWORD})
    child = await billsims(
        "all-classes", "--speed", "max", "--quota", "3",
        "--broker", f"mqtt://billsim:{WRONG_PASSWORD}@127.0.0.1:{broker.port}",
    )  # fmt: skip
    assert await child.finish(20) == 1, child.stderr
    assert "login refused" in child.stderr.strip().splitlines()[-1]
    assert WRONG_PASSWORD not in child.stdout + child.stderr


async def test_sigterm_with_a_full_queue_and_the_broker_gone_ends_within_the_drain_timeout(
    mosquitto: MosquittoBroker, billsims: StartBillsim, tmp_path: Path
) -> None:
    """The broker gone and a full queue (block policy): the virtual clock waits for room, as it
    should; SIGTERM then ends the run after --drain-timeout, exit 1, every record that
    did not reach the broker counted as undelivered (those still waiting outside the
    full queue too). It used to wait for the broker for ever."""
    summary_path = tmp_path / "summary.json"
    child = await billsims(
        "lifecycle-demo", "--broker", mosquitto.url, "--speed", "max", "--quota", "3",
        "--drain-timeout", "1", "--summary", str(summary_path), "--start-after", "0.5s",
    )  # fmt: skip
    await child.wait_stderr("the first frame in")
    mosquitto.stop()  # gone after the first connection, before the first frame
    await asyncio.sleep(1.5)
    assert child.running, child.stderr  # blocked on the full queue
    child.signal(signal.SIGTERM)
    signalled = time.monotonic()
    assert await child.finish(15) == 1, child.stderr
    assert time.monotonic() - signalled < 8
    summary = read_summary(summary_path)
    assert summary["queue"]["put"] == 3 and summary["dropped"] == 0
    assert summary["delivered"] == 0
    assert summary["undelivered"] == summary["records"] > 3
    assert f"billsim: {summary['records']} frame(s) were not acknowledged" in child.stderr
    assert "Traceback" not in child.stderr


async def test_frames_the_broker_refuses_are_undelivered_and_exit_1(
    mosquitto_factory: BrokerFactory, billsims: StartBillsim, tmp_path: Path
) -> None:
    """A broker whose ACL denies some frame topics answers their PUBLISH with a PUBACK
    reason >= 0x80: those frames reached no one, so they count as undelivered (exit 1),
    not as delivered and not as silently lost with exit 0."""
    reference = await reference_frames("all-classes", tmp_path)
    allowed = ("status", "stats", "control", "control/#", "session", "database", "document")
    acl = tmp_path / "acl"
    acl.write_text("".join(f"topic readwrite {ROOT}{topic}\n" for topic in allowed))
    broker = mosquitto_factory(settings={"acl_file": str(acl)})
    denied = [f for f in reference if expected_topic(f).removeprefix(ROOT) not in allowed]
    assert 0 < len(denied) < len(reference)
    summary_path = tmp_path / "summary.json"
    async with collecting(broker) as collector:
        child = await billsims(
            "all-classes", "--broker", broker.url, "--speed", "max",
            "--summary", str(summary_path),
        )  # fmt: skip
        assert await child.finish() == 1, child.stderr
        assert await collector.wait_for(lambda: b"offline" in statuses(collector))
    summary = read_summary(summary_path)
    assert summary["refused"] == len(denied)
    assert summary["rejected"] == 0
    assert summary["undelivered"] == len(denied)
    assert summary["delivered"] == len(reference) - len(denied) == len(frames_of(collector))
    assert f"billsim: {len(denied)} frame(s) were not acknowledged by the broker" in child.stderr
    assert "mqtt.frame_refused" in child.stderr
    assert "Traceback" not in child.stderr


# -- 5. status and stats ----------------------------------------------------------------------


async def test_status_retained_and_stats_every_interval(
    mosquitto: MosquittoBroker, billsims: StartBillsim, tmp_path: Path
) -> None:
    summary_path = tmp_path / "summary.json"
    async with collecting(mosquitto) as collector:
        child = await billsims(
            "lifecycle-demo", "--broker", mosquitto.url, "--speed", "3600x",  # 1.5 s
            "--stats-interval", "0.2", "--summary", str(summary_path),
        )  # fmt: skip
        await wait_online(collector, child)
        async with collecting(mosquitto, STATUS) as late:  # subscribed while it runs
            assert await late.wait_for(lambda: bool(late.messages))
        assert child.running
        assert await child.finish() == 0, child.stderr
        assert await collector.wait_for(lambda: b"offline" in statuses(collector))
    async with collecting(mosquitto, STATUS) as after:  # subscribed after the exit
        assert await after.wait_for(lambda: bool(after.messages))
    assert [(m.payload, m.retain) for m in late.messages] == [(b"online", True)]
    assert [(m.payload, m.retain) for m in after.messages] == [(b"offline", True)]
    assert statuses(collector) == [b"online", b"offline"]
    summary = read_summary(summary_path)
    stats = stats_of(collector)
    assert len(stats) >= 4, stats  # 1.5 s at 0.2 s (the default interval is 5 s)
    for message in collector.on(STATS):
        assert message.prop("content_type") == JSON_TYPE and not message.retain
    for sample in stats:
        assert set(sample) == STATS_KEYS
        assert sample["run"] == summary["run"]
        assert re.fullmatch(r"2026-11-21T\d\d:\d\d:\d\d\.\d\dZ", sample["virtual_time"])
        assert set(sample["records"]) <= {"session", "database", "document"}
        assert all(isinstance(n, int) and n > 0 for n in sample["records"].values())
        assert sample["dropped"] == 0
        assert sample["target_rate"] is None  # paced by speed, not shaped
        for key in ("queue_depth", "in_flight", "delivered"):
            assert isinstance(sample[key], int) and 0 <= sample[key] <= summary["records"]
    # Each rate covers its own interval: the records written since the previous message
    # over at least --stats-interval (0.2 s), so never more than that allows.
    written = [sum(sample["records"].values()) for sample in stats]
    for before, now, sample in zip([0, *written], written, stats, strict=False):
        assert isinstance(sample["rate"], int | float)
        assert (sample["rate"] > 0) == (now > before), (sample, before)
        assert sample["rate"] <= (now - before) / 0.2 * 1.01 + 0.05, (sample, before)
    times = [s["virtual_time"] for s in stats]
    assert times == sorted(times) and times[0] < times[-1]  # the clock moves on
    delivered = [s["delivered"] for s in stats]
    assert delivered == sorted(delivered) and delivered[-1] > 0


async def test_a_rate_shaped_run_delivers_the_max_speed_frames_and_says_its_target(
    mosquitto: MosquittoBroker, billsims: StartBillsim, tmp_path: Path
) -> None:
    """--rate on MQTT: the frames those of a max-speed --out run, every one once; the
    stats messages carry the target rate beside the achieved one."""
    scenario = steady_scenario(tmp_path)
    reference = await reference_frames(scenario, tmp_path)
    summary_path = tmp_path / "summary.json"
    async with collecting(mosquitto) as collector:
        child = await billsims(
            str(scenario), "--broker", mosquitto.url, "--rate", "1000/s",
            "--stats-interval", "0.2", "--summary", str(summary_path),
        )  # fmt: skip
        assert await child.finish() == 0, child.stderr
        assert await collector.wait_for(lambda: b"offline" in statuses(collector))
    messages = frames_of(collector)
    assert [seq_of(m) for m in messages] == list(range(1, len(reference) + 1))
    assert [m.payload for m in messages] == reference
    stats = stats_of(collector)
    assert stats, child.stderr
    assert {sample["target_rate"] for sample in stats} == {1000.0}
    assert any(sample["rate"] > 0 for sample in stats)
    summary = read_summary(summary_path)
    assert summary["speed"] == "1000/s"
    assert summary["delivered"] == len(reference)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rate_shown(live_line: str) -> int:
    found = re.search(r"  ([\d,]+)/s  ", live_line)
    assert found is not None, live_line
    return int(found.group(1).replace(",", ""))


def test_stats_topic_rate_covers_its_own_interval_whatever_the_live_line_reads() -> None:
    """No broker: a fake clock, the record count moved by hand. Over one 5 s stats
    interval the live line reads every 0.5 s and a control `stats` command once; the
    stats topic's rate is still that of the whole interval, each of the others its own."""
    clock = FakeClock()
    scenario = load_scenario(resolve_scenario("lifecycle-demo"))
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    drain = SimpleNamespace(in_flight=0, delivered=0)
    stats_topic = StatsMeter(sim, drain, "run", clock=clock)
    control = StatsMeter(sim, drain, "run", clock=clock)
    live = live_view(sim, drain, io.StringIO(), clock=clock)
    live_rates = []
    control_rates = []
    for tick in range(1, 11):  # 10 records each half second, 510 in the last one
        clock.now += 0.5
        sim.writer.frames += 510 if tick == 10 else 10
        live_rates.append(rate_shown(live.line()))
        if tick in (4, 10):
            control_rates.append(control.sample()["rate"])
    assert stats_topic.sample()["rate"] == (9 * 10 + 510) / 5.0 == 120.0
    assert live_rates == [20] * 9 + [1020]
    assert control_rates == [40 / 2.0, round((5 * 10 + 510) / 3.0, 1)]
    clock.now += 5.0  # an interval with nothing written
    assert stats_topic.sample()["rate"] == 0.0


def test_the_live_line_and_stats_of_a_shaped_run_show_its_target_rate() -> None:
    clock = FakeClock()
    scenario = load_scenario(resolve_scenario("lifecycle-demo"))
    plan = RatePlan((RateStage(1000, 10),))  # a ramp 0 → 1000/s over 10 s
    sim = Simulation(scenario, scenario.settings_with(), RunOptions(rate=plan), wall_clock=clock)
    assert sim.limiter is not None
    sim.limiter.start(0)
    drain = SimpleNamespace(in_flight=0, delivered=0)
    stats_topic = StatsMeter(sim, drain, "run", clock=clock)
    live = live_view(sim, drain, io.StringIO(), clock=clock)
    clock.now += 5
    sim.writer.frames += 2500
    assert "  500/s (target 500/s)  " in live.line()
    sample = stats_topic.sample()
    assert (sample["rate"], sample["target_rate"]) == (500.0, 500.0)


# -- 6. control ------------------------------------------------------------------------------


class Controls:
    """Commands to the control topic, replies picked up by a Collector."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.asked = 0

    async def ask(
        self, payload: bytes | dict[str, Any], *, answer_to: bool = False, timeout: float = 10.0
    ) -> tuple[dict[str, Any], Received]:
        """Send a command, wait for its reply: on a response topic of its own with
        correlation data (`answer_to`), else on …/control/reply."""
        self.asked += 1
        body = json.dumps(payload).encode() if isinstance(payload, dict) else payload
        collector = self.collector
        props: dict[str, Any] = {}
        topic = REPLY
        if answer_to:
            topic = f"{ANSWERS}{self.asked}"
            props = {"response_topic": topic, "correlation_data": f"corr-{self.asked}".encode()}
        seen = len(collector.on(topic))
        collector.client.publish(CONTROL, body, qos=1, **props)
        assert await collector.wait_for(lambda: len(collector.on(topic)) > seen, timeout), (
            f"no reply to {body!r}"
        )
        reply = collector.on(topic)[seen]
        assert reply.prop("content_type") == JSON_TYPE
        if answer_to:
            assert reply.prop("correlation_data") == props["correlation_data"]
        obj: dict[str, Any] = json.loads(reply.payload)
        return obj, reply

    def stats_after(self, message: Received) -> list[dict[str, Any]]:
        """Stats messages that arrived after `message`."""
        messages = self.collector.messages
        start = next(i for i, m in enumerate(messages) if m is message)
        return [json.loads(m.payload) for m in messages[start + 1 :] if m.topic == STATS]


async def test_control_commands_over_mqtt(
    mosquitto: MosquittoBroker, billsims: StartBillsim, tmp_path: Path
) -> None:
    # BillingSuppressTime 60: no STAMP can fall in the 10 minutes until it is set to 1.
    scenario = steady_scenario(tmp_path, suppress=60)
    summary_path = tmp_path / "summary.json"
    async with collecting(mosquitto, ROOT + "#", ANSWERS + "#") as collector:
        child = await billsims(
            str(scenario), "--broker", mosquitto.url, "--control", "--speed", "20x",
            "--payload", "json", "--stats-interval", "0.2", "--summary", str(summary_path),
        )  # fmt: skip
        await wait_online(collector, child)
        controls = Controls(collector)

        reply, _ = await controls.ask({"cmd": "stats"}, answer_to=True)
        assert reply["ok"] is True and reply["cmd"] == "stats"
        assert set(reply["stats"]) == STATS_KEYS

        # pause: the virtual clock stops
        reply, paused_at = await controls.ask({"cmd": "pause"})
        assert reply == {"ok": True, "cmd": "pause", "paused": True}
        assert await collector.wait_for(lambda: len(controls.stats_after(paused_at)) >= 1)
        await asyncio.sleep(0.6)
        frozen = controls.stats_after(paused_at)
        assert len(frozen) >= 2
        assert {s["virtual_time"] for s in frozen} == {frozen[0]["virtual_time"]}
        assert all(s["records"] == frozen[0]["records"] for s in frozen)

        # set, applied from the next record on (nothing is written while paused)
        reply, _ = await controls.ask(
            {"cmd": "set", "name": "BillingClass", "value": "Session"}, answer_to=True
        )
        assert reply["ok"] is True and reply["settings"]["BillingClass"] == "Session"
        reply, _ = await controls.ask({"cmd": "set", "name": "BillingSuppressTime", "value": 1})
        assert reply["ok"] is True and reply["settings"]["BillingSuppressTime"] == 1
        reply, _ = await controls.ask({"cmd": "stats"})
        at_set = reply["stats"]
        assert at_set["virtual_time"] == frozen[0]["virtual_time"]
        written_at_set = sum(at_set["records"].values())
        database_at_set = at_set["records"].get("database", 0)
        assert database_at_set > 0

        # malformed, unknown, bad values: an error reply each, and the daemon runs on
        for bad in (
            b"{not json",
            b"[1, 2]",
            b'{"command": "pause"}',
            {"cmd": "reboot"},
            {"cmd": "speed", "value": "fast"},
            {"cmd": "set", "name": "BillingClass", "value": "Session,Bogus"},
            {"cmd": "set", "name": "NoSuchSetting", "value": "1"},
        ):
            reply, _ = await controls.ask(bad, answer_to=isinstance(bad, dict))
            assert reply["ok"] is False, bad
            assert isinstance(reply["error"], str) and reply["error"], bad
        assert child.running
        assert "control command refused" in child.stderr

        # resume: the clock moves on
        reply, resumed_at = await controls.ask({"cmd": "resume"})
        assert reply == {"ok": True, "cmd": "resume", "paused": False}
        assert await collector.wait_for(
            lambda: any(
                s["virtual_time"] > at_set["virtual_time"] for s in controls.stats_after(resumed_at)
            )
        )

        # speed: from 20x (half a minute of wall time left) to max: done at once
        reply, _ = await controls.ask({"cmd": "speed", "value": "max"}, answer_to=True)
        assert reply == {"ok": True, "cmd": "speed", "speed": "max"}
        sped_up = time.monotonic()
        assert await child.finish() == 0, child.stderr
        assert time.monotonic() - sped_up < 10
        assert await collector.wait_for(lambda: b"offline" in statuses(collector))
        summary = read_summary(summary_path)
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= summary["records"])

    assert summary["speed"] == "max"
    assert summary["virtual_end"] == "2026-11-21T09:10:00.00Z"  # ran to the end
    frames = [json.loads(m.payload) for m in frames_of(collector)]
    assert [f["seq"] for f in frames] == list(range(1, summary["records"] + 1))
    # BillingClass=Session: no database or document record after the set
    off = [f["seq"] for f in frames if f["StructType"] in (c.BILL_DBREC, c.BILL_DOCCHARGE)]
    assert off and max(off) <= written_at_set
    assert summary["records_by_class"]["database"] == database_at_set
    assert summary["records_by_class"]["session"] > at_set["records"]["session"]
    # BillingSuppressTime=1: session STAMPs, impossible before, appear after the set
    stamps = [
        f["seq"]
        for f in frames
        if f["StructType"] == c.BILL_SESSIONREC and f["rec"]["Action"] == c.BILL_SESSION_STAMP
    ]
    assert stamps and min(stamps) > written_at_set


async def test_quit_command_ends_the_sessions_and_exits_0(
    mosquitto: MosquittoBroker, billsims: StartBillsim, tmp_path: Path
) -> None:
    summary_path = tmp_path / "summary.json"
    codec = FrameCodec()
    async with collecting(mosquitto, ROOT + "#", ANSWERS + "#") as collector:
        child = await billsims(
            "lifecycle-demo", "--broker", mosquitto.url, "--control", "--speed", "realtime",
            "--stats-interval", "0.2", "--summary", str(summary_path),
        )  # fmt: skip
        await wait_online(collector, child)
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= 2)  # START, OPEN
        reply, _ = await Controls(collector).ask({"cmd": "quit"}, answer_to=True)
        assert reply == {"ok": True, "cmd": "quit", "quitting": True}
        assert await child.finish(15) == 0, child.stderr
        assert await collector.wait_for(lambda: b"offline" in statuses(collector))
    summary = read_summary(summary_path)
    assert summary["virtual_span_s"] < 60  # quit long before the 90 minutes
    assert summary["undelivered"] == 0
    frames = [JsonDecoder(codec)(m.payload, 0, seq_of(m)) for m in frames_of(collector)]
    assert len(frames) == summary["records"] == 4
    assert [(f["StructType"], f["rec"]["Action"], f["rec"]["Username"]) for f in frames[-2:]] == [
        (c.BILL_DBREC, c.BILL_DB_CLOSE_END, ALICE),
        (c.BILL_SESSIONREC, c.BILL_SESSION_END, ALICE),
    ]
    assert statuses(collector) == [b"online", b"offline"]


async def test_without_control_commands_are_ignored(
    mosquitto: MosquittoBroker, billsims: StartBillsim, tmp_path: Path
) -> None:
    summary_path = tmp_path / "summary.json"
    async with collecting(mosquitto, ROOT + "#", ANSWERS + "#") as collector:
        child = await billsims(
            "lifecycle-demo", "--broker", mosquitto.url, "--speed", "3600x",  # 1.5 s
            "--stats-interval", "0.2", "--summary", str(summary_path),
        )  # fmt: skip
        await wait_online(collector, child)
        for body, props in (
            (b'{"cmd": "stats"}', {"response_topic": ANSWERS + "x", "correlation_data": b"x"}),
            (b'{"cmd": "quit"}', {}),
            (b"{not json", {}),
        ):
            collector.client.publish(CONTROL, body, qos=1, **props)
        assert await child.finish() == 0, child.stderr
        await asyncio.sleep(0.3)
    assert collector.on(REPLY) == []
    assert [m for m in collector.messages if m.topic.startswith(ANSWERS)] == []
    summary = read_summary(summary_path)
    assert summary["virtual_end"] == "2026-11-21T10:30:00.00Z"  # quit was not obeyed
    assert summary["records"] == 12


# -- 7. signals ------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_ends_sessions_publishes_offline_and_exits_0(
    mosquitto: MosquittoBroker,
    billsims: StartBillsim,
    tmp_path: Path,
    signum: signal.Signals,
) -> None:
    summary_path = tmp_path / "summary.json"
    codec = FrameCodec()
    async with collecting(mosquitto) as collector:
        child = await billsims(
            "lifecycle-demo", "--speed", "realtime", "--broker", mosquitto.url,
            "--stats-interval", "0.2", "--summary", str(summary_path),
        )  # fmt: skip
        await wait_online(collector, child)
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= 2)  # START, OPEN
        await asyncio.sleep(0.5)
        child.signal(signum)
        assert await child.finish(15) == 0, child.stderr
        assert await collector.wait_for(lambda: b"offline" in statuses(collector))
    assert f"{signum.name}: shutting down: ending 1 open session(s)" in child.stderr
    assert "Traceback" not in child.stderr
    frames = [JsonDecoder(codec)(m.payload, 0, seq_of(m)) for m in frames_of(collector)]
    assert [(f["StructType"], f["rec"]["Action"]) for f in frames] == [
        (c.BILL_SESSIONREC, c.BILL_SESSION_START),
        (c.BILL_DBREC, c.BILL_DB_OPEN),
        (c.BILL_DBREC, c.BILL_DB_CLOSE_END),
        (c.BILL_SESSIONREC, c.BILL_SESSION_END),
    ]
    assert {f["rec"]["Username"] for f in frames} == {ALICE}
    assert statuses(collector) == [b"online", b"offline"]
    summary = read_summary(summary_path)
    assert summary["records"] == summary["delivered"] == 4
    assert summary["undelivered"] == 0
    async with collecting(mosquitto, STATUS) as after:
        assert await after.wait_for(lambda: bool(after.messages))
    assert [(m.payload, m.retain) for m in after.messages] == [(b"offline", True)]


@contextlib.asynccontextmanager
async def demo_under_way(
    mosquitto: MosquittoBroker, billsims: StartBillsim, summary_path: Path
) -> AsyncIterator[Billsim]:
    """lifecycle-demo at real time on `mosquitto`, its --summary into a folder of its own
    (so a temporary file left there shows), once its START and OPEN have arrived."""
    summary_path.parent.mkdir()
    async with collecting(mosquitto) as collector:
        child = await billsims(
            "lifecycle-demo", "--speed", "realtime", "--broker", mosquitto.url,
            "--stats-interval", "0.2", "--summary", str(summary_path),
        )  # fmt: skip
        await wait_online(collector, child)
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= 2)  # START, OPEN
        yield child


async def test_second_sigint_quits_at_once_saying_how_many_frames_were_left(
    mosquitto: MosquittoBroker, billsims: StartBillsim, tmp_path: Path
) -> None:
    summary_path = tmp_path / "out" / "truth.json"
    async with demo_under_way(mosquitto, billsims, summary_path) as child:
        mosquitto.pause()  # no PUBACK from now on: the shutdown's frames stay in flight
        try:
            child.signal(signal.SIGINT)
            await child.wait_stderr(r"SIGINT: shutting down")
            await asyncio.sleep(0.5)  # CLOSE_END and END are written, and stuck
            assert child.running
            child.signal(signal.SIGINT)
            second = time.monotonic()
            code = await child.finish(10)
            waited = time.monotonic() - second
        finally:
            mosquitto.resume()
    assert code == 1
    assert waited < 3
    assert "billsim: quitting at once: 2 frame(s) left undelivered" in child.stderr
    # Quitting at once skips the broker, not the summary.
    assert "lifecycle-demo on" in child.stderr, child.stderr
    assert "2 frame(s) were not acknowledged by the broker" in child.stderr
    assert "Traceback" not in child.stderr
    summary = read_summary(summary_path)
    assert summary["undelivered"] == 2
    assert summary["records"] == 4
    assert [path.name for path in summary_path.parent.iterdir()] == [
        "truth.json"
    ]  # no temporary file


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_a_second_signal_after_the_drain_keeps_the_summary(
    mosquitto: MosquittoBroker, billsims: StartBillsim, tmp_path: Path, signum: signal.Signals
) -> None:
    """Signals from the end of the drain to the exit (while the summary is built and
    written) neither kill the run (130, 143) nor lose its summary."""
    summary_path = tmp_path / "out" / "truth.json"
    async with demo_under_way(mosquitto, billsims, summary_path) as child:
        child.signal(signum)
        await child.wait_stderr(r"mqtt\.closed")
        # Every moment from the drain's end until the summary is written (what follows is
        # its printing, then Python winding down: signals sent then are beside the point).
        while child.running and not summary_path.exists():
            with contextlib.suppress(ProcessLookupError):
                child.signal(signum)
            await asyncio.sleep(0.002)
        code = await child.finish(10)
    assert code == 0, child.stderr
    assert "Traceback" not in child.stderr
    assert "lifecycle-demo on" in child.stderr, child.stderr
    summary = read_summary(summary_path)
    assert summary["undelivered"] == 0
    assert summary["delivered"] == 4
    assert [path.name for path in summary_path.parent.iterdir()] == ["truth.json"]


async def test_second_sigint_counts_the_frames_waiting_outside_a_full_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under the block policy a full MQ$BILLING leaves records waiting outside it: the
    second Ctrl-C's count of frames left undelivered includes them."""
    scenario = load_scenario(resolve_scenario("all-classes"))
    sim = Simulation(scenario, scenario.settings_with(), RunOptions(quota=3))
    exits: list[int] = []
    monkeypatch.setattr(os, "_exit", exits.append)
    stderr = io.StringIO()
    with shutdown_on_signals(sim, stderr):
        task = asyncio.create_task(sim.run())
        try:
            for _ in range(100):
                await asyncio.sleep(0)
                if sim.frames_waiting:
                    break
            assert sim.queue.depth == 3 and sim.frames_waiting >= 1  # nobody drains
            for presses in (1, 2):
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(200):
                    await asyncio.sleep(0.005)
                    if stderr.getvalue().count("billsim:") == presses:
                        break
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    left = sim.queue.depth + sim.frames_waiting
    assert left == sim.writer.frames > 3
    assert f"billsim: quitting at once: {left} frame(s) left undelivered" in stderr.getvalue()
    assert exits == [1]


# -- 8. the embedded broker ------------------------------------------------------------------


@contextlib.contextmanager
def busy_port() -> Iterator[int]:
    """A loopback port someone listens on for the duration (stands in for a taken 1883)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("kind", ["mosquitto", "amqtt"])
async def test_embedded_broker(billsims: StartBillsim, tmp_path: Path, kind: str) -> None:
    """The embedded broker, preferring a port that is taken (as 1883 may be): it moves to a
    free one, says where, serves the run and is gone after it. Never 1883 itself."""
    reference = await reference_frames("all-classes", tmp_path)
    summary_path = tmp_path / "summary.json"
    with busy_port() as taken:
        child = await billsims(
            "all-classes", "--speed", "600x", "--summary", str(summary_path),  # 3 s
            env=child_env(BILLSIM_EMBEDDED_BROKER=kind, BILLSIM_EMBEDDED_PORT=str(taken)),
        )  # fmt: skip
        found = await child.wait_stderr(rf"embedded {kind} broker at mqtt://127\.0\.0\.1:(\d+)\n")
    port = int(found.group(1))
    assert port not in (taken, 1883)
    await child.wait_stderr(r"or:  \S.*\n")
    assert f"billsim tail --broker mqtt://127.0.0.1:{port} --server Mail01" in child.stderr
    if find_mosquitto_sub() is not None:  # else the tail command is the one offered
        assert f"mosquitto_sub -h 127.0.0.1 -p {port} -t 'domino/billing/Mail01/#' -v" in (
            child.stderr
        )
    version = MQTTv311 if kind == "amqtt" else 5
    view = view_of(port, tmp_path / "embedded")
    async with collecting(view, version=version) as collector:
        assert await collector.wait_for(lambda: len(frames_of(collector)) > 0, 10)
        assert child.running  # frames came while the run went on
        assert await child.finish() == 0, child.stderr
        await asyncio.sleep(0.2)
        messages = frames_of(collector)
    # The frames received are the run's last ones, in order, byte for byte.
    assert 0 < len(messages) <= len(reference)
    assert [m.payload for m in messages] == reference[-len(messages) :]
    assert [m.topic for m in messages] == [expected_topic(f) for f in reference[-len(messages) :]]
    summary = read_summary(summary_path)
    assert summary["delivered"] == summary["records"] == len(reference)
    assert summary["broker"] == f"mqtt://127.0.0.1:{port}"
    if kind == "amqtt":
        assert summary["mqtt_version"] == "3.1.1"
        assert "MQTT 3.1.1 only" in child.stderr
        assert "without content type and the seq, run, structtype, sent" in child.stderr
        assert "--topic-meta puts run and seq in the topic" in child.stderr
        assert all(m.properties.get("user_property") is None for m in messages)
    else:
        assert summary["mqtt_version"] == "5"
        first = seq_of(messages[0])
        assert [seq_of(m) for m in messages] == list(range(first, len(reference) + 1))
    assert not accepts(port), "the embedded broker still listens after the run"
    pids = re.findall(r"embedded broker stopped .*?pid=(\d+)", child.stderr)
    assert pids, child.stderr
    assert not Path(f"/proc/{pids[0]}").exists(), "the embedded broker process is still there"


async def test_embedded_broker_listens_on_the_preferred_port_when_it_is_free(
    billsims: StartBillsim, tmp_path: Path
) -> None:
    """BILLSIM_EMBEDDED_PORT names the port to prefer (1883 when unset); a free one is used
    as it is. Whether 1883 is taken here does not matter to this test."""
    port = free_port()
    summary_path = tmp_path / "summary.json"
    child = await billsims(
        "all-classes", "--speed", "max", "--summary", str(summary_path),
        env=child_env(BILLSIM_EMBEDDED_BROKER="mosquitto", BILLSIM_EMBEDDED_PORT=f" {port} "),
    )  # fmt: skip
    assert await child.finish() == 0, child.stderr
    assert f"embedded mosquitto broker at mqtt://127.0.0.1:{port}\n" in child.stderr
    summary = read_summary(summary_path)
    assert summary["broker"] == f"mqtt://127.0.0.1:{port}"
    assert summary["delivered"] == summary["records"] == 21


def test_the_window_is_logged_only_when_the_broker_caps_it(
    tmp_path: Path, mosquitto_factory: BrokerFactory
) -> None:
    """Every run used to log `mqtt.window_capped requested=1000 window=998`: the two
    packet ids kept back for status and replies are not news. The installed billsim on the
    embedded broker (billsim's own config, max_inflight_messages 1000) logs no such line;
    on a broker whose Receive Maximum is 10 it does."""
    own = sh(
        "BILLSIM_EMBEDDED_BROKER=mosquitto billsim run lifecycle-demo --speed max "
        f"--embedded-port {free_port()}",
        tmp_path,
    )
    assert own.returncode == 0, own.stderr
    assert re.search(r"mqtt\.connected .*receive_maximum=1000 .*window=998", own.stderr)
    assert "window_capped" not in own.stderr
    capped = mosquitto_factory(settings={"max_inflight_messages": 10})
    small = sh(f"billsim run lifecycle-demo --speed max --broker {capped.url}", tmp_path)
    assert small.returncode == 0, small.stderr
    assert re.search(
        r"mqtt\.window_capped +receive_maximum=10 requested=1000 window=8", small.stderr
    ), small.stderr


@pytest.mark.parametrize("value", ["0", "65536", "http", "-5", "18 83", "\u00b2"])
def test_a_bad_embedded_port_is_input_error_naming_it(value: str) -> None:
    with pytest.raises(InputError, match="must be a port number, 1 to 65535") as info:
        embedded_port(value)
    assert info.value.field == "BILLSIM_EMBEDDED_PORT"


async def test_run_with_a_bad_embedded_port_exits_2_before_any_broker(
    billsims: StartBillsim,
) -> None:
    child = await billsims(
        "all-classes", "--speed", "max", env=child_env(BILLSIM_EMBEDDED_PORT="0")
    )
    assert await child.finish() == 2, child.stderr
    assert "BILLSIM_EMBEDDED_PORT: must be a port number, 1 to 65535" in child.stderr
    assert "embedded" not in child.stderr and "Traceback" not in child.stderr


async def test_run_with_an_unknown_embedded_broker_exits_2_before_any_broker(
    billsims: StartBillsim,
) -> None:
    child = await billsims(
        "all-classes", "--speed", "max", env=child_env(BILLSIM_EMBEDDED_BROKER="hivemq")
    )
    assert await child.finish() == 2, child.stderr
    assert "BILLSIM_EMBEDDED_BROKER: must be auto, mosquitto or amqtt, not 'hivemq'" in (
        child.stderr
    )
    assert "embedded" not in child.stderr and "Traceback" not in child.stderr


# -- 9. TLS and passwords ----------------------------------------------------------------------


async def test_tls_with_ca_and_client_certificate(
    mosquitto_factory: BrokerFactory, billsims: StartBillsim, tmp_path: Path
) -> None:
    tls = make_tls_files(tmp_path / "tls")
    broker = mosquitto_factory(tls=tls, require_certificate=True)
    assert broker.url.startswith("mqtts://127.0.0.1:")
    reference = await reference_frames("all-classes", tmp_path)
    summary_path = tmp_path / "summary.json"
    async with collecting(broker) as collector:
        started = wall_us()
        child = await billsims(
            "all-classes", "--broker", broker.url, "--speed", "max",
            "--ca-file", str(tls.ca_cert), "--cert-file", str(tls.client_cert),
            "--key-file", str(tls.client_key), "--summary", str(summary_path),
        )  # fmt: skip
        assert await child.finish() == 0, child.stderr
        ended = wall_us()
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= len(reference))
    summary = read_summary(summary_path)
    assert summary["broker"] == broker.url
    assert_once_in_order(frames_of(collector), reference, summary["run"], BINARY, (started, ended))


async def test_tls_with_a_wrong_ca_exits_1_with_a_clear_message(
    mosquitto_factory: BrokerFactory, billsims: StartBillsim, tmp_path: Path
) -> None:
    broker = mosquitto_factory(tls=make_tls_files(tmp_path / "tls"))
    other = make_tls_files(tmp_path / "other")  # a CA that did not sign the broker's
    child = await billsims(
        "all-classes", "--broker", broker.url, "--speed", "max", "--ca-file", str(other.ca_cert)
    )
    assert await child.finish(20) == 1, child.stderr
    assert "Traceback" not in child.stderr
    last = child.stderr.strip().splitlines()[-1]
    assert last.startswith(f"billsim: cannot connect to the broker {broker.url}: "), child.stderr
    assert "certificate verify failed" in last


async def test_password_is_never_printed(
    mosquitto_factory: BrokerFactory, billsims: StartBillsim, tmp_path: Path
) -> None:
    broker = mosquitto_factory(passwords={"billsim": PASSWORD, "reader": "reader-pw"})
    url = f"mqtt://billsim:{PASSWORD}@127.0.0.1:{broker.port}"
    summary_path = tmp_path / "summary.json"
    async with collecting(broker, username="reader", password="reader-pw") as collector:
        for extra in ((), ("--log-json",)):
            child = await billsims(
                "all-classes", "--broker", url, "--speed", "max",
                "--summary", str(summary_path), *extra,
            )  # fmt: skip
            assert await child.finish() == 0, child.stderr
            assert PASSWORD not in child.stdout + child.stderr
            assert "billsim:***@127.0.0.1" in child.stderr
            summary_text = summary_path.read_text()
            assert PASSWORD not in summary_text
            assert read_summary(summary_path)["broker"] == (
                f"mqtt://billsim:***@127.0.0.1:{broker.port}"
            )
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= 2 * 21)

    # A wrong password, from the environment this time: refused, exit 1, not shown.
    child = await billsims(
        "all-classes", "--broker", f"mqtt://127.0.0.1:{broker.port}", "--speed", "max",
        env=child_env(BILLSIM_MQTT_USERNAME="billsim", BILLSIM_MQTT_PASSWORD=WRONG_PASSWORD),
    )  # fmt: skip
    assert await child.finish(20) == 1, child.stderr
    assert WRONG_PASSWORD not in child.stdout + child.stderr
    assert "Traceback" not in child.stderr
    assert "login refused" in child.stderr.strip().splitlines()[-1]
