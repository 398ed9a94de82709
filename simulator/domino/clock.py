"""The virtual clock: one event heap ordered by (time, phase, sequence), and the run's pace."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from enum import IntEnum
from typing import Any

from simulator.scenario.speed import Speed


class Phase(IntEnum):
    """What runs first among events of one instant (docs/lifecycles.md, Order)."""

    SESSION_BOUNDARY = 0
    DATABASE_BOUNDARY = 1
    SCRIPT = 2
    COMPLETION = 3
    GENERATED = 4
    SHUTDOWN = 5


Handler = Callable[[Any], None]
# (time µs, phase, sequence, handler, argument): the sequence makes every key unique,
# so the heap never compares handlers and ties run first-scheduled first (SimPy's rule).
Event = tuple[int, int, int, Handler, Any]

_heappush = heapq.heappush
_heappop = heapq.heappop


class EventHeap:
    """Pending events of one run; times are integer microseconds since the scenario's start.

    The hot paths (the engine's loop, the generated workload) push and pop `items`
    directly with heapq and take sequence numbers with `next(heap.counter)`: a call of
    `schedule` per event costs more than the push itself. `items` is never rebound,
    so such a caller may hold on to it.
    """

    __slots__ = ("counter", "items")

    def __init__(self) -> None:
        # A heapq list; the engine's hot loop pops it directly.
        self.items: list[Event] = []
        # Yields the sequence numbers: one per scheduled event, or reserved for later.
        self.counter = itertools.count()

    def schedule(
        self, time: int, phase: int, handler: Handler, arg: Any = None, sequence: int | None = None
    ) -> None:
        """Schedule `handler(arg)`; pass a reserved `sequence` to keep an earlier place in line."""
        seq = next(self.counter) if sequence is None else sequence
        _heappush(self.items, (time, phase, seq, handler, arg))

    def pop(self) -> Event:
        return _heappop(self.items)

    def peek_time(self) -> int | None:
        return self.items[0][0] if self.items else None

    def __len__(self) -> int:
        return len(self.items)

    def drop_where(self, predicate: Callable[[Event], bool]) -> list[Event]:
        """Remove and return the events matching `predicate` (used once, at shutdown)."""
        kept = [event for event in self.items if not predicate(event)]
        removed = [event for event in self.items if predicate(event)]
        heapq.heapify(kept)
        self.items[:] = kept  # in place: holders of `items` see the change
        return sorted(removed)


class Pacer:
    """Maps virtual time to the wall-clock instant it is due, across speed changes and pauses."""

    __slots__ = ("_clock", "_speed", "_virtual_anchor", "_wall_anchor", "paused")

    def __init__(self, speed: Speed, clock: Callable[[], float], virtual_now: int = 0) -> None:
        self._clock = clock
        self._speed = speed
        self._virtual_anchor = virtual_now
        self._wall_anchor = clock()
        self.paused = False

    @property
    def speed(self) -> Speed:
        return self._speed

    def set_speed(self, speed: Speed, virtual_now: int) -> None:
        self._speed = speed
        self.rebase(virtual_now)

    def rebase(self, virtual_now: int) -> None:
        """Count from here: after a pause, or when the run fell behind and must not sprint."""
        self._virtual_anchor = virtual_now
        self._wall_anchor = self._clock()

    def virtual_now(self) -> int:
        """The virtual time (µs) the wall clock has reached at this speed, between events
        too; frozen while paused; at max speed, where it was last rebased (no pacing)."""
        factor = self._speed.factor
        if factor is None or self.paused:
            return self._virtual_anchor
        return self._virtual_anchor + int((self._clock() - self._wall_anchor) * factor * 1e6)

    def pause(self, virtual_now: int) -> None:
        """Stop the virtual clock where it has got to (at least `virtual_now`, the last event)."""
        if not self.paused:
            self.rebase(max(virtual_now, self.virtual_now()))
            self.paused = True

    def resume(self, virtual_now: int) -> None:
        """Go on from where the pause stopped it (at least `virtual_now`)."""
        self.paused = False
        self.rebase(max(virtual_now, self._virtual_anchor))

    def delay_until(self, virtual_time: int) -> float:
        """Wall seconds to wait before `virtual_time` is due (0 at max speed or when late)."""
        factor = self._speed.factor
        if factor is None:
            return 0.0
        due = self._wall_anchor + (virtual_time - self._virtual_anchor) / 1e6 / factor
        return max(0.0, due - self._clock())
