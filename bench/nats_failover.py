"""A NATS cluster failing over under a billing run (docs/brokers.md, "A NATS cluster").

    python bench/nats_failover.py [--users 300] [--kill-after 2] [--down-for 15]
                                  [--signal KILL|TERM] [--drain-timeout 30]

Three nats-servers as the tests start them (tests/broker_processes.py: JetStream, the MQTT
listener, MQTT streams replicated three times, free loopback ports, a config and store of
their own, stopped by PID). Node 2 is made the leader of `$MQTT_msgs`, the stream NATS
keeps QoS 1 messages in, so that stopping it forces an election. `billsim addin` (SQLite)
subscribes on node 3; `billsim run --topic-meta --qos 1 --speed max` publishes the
generated load (typical-mail, `--users` users, one day) on node 1; `--kill-after` seconds
into the run node 2 gets SIGKILL (or SIGTERM) and is started again `--down-for` seconds
later. Then the add-in is stopped once it has stored every frame (or has been idle for
`--idle` seconds), and `billsim verify` compares its store with the run's summary.

It prints what docs/brokers.md quotes: billsim's connection lines (disconnected, stalled,
resumed, drain timed out, closed), the run's exit code, delivered / resent / undelivered,
the add-in's stored and duplicates, and verify's verdict. The run's stderr and the
add-in's are kept in the printed work directory with `--keep`.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from broker_processes import NatsCluster  # noqa: E402
from brokers import SCENARIO, billsim, frames_of  # noqa: E402
from e2e import machine_line  # noqa: E402

MQTT_STREAM = "$MQTT_msgs"
SHOWN = ("mqtt.disconnected", "mqtt.delivery_", "mqtt.connected", "mqtt.drain_timed_out")


def stored_frames(db: Path) -> int:
    """Frames the add-in has committed to its SQLite store (every table's rows)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as connection:
            tables = [
                name
                for (name,) in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'"
                )
                if name != "rejects"
            ]
            return sum(
                connection.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]
                for name in tables
            )
    except sqlite3.Error:
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=300, help="generated users")
    parser.add_argument("--kill-after", type=float, default=2.0, help="seconds into the run")
    parser.add_argument("--down-for", type=float, default=15.0, help="seconds node 2 is down")
    parser.add_argument("--signal", choices=("KILL", "TERM"), default="KILL")
    parser.add_argument("--drain-timeout", type=float, default=30.0, help="run's --drain-timeout")
    parser.add_argument("--idle", type=float, default=30.0, help="the add-in's end when idle")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    print(machine_line("nats failover"))
    workdir = Path(tempfile.mkdtemp(prefix="billsim-failover-"))
    cluster = NatsCluster(workdir / "cluster")
    try:
        scenario = workdir / "scenario.yaml"
        scenario.write_text(SCENARIO.format(users=args.users))
        out = workdir / "reference.nbf"
        subprocess.run(
            billsim("run", str(scenario), "--out", str(out)), check=True, capture_output=True
        )
        frames = len(frames_of(out.read_bytes()))
        print(
            f"{frames:,} frames a run; node 2 gets SIG{args.signal} {args.kill_after:g} s into "
            f"the run, back {args.down_for:g} s later; --drain-timeout {args.drain_timeout:g}"
        )
        cluster.start()
        first, second, third = cluster.nodes
        cluster.make_leader(MQTT_STREAM, second)

        db = workdir / "billing.db"
        addin_log, run_log = workdir / "addin.log", workdir / "run.log"
        summary, addin_summary = workdir / "run.json", workdir / "addin.json"
        with addin_log.open("wb") as err:
            addin = subprocess.Popen(
                billsim("addin", "--broker", third.url, "--store", f"sqlite:///{db}",
                        "--until-idle", f"{args.idle:g}", "--summary", str(addin_summary)),
                stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        while "subscribed to" not in addin_log.read_text(errors="replace"):
            if addin.poll() is not None:
                raise SystemExit(f"the add-in ended:\n{addin_log.read_text()}")
            time.sleep(0.1)
        with run_log.open("wb") as err:
            began = time.monotonic()
            run = subprocess.Popen(
                billsim("run", str(scenario), "--broker", first.url, "--topic-meta", "--qos", "1",
                        "--speed", "max", "--drain-timeout", f"{args.drain_timeout:g}",
                        "--summary", str(summary)),
                stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        time.sleep(args.kill_after)
        assert second.process is not None
        second.process.send_signal(getattr(signal, f"SIG{args.signal}"))
        second.process.wait(30)
        second.process = None
        print(
            f"  node 2 stopped at {time.monotonic() - began:.1f} s (run still going: "
            f"{run.poll() is None})"
        )
        time.sleep(args.down_for)
        second.start()
        print(f"  node 2 serving again at {time.monotonic() - began:.1f} s")
        code = run.wait()
        print(f"  run ended at {time.monotonic() - began:.1f} s, exit {code}")
        deadline = time.monotonic() + 600
        while stored_frames(db) < frames and addin.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        if addin.poll() is None:
            addin.send_signal(signal.SIGTERM)
        addin.wait(120)

        print("\nbillsim run's connection lines:")
        for line in run_log.read_text(errors="replace").splitlines():
            if any(name in line for name in SHOWN) or "mqtt.closed" in line:
                print("  " + re.sub(r"\s+", " ", line)[:400])
        run_summary = json.loads(summary.read_text()) if summary.exists() else {}
        stored = json.loads(addin_summary.read_text()) if addin_summary.exists() else {}
        print(
            f"\nrun: exit {code}, delivered {run_summary.get('delivered')}, undelivered "
            f"{run_summary.get('undelivered')}"
        )
        print(
            f"add-in: stored {stored.get('stored')}, duplicates {stored.get('duplicates')}, "
            f"rejects {stored.get('rejects')} (exit {addin.returncode})"
        )
        if summary.exists():
            verdict = subprocess.run(
                billsim("verify", "--expected", str(summary), "--actual", f"sqlite:///{db}"),
                check=False, capture_output=True, text=True,
            )  # fmt: skip
            lines = verdict.stdout.strip().splitlines()
            print(f"verify: exit {verdict.returncode}: {lines[-1] if lines else verdict.stderr}")
    finally:
        cluster.stop()
        if args.keep:
            print(f"(kept {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
