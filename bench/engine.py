"""Engine benchmark: a generated population run at --speed max to a null sink.

Prints records/s on one core for a record-heavy workload of the first version's flat keys
and for a day of the typical-mail preset, then the peak RSS with 100k and 1M sessions
open at once, each in a shared database and each in a mail file of its own. Run by hand:
`python bench/engine.py`.
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
from simulator.commands.garbage import collect_garbage_seldom
from simulator.commands.run import run_to_sink
from simulator.domino.simulation import RunOptions, Simulation
from simulator.scenario.loader import load_scenario_text
from simulator.scenario.models import Scenario

THROUGHPUT_SCENARIO = """
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

# A working day (Monday, UTC) of the typical-mail preset, every class on: what each of
# its generators makes of it.
_TYPICAL_MAIL = """
name: bench-typical-mail
start: "2026-11-23T07:00:00Z"
duration: {duration}
server: CN=Bench01/O=Acme
notes_ini: {{BillingClass: "Session,Database,Document,Mail,Replication,Agent,HttpRequest"}}
workload: {{preset: typical-mail, users: {users}}}
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
  databases: {databases}
"""
_CONCURRENT_DATABASES = {
    "shared": "[mail/shared.nsf]",
    "mail-file": '{mail_file: "mail/{user}.nsf", mail_share: 1}',
}


def _scenario(text: str) -> Scenario:
    return load_scenario_text(text, "<bench>")


def throughput(text: str, users: int, duration: str) -> tuple[int, float, float, int]:
    """Records, wall seconds, CPU seconds (this process's: on a shared machine the fairer
    figure) and events of one run."""
    scenario = _scenario(text.format(users=users, duration=duration))
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    sink = NullSink()
    started, cpu_started = time.perf_counter(), time.process_time()
    asyncio.run(run_to_sink(sim, sink))
    cpu = time.process_time() - cpu_started
    return sink.frames, time.perf_counter() - started, cpu, sim.events


def concurrent_rss(users: int, databases: str) -> None:
    """Runs in a child process so each figure is that run's own peak."""
    text = _CONCURRENT.format(users=users, databases=_CONCURRENT_DATABASES[databases])
    scenario = _scenario(text)
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    sink = NullSink()
    started = time.perf_counter()
    asyncio.run(run_to_sink(sim, sink))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"{users:>9,} sessions ({databases}): peak open {sim.server.peak_sessions:,}, peak RSS "
        f"{peak_kib / 1024:,.0f} MiB, {sink.frames:,} records "
        f"in {time.perf_counter() - started:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=5000, help="users in the throughput run")
    parser.add_argument("--duration", default="3h", help="virtual length of the throughput run")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs; the best is shown")
    parser.add_argument(
        "--mail-users", type=int, default=4000, help="users in the typical-mail run (0: none)"
    )
    parser.add_argument(
        "--mail-duration", default="1d", help="virtual length of the typical-mail run"
    )
    parser.add_argument("--sessions", default="100000,1000000", help="concurrent-session runs")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-databases", default="shared", help=argparse.SUPPRESS)
    args = parser.parse_args()
    collect_garbage_seldom()  # as `billsim run` does before it runs
    if args.child:
        concurrent_rss(args.child, args.child_databases)
        return
    with open("/proc/cpuinfo") as cpuinfo:
        models = [
            line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
        ]
    cpu = models[0] if models else platform.processor()
    print(f"billsim engine benchmark: Python {platform.python_version()}, {cpu}, ", end="")
    print(f"{os.cpu_count()} cores")
    runs = [("flat keys", THROUGHPUT_SCENARIO, args.users, args.duration, "300,000")]
    if args.mail_users:
        runs.append(("typical-mail", _TYPICAL_MAIL, args.mail_users, args.mail_duration, "250,000"))
    for label, text, users, duration, aim in runs:
        best = best_cpu = 0.0
        for _ in range(args.repeat):
            gc.collect()
            frames, seconds, cpu_seconds, events = throughput(text, users, duration)
            rate, cpu_rate = frames / seconds, frames / cpu_seconds
            print(
                f"  {label}: {frames:,} records ({events:,} events) in {seconds:.2f} s "
                f"(CPU {cpu_seconds:.2f} s): {rate:,.0f} records/s, {cpu_rate:,.0f} a CPU second"
            )
            best, best_cpu = max(best, rate), max(best_cpu, cpu_rate)
        if args.repeat:
            print(
                f"{label} (best of {args.repeat}): {best:,.0f} records/s, "
                f"{best_cpu:,.0f} a CPU second (aim ≥ {aim})"
            )
    for users in (int(n) for n in args.sessions.split(",") if n):
        for databases in _CONCURRENT_DATABASES:
            command = [sys.executable, __file__, "--child", str(users)]
            subprocess.run([*command, "--child-databases", databases], check=True)
    print("aim: 1M concurrent sessions under 1 GiB")


if __name__ == "__main__":
    main()
