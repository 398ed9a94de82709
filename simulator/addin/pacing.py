"""When the add-in takes messages: at once (`none`), or in NBILLSES's rhythm (`notes-ini`).

NBILLSES wakes every BillingAddinWakeup seconds (AddInSecondsHaveElapsed: the first time
one Wakeup after the task started) and reads MQ$BILLING for at most BillingAddinRuntime
seconds; in between it takes nothing, so a backlog builds in the queue. The add-in reads
MQTT, not MQ$BILLING: it takes messages for the whole Runtime of each wake-up, because an
empty queue cannot be told from a pause in the stream. Sans-IO: the caller gives the time
(seconds on a monotonic clock) and connects or disconnects accordingly.
"""

from __future__ import annotations

import math
from typing import Protocol

from simulator.scenario.notes_ini import NotesIniSettings


class Pacing(Protocol):
    def awake(self, now: float) -> bool:
        """Whether messages are taken at `now`."""

    def next_change(self, now: float) -> float | None:
        """When `awake` next changes after `now`; None: never."""


class Unpaced:
    """`--pacing none`: always awake, draining as fast as it can."""

    def awake(self, now: float) -> bool:
        return True

    def next_change(self, now: float) -> float | None:
        return None


class WakeupPacing:
    """`--pacing notes-ini`: awake during [started + k·wakeup, … + runtime) for k = 1, 2, …"""

    def __init__(self, wakeup: float, runtime: float, started: float) -> None:
        if wakeup <= 0 or runtime <= 0:
            raise ValueError(f"wakeup and runtime must be positive, not {wakeup} and {runtime}")
        if runtime > wakeup:
            raise ValueError(f"runtime ({runtime:g} s) must not exceed wakeup ({wakeup:g} s)")
        self.wakeup = wakeup
        self.runtime = runtime
        self.started = started

    @classmethod
    def from_settings(cls, settings: NotesIniSettings, started: float) -> WakeupPacing:
        return cls(settings.billing_addin_wakeup, settings.billing_addin_runtime, started)

    def _window_start(self, now: float) -> float:
        """The start of the latest wake-up at or before `now` (`started` before the first)."""
        wakeups = math.floor((now - self.started) / self.wakeup)
        return self.started + max(wakeups, 0) * self.wakeup

    def awake(self, now: float) -> bool:
        start = self._window_start(now)
        return start > self.started and now < start + self.runtime

    def next_change(self, now: float) -> float | None:
        start = self._window_start(now)
        if self.runtime >= self.wakeup and start > self.started:
            return None  # every wake-up runs into the next: awake from now on
        if self.awake(now):
            return start + self.runtime
        return start + self.wakeup
