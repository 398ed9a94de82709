"""End-to-end MQTT benchmark: billsim against the C limit, same broker, same frame count.

    python bench/e2e.py [--users N] [--duration 2h] [--rounds 3] [--qos 1,0]

For QoS 1 and QoS 0, four publishers each send N messages of 616 bytes to a mosquitto
this bench starts (queue/mosquitto.conf's load settings) on a free loopback port:

- **C**: bench/c_publisher.c, a publisher on libmosquitto that does nothing but publish
  (MQTT 5, TCP_NODELAY, up to 1000 messages in flight). The bench builds it with gcc when
  libmosquitto's headers are there (Debian, Ubuntu: `apt-get install libmosquitto-dev`;
  Fedora: `dnf install mosquitto-devel`; macOS: `brew install mosquitto`), else skips it.
- **mosquitto_pub** `-l`, reading N lines of 615 bytes and a newline.
- **billsim** `run --speed max --frame compact`: a generated scenario of N SESSIONREC
  frames of 616 bytes (the N all four send; `--users` and `--duration` set it).
- **billsim replay** `--speed max` of those N frames, recorded by `run --out` before the
  rounds: billsim's publish path without the simulation (its aims are the run's).

A `mosquitto_sub` subscribed at the same QoS writes each message's receive time (`-F
%U`) to a file. A run's rate is its steady state: the messages between the 5th and the
95th percentile of arrival over the time between them, so neither start-up (billsim's
scenario load, a connect) nor the tail counts. Each publisher's CPU (user + system,
from /proc, sampled every 5 ms and interpolated, exact at its exit) from the first
message the subscriber saw to the last (or to the publisher's exit, if that came first:
at QoS 0 the broker may still be delivering) gives its CPU seconds per 10,000 messages,
start-up excluded. Best of `--rounds` (the publishers take
turns); the ratios are billsim's rate over C's and over mosquitto_pub's (aims: QoS 0 ≥
0.95 times C, QoS 1 ≥ 0.98 times C). On a machine busy with other work the rates vary a lot:
print the load average with them, and compare the CPU figures first.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

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
    return record_frames(scenario, Path(os.devnull))


def record_frames(scenario: Path, out: Path) -> int:
    """The scenario's frames into `out` (what `billsim replay` sends); how many."""
    with tempfile.NamedTemporaryFile(suffix=".json") as summary:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "simulator",
                "run",
                str(scenario),
                "--out",
                str(out),
                "--frame",
                "compact",
                "--summary",
                summary.name,
            ],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        return int(json.loads(Path(summary.name).read_text())["records"])


STEADY = (0.05, 0.95)  # the arrivals a rate is measured between (fractions of N)
CPU_SAMPLE_S = 0.005
TICKS = os.sysconf("SC_CLK_TCK")
C_SOURCE = Path(__file__).resolve().parent / "c_publisher.c"
C_INSTALL_HINT = (
    "the C publisher needs gcc and libmosquitto's headers: apt-get install libmosquitto-dev "
    "(Debian, Ubuntu), dnf install mosquitto-devel (Fedora), brew install mosquitto (macOS)"
)


class CpuSampler:
    """A process's CPU seconds (user + system, all threads) against the wall clock: read
    from /proc/PID/stat every few milliseconds while it runs, and exactly at its exit."""

    def __init__(self, pid: int) -> None:
        self.samples: list[tuple[float, float]] = []
        self._path = f"/proc/{pid}/stat"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _read(self) -> float | None:
        try:
            with open(self._path) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime

    def _run(self) -> None:
        while not self._stop.wait(CPU_SAMPLE_S):
            cpu = self._read()
            if cpu is None:
                return
            self.samples.append((time.time(), cpu))

    def exited(self, when: float, cpu: float) -> None:
        """The process ended at ``when`` having used ``cpu`` seconds (its rusage)."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.samples = [sample for sample in self.samples if sample[0] < when]
        self.samples.append((when, cpu))

    def stop(self) -> None:
        """Stop sampling a process that goes on (the broker) or ended unwaited for."""
        self._stop.set()
        self._thread.join(timeout=5)
        cpu = self._read()
        if cpu is not None:
            self.samples.append((time.time(), cpu))

    @property
    def ended(self) -> float:
        return self.samples[-1][0]

    def at(self, when: float) -> float:
        """CPU seconds used by the wall-clock time ``when`` (interpolated)."""
        samples = self.samples
        if when <= samples[0][0]:
            return samples[0][1]
        for (t0, c0), (t1, c1) in itertools.pairwise(samples):
            if t0 <= when <= t1:
                return c0 + (c1 - c0) * (when - t0) / (t1 - t0) if t1 > t0 else c1
        return samples[-1][1]


class Result(NamedTuple):
    received: int
    rate: float  # messages per second at the subscriber, steady state
    cpu_per_10k: float  # the publisher's CPU seconds per 10,000 messages, same span
    broker_per_10k: float  # the broker's, same span
    subscriber_per_10k: float  # mosquitto_sub's, same span


def file_subscriber(
    port: int, topic: str, count: int, qos: int, out: Path
) -> subprocess.Popen[bytes]:
    """mosquitto_sub writing each message's receive time to ``out``, subscribed on return."""
    with out.open("wb") as stream:
        sub = subprocess.Popen(
            [
                "mosquitto_sub",
                *("-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos)),
                *("-C", str(count), "-F", "%U"),
            ],
            stdout=stream,
        )
    time.sleep(0.5)  # subscribed before anything is published
    return sub


def measure(
    port: int,
    topic: str,
    count: int,
    qos: int,
    command: list[str],
    stdin: Path | None,
    tmp: Path,
    broker_pid: int,
) -> Result:
    """Run a publisher of ``count`` messages to ``topic`` and measure it at a subscriber."""
    times = tmp / "receive-times.txt"
    sub = file_subscriber(port, topic, count, qos, times)
    broker = CpuSampler(broker_pid)
    subscriber_cpu = CpuSampler(sub.pid)
    with stdin.open("rb") if stdin else open(os.devnull, "rb") as feed:
        publisher = subprocess.Popen(command, stdin=feed, stderr=subprocess.DEVNULL)
        sampler = CpuSampler(publisher.pid)
        _pid, status, usage = os.wait4(publisher.pid, 0)
        sampler.exited(time.time(), usage.ru_utime + usage.ru_stime)
        publisher.returncode = os.waitstatus_to_exitcode(status)
    if publisher.returncode:
        raise SystemExit(f"{command[0]} failed (exit {publisher.returncode})")
    try:
        sub.wait(timeout=30)
    except subprocess.TimeoutExpired:  # QoS 0 may lose a message: count what arrived
        sub.terminate()
        sub.wait()
    broker.stop()
    subscriber_cpu.stop()
    stamps = sorted(float(line) for line in times.read_text().split())
    if len(stamps) < 20:
        return Result(len(stamps), 0.0, 0.0, 0.0, 0.0)
    first, last = (int(len(stamps) * share) for share in STEADY)
    span = stamps[last] - stamps[first]
    # The publisher's CPU from the first frame the subscriber saw to the last, or to its
    # exit if that came first (at QoS 0 the broker may still be delivering).
    cpu = sampler.at(min(stamps[-1], sampler.ended)) - sampler.at(stamps[0])
    rate = (last - first) / span if span else 0.0
    # The broker and the subscriber over the whole delivery, first frame to last.
    broker_cpu = broker.at(stamps[-1]) - broker.at(stamps[0])
    subscriber = subscriber_cpu.at(stamps[-1]) - subscriber_cpu.at(stamps[0])
    per_10k = 10_000 / len(stamps)
    return Result(len(stamps), rate, cpu * per_10k, broker_cpu * per_10k, subscriber * per_10k)


def build_c_publisher(tmp: Path) -> Path | None:
    """bench/c_publisher.c built with gcc and libmosquitto; None (and why) if it cannot be."""
    binary = tmp / "c_publisher"
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        print(f"no C publisher: {C_INSTALL_HINT}")
        return None
    built = subprocess.run(
        [gcc, "-O2", "-o", str(binary), str(C_SOURCE), "-lmosquitto"],
        check=False,
        capture_output=True,
        text=True,
    )
    if built.returncode:
        print(f"no C publisher ({built.stderr.strip().splitlines()[0]}): {C_INSTALL_HINT}")
        return None
    return binary


def publishers(
    port: int,
    scenario: Path,
    frames: int,
    qos: int,
    lines: Path,
    c_publisher: Path | None,
    recorded: Path,
) -> dict[str, tuple[str, list[str], Path | None]]:
    """name -> (topic, command, stdin) of each publisher of a round."""
    out: dict[str, tuple[str, list[str], Path | None]] = {}
    if c_publisher is not None:
        command = [str(c_publisher), "127.0.0.1", str(port), "bench/c", str(qos)]
        out["C"] = ("bench/c", [*command, str(frames), str(PAYLOAD_BYTES)], None)
    mosquitto_pub = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "bench/pub"]
    out["mosquitto_pub"] = ("bench/pub", [*mosquitto_pub, "-q", str(qos), "-l"], lines)
    billsim = [sys.executable, "-m", "simulator", "run", str(scenario), "--speed", "max"]
    broker = ["--broker", f"mqtt://127.0.0.1:{port}", "--qos", str(qos)]
    out["billsim"] = (
        "domino/billing/Bench01/session",
        [*billsim, *broker, "--frame", "compact", "--log-json"],
        None,
    )
    # The same frames recorded before the rounds, sent again: the publish path alone.
    replay = [sys.executable, "-m", "simulator", "replay", str(recorded), "--speed", "max"]
    out["billsim replay"] = (
        "domino/billing/Bench01/session",
        [*replay, *broker, "--log-json"],
        None,
    )
    return out


def cpu_budget(qos: int, target: float, c_runs: list[Result], runs: list[Result]) -> str:
    """What the aim leaves a publisher: at ``target`` messages/s, the machine's cores less
    what the broker and the subscriber spend on each message (their least, in C's runs),
    per message; a publisher on one thread also has at most 1/target s of its core."""
    broker_us = min(r.broker_per_10k for r in c_runs) * 100  # CPU s per 10k -> µs each
    subscriber_us = min(r.subscriber_per_10k for r in c_runs) * 100
    cores = os.cpu_count() or 1
    budget = min(cores * 1e6 / target - broker_us - subscriber_us, 1e6 / target)
    spent = min(r.cpu_per_10k for r in runs) * 100
    return (
        f"QoS {qos} budget: at {target:,.0f}/s the broker takes {broker_us:.2f} µs and the "
        f"subscriber {subscriber_us:.2f} µs a message, which leaves a publisher at most "
        f"{budget:.2f} µs a message on {cores} cores; billsim spends {spent:.2f} µs "
        "(simulation included)"
    )


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
    parser.add_argument("--rounds", type=int, default=3, help="runs of each publisher; best")
    parser.add_argument("--qos", default="1,0", help="QoS levels to run")
    args = parser.parse_args()
    print(machine_line("e2e"))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        c_publisher = build_c_publisher(workdir)
        scenario = workdir / "bench-e2e.yaml"
        scenario.write_text(SCENARIO.format(users=args.users, duration=args.duration))
        recorded = workdir / "bench-e2e.nbf"
        frames = record_frames(scenario, recorded)
        lines = workdir / "lines.txt"
        lines.write_bytes((b"x" * (PAYLOAD_BYTES - 1) + b"\n") * frames)
        broker, port = start_broker(workdir)
        try:
            print(f"{frames:,} messages of {PAYLOAD_BYTES} bytes per run, broker 127.0.0.1:{port}")
            for qos in (int(q) for q in args.qos.split(",")):
                results: dict[str, list[Result]] = {}
                loads = []
                for round_number in range(1, args.rounds + 1):
                    runs = publishers(port, scenario, frames, qos, lines, c_publisher, recorded)
                    for name, (topic, command, stdin) in runs.items():
                        loads.append(os.getloadavg()[0])
                        result = measure(
                            port, topic, frames, qos, command, stdin, workdir, broker.pid
                        )
                        results.setdefault(name, []).append(result)
                        print(
                            f"  QoS {qos} round {round_number} {name}: {result.rate:,.0f}/s "
                            f"({result.received:,} received), CPU s per 10k: publisher "
                            f"{result.cpu_per_10k:.3f}, broker {result.broker_per_10k:.3f}, "
                            f"subscriber {result.subscriber_per_10k:.3f}"
                        )
                rate = {name: max(r.rate for r in runs) for name, runs in results.items()}
                cpu = {name: min(r.cpu_per_10k for r in runs) for name, runs in results.items()}
                figures = ", ".join(
                    f"{name} {rate[name]:,.0f}/s, {cpu[name]:.3f} CPU s per 10k" for name in rate
                )
                print(f"QoS {qos}, best of {args.rounds}: {figures}")
                aim = 0.98 if qos else 0.95
                for ours in ("billsim", "billsim replay"):
                    ratios = [
                        f"{rate[ours] / rate[name]:.2f} of {name}'s"
                        + (f" (aim ≥ {aim})" if name == "C" and ours == "billsim" else "")
                        for name in rate
                        if not name.startswith("billsim") and rate[name]
                    ]
                    print(
                        f"QoS {qos}: {ours}'s rate {', '.join(ratios)}; load average "
                        f"{min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores"
                    )
                if "C" in results and rate["C"]:
                    print(cpu_budget(qos, aim * rate["C"], results["C"], results["billsim"]))
        finally:
            broker.terminate()
            broker.wait(timeout=10)


if __name__ == "__main__":
    main()
