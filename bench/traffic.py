"""Generated mail and web traffic benchmark: records/s to a null sink, beside sessions.

Three runs of the same shape, each at --speed max on one core: a session-only workload
(the engine's own case), then mail only and web only, every message and request a
record. Prints records/s for each, so the cost of a MAILREC or HTTPREQREC shows against
a session record on the same machine at the same moment. Run by hand:
`python bench/traffic.py [--users N] [--repeat N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import time

from simulator.adapters.sinks import NullSink
from simulator.commands.run import run_to_sink
from simulator.domino.simulation import RunOptions, Simulation
from simulator.scenario.loader import load_scenario_text

_SCENARIO = """
name: bench-traffic
start: "2026-11-23T00:00:00Z"
duration: {duration}
server: CN=Bench01/O=Acme
stamp_policy: activity
notes_ini: {{BillingClass: "{classes}", BillingSuppressTime: 1}}
databases:
  mail/shared.nsf: {{replica_id: "85258A3B:0052C1F0"}}
  apps/orders.nsf:
    replica_id: "85258A3B:0052C1F1"
    documents: {{0x2306: {{charge_read: 0.05, charge_write: 0.25}}}}
workload:
  users: {users}
  arrival: 1m
  think_time: {think}
  session_length: {length}
  mix: {{read: 6, write: 2, edit: 1, open: 1, transfer: 1}}
{extra}
"""
_MAIL = "  mail: {per_day: 29, recipients: {poisson: {mean: 2}}, size: notesbench, external: 0.1}"
_WEB = (
    "  http: {share: 0.5, visits_per_day: 4, per_visit: 12, anonymous: 0.3,"
    " status: {200: 0.95, 304: 0.03, 404: 0.02}}"
)
# (label, duration, BillingClass, think time, session length, workload keys)
_CASES = (
    ("sessions", "1h", "Session,Database,Document", "5m", "1h", ""),
    ("mail", "1d", "Mail", "20h", "30h", _MAIL),
    ("web", "1d", "HttpRequest", "20h", "30h", _WEB),
)


def throughput(users: int, case: tuple[str, ...]) -> tuple[int, float]:
    _, duration, classes, think, length, extra = case
    text = _SCENARIO.format(
        users=users, duration=duration, classes=classes, think=think, length=length, extra=extra
    )
    scenario = load_scenario_text(text, "<bench>")
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    sink = NullSink()
    started = time.perf_counter()
    asyncio.run(run_to_sink(sim, sink))
    return sink.frames, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=2000, help="users in each run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case; the best")
    args = parser.parse_args()
    print(f"billsim traffic benchmark: Python {platform.python_version()}")
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        for case in _CASES:
            gc.collect()
            frames, seconds = throughput(args.users, case)
            best[case[0]] = max(best.get(case[0], 0.0), frames / seconds)
            print(f"  {case[0]:<8} {frames:,} records in {seconds:.2f} s")
    for label, rate in best.items():
        print(f"{label:<8} (best of {args.repeat}): {rate:,.0f} records/s")


if __name__ == "__main__":
    main()
