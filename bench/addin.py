"""Add-in benchmark: frames stored per second, end to end, and publish-to-commit latency.

    python bench/addin.py [--users N] [--duration 2h] [--paced-rate 10000]
                          [--stores sqlite,postgresql]

For each store: a private mosquitto (queue/mosquitto.conf's load settings) on a free
loopback port; `billsim addin --store … --until-idle 3` subscribed first; then `billsim run
--speed max` of a generated scenario publishes every frame. The store's rows then say
how fast the add-in took them in: frames / (last received_at - first received_at), which
a QoS 1 consumer that acknowledges only after its commit cannot outrun. Then the same at
a paced rate (`--speed` chosen so the run writes about --paced-rate records a second) for
the add-in's own publish-to-commit latency percentiles (from each frame's `sent`).

PostgreSQL: 127.0.0.1:5432 as user postgres (trust), a database of its own, dropped after.
Aims on a 2-core machine shared with the broker: >= 30,000 frames/s into SQLite,
>= 20,000 into PostgreSQL, p99 publish-to-commit < 100 ms at 10k frames/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e import machine_line, start_broker

from simulator.adapters.stores import read_rows

SCENARIO = """
name: bench-addin
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
POSTGRES = "postgresql://postgres@127.0.0.1:5432"


def billsim(*args: str) -> list[str]:
    return [sys.executable, "-m", "simulator", *args]


def records_and_span(scenario: Path) -> tuple[int, float]:
    """The frames the scenario writes and its virtual length in seconds."""
    with tempfile.NamedTemporaryFile(suffix=".json") as summary:
        subprocess.run(
            billsim("run", str(scenario), "--out", os.devnull, "--summary", summary.name),
            check=True,
            stderr=subprocess.DEVNULL,
        )
        data = json.loads(Path(summary.name).read_text())
    return int(data["records"]), float(data["virtual_span_s"])


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", sql],
        check=True,
        capture_output=True,
    )


def one_run(
    store: str, port: int, scenario: Path, speed: str, workdir: Path
) -> tuple[int, float, dict[str, float] | None]:
    """Stored frames, frames/s taken in, and the add-in's latency percentiles (ms)."""
    summary = workdir / f"addin-{uuid.uuid4().hex[:6]}.json"
    addin = subprocess.Popen(
        billsim(
            "addin", "--broker", f"mqtt://127.0.0.1:{port}", "--store", store,
            "--until-idle", "3", "--summary", str(summary), "--group", uuid.uuid4().hex[:8],
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(2.0)  # subscribed before the first frame
    subprocess.run(
        billsim("run", str(scenario), "--broker", f"mqtt://127.0.0.1:{port}", "--speed", speed),
        check=True,
        stderr=subprocess.DEVNULL,
    )
    if addin.wait(timeout=600) != 0:
        raise SystemExit(f"billsim addin failed on {store}")
    result = json.loads(summary.read_text())
    tables = read_rows(store)
    received = [row["received_at"] for rows in tables.values() for row in rows if "seq" in row]
    span = (max(received) - min(received)).total_seconds() if len(received) > 1 else 0.0
    rate = len(received) / span if span else 0.0
    return int(result["stored"]), rate, result.get("latency_ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10000, help="generated users")
    parser.add_argument("--duration", default="2h", help="virtual length of the run")
    parser.add_argument("--paced-rate", type=float, default=10000.0, help="records/s, paced")
    parser.add_argument("--stores", default="sqlite,postgresql", help="which stores")
    args = parser.parse_args()
    print(machine_line("add-in"))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        scenario = workdir / "bench.yaml"
        scenario.write_text(SCENARIO.format(users=args.users, duration=args.duration))
        frames, span = records_and_span(scenario)
        paced = f"{args.paced_rate * span / frames:.6g}x"
        print(f"{frames:,} frames per run; paced at {paced} (about {args.paced_rate:,.0f}/s)")
        broker, port = start_broker(workdir)
        try:
            for kind in args.stores.split(","):
                for label, speed in (("max", "max"), ("paced", paced)):
                    name = f"billsim_bench_{uuid.uuid4().hex[:8]}"
                    if kind == "sqlite":
                        store = f"sqlite:///{workdir / name}.db"
                    else:
                        psql(f"CREATE DATABASE {name}")
                        store = f"{POSTGRES}/{name}"
                    try:
                        stored, rate, latency = one_run(store, port, scenario, speed, workdir)
                    finally:
                        if kind != "sqlite":
                            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                    line = (
                        f"{kind:<10} {label:<6} stored {stored:,}/{frames:,}  {rate:,.0f} frames/s"
                    )
                    if latency:
                        line += (
                            f"  latency p50 {latency['p50']:.1f} p90 {latency['p90']:.1f} "
                            f"p99 {latency['p99']:.1f} max {latency['max']:.1f} ms"
                        )
                    print(line, flush=True)
        finally:
            broker.terminate()
            broker.wait()


if __name__ == "__main__":
    main()
