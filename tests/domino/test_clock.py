"""The virtual clock: the event heap's order, speeds, and the pacer's virtual → wall mapping."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.domino.clock import EventHeap, Pacer, Phase
from simulator.scenario.speed import Speed


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def drain(heap: EventHeap) -> list[Any]:
    out = []
    while heap:
        time, _phase, _seq, handler, arg = heap.pop()
        handler(arg)
        out.append((time, arg))
    return out


def noop(_: Any) -> None:
    return None


def test_phases_follow_the_order_rule() -> None:
    assert [p.name for p in sorted(Phase)] == [
        "SESSION_BOUNDARY",
        "DATABASE_BOUNDARY",
        "SCRIPT",
        "COMPLETION",
        "GENERATED",
        "SHUTDOWN",
    ]


def test_heap_orders_by_time_then_phase_then_scheduling_order() -> None:
    heap = EventHeap()
    heap.schedule(10, Phase.COMPLETION, noop, "completion")
    heap.schedule(10, Phase.SCRIPT, noop, "script-1")
    heap.schedule(5, Phase.SHUTDOWN, noop, "early")
    heap.schedule(10, Phase.DATABASE_BOUNDARY, noop, "db")
    heap.schedule(10, Phase.SCRIPT, noop, "script-2")
    heap.schedule(10, Phase.SESSION_BOUNDARY, noop, "session")
    assert heap.peek_time() == 5
    assert [arg for _, arg in drain(heap)] == [
        "early",
        "session",
        "db",
        "script-1",
        "script-2",
        "completion",
    ]
    assert heap.peek_time() is None


def test_reserved_sequence_keeps_an_earlier_place_in_line() -> None:
    heap = EventHeap()
    reserved = next(heap.counter)  # as the server reserves an idle timeout's place
    heap.schedule(10, Phase.COMPLETION, noop, "scheduled first")
    heap.schedule(10, Phase.COMPLETION, noop, "reserved earlier", sequence=reserved)
    assert [arg for _, arg in drain(heap)] == ["reserved earlier", "scheduled first"]


def test_handlers_are_never_compared() -> None:
    # Equal (time, phase) with distinct sequences: the heap must not fall through to handlers.
    heap = EventHeap()
    for i in range(50):
        heap.schedule(1, Phase.SCRIPT, lambda arg: None, i)
    assert [arg for _, arg in drain(heap)] == list(range(50))


def test_drop_where_removes_matching_events_in_order_and_keeps_the_rest() -> None:
    heap = EventHeap()

    def task(_: Any) -> None:
        return None

    heap.schedule(30, Phase.COMPLETION, task, "t30")
    heap.schedule(10, Phase.SCRIPT, noop, "s10")
    heap.schedule(20, Phase.COMPLETION, task, "t20")
    heap.schedule(40, Phase.SCRIPT, noop, "s40")
    removed = heap.drop_where(lambda event: event[3] is task)
    assert [event[4] for event in removed] == ["t20", "t30"]
    assert len(heap) == 2
    assert [arg for _, arg in drain(heap)] == ["s10", "s40"]


def test_pacer_maps_virtual_time_to_wall_time_at_its_speed() -> None:
    clock = FakeClock()
    pacer = Pacer(Speed.parse("60x"), clock)
    assert pacer.delay_until(0) == 0.0
    assert pacer.delay_until(60_000_000) == pytest.approx(1.0)
    assert pacer.delay_until(90 * 60_000_000) == pytest.approx(90.0)
    clock.now += 0.25
    assert pacer.delay_until(60_000_000) == pytest.approx(0.75)
    clock.now += 5.0  # late: never negative, never a sprint to catch up on its own
    assert pacer.delay_until(60_000_000) == 0.0


def test_pacer_at_max_never_waits_and_realtime_is_one_to_one() -> None:
    clock = FakeClock()
    assert Pacer(Speed.parse("max"), clock).delay_until(10**12) == 0.0
    assert Pacer(Speed.parse("realtime"), clock).delay_until(2_500_000) == pytest.approx(2.5)


def test_pacer_speed_change_and_rebase_count_from_the_current_instant() -> None:
    clock = FakeClock()
    pacer = Pacer(Speed.parse("60x"), clock)
    clock.now += 1.0  # virtual 60 s are due now
    pacer.set_speed(Speed.parse("120x"), virtual_now=60_000_000)
    assert pacer.speed == Speed(120.0)
    assert pacer.delay_until(180_000_000) == pytest.approx(1.0)
    clock.now += 30.0  # paused for 30 s
    pacer.rebase(60_000_000)
    assert pacer.delay_until(180_000_000) == pytest.approx(1.0)
