"""What a running simulation shows and obeys on the terminal: the live status line, Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from typing import TextIO

from simulator.commands.signals import stop_on_signals
from simulator.domino.simulation import Simulation
from simulator.errors import EXIT_FAILED
from simulator.wire.timedate import format_timedate


class RateMeter:
    """Records written per second since the previous reading.

    Each consumer of a rate (the live line, the stats topic, the control `stats` reply)
    has its own meter, so that its rate covers its own interval, not the time since
    whichever consumer happened to read last.
    """

    # Readings closer together than this repeat the last rate rather than divide a few
    # records by a sliver of time.
    _MIN_INTERVAL = 0.05

    def __init__(
        self, count: Callable[[], int], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._count = count
        self._clock = clock
        self._last_count = count()
        self._last_time = clock()
        self._rate = 0.0

    def per_second(self) -> float:
        now = self._clock()
        elapsed = now - self._last_time
        if elapsed > self._MIN_INTERVAL:
            count = self._count()
            self._rate = (count - self._last_count) / elapsed
            self._last_count, self._last_time = count, now
        return self._rate


class LiveLine:
    """One status line rewritten in place on a terminal, every `interval` s; nothing off a
    terminal. Subclasses say what the line holds (`line`)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        isatty = getattr(stream, "isatty", None)
        self.enabled = bool(isatty and isatty())
        self._shown = False

    def line(self) -> str:
        raise NotImplementedError

    async def run(self, interval: float = 0.5) -> None:
        if not self.enabled:
            return
        while True:
            await asyncio.sleep(interval)
            self.stream.write("\r\x1b[2K" + self.line())
            self.stream.flush()
            self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


class Progress(LiveLine):
    """A run's live line: virtual time, records, rate (and the target rate of a shaped
    run), queue."""

    def __init__(
        self,
        sim: Simulation,
        stream: TextIO,
        extra: Callable[[], str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(stream)
        self.sim = sim
        self.extra = extra
        self._rate = RateMeter(lambda: sim.writer.frames, clock)

    def line(self) -> str:
        rate = self._rate.per_second()
        frames = self.sim.writer.frames
        stats = self.sim.queue.stats()
        stamp = self.sim.writer.stamp(self.sim.virtual_now())
        target = self.sim.target_rate()
        # A rate-shaped run shows the rate it is asked for beside the one it makes.
        pace = f"{rate:,.0f}/s" if target is None else f"{rate:,.0f}/s (target {target:,.0f}/s)"
        text = (
            f"{format_timedate(stamp)}  records {frames:,}  "
            f"{pace}  queue {stats.depth:,}  in flight {stats.held:,}  "
            f"dropped {stats.dropped:,}"
        )
        if self.extra is not None:
            text += "  " + self.extra()
        return text


def shutdown_on_signals(
    sim: Simulation, stderr: TextIO, sum_up: Callable[[int], int] | None = None
) -> contextlib.AbstractContextManager[None]:
    """Ctrl-C / SIGTERM shut the server down as Domino does; a second one leaves at once,
    saying how many frames it leaves undelivered. `sum_up` is given that number before
    then: it writes the run's summary and returns the exit code (else 1)."""

    def shut_down(signum: signal.Signals) -> None:
        stderr.write(
            f"\nbillsim: {signum.name}: shutting down: ending "
            f"{len(sim.server.sessions)} open session(s), draining the queue "
            "(Ctrl-C again to quit at once)\n"
        )
        stderr.flush()
        sim.request_stop()

    def quit_at_once(_signum: signal.Signals) -> None:
        left = sim.frames_left
        stderr.write(f"\nbillsim: quitting at once: {left} frame(s) left undelivered\n")
        stderr.flush()
        code = sum_up(left) if sum_up is not None else EXIT_FAILED
        stderr.flush()
        os._exit(code)

    return stop_on_signals(shut_down, quit_at_once)
