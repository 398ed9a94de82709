"""Rate shaping: how many records a run may have written by a wall-clock instant.

Sans I/O: the clock is a function passed in, and nothing here sleeps. The engine asks
`RateLimiter.allowance` how many more records it may write now, runs events until it
has written them, and asks `RateLimiter.wait` how long to wait when it may write none.

The target rate over wall time follows k6's stages: each stage's rate is reached
linearly over its length from the previous stage's (the first from 0; a stage of length
0 is a step). A stage of rate 0 is a pause: no records for its whole length. After the
last stage its rate holds to the end of the run; a last stage of rate 0 ends the run
when it is over.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from simulator.scenario.rate import RatePlan


@dataclass(frozen=True, slots=True)
class _Segment:
    """The rate goes linearly from `rate_from` at `start` to `rate_to` at `end` (seconds)."""

    start: float
    end: float
    rate_from: float
    rate_to: float

    def rate_at(self, t: float) -> float:
        if self.end <= self.start:
            return self.rate_to
        return self.rate_from + (self.rate_to - self.rate_from) * (t - self.start) / (
            self.end - self.start
        )

    def records_between(self, a: float, b: float) -> float:
        """The records due over [a, b] within this segment (the area under the rate)."""
        a, b = max(a, self.start), min(b, self.end)
        if b <= a:
            return 0.0
        return (self.rate_at(a) + self.rate_at(b)) / 2 * (b - a)

    def time_for(self, a: float, records: float) -> float | None:
        """The instant from `a` (in this segment) by which `records` are due; None if
        they are not due before the segment ends."""
        if records > self.records_between(a, self.end):
            return None
        rate = self.rate_at(a)
        slope = (self.rate_to - self.rate_from) / (self.end - self.start)
        if abs(slope) < 1e-12:
            return a + records / rate
        # slope/2·τ² + rate·τ = records, the root where the area first reaches `records`.
        root = math.sqrt(max(0.0, rate * rate + 2 * slope * records))
        # The stable form of (-rate + root) / slope: no cancellation when slope is tiny.
        return a + 2 * records / (rate + root)


class RateSchedule:
    """A RatePlan as the target rate (records per second) at each second of the run."""

    def __init__(self, plan: RatePlan) -> None:
        segments: list[_Segment] = []
        t = 0.0
        previous = 0.0
        for stage in plan.stages:
            # A pause starts at once: a stage of rate 0 is never a ramp down.
            start_rate = previous if stage.rate > 0 else 0.0
            segments.append(_Segment(t, t + stage.seconds, start_rate, stage.rate))
            t += stage.seconds
            previous = stage.rate
        self.plan = plan
        self._segments = [segment for segment in segments if segment.end > segment.start]
        # Past the last stage: its rate, held.
        self.end = t
        self.final_rate = previous
        # A last stage of rate 0 is the end of the run, not a pause without end.
        self.ends_run = previous == 0

    def rate_at(self, t: float) -> float:
        """The target rate at `t` seconds into the run."""
        for segment in self._segments:
            if t < segment.end:
                return segment.rate_at(max(t, segment.start))
        return self.final_rate

    def records_between(self, a: float, b: float) -> float:
        """The records due over [a, b] (seconds into the run)."""
        if b <= a:
            return 0.0
        due = sum(segment.records_between(a, b) for segment in self._segments)
        if b > self.end:
            due += self.final_rate * (b - max(a, self.end))
        return due

    def time_for(self, a: float, records: float) -> float:
        """The first instant from `a` by which `records` (> 0) more are due; inf if never."""
        for segment in self._segments:
            if a >= segment.end:
                continue
            start = max(a, segment.start)
            done = segment.time_for(start, records)
            if done is not None:
                return done
            records -= segment.records_between(start, segment.end)
        if self.final_rate > 0:
            return max(a, self.end) + records / self.final_rate
        return math.inf


class RateLimiter:
    """A token bucket filled by a RateSchedule: the records a run may write, and when.

    Records written beyond the bucket are a debt the next wait pays back, so an event
    that writes several records keeps the long-run rate exact. A run that writes less than
    it may (held up by a full queue, a pause, a stretch with no records) gets back at most
    `burst` seconds' worth of records: it does not sprint to catch up.
    """

    def __init__(
        self,
        plan: RatePlan,
        clock: Callable[[], float],
        *,
        burst: float = 0.05,
        min_wait: float = 0.002,
    ) -> None:
        self.schedule = RateSchedule(plan)
        self._clock = clock
        self._burst = burst
        # Waits shorter than this would cost the event loop more than the records they pace.
        self._min_wait = min_wait
        self._tokens = 0.0
        self._frames = 0
        # Run time (seconds, pauses left out) at the last refill; the clock's at run time 0.
        self._at = 0.0
        self._origin = clock()
        self._paused_at: float | None = None

    def start(self, frames: int) -> None:
        """Run time 0 is now; `frames` already written do not count."""
        self._origin = self._clock()
        self._at = 0.0
        self._tokens = 0.0
        self._frames = frames
        self._paused_at = None

    def elapsed(self) -> float:
        """Seconds of run time: the wall clock since `start`, less the time paused."""
        now = self._clock() if self._paused_at is None else self._paused_at
        return now - self._origin

    def pause(self) -> None:
        """Stop the schedule's clock (a control `pause`): its stages wait for the resume."""
        if self._paused_at is None:
            self._paused_at = self._clock()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._origin += self._clock() - self._paused_at
            self._paused_at = None

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def target_rate(self) -> float:
        """The rate the schedule asks for now (0 while paused)."""
        return 0.0 if self.paused else self.schedule.rate_at(self.elapsed())

    @property
    def ended(self) -> bool:
        """The schedule's last stage is a pause, and it is over: the run should end."""
        return self.schedule.ends_run and self.elapsed() >= self.schedule.end

    def _refill(self, frames: int) -> None:
        now = self.elapsed()
        tokens = self._tokens - (frames - self._frames)
        if not self.paused:
            tokens += self.schedule.records_between(self._at, now)
            tokens = min(tokens, self.schedule.rate_at(now) * self._burst)
        self._tokens, self._frames, self._at = tokens, frames, now

    def allowance(self, frames: int) -> int:
        """How many records may be written now, `frames` having been written so far (0:
        none; call `wait`). One event may write more than this: the excess is owed."""
        self._refill(frames)
        if self.paused or self._tokens <= 0:
            return 0
        return math.ceil(self._tokens)

    def wait(self, frames: int) -> float | None:
        """Seconds until a record may be written (or, for a last pause, the run ends);
        None while paused (a resume wakes the run) or if no record is ever due."""
        self._refill(frames)
        if self.paused:
            return None
        now = self._at
        if self._tokens > 0:
            return 0.0
        # A hair over the debt: the bucket must be positive, not just empty, to write.
        due = self.schedule.time_for(now, -self._tokens + 1e-6)
        if self.schedule.ends_run:
            due = min(due, max(self.schedule.end, now))
        if math.isinf(due):
            return None
        return max(due - now, self._min_wait)
