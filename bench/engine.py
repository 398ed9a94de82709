"""Engine benchmark: a generated population run at --speed max to a null sink.

Prints records/s for a record-heavy workload on one core, then the peak RSS with
100k and 1M sessions open at once. Run by hand: `python bench/engine.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import resource
import subprocess
import sys
import time

from simulator.adapters.sinks import NullSink
from simulator.commands.run import run_to_sink
from simulator.domino.simulation import RunOptions, Simulation
from simulator.scenario.loader import load_scenario_text
from simulator.scenario.models import Scenario

_THROUGHPUT = """
name: bench-throughput
start: "2026-11-21T09:00:00Z"
duration: {duration}
server: CN=Bench01/O=Acme
stamp_policy: activity
notes_ini: {{BillingClass: "Session,Database,Document", BillingSuppressTime: 1}}
databases:
  mail/shared.nsf: {{replica_id: "85258A3B:0052C1F0"}}
  apps/orders.nsf:
    replica_id: "85258A3B:0052C1F1"
    documents: {{0x2306: {{charge_read: 0.05, charge_write: 0.25}}, 0x2307: {{charge_read: 0.01}}}}
workload:
  users: {users}
  arrival: 1m
  think_time: 5m
  session_length: 1h
  mix: {{read: 6, write: 2, edit: 1, open: 1, transfer: 1}}
"""

_CONCURRENT = """
name: bench-concurrent
start: "2026-11-21T09:00:00Z"
duration: 2m
server: CN=Bench01/O=Acme
notes_ini: {{BillingClass: "Session,Database"}}
databases:
  mail/shared.nsf: {{replica_id: "85258A3B:0052C1F0"}}
workload:
  users: {users}
  arrival: 1m
  think_time: 1h
  session_length: 10h
  mix: {{transfer: 1}}
"""


def _scenario(text: str) -> Scenario:
    return load_scenario_text(text, "<bench>")


def throughput(users: int, duration: str) -> tuple[int, float, int]:
    scenario = _scenario(_THROUGHPUT.format(users=users, duration=duration))
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    sink = NullSink()
    started = time.perf_counter()
    asyncio.run(run_to_sink(sim, sink))
    return sink.frames, time.perf_counter() - started, sim.events


def concurrent_rss(users: int) -> None:
    """Runs in a child process so each figure is that run's own peak."""
    scenario = _scenario(_CONCURRENT.format(users=users))
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    sink = NullSink()
    started = time.perf_counter()
    asyncio.run(run_to_sink(sim, sink))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"{users:>9,} sessions: peak open {sim.server.peak_sessions:,}, peak RSS "
        f"{peak_kib / 1024:,.0f} MiB, {sink.frames:,} records "
        f"in {time.perf_counter() - started:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=5000, help="users in the throughput run")
    parser.add_argument("--duration", default="3h", help="virtual length of the throughput run")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs; the best is shown")
    parser.add_argument("--sessions", default="100000,1000000", help="concurrent-session runs")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        concurrent_rss(args.child)
        return
    with open("/proc/cpuinfo") as cpuinfo:
        models = [
            line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
        ]
    cpu = models[0] if models else platform.processor()
    print(f"billsim engine benchmark: Python {platform.python_version()}, {cpu}, ", end="")
    print(f"{os.cpu_count()} cores")
    best = None
    for _ in range(args.repeat):
        gc.collect()
        frames, seconds, events = throughput(args.users, args.duration)
        rate = frames / seconds
        print(f"  {frames:,} records ({events:,} events) in {seconds:.2f} s: {rate:,.0f} records/s")
        best = rate if best is None else max(best, rate)
    if best is not None:
        print(f"throughput (best of {args.repeat}): {best:,.0f} records/s (aim ≥ 300,000)")
    for users in (int(n) for n in args.sessions.split(",") if n):
        subprocess.run([sys.executable, __file__, "--child", str(users)], check=True)
    print("aim: 1M concurrent sessions under 1 GiB")


if __name__ == "__main__":
    main()
