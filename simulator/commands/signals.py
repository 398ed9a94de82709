"""Ctrl-C and SIGTERM for a command on an event loop: the first asks to stop, a second quits."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

SignalCallback = Callable[[signal.Signals], None]


@contextlib.contextmanager
def stop_on_signals(
    request_stop: SignalCallback, quit_now: SignalCallback | None = None
) -> Iterator[None]:
    """While the block runs, the first SIGINT or SIGTERM calls `request_stop` (a graceful
    stop) and every later one `quit_now` (leave at once); with no `quit_now`, every signal
    calls `request_stop`. Each is called with the signal received.

    Handlers go on the running loop, so they run between its tasks rather than inside
    whatever code the signal interrupted. Afterwards the handlers from before are back.
    Where the loop cannot take signals (not the main thread, no Unix signals) they keep
    their previous handling. Within `summary_kept` they are ignored afterwards instead.
    """
    loop = asyncio.get_running_loop()
    received = 0

    def on_signal(signum: signal.Signals) -> None:
        nonlocal received
        received += 1
        if received == 1 or quit_now is None:
            request_stop(signum)
        else:
            quit_now(signum)

    replaced = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (ValueError, RuntimeError, NotImplementedError):
            continue
        replaced[signum] = previous
    try:
        yield
    finally:
        for signum, previous in replaced.items():
            loop.remove_signal_handler(signum)
            if _keeping_summary:
                signal.signal(signum, signal.SIG_IGN)
            # The loop would leave Python's default handler; asyncio.run had its own for
            # SIGINT (cancel the main task), which must be back for what runs after us.
            elif previous is not None:
                signal.signal(signum, previous)


# Set while `summary_kept` is: the handlers of `stop_on_signals` then give way to none.
_keeping_summary = False


@contextlib.contextmanager
def summary_kept() -> Iterator[None]:
    """Around a run and its summary: from the end of the block of `stop_on_signals` until
    this one's, SIGINT and SIGTERM are ignored, then the handlers from before are back.
    A run that is over has only its summary left to write and print, which is quick; a
    late Ctrl-C or SIGTERM (the second of a shutdown that just ended) would only lose it,
    with a traceback or exit 130 / 143. Off the main thread signals are left alone."""
    global _keeping_summary  # noqa: PLW0603 - the one process-wide signal disposition
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    _keeping_summary = True
    try:
        yield
    finally:
        _keeping_summary = False
        for signum, handler in saved.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
