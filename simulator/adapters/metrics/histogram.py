"""Histograms kept as bucket arrays: observed cheaply, sorted into buckets in batches.

A hot path (a PUBACK, a committed frame) only appends an integer to ``pending`` (an
``array('q')``: no object per observation, no Prometheus call); whoever owns the
histogram calls ``fold`` now and then, off the hot path, on the same thread, and hands
the resulting ``HistogramSnapshot`` (immutable) to the thread that serves the metrics.
No prometheus_client here: the exporter turns snapshots into Prometheus histograms.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from dataclasses import dataclass
from typing import Final

# Bucket bounds of latencies, in µs: 0.25 ms to 10 s, so that a p50 and a p99 anywhere from
# a loopback broker's sub-millisecond to a backlog's seconds fall in a bucket of their own.
LATENCY_BOUNDS_US: Final = (
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
)
MICROSECONDS_PER_SECOND: Final = 1_000_000  # a latency histogram's units per base unit
# Bucket bounds of the add-in's commit batches, in frames (a batch holds at most 1,000).
BATCH_BOUNDS: Final = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000)


@dataclass(frozen=True)
class HistogramSnapshot:
    """A histogram at one moment, in base units: ``bounds`` (each bucket's upper bound,
    ascending; +Inf follows), ``counts`` per bucket, not cumulative (one more than
    ``bounds``: the last is above every bound), and the ``sum`` of what was observed."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    sum: float

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """(bound, observations at most that bound) per bucket, +Inf last: Prometheus' form."""
        out: list[tuple[float, int]] = []
        total = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            out.append((bound, total))
        return out


class Histogram:
    """Integer observations (µs, frames) counted per bucket of ``bounds``.

    ``observe`` (or ``pending.append``, bound once by a caller that cares about the cost of
    a method call) only records the value; ``fold`` counts what was recorded since the last
    fold and returns the whole histogram so far in base units (``per_unit`` observed units
    make one: 1,000,000 for µs into seconds). Use it from one thread (the event loop's):
    ``pending`` is not locked.
    """

    __slots__ = ("_counts", "_sum", "bounds", "pending", "per_unit")

    def __init__(self, bounds: tuple[int, ...], per_unit: int = 1) -> None:
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError(f"bucket bounds must ascend, not {bounds}")
        self.bounds = bounds
        self.per_unit = per_unit
        self.pending: array[int] = array("q")
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0

    def observe(self, value: int) -> None:
        self.pending.append(value)

    def observe_many(self, values: array[int]) -> None:
        self.pending.extend(values)

    def fold(self) -> HistogramSnapshot:
        """Count the values recorded since the last fold; the histogram so far."""
        pending = self.pending
        if pending:
            # Sorted once (in C), each bound is one bisection: far cheaper than a bisection
            # per value in Python, for the tens of thousands a second a fast run brings.
            ordered = sorted(pending)
            below = 0
            counts = self._counts
            for index, bound in enumerate(self.bounds):
                upto = bisect_right(ordered, bound)
                counts[index] += upto - below
                below = upto
            counts[-1] += len(ordered) - below
            self._sum += sum(ordered)
            del pending[:]  # in place: a caller may hold `pending.append`
        per_unit = self.per_unit
        return HistogramSnapshot(
            tuple(bound / per_unit for bound in self.bounds),
            tuple(self._counts),
            self._sum / per_unit,
        )
