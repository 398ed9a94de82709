"""What `--metrics-port` costs the drain: QoS 1 delivery with and without the endpoint.

The e2e benchmark's scenario and broker (bench/e2e.py): a mosquitto_sub counts the frames
while `billsim run --speed max` drains them, once without metrics and once with
`--metrics-port` scraped every second (as Prometheus would), alternating, `--rounds`
times each. Per run: the rate (frames over the subscriber's first-to-last span) and the
CPU time billsim used per frame (user + system, its whole process: start-up included),
which a machine busy with other work disturbs less than the rate. Prints each round and
the medians. Run by hand: `python bench/metrics.py [--users N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e import SCENARIO, count_frames, free_port, machine_line, start_broker, subscriber, window


def scrape_every_second(port: int, stop: threading.Event) -> int:
    """Scrape the endpoint until `stop`; how many scrapes answered."""
    answered = 0
    while not stop.wait(1.0):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
                reply.read()
                answered += 1
        except (urllib.error.URLError, ConnectionError):
            pass  # not listening yet, or gone
    return answered


def run_once(
    broker_port: int, scenario: Path, frames: int, metrics: bool
) -> tuple[float, float, int]:
    """Frames per second delivered end to end, billsim's CPU µs per frame, and the scrapes
    answered meanwhile."""
    sub = subscriber(broker_port, "domino/billing/Bench01/session", frames, 1)
    command = [
        sys.executable,
        "-m",
        "simulator",
        "run",
        str(scenario),
        "--broker",
        f"mqtt://127.0.0.1:{broker_port}",
        "--speed",
        "max",
        "--frame",
        "compact",
        "--log-json",
    ]
    stop = threading.Event()
    scrapes: list[int] = []
    scraper = None
    if metrics:
        metrics_port = free_port()
        command += ["--metrics-port", str(metrics_port)]
        scraper = threading.Thread(
            target=lambda: scrapes.append(scrape_every_second(metrics_port, stop))
        )
        scraper.start()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
    finally:
        stop.set()
        if scraper is not None:
            scraper.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    got, span = window(sub, timeout=60)
    return (got / span if span else 0.0), cpu / frames * 1e6, sum(scrapes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10000, help="generated users")
    parser.add_argument("--duration", default="2h", help="virtual length")
    parser.add_argument("--rounds", type=int, default=3, help="runs with and without each")
    args = parser.parse_args()
    print(machine_line("metrics"))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        scenario = workdir / "bench-e2e.yaml"
        scenario.write_text(SCENARIO.format(users=args.users, duration=args.duration))
        frames = count_frames(scenario)
        broker, port = start_broker(workdir)
        rates: dict[bool, list[float]] = {False: [], True: []}
        cpu: dict[bool, list[float]] = {False: [], True: []}
        try:
            print(f"{frames:,} frames per run, QoS 1, broker 127.0.0.1:{port}")
            for round_number in range(1, args.rounds + 1):
                for metrics in (False, True):
                    rate, cpu_us, scrapes = run_once(port, scenario, frames, metrics)
                    rates[metrics].append(rate)
                    cpu[metrics].append(cpu_us)
                    with_what = f"with metrics ({scrapes} scrapes)" if metrics else "without"
                    print(
                        f"round {round_number}: {with_what}: {rate:,.0f} frames/s, "
                        f"{cpu_us:.1f} µs CPU a frame"
                    )
                    time.sleep(1)
        finally:
            broker.terminate()
            broker.wait(timeout=10)
        off, on = statistics.median(rates[False]), statistics.median(rates[True])
        print(f"median rate: without {off:,.0f}/s, with metrics {on:,.0f}/s ({on / off - 1:+.1%})")
        off, on = statistics.median(cpu[False]), statistics.median(cpu[True])
        print(
            f"median CPU a frame: without {off:.1f} µs, with metrics {on:.1f} µs "
            f"({on / off - 1:+.1%})"
        )


if __name__ == "__main__":
    main()
