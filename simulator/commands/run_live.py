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


class Progress:
    """One status line rewritten in place on a terminal: virtual time, records, rate, queue."""

    def __init__(
        self, sim: Simulation, stream: TextIO, extra: Callable[[], str] | None = None
    ) -> None:
        self.sim = sim
        self.stream = stream
        self.extra = extra
        self.enabled = stream.isatty()
        self._last_frames = 0
        self._last_time = time.monotonic()
        self._shown = False

    def line(self) -> str:
        now = time.monotonic()
        frames = self.sim.writer.frames
        rate = (frames - self._last_frames) / max(now - self._last_time, 1e-6)
        self._last_frames, self._last_time = frames, now
        stats = self.sim.queue.stats()
        stamp = self.sim.writer.stamp(self.sim.virtual_now())
        text = (
            f"{format_timedate(stamp)}  records {frames:,}  "
            f"{rate:,.0f}/s  queue {stats.depth:,}  in flight {stats.held:,}  "
            f"dropped {stats.dropped:,}"
        )
        if self.extra is not None:
            text += "  " + self.extra()
        return text

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


def shutdown_on_signals(sim: Simulation, stderr: TextIO) -> contextlib.AbstractContextManager[None]:
    """Ctrl-C / SIGTERM shut the server down as Domino does; a second one leaves at once,
    saying how many frames it leaves undelivered."""

    def shut_down(signum: signal.Signals) -> None:
        stderr.write(
            f"\nbillsim: {signum.name}: shutting down: ending "
            f"{len(sim.server.sessions)} open session(s), draining the queue "
            "(Ctrl-C again to quit at once)\n"
        )
        stderr.flush()
        sim.request_stop()

    def quit_at_once(_signum: signal.Signals) -> None:
        stats = sim.queue.stats()
        left = stats.depth + stats.held + sim.frames_waiting
        stderr.write(f"\nbillsim: quitting at once: {left} frame(s) left undelivered\n")
        stderr.flush()
        os._exit(EXIT_FAILED)

    return stop_on_signals(shut_down, quit_at_once)
