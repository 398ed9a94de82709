"""Soak benchmark: does a run without end keep its memory flat?

Runs `billsim run SCENARIO --duration forever --speed max --out /dev/null` (or to
`--broker URL`) on a generated workload for `--minutes`, samples the child's RSS every
`--every` seconds, then stops it with SIGTERM (a normal shutdown: END records and the
summary) and prints the samples and the growth over the second half of the run (the
first fills the ledger and the sessions of the population). Run by hand:
`python bench/forever.py --users 100000 --minutes 30`.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_SCENARIO = """
name: bench-forever
start: "2026-11-21T09:00:00Z"
duration: forever
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
  arrival: 10m
  think_time: 5m
  session_length: 1h
  mix: {{read: 6, write: 2, edit: 1, open: 1, transfer: 1, close: 1}}
"""
# --preset: every record class, days after days of a preset's calendar (docs/workload.md).
_PRESET_SCENARIO = """
name: bench-forever-{preset}
start: "2026-11-23T00:00:00Z"
duration: forever
server: CN=Bench01/O=Acme
notes_ini: {{BillingClass: "Session,Database,Document,Mail,Replication,Agent,HttpRequest"}}
workload:
  preset: {preset}
  users: {users}
"""


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000, help="generated users")
    parser.add_argument("--minutes", type=float, default=3.0, help="how long to run")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--rate", help="pace by records instead of --speed max (e.g. 50000/s)")
    parser.add_argument("--broker", help="deliver to this broker instead of --out /dev/null")
    parser.add_argument(
        "--preset",
        choices=("typical-mail", "app-server", "web"),
        help="a preset's day of every record class instead of flat sessions",
    )
    args = parser.parse_args()
    pace = ["--rate", args.rate] if args.rate else ["--speed", "max"]
    output = ["--broker", args.broker] if args.broker else ["--out", os.devnull]
    print(
        f"billsim forever soak: Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"{args.users:,} users{', preset ' + args.preset if args.preset else ''}, "
        f"{args.minutes:g} min, {' '.join(pace + output)}"
    )
    with tempfile.TemporaryDirectory() as directory:
        scenario = Path(directory) / "forever.yaml"
        text = (
            _PRESET_SCENARIO.format(preset=args.preset, users=args.users)
            if args.preset
            else _SCENARIO.format(users=args.users)
        )
        scenario.write_text(text)
        summary = Path(directory) / "summary.json"
        command = [sys.executable, "-m", "simulator", "run", str(scenario), *pace]
        command += [*output, "--summary", str(summary)]
        child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        started = time.monotonic()
        samples: list[tuple[float, float]] = []
        try:
            while (elapsed := time.monotonic() - started) < args.minutes * 60:
                if child.poll() is not None:
                    raise SystemExit(f"billsim exited early:\n{child.communicate()[1]}")
                samples.append((elapsed, rss_mib(child.pid)))
                print(f"  {elapsed:7.1f} s  RSS {samples[-1][1]:8.1f} MiB", flush=True)
                time.sleep(args.every)
            child.send_signal(signal.SIGTERM)
            _, err = child.communicate(timeout=300)
        finally:
            child.kill()
        # The shutdown line and the summary's first two (log lines of a run on MQTT aside).
        ours = [line for line in err.splitlines() if line.startswith(("billsim:", "bench-"))]
        print("\n".join(ours[:3]))
    second_half = samples[len(samples) // 2 :]
    if len(second_half) >= 2:
        (t0, first), (t1, last) = second_half[0], second_half[-1]
        slope = (last - first) / ((t1 - t0) / 60)
        print(
            f"second half ({t0:.0f} s to {t1:.0f} s): RSS {first:.1f} → {last:.1f} MiB "
            f"({slope:+.2f} MiB/min), peak {max(rss for _, rss in samples):.1f} MiB"
        )


if __name__ == "__main__":
    main()
