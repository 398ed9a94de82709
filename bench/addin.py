"""Add-in benchmark: frames stored per second, end to end, and publish-to-commit latency.

    python bench/addin.py [--users N] [--duration 2h] [--paced-rate 10000]
                          [--stores sqlite,postgresql] [--runs max,paced,speed]

For each store: a private mosquitto (queue/mosquitto.conf's load settings) on a free
loopback port; `billsim addin --store … --until-idle 10` subscribed first; then `billsim run
--speed max` of a generated scenario publishes every frame. The store's rows then say
how fast the add-in took them in: frames / (last received_at - first received_at), which
a QoS 1 consumer that acknowledges only after its commit cannot outrun. Then the same
paced by its output (`run --rate N/s`, --paced-rate) for the add-in's publish-to-commit
latency percentiles (its summary, from each frame's `sent`), with publish-to-receive (the
rows: received_at - sent) beside them; `speed` runs at the --speed that makes the same
rate on average, the virtual clock's bursts and lulls included.

Each line also gives the CPU each process spent a frame (the add-in, `billsim run` with its
start and the simulation, the broker) and the load average before and after the run: the
machine is shared, and wall-clock rates are only as good as the CPU left to the bench.

PostgreSQL: 127.0.0.1:5432 as user postgres (trust), a database of its own, dropped after.
Aims on a 2-core machine shared with the broker: >= 30,000 frames/s into SQLite,
>= 20,000 into PostgreSQL, p99 publish-to-commit < 100 ms at 10k frames/s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

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


def cpu_seconds(pid: int) -> float:
    """User and system CPU a running process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def waited(process: subprocess.Popen[bytes], timeout: float) -> tuple[int, float]:
    """Wait for a child: its exit code and the CPU seconds it used (user + system)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"{process.args!r} did not end in {timeout:g} s")
        time.sleep(0.05)


def percentile(ordered: Sequence[float], p: float) -> float:
    """The nearest-rank percentile, as the add-in's summary computes it."""
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


class Result(NamedTuple):
    stored: int
    rate: float  # frames/s the add-in took in (first to last received_at)
    latency: dict[str, float] | None  # publish-to-commit, ms (the add-in's summary)
    to_receive: dict[str, float] | None  # publish-to-receive, ms (the rows)
    addin_us: float  # CPU a frame
    publisher_us: float
    broker_us: float
    load: tuple[float, float]  # 1-minute load average before and after


def one_run(
    store: str, port: int, broker_pid: int, scenario: Path, pace: list[str], workdir: Path
) -> Result:
    """One run of the scenario through the broker into `store`, and what it measured."""
    load_before = os.getloadavg()[0]
    summary = workdir / f"addin-{uuid.uuid4().hex[:6]}.json"
    addin = subprocess.Popen(
        billsim(
            "addin", "--broker", f"mqtt://127.0.0.1:{port}", "--store", store,
            "--until-idle", "10", "--summary", str(summary), "--group", uuid.uuid4().hex[:8],
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(2.0)  # subscribed before the first frame
    broker_before = cpu_seconds(broker_pid)
    run = subprocess.Popen(
        billsim("run", str(scenario), "--broker", f"mqtt://127.0.0.1:{port}", *pace),
        stderr=subprocess.DEVNULL,
    )
    code, publisher_cpu = waited(run, 1800)
    if code != 0:
        raise SystemExit(f"billsim run failed ({code})")
    code, addin_cpu = waited(addin, 600)
    broker_cpu = cpu_seconds(broker_pid) - broker_before
    load_after = os.getloadavg()[0]
    if code != 0:
        raise SystemExit(f"billsim addin failed on {store}")
    result = json.loads(summary.read_text())
    rows = [row for rows in read_rows(store).values() for row in rows if "seq" in row]
    received = sorted(row["received_at"] for row in rows)
    span = (received[-1] - received[0]).total_seconds() if len(received) > 1 else 0.0
    to_receive = sorted(
        (row["received_at"] - row["sent"]).total_seconds() * 1000
        for row in rows
        if row["sent"] is not None
    )
    frames = max(len(rows), 1)
    return Result(
        int(result["stored"]),
        len(received) / span if span else 0.0,
        result.get("latency_ms"),
        {p: percentile(to_receive, n) for p, n in (("p50", 50), ("p99", 99))}
        if to_receive
        else None,
        addin_cpu * 1e6 / frames,
        publisher_cpu * 1e6 / frames,
        broker_cpu * 1e6 / frames,
        (load_before, load_after),
    )


def describe(kind: str, label: str, frames: int, got: Result) -> str:
    line = f"{kind:<10} {label:<6} stored {got.stored:,}/{frames:,}  {got.rate:,.0f} frames/s"
    if got.latency:
        lat = got.latency
        line += (
            f"\n    publish-to-commit p50 {lat['p50']:.1f} p90 {lat['p90']:.1f} "
            f"p99 {lat['p99']:.1f} max {lat['max']:.1f} ms"
        )
    if got.to_receive:
        line += (
            f"; of it publish-to-receive p50 {got.to_receive['p50']:.1f} "
            f"p99 {got.to_receive['p99']:.1f} ms"
        )
    return line + (
        f"\n    CPU a frame: add-in {got.addin_us:.1f} µs, billsim run {got.publisher_us:.1f} µs, "
        f"broker {got.broker_us:.1f} µs; load average {got.load[0]:.2f} -> {got.load[1]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10000, help="generated users")
    parser.add_argument("--duration", default="2h", help="virtual length of the run")
    parser.add_argument("--paced-rate", type=int, default=10000, help="records/s, paced")
    parser.add_argument("--stores", default="sqlite,postgresql", help="which stores")
    parser.add_argument("--runs", default="max,paced", help="which runs: max, paced, speed")
    args = parser.parse_args()
    print(machine_line("add-in"))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        scenario = workdir / "bench.yaml"
        scenario.write_text(SCENARIO.format(users=args.users, duration=args.duration))
        frames, span = records_and_span(scenario)
        speed = f"{args.paced_rate * span / frames:.6g}x"
        print(
            f"{frames:,} frames per run; paced: --rate {args.paced_rate}/s; "
            f"speed: --speed {speed} (the same rate on average, as the virtual clock has it)"
        )
        paces = {
            "max": ["--speed", "max"],
            "paced": ["--rate", f"{args.paced_rate}/s"],
            "speed": ["--speed", speed],
        }
        broker, port = start_broker(workdir)
        try:
            for kind in args.stores.split(","):
                for label in args.runs.split(","):
                    name = f"billsim_bench_{uuid.uuid4().hex[:8]}"
                    if kind == "sqlite":
                        store = f"sqlite:///{workdir / name}.db"
                    else:
                        psql(f"CREATE DATABASE {name}")
                        store = f"{POSTGRES}/{name}"
                    try:
                        got = one_run(store, port, broker.pid, scenario, paces[label], workdir)
                    finally:
                        if kind != "sqlite":
                            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                    print(describe(kind, label, frames, got), flush=True)
        finally:
            broker.terminate()
            broker.wait()


if __name__ == "__main__":
    main()
