"""The broker matrix (docs/brokers.md): `billsim run` → `billsim addin` → `billsim verify`
through the brokers users run, each started by its fixture (tests/broker_processes.py) on free
loopback ports with its own config and data directory.

- mosquitto, a single broker (MQTT 5: `seq` and `run` travel as user properties);
- two mosquittos bridged (publish on the near one, the add-in on the far one);
- one nats-server (MQTT 3.1.1 only: `--topic-meta` puts `run` and `seq` in the topic);
- a 3-node NATS cluster, publishing on node 1 and the add-in on node 3; and the same
  with the leader of NATS's MQTT message stream stopped mid-run and started again;
- a broker that closes the connection on an MQTT 5 CONNECT, as RabbitMQ before 3.13 does
  (a proxy in front of mosquitto): the add-in and `run` fall back to MQTT 3.1.1;
- RabbitMQ itself (its MQTT plugin, MQTT 3.1.1 only before 3.13), only with
  `pytest --rabbitmq`: a node takes about 20 s to start.

Each time the add-in stores every frame once (SQLite, and NBF whose frames, by `seq`,
are those `run --out` writes) and `verify` exits 0. And a bridge at mosquitto's default
limits loses frames at the far broker while `billsim run` saw every one acknowledged:
`verify` exits 1 and names the missing `seq` numbers.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from broker_processes import (
    BridgeFactory,
    ClosesOnMqtt5,
    MosquittoBroker,
    NatsBroker,
    NatsCluster,
    RabbitNode,
)
from bundled_runs import run_bundled
from test_addin import billsim, frames_of

pytestmark = pytest.mark.broker

# Sessions, databases and documents of generated users for ten virtual minutes: 508
# frames with 6 users, 2,594 with 30 (more than mosquitto queues for a subscriber, 1,000).
SCENARIO = """\
name: broker-matrix
seed: 7
start: "2026-11-21T09:00:00Z"
duration: 10m
server: CN=Mail01/O=Acme
notes_ini: {{BillingClass: "Session,Database,Document", BillingSuppressTime: 1}}
databases:
  mail/a.nsf: {{replica_id: "85258A3B:0052C1F0"}}
  apps/b.nsf:
    replica_id: "85258A3B:0052C1F1"
    documents: {{0x2306: {{charge_read: 0.05, charge_write: 0.25}}}}
workload: {{users: {users}, think_time: 5s, session_length: 4m}}
"""
MQTT_STREAM = "$MQTT_msgs"  # where NATS keeps QoS 1 messages (JetStream)


@dataclass(frozen=True)
class Route:
    """Where billsim publishes, where the add-in subscribes, and what `run` needs there."""

    publish: str
    subscribe: str
    run_args: tuple[str, ...] = ()
    addin_args: tuple[str, ...] = ()


@dataclass
class Pipeline:
    """The files of one run → add-in → verify in a test's directory."""

    tmp: Path
    users: int = 6

    def __post_init__(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.scenario = self.tmp / "scenario.yaml"
        self.scenario.write_text(SCENARIO.format(users=self.users))
        out = self.tmp / "reference.nbf"
        run_bundled(str(self.scenario), out)  # in-process: the bytes `billsim run --out` writes
        self.reference = frames_of(out.read_bytes())
        self.sqlite = f"sqlite:///{self.tmp / 'billing.db'}"
        self.nbf = self.tmp / "billing.nbf"
        self.run_summary = self.tmp / "run-summary.json"
        self.addin_summary = self.tmp / "addin-summary.json"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.addins = 0

    def start_addin(
        self, url: str, *args: str, until_idle: float | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """`billsim addin` into SQLite and NBF, subscribed when this returns; its stderr.
        Without ``until_idle`` it runs until stopped (`stop_addin`)."""
        self.addins += 1
        log = self.tmp / f"addin-{self.addins}.log"
        idle = ("--until-idle", f"{until_idle:g}") if until_idle is not None else ()
        with log.open("wb") as err:
            addin = subprocess.Popen(
                billsim(
                    "addin", "--broker", url, "--store", self.sqlite, "--store", f"nbf:{self.nbf}",
                    "--summary", str(self.addin_summary), *idle, *args,
                ),
                stdout=subprocess.DEVNULL,
                stderr=err,
            )  # fmt: skip
        self.processes.append(addin)
        deadline = time.monotonic() + 60
        while "subscribed to" not in log.read_text(errors="replace"):
            assert addin.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the add-in did not subscribe"
            time.sleep(0.05)
        return addin, log

    def stop_addin_when_stored(
        self, addin: subprocess.Popen[bytes], log: Path, frames: int, timeout: float = 60
    ) -> None:
        """Once the NBF store's index has ``frames`` frames committed, SIGTERM: the add-in
        commits what it holds and ends (exit 0). Not an idle timeout: on a busy machine
        `billsim run` may take longer to start than any idle time kept short."""
        seen = self.nbf.with_name(self.nbf.name + ".seen")
        deadline = time.monotonic() + timeout
        while not seen.exists() or seen.read_bytes().count(b"\n") < frames:
            assert addin.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, f"not {frames} frames stored in {timeout:g} s"
            time.sleep(0.1)
        addin.send_signal(signal.SIGTERM)
        finish(addin, log)

    def start_run(self, route: Route, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        """`billsim run` at QoS 1 through the route, its ground truth to `run_summary`."""
        log = self.tmp / "run.log"
        with log.open("wb") as err:
            run = subprocess.Popen(
                billsim(
                    "run", str(self.scenario), "--broker", route.publish, "--qos", "1",
                    "--summary", str(self.run_summary), *route.run_args, *args,
                ),
                stdout=subprocess.DEVNULL,
                stderr=err,
            )  # fmt: skip
        self.processes.append(run)
        return run, log

    def stored(self) -> list[bytes]:
        """The NBF store's frames in `seq` order (its sidecar index has each frame's seq)."""
        frames = frames_of(self.nbf.read_bytes())
        index = self.nbf.with_name(self.nbf.name + ".seen").read_text().splitlines()
        seqs = [int(line.rsplit(" ", 3)[2]) for line in index]
        assert len(seqs) == len(frames) == len(set(seqs)), "a seq stored twice"
        return [frame for _seq, frame in sorted(zip(seqs, frames, strict=True))]

    def verify(self) -> tuple[int, dict[str, Any], str]:
        """`billsim verify` of the store against the run: exit code, JSON, table."""
        args = ("verify", "--expected", str(self.run_summary), "--actual", self.sqlite)
        as_json = subprocess.run(
            billsim(*args, "--format", "json"), check=False, capture_output=True
        )
        table = subprocess.run(billsim(*args), check=False, capture_output=True)
        assert as_json.returncode == table.returncode, table.stderr
        return as_json.returncode, json.loads(as_json.stdout), table.stdout.decode()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    made = Pipeline(tmp_path)
    yield made
    made.stop()


def finish(process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> str:
    """Wait for a child; its stderr, asserting it exited 0."""
    process.wait(timeout)
    text = log.read_text(errors="replace")
    assert process.returncode == 0, text
    return text


def through(
    pipeline: Pipeline,
    route: Route,
    *,
    run_args: tuple[str, ...] = ("--speed", "max"),
    meanwhile: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> dict[str, Any]:
    """Add-in on the route's far end, then the run; every frame stored once, `verify`
    exits 0. The add-in's summary."""
    addin, addin_log = pipeline.start_addin(route.subscribe, *route.addin_args)
    run, run_log = pipeline.start_run(route, *run_args)
    if meanwhile is not None:
        meanwhile(run)
    finish(run, run_log)
    pipeline.stop_addin_when_stored(addin, addin_log, len(pipeline.reference))
    summary: dict[str, Any] = json.loads(pipeline.addin_summary.read_text())
    assert summary["stored"] == len(pipeline.reference), summary
    assert summary["rejects"] == 0, summary
    assert pipeline.stored() == pipeline.reference
    code, verdict, table = pipeline.verify()
    assert code == 0, table
    assert verdict["equal"] and verdict["differences"] == []
    assert [(s["missing"], s["duplicated"]) for s in verdict["seq"]] == [([], [])], verdict["seq"]
    return summary


# -- the matrix ----------------------------------------------------------------------------


@pytest.fixture(params=["mosquitto", "mosquitto-bridge", "nats", "nats-cluster"])
def route(request: pytest.FixtureRequest) -> Route:
    """A broker (or brokers) of the matrix, started for the test."""
    if request.param == "mosquitto":
        broker: MosquittoBroker = request.getfixturevalue("mosquitto")
        return Route(broker.url, broker.url)
    if request.param == "mosquitto-bridge":
        pair = request.getfixturevalue("mosquitto_bridge_factory")()
        return Route(pair.near.url, pair.far.url)
    if request.param == "nats":
        nats: NatsBroker = request.getfixturevalue("nats")
        return Route(nats.url, nats.url, ("--topic-meta",))
    cluster: NatsCluster = request.getfixturevalue("nats_cluster")
    return Route(cluster.nodes[0].url, cluster.nodes[2].url, ("--topic-meta",))


def test_every_frame_is_stored_once_and_the_bill_verifies(route: Route, pipeline: Pipeline) -> None:
    summary = through(pipeline, route)
    assert summary["duplicates"] == 0, summary


def test_a_nats_node_stopped_mid_run_and_restarted_loses_nothing(
    nats_cluster: NatsCluster, pipeline: Pipeline
) -> None:
    """Node 2 leads the stream NATS keeps QoS 1 messages in, and is stopped while frames
    flow from node 1 to the add-in on node 3: the stream elects another leader, the run's
    unacknowledged frames are sent again, whatever comes twice is a counted duplicate."""
    first, second, third = nats_cluster.nodes
    nats_cluster.make_leader(MQTT_STREAM, second)
    route = Route(first.url, third.url, ("--topic-meta",))

    def stop_and_restart(run: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 30
        while first.request(f"$JS.API.STREAM.INFO.{MQTT_STREAM}")["state"]["last_seq"] < 100:
            assert run.poll() is None, "the run ended before the node could be stopped"
            assert time.monotonic() < deadline, "no frame reached the stream"
            time.sleep(0.05)
        second.stop()
        time.sleep(2)
        assert run.poll() is None, "the run ended while the node was down: stopped too late"
        second.start()

    # 100 frames a second: 5 s of frames, the node stopped after the first hundred.
    summary = through(pipeline, route, run_args=("--rate", "100/s"), meanwhile=stop_and_restart)
    assert second.starts == 2
    assert summary["stored"] + summary["duplicates"] >= len(pipeline.reference)


def test_a_broker_that_closes_an_mqtt5_connect_gets_mqtt_3_1_1(
    mosquitto: MosquittoBroker, pipeline: Pipeline
) -> None:
    """RabbitMQ's MQTT plugin before 3.13 answers an MQTT 5 CONNECT by closing the
    connection, without a CONNACK. A proxy in front of mosquitto does the same: the add-in
    (as `tail`, which connects alike) and `run` go on with MQTT 3.1.1 at once, and with
    --topic-meta every frame is stored once."""
    proxy = ClosesOnMqtt5(mosquitto)
    try:
        summary = through(pipeline, Route(proxy.url, proxy.url, ("--topic-meta",)))
    finally:
        proxy.stop()
    assert summary["duplicates"] == 0
    assert proxy.closed == 2  # one MQTT 5 attempt each
    assert "(MQTT 3.1.1)" in (pipeline.tmp / "addin-1.log").read_text()
    # run says the fallback in one line: no warning about the closed MQTT 5 attempt.
    run_log = (pipeline.tmp / "run.log").read_text()
    assert run_log.count("mqtt.mqtt5_refused") == 1, run_log
    assert "connect_failed" not in run_log, run_log


def test_with_mqtt_version_3_1_1_no_mqtt5_connect_reaches_the_broker(
    mosquitto: MosquittoBroker, pipeline: Pipeline
) -> None:
    """RabbitMQ 3.10 logs an error report (`MQTT cannot parse a frame`, a stack trace) for
    each MQTT 5 CONNECT it closes. `--mqtt-version 3.1.1` on `run`, the add-in, `tail` and
    `record` sends none: the proxy that closes them sees not one, every frame is stored
    once, and tail and record see the run from online to offline."""
    proxy = ClosesOnMqtt5(mosquitto)
    v311 = ("--mqtt-version", "3.1.1")
    capture = pipeline.tmp / "capture.jsonl"
    watchers = {
        "tail": billsim("tail", "--broker", proxy.url, *v311),
        "record": billsim("record", "--broker", proxy.url, "-o", str(capture), *v311),
    }
    logs = {name: pipeline.tmp / f"{name}.log" for name in watchers}
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, argv in watchers.items():
            with logs[name].open("wb") as err:
                started[name] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
            pipeline.processes.append(started[name])
        deadline = time.monotonic() + 30
        while not all("(MQTT 3.1.1)" in log.read_text() for log in logs.values()):
            assert time.monotonic() < deadline, [log.read_text() for log in logs.values()]
            time.sleep(0.05)
        route = Route(proxy.url, proxy.url, ("--topic-meta", *v311), v311)
        summary = through(pipeline, route)
        for name, process in started.items():
            finish(process, logs[name], timeout=30)  # they end with the run's offline
    finally:
        proxy.stop()
    assert summary["duplicates"] == 0
    assert proxy.closed == 0
    assert "(MQTT 3.1.1)" in (pipeline.tmp / "addin-1.log").read_text()
    assert len(capture.read_text().splitlines()) == len(pipeline.reference)
    run_log = (pipeline.tmp / "run.log").read_text()
    assert "mqtt5_refused" not in run_log and run_log.count("mqtt.properties_off") == 1, run_log


@pytest.mark.rabbitmq
def test_rabbitmq_stores_every_frame_once_and_its_log_stays_clean_with_mqtt_3_1_1(
    rabbitmq: RabbitNode, tmp_path: Path
) -> None:
    """RabbitMQ 3.10's MQTT plugin (a node of the test's own): run --topic-meta → add-in →
    verify exits 0, each frame stored once, the frames by seq those of run --out. As
    `run` and the add-in first try MQTT 5, RabbitMQ logs an error report for each of the
    two closed MQTT 5 CONNECTs; a second run with --mqtt-version 3.1.1 on both adds none."""
    route = Route(rabbitmq.url, rabbitmq.url, ("--topic-meta",))
    first = Pipeline(tmp_path / "fallback")
    try:
        assert through(first, route)["duplicates"] == 0
    finally:
        first.stop()
    run_log = (first.tmp / "run.log").read_text()
    assert run_log.count("mqtt.mqtt5_refused") == 1 and "connect_failed" not in run_log, run_log
    assert "(MQTT 3.1.1)" in (first.tmp / "addin-1.log").read_text()
    cannot_parse = "MQTT cannot parse a frame"
    assert rabbitmq.log_text().count(cannot_parse) == 2, rabbitmq.log_text()[-4000:]

    v311 = ("--mqtt-version", "3.1.1")
    second = Pipeline(tmp_path / "mqtt311")
    try:
        summary = through(second, Route(rabbitmq.url, rabbitmq.url, ("--topic-meta", *v311), v311))
    finally:
        second.stop()
    assert summary["duplicates"] == 0
    assert "mqtt.properties_off" in (second.tmp / "run.log").read_text()
    assert rabbitmq.log_text().count(cannot_parse) == 2


# -- the bridge that drops -----------------------------------------------------------------


def test_a_bridge_at_default_limits_drops_what_only_verify_reports(
    mosquitto_bridge_factory: BridgeFactory, tmp_path: Path
) -> None:
    """The far broker keeps mosquitto's defaults: at most 1,000 messages queued for a
    subscriber. The add-in's session is there but the add-in away (restarting, or asleep
    between wake-ups as NBILLSES is) while the run goes through the bridge: the far broker
    acknowledges every frame to the bridge and drops what exceeds the queue; the near one
    acknowledged every frame to `billsim run`, which exits 0. Only verify sees the loss."""
    pair = mosquitto_bridge_factory(far={"base_settings": False})
    pipeline = Pipeline(tmp_path, users=30)
    try:
        route = Route(pair.near.url, pair.far.url)
        addin, log = pipeline.start_addin(route.subscribe, until_idle=0.5)
        finish(addin, log)  # its persistent session stays at the far broker
        run, run_log = pipeline.start_run(route, "--speed", "max")
        assert "undelivered=0" in finish(run, run_log)
        # What the far broker kept comes at once, from the session (before the SUBACK,
        # which the idle time counts from): 2 s idle is the end. Ended early, the add-in
        # would leave the last frames kept in its session: what it stored would still be
        # the first ones, and the loss one range.
        addin, log = pipeline.start_addin(route.subscribe, until_idle=2)
        finish(addin, log)
        stored = json.loads(pipeline.addin_summary.read_text())["stored"]
        sent = len(pipeline.reference)
        assert 0 < stored < sent, f"stored {stored} of {sent}: nothing was dropped"
        # The one trace of the loss at the brokers: a line in the far one's log.
        assert "Outgoing messages are being dropped for client billsim-addin" in pair.far.log_text()

        code, verdict, table = pipeline.verify()
        assert code == 1, table
        kept = {
            int(line.rsplit(" ", 3)[2])
            for line in pipeline.nbf.with_name(pipeline.nbf.name + ".seen").read_text().split("\n")
            if line
        }
        lost = sorted(set(range(1, sent + 1)) - kept)
        [findings] = verdict["seq"]
        assert findings["missing"] == lost and findings["duplicated"] == []
        # The queue kept the first frames: the rest, one range, named in the table.
        assert lost == list(range(lost[0], sent + 1))
        assert f"seq missing {lost[0]}-{sent}\n" in table
        assert f"{len(lost)} seqs missing" in table.splitlines()[-1]
    finally:
        pipeline.stop()
