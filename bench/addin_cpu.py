"""The add-in's CPU per frame, on a backlog the broker already holds (no publisher competing).

    python bench/addin_cpu.py [--users N] [--duration 30m] [--store sqlite|postgresql|nbf]
                              [--repeat K] [--profile FILE]

A private mosquitto (queue/mosquitto.conf's load settings, no queue limit) on a free
loopback port; the add-in's persistent session is made first (subscribed, then gone),
`billsim run --speed max` of a generated scenario fills the session's backlog, and then
the add-in (`serve`, in this process) drains it into the store until idle. Printed:
frames, CPU µs per frame of the whole process (the event loop and the store's thread), of
the store's thread alone (its commits; for PostgreSQL, also its server process's), and the
drain's rate from its first to its last commit; and, for the CPU budget of the machine end
to end, the publisher's (its start and the simulation included) and the broker's CPU per
frame (taking the backlog in, handing it out). `--repeat` drains K fresh backlogs (the
best is what the machine allows); `--profile` writes cProfile stats of the event loop's
thread of the last drain. The add-in's process is tuned as `billsim addin` tunes it
(`collect_garbage_seldom`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from addin import POSTGRES, billsim, psql
from e2e import machine_line, start_broker

from simulator.adapters.stores import open_store
from simulator.addin.intake import Intake
from simulator.addin.rows import RowMaker
from simulator.addin.store import Committed, Received, Rejected, Store
from simulator.commands.addin import AddinRequest, serve
from simulator.commands.garbage import collect_garbage_seldom

SCENARIO = """
name: bench-addin-cpu
start: "2026-11-21T09:00:00Z"
duration: {duration}
server: CN=Bench01/O=Acme
stamp_policy: activity
notes_ini: {{BillingClass: "Session,Database", BillingSuppressTime: 1}}
databases:
  mail/bench.nsf: {{replica_id: "85258A3B:0052C1F0"}}
workload:
  users: {users}
  arrival: 1m
  think_time: 10m
  session_length: 12h
  mix: {{transfer: 3, open: 1, read: 1}}
"""


class TimedStore:
    """A store whose commits are timed: their thread's CPU, and when each ended."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.url = store.url
        self.cpu = 0.0
        self.wall = 0.0
        self.commits: list[tuple[float, int]] = []  # (time.monotonic(), frames stored)
        self.server_cpu = 0.0  # a PostgreSQL store's backend, when closed

    def add(self, item: Received | Rejected) -> None:
        self.store.add(item)

    def commit(self) -> Committed:
        started, wall = time.thread_time(), time.monotonic()
        result = self.store.commit()
        self.cpu += time.thread_time() - started
        self.wall += time.monotonic() - wall
        self.commits.append((time.monotonic(), result.stored + result.duplicates))
        return result

    def close(self) -> None:
        connection = getattr(self.store, "_db", None)
        backend = getattr(getattr(connection, "info", None), "backend_pid", None)
        if backend is not None:  # PostgreSQL: the server process that did the inserts
            self.server_cpu = cpu_seconds(backend)
        self.store.close()


def drain(
    broker: str, group: str, open_one: Callable[[RowMaker], Store], until_idle: float
) -> None:
    """The add-in, in this process, until `until_idle` seconds without a frame; the store
    is opened on the add-in's store thread with the intake's rows, as `billsim addin`
    opens it."""
    request = AddinRequest(broker=broker, group=group, until_idle=until_idle)
    intake = Intake(request.layout)
    with open(os.devnull, "w") as quiet:
        asyncio.run(serve(request, lambda: [open_one(intake.rows)], intake=intake, stderr=quiet))


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Drained(NamedTuple):
    frames: int
    cpu_us: float  # the add-in's process, a frame
    store_us: float  # of which its store thread's commits
    server_us: float  # a PostgreSQL store's server process, a frame (0 for others)
    commit_wall_us: float  # the commits' wall time
    rate: float  # frames/s from the first commit to the last
    publisher_us: float  # `billsim run --speed max` publishing the backlog, a frame
    broker_in_us: float  # the broker taking the backlog in, a frame
    broker_out_us: float  # the broker handing it to the add-in, a frame


def one_drain(
    port: int, broker_pid: int, scenario: Path, url: str, profile: Path | None, workdir: Path
) -> Drained:
    broker = f"mqtt://127.0.0.1:{port}"
    group = uuid.uuid4().hex[:8]
    # The persistent session, subscribed, then gone: the backlog is kept for it.
    drain(broker, group, lambda _rows: open_store(f"nbf:{workdir / group}.nbf"), 0.3)
    broker_before = cpu_seconds(broker_pid)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        billsim("run", str(scenario), "--broker", broker, "--speed", "max"),
        check=True,
        stderr=subprocess.DEVNULL,
    )
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    publisher = (
        children.ru_utime - children_before.ru_utime + children.ru_stime - children_before.ru_stime
    )
    broker_published = cpu_seconds(broker_pid)
    opened: list[TimedStore] = []

    def open_timed(rows: RowMaker) -> Store:
        opened.append(TimedStore(open_store(url, rows)))
        return opened[-1]

    started = time.process_time()
    profiler = cProfile.Profile() if profile is not None else None
    if profiler is not None:
        profiler.enable()
    drain(broker, group, open_timed, 1.0)
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    cpu = time.process_time() - started
    broker_drained = cpu_seconds(broker_pid)
    (store,) = opened
    frames = sum(count for _, count in store.commits)
    first, last = store.commits[0][0], store.commits[-1][0]
    rate = (frames - store.commits[0][1]) / (last - first) if last > first else 0.0
    per_frame = 1e6 / frames
    return Drained(
        frames,
        cpu * per_frame,
        store.cpu * per_frame,
        store.server_cpu * per_frame,
        store.wall * per_frame,
        rate,
        publisher * per_frame,
        (broker_published - broker_before) * per_frame,
        (broker_drained - broker_published) * per_frame,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10000, help="generated users")
    parser.add_argument("--duration", default="30m", help="virtual length of the run")
    parser.add_argument("--store", default="sqlite", choices=["sqlite", "postgresql", "nbf"])
    parser.add_argument("--repeat", type=int, default=1, help="backlogs drained")
    parser.add_argument("--profile", type=Path, help="cProfile stats of the last drain")
    args = parser.parse_args()
    logging.getLogger("gmqtt").setLevel(logging.ERROR)  # as `billsim addin` does
    collect_garbage_seldom(freeze=True)
    print(machine_line("add-in CPU"), f"load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        scenario = workdir / "bench.yaml"
        scenario.write_text(SCENARIO.format(users=args.users, duration=args.duration))
        broker, port = start_broker(workdir)
        try:
            for attempt in range(args.repeat):
                name = f"billsim_bench_{uuid.uuid4().hex[:8]}"
                if args.store == "sqlite":
                    url = f"sqlite:///{workdir / name}.db"
                elif args.store == "nbf":
                    url = f"nbf:{workdir / name}.nbf"
                else:
                    psql(f"CREATE DATABASE {name}")
                    url = f"{POSTGRES}/{name}"
                profile = args.profile if attempt == args.repeat - 1 else None
                try:
                    got = one_drain(port, broker.pid, scenario, url, profile, workdir)
                finally:
                    if args.store == "postgresql":
                        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                print(
                    f"{args.store:<10} {got.frames:,} frames  add-in {got.cpu_us:.1f} µs "
                    f"CPU/frame (store thread {got.store_us:.1f}, its commits' wall time "
                    f"{got.commit_wall_us:.1f}"
                    + (f"; PostgreSQL's backend {got.server_us:.1f}" if got.server_us else "")
                    + f")  {got.rate:,.0f} frames/s "
                    f"drained; publisher {got.publisher_us:.1f}, broker in "
                    f"{got.broker_in_us:.1f} + out {got.broker_out_us:.1f} µs/frame",
                    flush=True,
                )
        finally:
            broker.terminate()
            broker.wait()


if __name__ == "__main__":
    main()
