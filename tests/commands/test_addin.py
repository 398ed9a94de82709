"""`billsim addin` against a real mosquitto (tests/broker_processes.py): every frame of a run stored
once, redeliveries counted, rejects kept, nothing lost across kill -9, a shared group or a
broker restart, pacing as NBILLSES, --until-idle.

The publisher is `billsim run … --broker URL` as a child process; the reference frames
are `run --out` of the same scenario, which the NBF store must reproduce. The add-in runs
as a child process where it is killed, else in-process (`serve`) with an in-memory store.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from broker_processes import BrokerFactory, MosquittoBroker, free_port
from bundled_runs import run_bundled
from gmqtt import Client
from psycopg import sql
from samples import SERVER, SERVER_CN, SESSION_REC, STAMP

from simulator.adapters.mqtt.consumer import ConsumerError
from simulator.addin.intake import Intake, frame_class
from simulator.addin.store import NO_SERVER, Committed, Received, Rejected
from simulator.commands.addin import AddinRequest, StoreError, prints_records, serve, store_urls
from simulator.errors import InputError
from simulator.scenario.notes_ini import NotesIniSettings, read_notes_ini, resolve_settings
from simulator.wire.codec import FrameCodec
from simulator.wire.layout import Layout

pytestmark = pytest.mark.broker

# Sessions, databases and documents of 12 users for 20 minutes: 2-3 thousand frames, a
# stream that lasts long enough (at the broker's pace) to be cut in the middle.
STREAM = """\
name: addin-stream
seed: 5
start: "2026-11-21T09:00:00Z"
duration: 20m
server: CN=Mail01/O=Acme
notes_ini: {BillingClass: "Session,Database,Document", BillingSuppressTime: 1}
databases:
  mail/a.nsf: {replica_id: "85258A3B:0052C1F0"}
  apps/b.nsf:
    replica_id: "85258A3B:0052C1F1"
    documents: {0x2306: {charge_read: 0.05, charge_write: 0.25}}
workload: {users: 12, think_time: 5s, session_length: 5m}
"""
FRAME_TOPIC = f"domino/billing/{SERVER_CN}/session"


def billsim(*args: str) -> list[str]:
    return [sys.executable, "-m", "simulator", *args]


@pytest.fixture
def stream(tmp_path: Path) -> tuple[Path, bytes]:
    """The scenario and its frames as `run --out` writes them."""
    scenario = tmp_path / "stream.yaml"
    scenario.write_text(STREAM)
    out = tmp_path / "reference.nbf"
    run_bundled(str(scenario), out)  # in-process: the bytes `billsim run --out` writes
    return scenario, out.read_bytes()


def frames_of(data: bytes) -> list[bytes]:
    frames, at = [], 0
    while at < len(data):
        length = int.from_bytes(data[at : at + 2], "little")
        frames.append(data[at : at + length])
        at += length
    return frames


def seqs_of(store: Path) -> list[int]:
    """The seq of every frame an NBF store holds (its sidecar index)."""
    seen = store.with_name(store.name + ".seen")
    return [int(line.rsplit(" ", 3)[2]) for line in seen.read_text().splitlines()]


def stored_seqs(store: str | Path) -> set[int]:
    """The seqs a store holds so far: an NBF store's index (its last line may be half
    written), or the record tables of an SQLite or PostgreSQL store (by URL)."""
    url = str(store)
    if url.startswith("sqlite:///"):
        try:
            with sqlite3.connect(f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True) as db:
                tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master")]
                return {
                    seq
                    for table in tables
                    if "seq" in {row[1] for row in db.execute(f'PRAGMA table_info("{table}")')}
                    for (seq,) in db.execute(f'SELECT seq FROM "{table}"')
                }
        except sqlite3.OperationalError:  # not made yet, or busy: ask again
            return set()
    if url.startswith("postgresql://"):
        with psycopg.connect(url, autocommit=True) as db:
            tables = db.execute(
                "SELECT table_name FROM information_schema.columns"
                " WHERE column_name = 'seq' AND table_schema = current_schema()"
            ).fetchall()
            return {
                seq
                for (table,) in tables
                for (seq,) in db.execute(
                    sql.SQL("SELECT seq FROM {}").format(sql.Identifier(table))
                ).fetchall()
            }
    path = Path(url.removeprefix("nbf:"))
    try:
        lines = path.with_name(path.name + ".seen").read_text().split("\n")[:-1]
    except FileNotFoundError:
        return set()
    # A line a killed add-in left half written is mended by the next one: skipped here.
    fields = [line.rsplit(" ", 3) for line in lines]
    return {int(f[2]) for f in fields if len(f) == 4 and f[2].isdigit() and f[3].isdigit()}


def stop_when_stored(
    addins: list[subprocess.Popen[bytes]], stores: Sequence[str | Path], count: int
) -> list[tuple[int, str, str]]:
    """Once the stores hold every seq from 1 to `count`, SIGTERM each add-in (it commits
    what it took and exits 0) and finish it. For a test about what is stored, not about
    when the add-in ends: no idle wait, and no idle timer to race a publisher slow to
    start on a busy machine."""
    deadline = time.monotonic() + 120
    while not set(range(1, count + 1)) <= set().union(*map(stored_seqs, stores)):
        for addin in addins:
            assert addin.poll() is None, finish(addin)
        assert time.monotonic() < deadline, "the stores did not fill"
        time.sleep(0.05)
    for addin in addins:
        addin.send_signal(signal.SIGTERM)
    return [finish(addin) for addin in addins]


def stop_when_acknowledged(
    addin: subprocess.Popen[bytes], broker: MosquittoBroker
) -> tuple[int, str, str]:
    """Once the add-in has acknowledged as many messages as the runs that are done published
    frames (mosquitto's log: its PUBACKs, their PUBLISHes but the retained status), SIGTERM
    it and finish it. It acknowledges a frame once committed, stored or not (a duplicate, a
    reject): for a test whose frames are not all stored, as stop_when_stored needs."""
    deadline = time.monotonic() + 120
    while True:
        log = broker.log_text().splitlines()
        published = sum(
            "Received PUBLISH from billsim-Mail" in line and "/status'" not in line for line in log
        )
        acknowledged = sum("Received PUBACK from billsim-addin-" in line for line in log)
        if published and acknowledged >= published:
            break
        assert addin.poll() is None, finish(addin)
        assert time.monotonic() < deadline, f"{acknowledged} of {published} acknowledged"
        time.sleep(0.05)
    addin.send_signal(signal.SIGTERM)
    return finish(addin)


def publish(scenario: Path, broker: MosquittoBroker) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        billsim("run", str(scenario), "--broker", broker.url, "--speed", "max"),
        check=True,
        capture_output=True,
        timeout=120,
    )


def start_addin(broker: MosquittoBroker, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        billsim("addin", "--broker", broker.url, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(process: subprocess.Popen[bytes], timeout: float = 60) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, (out or b"").decode(), (err or b"").decode()


def wait_subscribed(
    process: subprocess.Popen[bytes], broker: MosquittoBroker, member: int = 1, seen: int = 0
) -> None:
    """Until the add-in's session exists at the broker: more than `seen` of its SUBSCRIBE
    lines are in the log (an add-in restarted under the same client id passes the count
    its earlier lives left, or the wait would end on their lines)."""
    deadline = time.monotonic() + 15
    while subscriptions(broker, member) <= seen:
        assert process.poll() is None, finish(process)
        assert time.monotonic() < deadline, "the add-in did not subscribe"
        time.sleep(0.05)


def subscriptions(broker: MosquittoBroker, member: int = 1) -> int:
    return broker.log_text().count(f"SUBSCRIBE from billsim-addin-addins-{member}")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Child processes a test starts; any left running is killed by its PID."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


# -- end to end, as a user runs it ---------------------------------------------------------


def test_every_frame_of_a_run_is_stored_once_as_run_out_writes_them(
    mosquitto: MosquittoBroker,
    stream: tuple[Path, bytes],
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    scenario, reference = stream
    store = tmp_path / "billing.nbf"
    summary = tmp_path / "summary.json"
    # Idle counts from the subscription: room for a publisher slow to start on a busy machine.
    addin = start_addin(
        mosquitto, "--store", f"nbf:{store}", "--until-idle", "6s", "--summary", str(summary)
    )
    processes.append(addin)
    wait_subscribed(addin, mosquitto)
    publish(scenario, mosquitto)
    code, out, err = finish(addin)
    assert code == 0, err
    assert "no frame for 6 s: ending" in err
    assert store.read_bytes() == reference
    frames = frames_of(reference)
    written = json.loads(summary.read_text())
    assert sum(written["frames"].values()) == written["stored"] == len(frames)
    assert (written["duplicates"], written["rejects"]) == (0, 0)
    assert set(written["frames"]) == {"session", "database", "document"}
    assert f"{len(frames):,} frame(s) committed" in out
    assert seqs_of(store) == list(range(1, len(frames) + 1))

    # The same run delivered again (a second add-in session replaying it) adds nothing.
    again = start_addin(mosquitto, "--store", f"nbf:{store}", "--until-idle", "1s")
    processes.append(again)
    code, out, err = finish(again)
    assert code == 0 and store.read_bytes() == reference, err


def test_kill_9_at_random_moments_and_restart_loses_nothing(
    mosquitto: MosquittoBroker,
    stream: tuple[Path, bytes],
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    scenario, reference = stream
    store = tmp_path / "billing.nbf"
    args = ("--store", f"nbf:{store}")
    addin = start_addin(mosquitto, *args)
    processes.append(addin)
    wait_subscribed(addin, mosquitto)
    publisher = subprocess.Popen(
        billsim("run", str(scenario), "--broker", mosquitto.url, "--speed", "2000x"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes.append(publisher)
    chance = random.Random(os.getpid())
    kills = 0
    seen = 0
    while publisher.poll() is None and kills < 4:
        time.sleep(chance.uniform(0.1, 0.6))
        addin.send_signal(signal.SIGKILL)
        addin.wait(10)
        kills += 1
        seen = subscriptions(mosquitto)
        addin = start_addin(mosquitto, *args)
        processes.append(addin)
    assert publisher.wait(120) == 0
    # The last add-in may still be starting while its killed forerunners have already
    # stored every frame; a SIGTERM before it has set its handlers would end it by signal.
    wait_subscribed(addin, mosquitto, seen=seen)
    frames = frames_of(reference)
    [(code, _out, err)] = stop_when_stored([addin], [store], len(frames))
    assert code == 0, err
    assert kills >= 1
    stored = frames_of(store.read_bytes())
    seqs = seqs_of(store)
    assert sorted(set(seqs)) == list(range(1, len(frames) + 1)), "a frame was lost"
    assert Counter(stored).keys() == Counter(frames).keys()
    # A kill between the NBF file's write and its index's leaves a frame the index does
    # not know, stored again on redelivery: at least once, never less.
    assert len(seqs) == len(set(seqs))
    assert len(stored) >= len(frames)


def test_two_addins_of_one_group_share_the_stream(
    mosquitto: MosquittoBroker,
    stream: tuple[Path, bytes],
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    scenario, reference = stream
    stores = [tmp_path / "one.nbf", tmp_path / "two.nbf"]
    members = [
        start_addin(mosquitto, "--member", str(n), "--store", f"nbf:{stores[n - 1]}")
        for n in (1, 2)
    ]
    processes.extend(members)
    for number, member in enumerate(members, start=1):
        wait_subscribed(member, mosquitto, number)
    publish(scenario, mosquitto)
    for code, _out, err in stop_when_stored(members, stores, len(frames_of(reference))):
        assert code == 0, err
        assert "$share/addins/domino/billing/+/{session,database," in err
    one, two = (seqs_of(store) for store in stores)
    assert one and two, "the group did not share the stream"
    assert not set(one) & set(two), "a frame was stored by both"
    assert sorted(one + two) == list(range(1, len(frames_of(reference)) + 1))
    stored = frames_of(stores[0].read_bytes()) + frames_of(stores[1].read_bytes())
    assert Counter(stored) == Counter(frames_of(reference))


def test_a_broker_restart_mid_stream_loses_nothing(
    mosquitto_factory: BrokerFactory,
    stream: tuple[Path, bytes],
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    scenario, reference = stream
    broker = mosquitto_factory(persistence=True)
    store = tmp_path / "billing.nbf"
    addin = start_addin(broker, "--store", f"nbf:{store}")
    processes.append(addin)
    wait_subscribed(addin, broker)
    publisher = subprocess.Popen(
        billsim("run", str(scenario), "--broker", broker.url, "--speed", "1000x"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes.append(publisher)
    time.sleep(0.5)
    # The publisher waits while the broker restarts: mosquitto 2.0 does not restore a
    # session's shared subscriptions from its database until the client subscribes
    # again, and would drop what is published in between.
    publisher.send_signal(signal.SIGSTOP)
    broker.stop()
    time.sleep(0.5)
    broker.start()
    deadline = time.monotonic() + 15
    while "SUBSCRIBE from billsim-addin" not in broker.log_text().rsplit("starting", 1)[-1]:
        assert time.monotonic() < deadline, "the add-in did not come back"
        time.sleep(0.05)
    publisher.send_signal(signal.SIGCONT)
    assert publisher.wait(120) == 0
    [(code, _out, err)] = stop_when_stored([addin], [store], len(frames_of(reference)))
    assert code == 0, err
    assert "lost the connection" in err
    assert sorted(set(seqs_of(store))) == list(range(1, len(frames_of(reference)) + 1))
    assert len(seqs_of(store)) == len(set(seqs_of(store)))


def test_bad_input_is_exit_2_and_an_unreachable_broker_exit_1(tmp_path: Path) -> None:
    notes_ini = tmp_path / "notes.ini"
    notes_ini.write_text("BillingAddinWakeup=5\nBillingAddinRuntime=6\n")
    port = free_port()
    cases = [
        (["--pacing", "notes-ini", "--notes-ini", str(notes_ini)], 2, "must not exceed"),
        (["--store", "ftp://x"], 2, "--store: unknown store URL 'ftp://x'"),
        (["--group", "a/b"], 2, "--group"),
        (["--until-idle", "soon"], 2, "--until-idle"),
        (["--store", f"nbf:{tmp_path / 'x.nbf'}", "--connect-timeout", "1"], 1, "cannot connect"),
        # A store is refused before the broker is tried: these exit 2 though it is unreachable.
        (["--store", f"sqlite:///{tmp_path}"], 2, f"{tmp_path}: --store: is a directory"),
        (["--store", f"nbf:{tmp_path / 'no' / 'x.nbf'}"], 2, "--store: cannot create the NBF"),
        (["--store", f"sqlite:///{notes_ini}"], 2, "--store: cannot open it as an SQLite store"),
        (["--store", f"nbf:{notes_ini}"], 2, f"{notes_ini}:1: --store: not an NBF store"),
    ]
    # All at once: each is a process of its own, most of its time Python starting.
    running = [
        subprocess.Popen(
            billsim("addin", "--broker", f"mqtt://127.0.0.1:{port}", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for args, _code, _message in cases
    ]
    for process, (_args, code, message) in zip(running, cases, strict=True):
        returncode, _out, err = finish(process, timeout=30)
        assert (returncode, message in err) == (code, True), err


def test_billing_addin_output_chooses_the_stores(tmp_path: Path) -> None:
    def settings(value: str) -> NotesIniSettings:
        path = tmp_path / "notes.ini"
        path.write_text(f"BillingAddinOutput={value}\n")
        return resolve_settings(read_notes_ini(path))

    assert store_urls([], NotesIniSettings(), None) == ["sqlite:///billing.db"]
    assert store_urls([], settings("1"), None) == ["sqlite:///billing.db"]
    assert store_urls([], settings("8"), None) == ["nbf:billing.nbf"]
    assert store_urls([], settings("9"), None) == ["sqlite:///billing.db", "nbf:billing.nbf"]
    assert store_urls(["nbf:x"], settings("9"), None) == ["nbf:x"]
    with pytest.raises(InputError, match="names no store"):
        store_urls([], settings("2"), tmp_path / "notes.ini")
    # +2: the records are also printed, as tail shows them (not with --store).
    assert store_urls([], settings("10"), None) == ["nbf:billing.nbf"]
    assert prints_records([], settings("10")) and prints_records([], settings("0xB"))
    assert not prints_records([], settings("9")) and not prints_records(["nbf:x"], settings("10"))
    with pytest.raises(InputError, match="expected a number"):
        store_urls([], settings("both"), tmp_path / "notes.ini")


def test_billing_addin_output_plus_2_prints_each_record_as_tail_shows_it(
    mosquitto: MosquittoBroker,
    stream: tuple[Path, bytes],
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    scenario, reference = stream
    (tmp_path / "notes.ini").write_text("BillingAddinOutput=10\n")
    # Its stdout to a file: a pipe nobody reads while it prints would stop it.
    printed = tmp_path / "stdout.txt"
    with printed.open("wb") as stdout:
        addin = subprocess.Popen(
            billsim("addin", "--broker", mosquitto.url, "--notes-ini", "notes.ini"),
            cwd=tmp_path,
            stdout=stdout,
            stderr=subprocess.PIPE,
        )  # fmt: skip
    processes.append(addin)
    wait_subscribed(addin, mosquitto)
    publish(scenario, mosquitto)
    [(code, _out, err)] = stop_when_stored(
        [addin], [f"nbf:{tmp_path / 'billing.nbf'}"], len(frames_of(reference))
    )
    assert code == 0, err
    out = printed.read_text()
    assert (tmp_path / "billing.nbf").read_bytes() == reference
    lines = out.splitlines()
    assert lines[0] == "-- 2026-11-21"
    frames = [line for line in lines if re.match(r"\d\d:\d\d:\d\d\.\d\d Mail01 ", line)]
    assert len(frames) == len(frames_of(reference))
    assert frames[0].split()[2:4] == ["session", "START"] and frames[0].endswith("#1")


def test_a_second_signal_while_it_stops_quits_at_once_and_keeps_the_summary(
    mosquitto: MosquittoBroker, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    database = tmp_path / "billing.db"
    summary_path = tmp_path / "out" / "addin.json"
    summary_path.parent.mkdir()
    addin = start_addin(
        mosquitto, "--store", f"sqlite:///{database}", "--summary", str(summary_path)
    )
    processes.append(addin)
    wait_subscribed(addin, mosquitto)
    truth = tmp_path / "truth.json"
    # The test holds the database's write lock: the add-in's commit waits for it (SQLite's
    # 5 s), and its stop with it.
    with sqlite3.connect(database, isolation_level=None) as lock:
        lock.execute("BEGIN IMMEDIATE")
        subprocess.run(
            billsim("run", "lifecycle-demo", "--broker", mosquitto.url, "--speed", "max",
                    "--summary", str(truth)),
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        frames = json.loads(truth.read_text())["delivered"]
        deadline = time.monotonic() + 5
        while mosquitto.log_text().count("Sending PUBLISH to billsim-addin-") < frames:
            assert time.monotonic() < deadline, "the add-in was not sent the frames"
            time.sleep(0.05)
        addin.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert addin.poll() is None, finish(addin)
        addin.send_signal(signal.SIGTERM)
        code, out, err = finish(addin, 4)
        lock.execute("ROLLBACK")
    assert code == 1, err  # frames were left: the broker delivers them again
    assert f"quitting at once: {frames} frame(s) taken and not committed" in err, err
    assert "Traceback" not in err
    assert "0 frame(s) committed" in out, out
    summary = json.loads(summary_path.read_text())
    assert (summary["committed"], summary["stored"]) == (0, 0)
    assert [path.name for path in summary_path.parent.iterdir()] == ["addin.json"]


# -- in process, with an in-memory store ---------------------------------------------------


class MemoryStore:
    """Keeps what it is given, by (server, run, seq) as the real stores do; remembers
    when each commit happened."""

    def __init__(self, fail: bool = False) -> None:
        self.url = "memory:"
        self.fail = fail
        self.frames: list[Received] = []
        self.rejects: list[Rejected] = []
        self.commits: list[tuple[float, int]] = []  # (time.monotonic(), items)
        self._keys: set[tuple[str, str, int]] = set()
        self._pending: list[Received | Rejected] = []

    def add(self, item: Received | Rejected) -> None:
        self._pending.append(item)

    def commit(self) -> Committed:
        if self.fail:
            raise OSError("disk full")
        stored: Counter[tuple[str, str]] = Counter()
        duplicates: Counter[str] = Counter()
        rejected: Counter[str] = Counter()
        for item in self._pending:
            if isinstance(item, Rejected):
                self.rejects.append(item)
                rejected[item.server or NO_SERVER] += 1
                continue
            if item.run is not None and item.seq is not None:
                key = (item.server, item.run, item.seq)
                if key in self._keys:
                    duplicates[item.server] += 1
                    continue
                self._keys.add(key)
            self.frames.append(item)
            stored[item.server, frame_class(item.frame)] += 1
        self.commits.append((time.monotonic(), len(self._pending)))
        self._pending.clear()
        return Committed.tallied(stored, duplicates, rejected)

    def close(self) -> None:
        pass


class Publisher:
    def __init__(self, broker: MosquittoBroker) -> None:
        self.broker = broker
        self.client: Any = Client("test-publisher")

    async def __aenter__(self) -> Publisher:
        await asyncio.wait_for(self.client.connect(self.broker.host, self.broker.port), 10)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.client.disconnect()

    def frame(self, seq: int, frame: bytes, topic: str = FRAME_TOPIC, **extra: str) -> None:
        props = [("seq", str(seq)), ("run", "run-1"), *extra.items()]
        self.client.publish(
            topic,
            frame,
            qos=1,
            content_type="application/x-domino-billmsg",
            user_property=props,
        )


async def serving(
    broker: MosquittoBroker, store: MemoryStore, *, stop: asyncio.Event, **request: Any
) -> asyncio.Task[Any]:
    """The add-in in this process; returns once its session is subscribed."""
    settings = request.pop("settings", None)
    subscribes = broker.log_text().count("SUBSCRIBE from billsim-addin")
    task = asyncio.create_task(
        serve(
            AddinRequest(broker=broker.url, **request),
            lambda: [store],
            settings=settings,
            intake=Intake(Layout.LINUX_X86_64),
            stderr=open(os.devnull, "w"),  # noqa: SIM115 - closed with the process
            stop=stop,
        )
    )
    deadline = time.monotonic() + 10
    while broker.log_text().count("SUBSCRIBE from billsim-addin") == subscribes:
        assert not task.done(), task.result()
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    return task


async def wait_until(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_duplicates_rejects_and_latency(mosquitto: MosquittoBroker) -> None:
    frame = FrameCodec().encode_record(SESSION_REC, SERVER, STAMP)
    store = MemoryStore()
    stop = asyncio.Event()
    task = await serving(mosquitto, store, stop=stop)
    async with Publisher(mosquitto) as publisher:
        sent = str(time.time_ns() // 1000)
        publisher.frame(1, frame, sent=sent)
        publisher.frame(1, frame, sent=sent)  # a redelivery: same server, run and seq
        publisher.frame(2, b"garbage, not a frame")
        publisher.client.publish(f"domino/billing/{SERVER_CN}/status", b"online", qos=1)
        await wait_until(lambda: len(store.frames) + len(store.rejects) == 2)
        await asyncio.sleep(0.2)
    stop.set()
    tally = await task
    assert [(item.seq, item.frame) for item in store.frames] == [(1, frame)]
    assert [(item.seq, item.payload) for item in store.rejects] == [(2, b"garbage, not a frame")]
    assert "not a frame" in store.rejects[0].reason
    summary = tally.summary(1.0)
    assert (summary["stored"], summary["duplicates"], summary["rejects"]) == (1, 1, 1)
    assert summary["frames"] == {"session": 1}  # stored by class: the redelivery is not
    latency = summary["latency_ms"]
    assert latency["frames"] == 2
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"] < 5_000


async def test_without_sent_there_is_no_latency(mosquitto: MosquittoBroker) -> None:
    store = MemoryStore()
    stop = asyncio.Event()
    task = await serving(mosquitto, store, stop=stop)
    async with Publisher(mosquitto) as publisher:
        publisher.frame(1, FrameCodec().encode_record(SESSION_REC, SERVER, STAMP))
        await wait_until(lambda: len(store.frames) == 1)
    stop.set()
    assert "latency_ms" not in (await task).summary(1.0)


async def test_a_failed_commit_acknowledges_nothing(mosquitto: MosquittoBroker) -> None:
    frame = FrameCodec().encode_record(SESSION_REC, SERVER, STAMP)
    failing = MemoryStore(fail=True)
    task = await serving(mosquitto, failing, stop=asyncio.Event())
    async with Publisher(mosquitto) as publisher:
        for seq in (1, 2, 3):
            publisher.frame(seq, frame)
        with pytest.raises(StoreError, match="disk full"):
            await asyncio.wait_for(task, 10)
    store = MemoryStore()
    stop = asyncio.Event()
    task = await serving(mosquitto, store, stop=stop)
    await wait_until(lambda: len(store.frames) == 3)
    stop.set()
    await task
    assert [item.seq for item in store.frames] == [1, 2, 3]


async def test_pacing_builds_a_backlog_while_asleep_and_drains_it_awake(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    notes_ini = tmp_path / "notes.ini"
    notes_ini.write_text("BillingAddinWakeup=2\nBillingAddinRuntime=1\n")
    settings = resolve_settings(read_notes_ini(notes_ini))
    frame = FrameCodec().encode_record(SESSION_REC, SERVER, STAMP)
    store = MemoryStore()
    stop = asyncio.Event()
    started = time.monotonic()
    task = await serving(mosquitto, store, stop=stop, pacing="notes-ini", settings=settings)
    async with Publisher(mosquitto) as publisher:
        for seq in range(1, 51):
            publisher.frame(seq, frame)  # at once: asleep until the first wake-up, at 2 s
        await asyncio.sleep(1.5)
        assert store.frames == [], "took messages while asleep"
        await wait_until(lambda: len(store.frames) == 50, timeout=5)
        woke = store.commits[0][0]
        assert woke - started >= 2.0
        while time.monotonic() < woke + 1.2:  # asleep again (1 s to 2 s after waking)
            await asyncio.sleep(0.05)
        for seq in range(51, 61):
            publisher.frame(seq, frame)
        await asyncio.sleep(0.5)
        assert len(store.frames) == 50, "took messages while asleep"
        await wait_until(lambda: len(store.frames) == 60, timeout=5)
        assert store.commits[-1][0] >= woke + 1.8
    stop.set()
    await task
    assert [item.seq for item in store.frames] == list(range(1, 61))


async def test_the_first_connection_failing_is_an_error() -> None:
    with pytest.raises(ConsumerError, match="cannot connect"):
        await serve(
            AddinRequest(broker=f"mqtt://127.0.0.1:{free_port()}", connect_timeout=0.5),
            lambda: [MemoryStore()],
            stderr=open(os.devnull, "w"),  # noqa: SIM115
        )
