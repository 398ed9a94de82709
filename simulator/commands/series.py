"""Counters sampled over a run's wall time, for the HTML report's charts over time.

`CounterSeries` reads a set of cumulative counters (records written by class, frames
stored by class, latencies measured) every `interval` seconds of wall time, from the
moment it is made. It stays small however long the run: when it holds `capacity`
samples it keeps every other one and samples half as often, so a run of a few seconds
is seen every quarter second and a run left going for a week still holds at most
`capacity` samples. Counts are cumulative, so dropping a sample loses no frame: the
rate between two kept samples is exact.

`as_json` is what the summaries hold under `series` (docs/cli.md); `latency_series`
turns the add-in's latencies into percentiles per interval of such a series.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

T = TypeVar("T")

FIRST_INTERVAL: Final = 0.25
"""Seconds between the first samples: a run of a few seconds still draws a line."""
CAPACITY: Final = 512
"""Samples kept at most: thinned by half each time it is reached."""
PERCENTILES: Final = (50, 90, 99)
LATENCIES: Final = "latencies measured"
"""The add-in's counter of latencies measured (no class is named so)."""


class CounterSeries:
    """Cumulative counters (`read`: name -> count so far) sampled over wall time."""

    def __init__(
        self,
        read: Callable[[], Mapping[str, int]],
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float = FIRST_INTERVAL,
        capacity: int = CAPACITY,
    ) -> None:
        if capacity < 4:
            raise ValueError("a series keeps at least 4 samples")
        self._read = read
        self._clock = clock
        self._started = clock()
        self.interval = interval
        self.capacity = capacity
        self.times: list[float] = []
        self.samples: list[dict[str, int]] = []
        self.sample()

    def sample(self) -> None:
        """Take one sample now; thin the series when it is full."""
        self.times.append(self._clock() - self._started)
        self.samples.append(dict(self._read()))
        if len(self.times) >= self.capacity:
            # Keep the first, every other one, and the newest (the latest counts).
            keep = [*range(0, len(self.times) - 1, 2), len(self.times) - 1]
            self.times = [self.times[i] for i in keep]
            self.samples = [self.samples[i] for i in keep]
            self.interval *= 2

    async def run(self) -> None:
        """Sample every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            self.sample()

    def counts(self, name: str) -> list[int]:
        """One counter's values, sample by sample (0 before it first appeared)."""
        return [sample.get(name, 0) for sample in self.samples]

    def names(self) -> list[str]:
        """Every counter that was ever read, in the order first seen."""
        return list(dict.fromkeys(name for sample in self.samples for name in sample))

    def as_json(self, key: str, names: Sequence[str] | None = None) -> dict[str, Any]:
        """`{"t_s": [...], key: {name: [cumulative counts...]}}` for `names` (default all)."""
        return {
            "t_s": [round(t, 3) for t in self.times],
            key: {name: self.counts(name) for name in (self.names() if names is None else names)},
        }


@contextlib.asynccontextmanager
async def sampling(series: CounterSeries) -> AsyncIterator[CounterSeries]:
    """Sample `series` while the body runs, and once more at its end."""
    task = asyncio.create_task(series.run())
    try:
        yield series
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        series.sample()


def latency_series(
    latencies_us: Sequence[int], marks: Sequence[int]
) -> dict[str, list[float | None]]:
    """p50, p90, p99, max (ms) and the count of the latencies measured in each interval of
    a series: `marks[i]` is how many latencies had been measured at sample i, so interval
    i holds `latencies_us[marks[i - 1]:marks[i]]`. The first sample, and an interval
    without a latency, have None."""
    out: dict[str, list[float | None]] = {
        **{f"p{p}": [] for p in PERCENTILES},
        "max": [],
        "frames": [],
    }
    previous = 0
    for mark in marks:
        window = sorted(latencies_us[previous:mark]) if mark > previous else []
        previous = max(previous, mark)
        for p in PERCENTILES:
            out[f"p{p}"].append(_rank(window, p) if window else None)
        out["max"].append(window[-1] / 1000 if window else None)
        out["frames"].append(len(window))
    return out


def _rank(ordered: Sequence[int], p: float) -> float:
    """The nearest-rank percentile, as the add-in's summary computes its own (ms)."""
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)] / 1000


async def sampled(series: CounterSeries, work: Awaitable[T]) -> T:
    """Await `work` while sampling `series`; what it returns."""
    async with sampling(series):
        return await work


def merge_series(series: Sequence[Mapping[str, Any]], key: str) -> dict[str, Any]:
    """The sum of several servers' series (a domain's `series`): at every time any of them
    was sampled, each server's count as of its latest sample by then, summed; thinned to
    at most `CAPACITY` samples. Each server's times count from its own start."""
    shaped = [s for s in series if isinstance(s.get("t_s"), list) and isinstance(s.get(key), dict)]
    times = sorted({t for s in shaped for t in s["t_s"]})
    if len(times) > CAPACITY:
        step = math.ceil(len(times) / CAPACITY)
        times = times[::step] + ([times[-1]] if (len(times) - 1) % step else [])
    names = list(dict.fromkeys(name for s in shaped for name in s[key]))
    totals = {name: [0] * len(times) for name in names}
    for one in shaped:
        position = -1
        for index, moment in enumerate(times):
            while position + 1 < len(one["t_s"]) and one["t_s"][position + 1] <= moment:
                position += 1
            if position < 0:
                continue
            for name, values in one[key].items():
                totals[name][index] += values[position]
    return {"t_s": times, key: totals}


def addin_series_json(series: CounterSeries, latencies_us: Sequence[int]) -> dict[str, Any]:
    """The add-in's `series` (docs/cli.md): frames stored by class, cumulative, and the
    publish-to-commit latency percentiles of each interval."""
    names = [name for name in series.names() if name != LATENCIES]
    out = series.as_json("stored_by_class", names)
    out["latency_ms"] = latency_series(latencies_us, series.counts(LATENCIES))
    return out
