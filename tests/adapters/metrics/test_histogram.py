"""Histograms as bucket arrays (simulator/adapters/metrics/histogram.py): values recorded
cheaply, counted per bucket at each fold, exactly as Prometheus' `le` buckets count."""

from __future__ import annotations

import itertools
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.adapters.metrics.histogram import (
    BATCH_BOUNDS,
    LATENCY_BOUNDS_US,
    MICROSECONDS_PER_SECOND,
    Histogram,
)


def test_latency_buckets_resolve_a_millisecond_to_ten_seconds() -> None:
    seconds = [bound / MICROSECONDS_PER_SECOND for bound in LATENCY_BOUNDS_US]
    assert 0.001 in seconds
    assert seconds[-1] == 10.0
    # No two neighbours more than 2.5x apart: a p99 is never a decade off.
    assert all(b / a <= 2.5 for a, b in itertools.pairwise(seconds))


def test_a_value_on_a_bound_counts_in_that_bucket_as_le_says() -> None:
    histogram = Histogram((10, 20))
    for value in (0, 10, 11, 20, 21, 10**9):
        histogram.observe(value)
    snapshot = histogram.fold()
    assert snapshot.counts == (2, 2, 2)  # <= 10, (10, 20], above 20
    assert snapshot.cumulative() == [(10.0, 2), (20.0, 4), (float("inf"), 6)]
    assert snapshot.count == 6
    assert snapshot.sum == 0 + 10 + 11 + 20 + 21 + 10**9


def test_folds_add_up_and_empty_the_pending_values_in_place() -> None:
    histogram = Histogram(LATENCY_BOUNDS_US, MICROSECONDS_PER_SECOND)
    append = histogram.pending.append  # as the drain binds it
    append(1_000)
    first = histogram.fold()
    assert len(histogram.pending) == 0
    append(3_000_000)
    histogram.observe_many(array("q", [400]))
    second = histogram.fold()
    assert (first.count, second.count) == (1, 3)
    assert second.sum == pytest.approx(3.0014)
    assert second.bounds[LATENCY_BOUNDS_US.index(1_000)] == 0.001
    # A fold with nothing new changes nothing.
    assert histogram.fold() == second


def test_a_histogram_with_nothing_observed_has_every_bucket_at_zero() -> None:
    empty = Histogram(BATCH_BOUNDS).fold()
    assert (empty.count, empty.sum) == (0, 0.0)
    assert empty.counts == (0,) * (len(BATCH_BOUNDS) + 1)
    assert empty.bounds == BATCH_BOUNDS


@pytest.mark.parametrize("bounds", [(), (5, 5), (10, 5)])
def test_bounds_must_ascend(bounds: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="ascend"):
        Histogram(bounds)


@given(
    chunks=st.lists(st.lists(st.integers(0, 20_000_000), max_size=50), max_size=6),
)
def test_folding_in_chunks_counts_as_one_bisection_per_value_would(
    chunks: list[list[int]],
) -> None:
    histogram = Histogram(LATENCY_BOUNDS_US)
    for chunk in chunks:
        histogram.observe_many(array("q", chunk))
        histogram.fold()
    values = [value for chunk in chunks for value in chunk]
    expected = [
        sum(1 for value in values if value <= bound) for bound in (*LATENCY_BOUNDS_US, 10**30)
    ]
    snapshot = histogram.fold()
    assert [count for _bound, count in snapshot.cumulative()] == expected
    assert snapshot.sum == sum(values)
