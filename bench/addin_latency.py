"""Where the add-in's publish-to-commit latency goes, at a paced rate.

    python bench/addin_latency.py [--rate 10000] [--users N] [--duration 2h]
                                  [--store sqlite|postgresql]

A private mosquitto (queue/mosquitto.conf's load settings) on a free loopback port; the
add-in (`serve`, in this process, tuned as `billsim addin` tunes it) with its store
wrapped so that every commit is timed; `billsim run --rate N/s` of bench/addin.py's
generated scenario publishing into it. Per frame, from its `sent` property (stamped when
the publisher writes it) and the add-in's clock:

- publish to receive: the sockets and the broker, and the time the broker held the frame
  back because the add-in's in-flight window (max_inflight_messages) was full;
- receive to commit start: the wait for the commit ahead (group commit);
- commit: its batch's transaction;
- total: publish to commit end.

Printed: percentiles of each, the mean of each over the slowest 1% of frames (where the
p99 comes from), the batches' sizes, the publisher's writes (frames sharing one `sent`
went out in one write), the add-in's event-loop lag (a 5 ms sleep's overshoot), the CPU a
frame of each process, and the load average before and after: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from addin import POSTGRES, SCENARIO, billsim, percentile, psql
from addin_cpu import cpu_seconds
from e2e import machine_line, start_broker

from simulator.adapters.stores import open_store
from simulator.addin.intake import Intake
from simulator.addin.rows import RowMaker
from simulator.addin.store import Committed, Received, Rejected, Store
from simulator.commands.addin import AddinRequest, serve
from simulator.commands.garbage import collect_garbage_seldom


def wall_us() -> int:
    return time.time_ns() // 1000


class TimedStore:
    """A store whose commits are timed: per frame (sent, received, commit start, end)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.url = store.url
        self.pending: list[tuple[int, int]] = []
        self.frames: list[tuple[int, int, int, int]] = []
        self.batches: list[int] = []
        self.cpu = 0.0

    def add(self, item: Received | Rejected) -> None:
        if isinstance(item, Received) and item.sent_us is not None:
            self.pending.append((item.sent_us, item.received_us))
        self.store.add(item)

    def commit(self) -> Committed:
        started, cpu = wall_us(), time.thread_time()
        result = self.store.commit()
        ended = wall_us()
        self.cpu += time.thread_time() - cpu
        self.frames.extend((sent, got, started, ended) for sent, got in self.pending)
        self.batches.append(len(self.pending))
        self.pending = []
        return result

    def close(self) -> None:
        self.store.close()


async def loop_lag(samples: list[tuple[int, float]], stop: asyncio.Event) -> None:
    """How late a 5 ms sleep wakes (ms), and when (wall µs): the event loop's lag."""
    while not stop.is_set():
        before = time.monotonic()
        await asyncio.sleep(0.005)
        samples.append((wall_us(), (time.monotonic() - before - 0.005) * 1000))


async def measure(
    port: int, scenario: Path, rate: int, url: str
) -> tuple[TimedStore, list[tuple[int, float]], float, float]:
    """Drain a paced run into `url`: the timed store, the loop's lag samples, and the CPU
    seconds of the add-in (this process) and of the publisher."""
    broker = f"mqtt://127.0.0.1:{port}"
    request = AddinRequest(broker=broker, group=uuid.uuid4().hex[:8])
    intake = Intake(request.layout)
    opened: list[TimedStore] = []

    def open_timed(rows: RowMaker) -> Store:
        opened.append(TimedStore(open_store(url, rows)))
        return opened[-1]

    lags: list[tuple[int, float]] = []
    done = asyncio.Event()
    stop = asyncio.Event()
    with open(os.devnull, "w") as quiet:
        addin = asyncio.create_task(
            serve(
                request, lambda: [open_timed(intake.rows)], intake=intake, stderr=quiet, stop=stop
            )
        )
        await asyncio.sleep(1.5)  # subscribed before the first frame
        lagging = asyncio.create_task(loop_lag(lags, done))
        cpu = time.process_time()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        publisher = await asyncio.create_subprocess_exec(
            *billsim("run", str(scenario), "--broker", broker, "--rate", f"{rate}/s"),
            stderr=asyncio.subprocess.DEVNULL,
        )
        if await publisher.wait() != 0:
            raise SystemExit("billsim run failed")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        committed = -1
        while committed != (committed := len(opened[0].frames) if opened else 0):
            await asyncio.sleep(2.0)  # until the add-in has committed nothing for 2 s
        stop.set()
        await addin
        cpu = time.process_time() - cpu
        done.set()
        await lagging
    publisher_cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return opened[0], lags, cpu, publisher_cpu


def line(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    return (
        f"  {name:<24} p50 {percentile(ordered, 50):8.1f}  p90 {percentile(ordered, 90):8.1f}  "
        f"p99 {percentile(ordered, 99):8.1f}  max {ordered[-1]:8.1f} ms"
    )


MOMENT_US = 250_000  # frames are grouped by the quarter second they were sent in


def worst_moments(
    frames: list[tuple[int, int, int, int]], lags: list[tuple[int, float]], shown: int = 6
) -> None:
    """The quarter seconds whose frames waited longest, and what happened then: where in
    the run the tail comes from (the start, a commit, the loop, the publisher's writes)."""
    first = min(sent for sent, _, _, _ in frames)
    moments: dict[int, list[tuple[int, int, int, int]]] = {}
    for frame in frames:
        moments.setdefault((frame[0] - first) // MOMENT_US, []).append(frame)
    slow = sorted(moments, key=lambda k: max(f[3] - f[0] for f in moments[k]))[-shown:]
    over = sum(1 for sent, _, _, end in frames if end - sent > 100_000)
    print(f"  frames over 100 ms: {over:,}; the {shown} slowest quarter seconds (from the first):")
    for key in sorted(slow):
        group = moments[key]
        start, end = first + key * MOMENT_US, first + (key + 1) * MOMENT_US
        writes = Counter(sent for sent, _, _, _ in group)
        lag = max((lag for at, lag in lags if start <= at < end + MOMENT_US), default=0.0)
        print(
            f"    {key * MOMENT_US / 1e6:7.2f} s: {len(group):5,} frames, total max "
            f"{max(f[3] - f[0] for f in group) / 1000:6.1f} ms (to receive "
            f"{max(f[1] - f[0] for f in group) / 1000:6.1f}, to commit start "
            f"{max(f[2] - f[1] for f in group) / 1000:6.1f}, commit "
            f"{max(f[3] - f[2] for f in group) / 1000:6.1f}); biggest write "
            f"{max(writes.values())}, loop lag max {lag:.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=10000, help="records/s the run writes")
    parser.add_argument("--users", type=int, default=10000, help="generated users")
    parser.add_argument("--duration", default="2h", help="virtual length of the run")
    parser.add_argument("--store", default="sqlite", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    logging.getLogger("gmqtt").setLevel(logging.ERROR)  # as `billsim addin` does
    collect_garbage_seldom(freeze=True)
    print(machine_line("add-in latency"))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        scenario = workdir / "bench.yaml"
        scenario.write_text(SCENARIO.format(users=args.users, duration=args.duration))
        broker, port = start_broker(workdir)
        name = f"billsim_bench_{uuid.uuid4().hex[:8]}"
        if args.store == "sqlite":
            url = f"sqlite:///{workdir / name}.db"
        else:
            psql(f"CREATE DATABASE {name}")
            url = f"{POSTGRES}/{name}"
        load_before = os.getloadavg()[0]
        broker_before = cpu_seconds(broker.pid)
        try:
            store, lags, addin_cpu, publisher_cpu = asyncio.run(
                measure(port, scenario, args.rate, url)
            )
            broker_cpu = cpu_seconds(broker.pid) - broker_before
        finally:
            if args.store == "postgresql":
                psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            broker.terminate()
            broker.wait()
        load_after = os.getloadavg()[0]
    frames = store.frames
    n = len(frames)
    parts = {
        "publish to receive": [(got - sent) / 1000 for sent, got, _, _ in frames],
        "receive to commit start": [(start - got) / 1000 for _, got, start, _ in frames],
        "commit": [(end - start) / 1000 for _, _, start, end in frames],
        "total": [(end - sent) / 1000 for sent, _, _, end in frames],
    }
    span = (max(f[3] for f in frames) - min(f[0] for f in frames)) / 1e6
    print(
        f"{args.store}: {n:,} frames at --rate {args.rate}/s, {n / span:,.0f} frames/s "
        f"publish to commit; load average {load_before:.2f} -> {load_after:.2f}"
    )
    for name, values in parts.items():
        print(line(name, values))
    slowest = sorted(range(n), key=parts["total"].__getitem__)[-max(n // 100, 1) :]
    print(
        "  slowest 1%, mean: "
        + ", ".join(
            f"{name} {statistics.fmean(parts[name][i] for i in slowest):.1f}" for name in parts
        )
        + " ms"
    )
    batches = sorted(store.batches)
    print(
        f"  batches: {len(batches):,}, frames a batch p50 {percentile(batches, 50)} "
        f"p90 {percentile(batches, 90)} max {batches[-1]}"
    )
    writes = sorted(Counter(sent for sent, _, _, _ in frames).values())
    print(
        f"  publisher writes: {len(writes):,}, frames a write p50 {percentile(writes, 50)} "
        f"p90 {percentile(writes, 90)} p99 {percentile(writes, 99)} max {writes[-1]}"
    )
    print(line("add-in loop lag", [lag for _, lag in lags]))
    worst_moments(frames, lags)
    print(
        f"  CPU a frame: add-in {addin_cpu * 1e6 / n:.1f} µs (commits {store.cpu * 1e6 / n:.1f}), "
        f"billsim run {publisher_cpu * 1e6 / n:.1f} µs, broker {broker_cpu * 1e6 / n:.1f} µs"
    )


if __name__ == "__main__":
    main()
