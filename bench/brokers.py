"""Broker benchmark: the same load through each broker of the matrix (docs/brokers.md).

    python bench/brokers.py [--users 300] [--qos 1,0]
                            [--brokers mosquitto,bridge,nats,cluster[,rabbitmq]]

Each broker is started as the tests start it (tests/broker_processes.py: free loopback ports, a
config and a data directory of its own, stopped by PID):

- **mosquitto**: one broker with the load settings of the tests (1,000 in flight, 200,000
  queued a subscriber, no byte limit, TCP_NODELAY; queue/mosquitto.conf has the same);
- **bridge**: two such mosquittos, the near one bridged to the far one (MQTT 5, QoS 1,
  persistent sessions); billsim publishes on near, the subscriber is on far;
- **nats**: one nats-server 2.9 with JetStream and its MQTT listener (MQTT 3.1.1 only, so
  `run --topic-meta`);
- **cluster**: three nats-servers in a cluster, MQTT streams replicated three times
  (`mqtt { stream_replicas: 3 }`); billsim publishes on node 1, the subscriber is on node 3;
- **rabbitmq** (only when named in `--brokers`): a RabbitMQ node of its own with the MQTT
  plugin (MQTT 3.1.1 before RabbitMQ 3.13, so `--topic-meta`), started from the installed
  `rabbitmq-server` with its own config (`mqtt.prefetch = 1000`, as docs/brokers.md
  advises), data, ports and epmd, never the machine's (tests/broker_processes.py's
  RabbitNode, which the tests marked `rabbitmq` use too).

For each broker and QoS, `mosquitto_sub` subscribed to `domino/billing/#` at that QoS on
the far end writes each message's receive time, topic and payload; then `billsim run
--speed max --qos Q` publishes a generated load (the typical-mail preset, `--users`
users, one day). The rate is the subscriber's steady state: the frames between the 5th
and the 95th percentile of arrival over the time between them (as bench/e2e.py), so
neither start-up nor the tail counts. The frames received are compared with those `run
--out` writes: all there, none twice, and whether in the same order. Beside them: the CPU
a frame of `billsim run` (its start-up and the simulation included), of the brokers (all
their processes, from /proc) and of the subscriber, and the 1-minute load average before
and after each run: the machine is shared, and a wall-clock rate is only as good as the
CPU left to the brokers and billsim, so compare the CPU figures first.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from broker_processes import (  # noqa: E402
    BridgeTo,
    MosquittoBroker,
    NatsBroker,
    NatsCluster,
    RabbitNode,
)
from e2e import STEADY, machine_line  # noqa: E402

SCENARIO = """
name: bench-brokers
seed: 1
start: "2026-11-22T23:00:00Z"
duration: 1d
server: CN=Mail01/O=Acme
notes_ini: {{BillingClass: "Session,Database,Document,Mail,Replication,Agent,HttpRequest"}}
workload:
  preset: typical-mail
  users: {users}
  calendar: {{timezone: Europe/Berlin}}
  databases: {{count: 20, mail_share: 0.8, charged: 0.05}}
"""
BROKERS = ("mosquitto", "bridge", "nats", "cluster")
OPTIONAL = ("rabbitmq",)  # slow to start; only when asked for
SUBSCRIBED_S = 1.5  # for the subscription to reach every node before the first frame
QUIET_S = 5.0  # the subscriber is done when nothing more came for this long


class Route(NamedTuple):
    publish: str
    subscribe_port: int
    run_args: tuple[str, ...]
    pids: tuple[int, ...]  # the broker processes, for their CPU


class Result(NamedTuple):
    broker: str
    qos: int
    received: int
    sent: int
    rate: float  # frames/s at the subscriber, steady state
    run_s: float  # billsim run's wall-clock time, start-up included
    run_us: float  # billsim run's CPU a frame (user + system), start-up included
    broker_us: float  # the brokers' CPU a frame, all processes
    subscriber_us: float  # mosquitto_sub's CPU a frame
    compared: str  # against run --out
    load: tuple[float, float]


def billsim(*args: str) -> list[str]:
    return [sys.executable, "-m", "simulator", *args]


def frames_of(data: bytes) -> list[bytes]:
    frames, at = [], 0
    while at < len(data):
        length = int.from_bytes(data[at : at + 2], "little")
        frames.append(data[at : at + length])
        at += length
    return frames


def pids_of(*brokers: MosquittoBroker | NatsBroker) -> tuple[int, ...]:
    return tuple(b.process.pid for b in brokers if b.process is not None)


def cpu_seconds(pids: tuple[int, ...]) -> float:
    """User and system CPU the processes have used (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def started(kind: str, workdir: Path) -> Iterator[Route]:
    """The broker(s) of one kind, running; where to publish and subscribe."""
    directory = workdir / kind
    if kind == "mosquitto":
        broker = MosquittoBroker(directory)
        broker.start()
        try:
            yield Route(broker.url, broker.port, (), pids_of(broker))
        finally:
            broker.stop()
    elif kind == "bridge":
        far = MosquittoBroker(directory / "far")
        near = MosquittoBroker(directory / "near", bridge=BridgeTo(far))
        far.start()
        near.start()
        try:
            deadline = time.monotonic() + 10
            while "Received CONNACK on connection" not in near.log_text():
                if time.monotonic() > deadline:
                    raise SystemExit(f"the bridge did not connect:\n{near.log_text()}")
                time.sleep(0.05)
            yield Route(near.url, far.port, (), pids_of(near, far))
        finally:
            near.stop()
            far.stop()
    elif kind == "nats":
        server = NatsBroker(directory)
        server.start()
        try:
            yield Route(server.url, server.port, ("--topic-meta",), pids_of(server))
        finally:
            server.stop()
    elif kind == "rabbitmq":
        node = RabbitNode(directory)
        node.start()
        try:
            yield Route(node.url, node.port, ("--topic-meta",), node.pids())
        finally:
            node.stop()
    else:
        cluster = NatsCluster(directory)
        cluster.start()
        try:
            publish, subscribe = cluster.nodes[0], cluster.nodes[2]
            pids = pids_of(*cluster.nodes)
            yield Route(publish.url, subscribe.port, ("--topic-meta",), pids)
        finally:
            cluster.stop()


def is_frame_topic(topic: str) -> bool:
    parts = topic.split("/")
    return len(parts) >= 4 and parts[3] not in ("status", "stats", "control")


def one_run(
    kind: str, route: Route, qos: int, scenario: Path, reference: list[bytes], workdir: Path
) -> Result:
    received_path = workdir / f"{kind}-qos{qos}.txt"
    subscriber_binary = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
    with received_path.open("wb") as out:
        subscriber = subprocess.Popen(
            [
                subscriber_binary, "-h", "127.0.0.1", "-p", str(route.subscribe_port),
                "-t", "domino/billing/#", "-q", str(qos), "-F", "%U %t %x",
            ],
            stdout=out,
        )  # fmt: skip
    try:
        time.sleep(SUBSCRIBED_S)
        load_before = os.getloadavg()[0]
        broker_before = cpu_seconds(route.pids)
        began = time.monotonic()
        run = subprocess.Popen(
            billsim(
                "run", str(scenario), "--broker", route.publish, "--speed", "max",
                "--qos", str(qos), *route.run_args,
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _pid, status, usage = os.wait4(run.pid, 0)
        run_s = time.monotonic() - began
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise SystemExit(f"billsim run through {kind} at QoS {qos} exited {code}")
        # Until every frame is there, or nothing more came for QUIET_S (QoS 0 may lose some).
        size, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < QUIET_S:
            now_size = received_path.stat().st_size
            if now_size != size:
                size, quiet_since = now_size, time.monotonic()
                lines = received_path.read_bytes().count(b"\n")
                if lines >= len(reference) + 2:  # the frames, online and offline
                    break
            time.sleep(0.2)
        load_after = os.getloadavg()[0]
        broker_cpu = cpu_seconds(route.pids) - broker_before
        subscriber_cpu = cpu_seconds((subscriber.pid,))
    finally:
        subscriber.terminate()
        subscriber.wait(10)
    stamps, frames = [], []
    for line in received_path.read_bytes().splitlines():
        stamp, topic, payload = line.split(b" ", 2)
        if is_frame_topic(topic.decode()):
            stamps.append(float(stamp))
            frames.append(bytes.fromhex(payload.decode()))
    stamps.sort()
    rate = 0.0
    if len(stamps) >= 20:
        first, last = (int(len(stamps) * share) for share in STEADY)
        span = stamps[last] - stamps[first]
        rate = (last - first) / span if span else 0.0
    return Result(
        kind,
        qos,
        len(frames),
        len(reference),
        rate,
        run_s,
        (usage.ru_utime + usage.ru_stime) * 1e6 / len(reference),
        broker_cpu * 1e6 / len(reference),
        subscriber_cpu * 1e6 / len(reference),
        compare(frames, reference),
        (load_before, load_after),
    )


def compare(received: list[bytes], reference: list[bytes]) -> str:
    """How the frames received stand against `run --out`'s."""
    if received == reference:
        return "identical, in order"
    got, want = Counter(received), Counter(reference)
    missing = sum((want - got).values())
    extra = sum((got - want).values())
    if not missing and not extra:
        return "all there once, reordered"
    return f"{missing:,} missing, {extra:,} extra"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=300, help="generated users")
    parser.add_argument("--qos", default="1,0", help="QoS levels to run")
    parser.add_argument(
        "--brokers",
        default=",".join(BROKERS),
        help=f"which brokers, of {', '.join(BROKERS)}, rabbitmq",
    )
    args = parser.parse_args()
    kinds = args.brokers.split(",")
    known = (*BROKERS, *OPTIONAL)
    unknown = set(kinds) - set(known)
    if unknown:
        raise SystemExit(f"unknown broker(s) {', '.join(sorted(unknown))}: {', '.join(known)}")
    print(machine_line("brokers"))
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        scenario = workdir / "bench-brokers.yaml"
        scenario.write_text(SCENARIO.format(users=args.users))
        out = workdir / "reference.nbf"
        subprocess.run(
            billsim("run", str(scenario), "--out", str(out)),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        reference = frames_of(out.read_bytes())
        print(f"{len(reference):,} frames ({out.stat().st_size:,} bytes) per run")
        for kind in kinds:
            with started(kind, workdir) as route:
                for qos in (int(q) for q in args.qos.split(",")):
                    result = one_run(kind, route, qos, scenario, reference, workdir)
                    results.append(result)
                    print(
                        f"  {kind} QoS {qos}: {result.rate:,.0f} frames/s, "
                        f"{result.received:,}/{result.sent:,} {result.compared}",
                        flush=True,
                    )
    print()
    print(
        f"{'broker':<10} {'QoS':>3} {'frames/s':>9} {'received':>15} {'run s':>6} "
        f"{'CPU µs a frame':>20}  {'against run --out':<22} load avg"
    )
    print(f"{'':<47} {'run':>6} {'broker':>6} {'sub':>6}")
    for r in results:
        print(
            f"{r.broker:<10} {r.qos:>3} {r.rate:>9,.0f} {f'{r.received:,}/{r.sent:,}':>15} "
            f"{r.run_s:>6.1f} {r.run_us:>6.0f} {r.broker_us:>6.0f} {r.subscriber_us:>6.0f}  "
            f"{r.compared:<22} "
            f"{r.load[0]:.1f} -> {r.load[1]:.1f}"
        )


if __name__ == "__main__":
    main()
