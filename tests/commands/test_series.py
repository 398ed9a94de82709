"""Counters sampled over time: bounded however long the run, exact rates between the
samples kept, latency percentiles per interval, a domain's series summed."""

from __future__ import annotations

import asyncio

from simulator.commands.series import (
    CAPACITY,
    LATENCIES,
    CounterSeries,
    addin_series_json,
    latency_series,
    merge_series,
    sampling,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_samples_are_cumulative_counts_from_the_start() -> None:
    clock, counts = Clock(), {"session": 0}
    series = CounterSeries(lambda: counts, clock=clock)
    for _ in range(3):
        clock.now += 0.25
        counts["session"] += 10
        series.sample()
    counts["mail"] = 4  # a class first seen late
    series.sample()
    assert series.as_json("records_by_class") == {
        "t_s": [0.0, 0.25, 0.5, 0.75, 0.75],
        "records_by_class": {"session": [0, 10, 20, 30, 30], "mail": [0, 0, 0, 0, 4]},
    }


def test_a_long_run_keeps_at_most_capacity_samples_and_its_last_counts() -> None:
    clock, counts = Clock(), {"session": 0}
    series = CounterSeries(lambda: counts, clock=clock, capacity=16, interval=1.0)
    for step in range(1, 10_001):
        clock.now += series.interval
        counts["session"] = step
        series.sample()
        assert len(series.times) < 16
    assert series.counts("session")[0] == 0
    assert series.counts("session")[-1] == 10_000  # the newest is always kept
    assert series.times == sorted(series.times)
    assert series.interval > 1.0  # samples are taken less often as the run goes on
    assert CAPACITY <= 1024  # the summary stays small


def test_sampling_samples_while_the_body_runs_and_at_its_end() -> None:
    counts = {"session": 0}

    async def body() -> CounterSeries:
        series = CounterSeries(lambda: counts, interval=0.01)
        async with sampling(series):
            for _ in range(10):
                await asyncio.sleep(0.01)
                counts["session"] += 1
        return series

    series = asyncio.run(body())
    assert len(series.times) >= 4
    assert series.counts("session")[-1] == 10


def test_latency_percentiles_are_those_of_each_interval() -> None:
    latencies = [1000 * n for n in range(1, 101)] + [500_000, 7_000]
    # Sample 0: none measured; 1: the first hundred (1..100 ms); 2: nothing new; 3: two more.
    out = latency_series(latencies, [0, 100, 100, 102])
    assert out["p50"] == [None, 50.0, None, 7.0]
    assert out["p90"] == [None, 90.0, None, 500.0]
    assert out["p99"] == [None, 99.0, None, 500.0]
    assert out["max"] == [None, 100.0, None, 500.0]
    assert out["frames"] == [0, 100, 0, 2]


def test_the_addin_series_leaves_its_latency_counter_out_of_the_classes() -> None:
    clock = Clock()
    latencies: list[int] = []
    stored = {"session": 0}
    series = CounterSeries(lambda: {**stored, LATENCIES: len(latencies)}, clock=clock)
    clock.now += 1
    stored["session"] = 3
    latencies.extend([2000, 4000, 6000])
    series.sample()
    out = addin_series_json(series, latencies)
    assert out["stored_by_class"] == {"session": [0, 3]}
    assert out["latency_ms"]["p50"] == [None, 4.0]


def test_a_domains_series_is_the_servers_summed_at_every_sample_time() -> None:
    one = {"t_s": [0.0, 1.0, 2.0], "records_by_class": {"session": [0, 10, 20]}}
    two = {"t_s": [0.0, 1.5], "records_by_class": {"session": [0, 5], "mail": [0, 7]}}
    merged = merge_series([one, two], "records_by_class")
    assert merged == {
        "t_s": [0.0, 1.0, 1.5, 2.0],
        "records_by_class": {"session": [0, 10, 15, 25], "mail": [0, 0, 7, 7]},
    }
