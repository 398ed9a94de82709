"""Rate shaping without sleeping: the schedule of stages and the token bucket on a fake clock."""

from __future__ import annotations

import math

import pytest

from simulator.domino.shaping import RateLimiter, RateSchedule
from simulator.scenario.rate import RatePlan, RateStage


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def plan(*stages: tuple[float, float]) -> RatePlan:
    return RatePlan(tuple(RateStage(rate, seconds) for rate, seconds in stages))


# -- the schedule -----------------------------------------------------------------------------


def test_stages_ramp_from_the_previous_target_hold_and_pause() -> None:
    schedule = RateSchedule(plan((1000, 60), (1000, 60), (20000, 300), (0, 30), (500, 0)))
    assert schedule.rate_at(0) == 0  # the first stage ramps up from 0
    assert schedule.rate_at(30) == pytest.approx(500)
    assert schedule.rate_at(60) == pytest.approx(1000)
    assert schedule.rate_at(90) == pytest.approx(1000)  # a second stage of the same rate holds
    assert schedule.rate_at(120 + 150) == pytest.approx(10500)
    assert schedule.rate_at(419.9) == pytest.approx(19993.7, abs=1)
    assert schedule.rate_at(420) == 0  # a stage of 0 pauses at once: no ramp down
    assert schedule.rate_at(449) == 0
    assert schedule.rate_at(450) == 500  # a stage of length 0 is a step
    assert schedule.rate_at(10**6) == 500  # the last stage's rate holds
    assert not schedule.ends_run
    # The area under the rate: the ramp up to 1000 over 60 s is 30,000 records.
    assert schedule.records_between(0, 60) == pytest.approx(30_000)
    assert schedule.records_between(60, 120) == pytest.approx(60_000)
    assert schedule.records_between(420, 450) == 0
    assert schedule.records_between(450, 460) == pytest.approx(5000)


def test_time_for_inverts_the_area_across_stages() -> None:
    schedule = RateSchedule(plan((1000, 60), (1000, 60), (0, 30), (100, 10)))
    for start, records in [(0, 1), (0, 30_000), (10, 45_000), (59, 70_000), (100, 20_000)]:
        done = schedule.time_for(start, records)
        assert schedule.records_between(start, done) == pytest.approx(records)
    assert schedule.time_for(119, 1000) == pytest.approx(120)
    # Records due after a pause come after it: on the ramp 0 → 100/s over 10 s, 10 records
    # take √2 s (the area 5·t²).
    assert schedule.time_for(120, 10) == pytest.approx(150 + math.sqrt(2))
    # A last stage of 0 ends the run: nothing more is ever due.
    stop = RateSchedule(plan((100, 1), (0, 5)))
    assert stop.ends_run
    assert stop.end == 6
    assert stop.time_for(0, 51) == math.inf


# -- the token bucket -------------------------------------------------------------------------


def test_a_constant_rate_allows_its_records_and_no_more() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RatePlan.constant(1000), clock)
    limiter.start(frames=0)
    assert limiter.allowance(0) == 0  # nothing is due at the first instant
    assert limiter.wait(0) == pytest.approx(0.002)  # the shortest wait, not a 1 ms one
    clock.now += 0.01
    assert limiter.allowance(0) == 10
    # One event wrote 25: 15 are owed, paid by waiting 15 ms.
    assert limiter.allowance(25) == 0
    wait = limiter.wait(25)
    assert wait == pytest.approx(0.015, abs=1e-6)
    clock.now += wait or 0
    assert limiter.allowance(25) == 1  # a hair over the debt
    # Over a long stretch the records written match the rate exactly.
    written = 25
    for _ in range(10_000):
        clock.now += 0.001
        written += limiter.allowance(written)
    assert written == pytest.approx(1000 * 10.025, abs=2)
    assert limiter.target_rate() == 1000


def test_a_run_held_up_gets_back_at_most_the_burst_and_does_not_sprint() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RatePlan.constant(1000), clock, burst=0.05)
    limiter.start(frames=0)
    clock.now += 60  # a full queue held the engine for a minute
    assert limiter.allowance(0) == 50


def test_low_rates_wait_whole_intervals() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RatePlan.constant(2), clock)
    limiter.start(frames=0)
    clock.now += limiter.wait(0) or 0  # the shortest wait: the first record comes at once
    assert limiter.allowance(0) == 1
    for written in range(1, 5):
        wait = limiter.wait(written)
        assert wait == pytest.approx(0.5, abs=0.005)  # then one each half second
        clock.now += wait or 0
        assert limiter.allowance(written) == 1


def test_stages_ramp_pause_and_resume_the_records() -> None:
    clock = FakeClock()
    limiter = RateLimiter(plan((1000, 10), (0, 5), (1000, 0)), clock)
    limiter.start(frames=0)
    written = 0
    by_second: list[int] = []
    for _second in range(20):
        before = written
        for _ in range(1000):
            clock.now += 0.001
            written += limiter.allowance(written)
        by_second.append(written - before)
    # The ramp: 0 → 1000/s over 10 s, about 50, 150, 250, … records in successive seconds.
    assert by_second[:10] == pytest.approx([50 + 100 * n for n in range(10)], abs=3)
    assert sum(by_second[:10]) == pytest.approx(5000, abs=2)
    assert by_second[10:15] == [0, 0, 0, 0, 0]  # the pause
    assert by_second[15:] == pytest.approx([1000] * 5, abs=2)  # the step up, held
    assert not limiter.ended


def test_a_last_pause_ends_the_run_when_it_is_over() -> None:
    clock = FakeClock()
    limiter = RateLimiter(plan((100, 0), (100, 1), (0, 2)), clock)
    limiter.start(frames=0)
    clock.now += 0.5
    assert limiter.allowance(0) == 5  # the burst the bucket holds (0.05 s at 100/s)
    clock.now += 1.0
    assert limiter.allowance(5) == 0  # paused
    assert limiter.target_rate() == 0
    assert limiter.wait(5) == pytest.approx(1.5)  # till the pause is over
    assert not limiter.ended
    clock.now += 1.5
    assert limiter.ended


def test_a_control_pause_stops_the_schedule_and_the_records() -> None:
    clock = FakeClock()
    limiter = RateLimiter(plan((1000, 10)), clock)
    limiter.start(frames=0)
    clock.now += 5
    assert limiter.target_rate() == pytest.approx(500)
    limiter.pause()
    clock.now += 100
    assert limiter.allowance(0) == 0
    assert limiter.wait(0) is None  # only a resume goes on
    assert limiter.target_rate() == 0
    limiter.resume()
    assert limiter.elapsed() == pytest.approx(5)
    assert limiter.target_rate() == pytest.approx(500)
    clock.now += 1
    assert limiter.target_rate() == pytest.approx(600)


def test_start_counts_from_the_run_and_its_records_so_far() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RatePlan.constant(100), clock)
    clock.now += 30  # built, then the broker connected, then --start-after
    limiter.start(frames=7)
    clock.now += 0.1
    assert limiter.allowance(7) == 5  # 10 due, but the bucket holds 0.05 s of them
