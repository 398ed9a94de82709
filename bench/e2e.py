"""End-to-end MQTT benchmark: billsim against mosquitto_pub, same broker, same frame count.

For QoS 1 and QoS 0: a mosquitto_sub counts N messages while (a) `billsim run --speed max`
drains a generated scenario of 616-byte SESSIONREC frames (compact framing) to the
broker, and (b) `mosquitto_pub -l` publishes N lines of 615 bytes + newline. The rate is
N over the time from the first to the last message the subscriber saw (`-F %U`), so
neither side's start-up is counted. Run by hand: `python bench/e2e.py [--users N]
[--duration 2h]` (the two set N).
Starts its own mosquitto (queue/mosquitto.conf's load settings) on a free loopback port.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = """
name: bench-e2e
start: "2026-11-21T09:00:00Z"
duration: {duration}
server: CN=Bench01/O=Acme
stamp_policy: activity
notes_ini: {{BillingClass: "Session", BillingSuppressTime: 1}}
workload:
  users: {users}
  arrival: 1m
  think_time: 10m
  session_length: 12h
  mix: {{transfer: 1}}
"""
PAYLOAD_BYTES = 616  # a compact SESSIONREC frame


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"mosquitto did not listen on 127.0.0.1:{port}")


def start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    tuned = [
        line
        for line in (ROOT / "queue" / "mosquitto.conf").read_text().splitlines()
        if not line.strip().startswith(("listener", "log_dest", "persistence_location"))
    ]
    conf = workdir / "mosquitto.conf"
    # The subscriber must keep every message for the count to be fair: no queue limit.
    tuned = [line for line in tuned if not line.startswith("max_queued_messages")]
    conf.write_text("\n".join([f"listener {port} 127.0.0.1", *tuned, "max_queued_messages 0", ""]))
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    wait_listening(port)
    return broker, port


def subscriber(port: int, topic: str, count: int, qos: int) -> subprocess.Popen[str]:
    sub = subprocess.Popen(
        [
            "mosquitto_sub",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-t",
            topic,
            "-q",
            str(qos),
            "-C",
            str(count),
            "-F",
            "%U",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)  # subscribed before anything is published
    return sub


def window(sub: subprocess.Popen[str], timeout: float) -> tuple[int, float]:
    """Messages the subscriber saw and the seconds from its first to its last.

    At QoS 0 a message may be lost, and then -C N never completes: wait a while, then
    count what arrived.
    """
    try:
        out, _ = sub.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        sub.kill()
        out, _ = sub.communicate()
    stamps = [float(line) for line in out.split()]
    return len(stamps), (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0


def count_frames(scenario: Path) -> int:
    with tempfile.NamedTemporaryFile(suffix=".json") as summary:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "simulator",
                "run",
                str(scenario),
                "--out",
                os.devnull,
                "--frame",
                "compact",
                "--summary",
                summary.name,
            ],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        return int(json.loads(Path(summary.name).read_text())["records"])


def run_billsim(port: int, scenario: Path, frames: int, qos: int) -> tuple[int, float]:
    sub = subscriber(port, "domino/billing/Bench01/session", frames, qos)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator",
            "run",
            str(scenario),
            "--broker",
            f"mqtt://127.0.0.1:{port}",
            "--speed",
            "max",
            "--qos",
            str(qos),
            "--frame",
            "compact",
            "--log-json",
        ],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    return window(sub, timeout=60)


def run_mosquitto_pub(port: int, lines: Path, frames: int, qos: int) -> tuple[int, float]:
    sub = subscriber(port, "bench/pub", frames, qos)
    with lines.open("rb") as stdin:
        subprocess.run(
            [
                "mosquitto_pub",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-t",
                "bench/pub",
                "-q",
                str(qos),
                "-l",
            ],
            stdin=stdin,
            check=True,
        )
    return window(sub, timeout=60)


def machine_line(bench: str) -> str:
    """What a benchmark ran on, its first line: Python, CPU model, cores."""
    with open("/proc/cpuinfo") as cpuinfo:
        models = [
            line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
        ]
    return (
        f"billsim {bench} benchmark: Python {platform.python_version()}, "
        f"{models[0] if models else '?'}, {os.cpu_count()} cores"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10000, help="generated users")
    parser.add_argument("--duration", default="2h", help="virtual length (with --users, sets N)")
    args = parser.parse_args()
    print(machine_line("e2e"))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        scenario = workdir / "bench-e2e.yaml"
        scenario.write_text(SCENARIO.format(users=args.users, duration=args.duration))
        frames = count_frames(scenario)
        lines = workdir / "lines.txt"
        line = b"x" * (PAYLOAD_BYTES - 1) + b"\n"
        lines.write_bytes(line * frames)
        broker, port = start_broker(workdir)
        try:
            print(f"{frames:,} frames of {PAYLOAD_BYTES} bytes per run, broker 127.0.0.1:{port}")
            for qos in (1, 0):
                got_b, span_b = run_billsim(port, scenario, frames, qos)
                got_p, span_p = run_mosquitto_pub(port, lines, frames, qos)
                rate_b = got_b / span_b if span_b else 0.0
                rate_p = got_p / span_p if span_p else 0.0
                aim = 1.3 if qos == 1 else 0.9
                print(
                    f"QoS {qos}: billsim {rate_b:,.0f}/s ({got_b:,} frames), mosquitto_pub "
                    f"{rate_p:,.0f}/s ({got_p:,}), ratio {rate_b / rate_p:.2f} (aim ≥ {aim})"
                )
        finally:
            broker.terminate()
            broker.wait(timeout=10)


if __name__ == "__main__":
    main()
