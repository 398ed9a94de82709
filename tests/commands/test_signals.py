"""The one Ctrl-C / SIGTERM installer of the commands: first a graceful stop, then quit."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from simulator.commands.signals import stop_on_signals, summary_kept


async def deliver(signum: signal.Signals, calls: list[tuple[str, signal.Signals]]) -> None:
    """Send this process `signum` and wait until a handler has recorded it."""
    seen = len(calls)
    os.kill(os.getpid(), signum)
    for _ in range(400):
        await asyncio.sleep(0.005)
        if len(calls) > seen:
            return
    pytest.fail(f"no handler saw {signum.name}")


async def test_first_signal_asks_to_stop_and_every_later_one_quits() -> None:
    calls: list[tuple[str, signal.Signals]] = []
    with stop_on_signals(
        lambda signum: calls.append(("stop", signum)),
        lambda signum: calls.append(("quit", signum)),
    ):
        await deliver(signal.SIGTERM, calls)
        await deliver(signal.SIGINT, calls)
        await deliver(signal.SIGINT, calls)
    assert calls == [
        ("stop", signal.SIGTERM),
        ("quit", signal.SIGINT),
        ("quit", signal.SIGINT),
    ]


async def test_without_a_quit_every_signal_asks_to_stop() -> None:
    stop = asyncio.Event()
    calls: list[tuple[str, signal.Signals]] = []

    def request_stop(signum: signal.Signals) -> None:
        stop.set()
        calls.append(("stop", signum))

    with stop_on_signals(request_stop):
        await deliver(signal.SIGINT, calls)
        await deliver(signal.SIGTERM, calls)
    assert stop.is_set()
    assert calls == [("stop", signal.SIGINT), ("stop", signal.SIGTERM)]


async def test_the_previous_handlers_are_back_after_the_block() -> None:
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    with stop_on_signals(lambda signum: None):
        assert signal.getsignal(signal.SIGTERM) != before[signal.SIGTERM]
    assert {signum: signal.getsignal(signum) for signum in before} == before


def test_off_the_main_thread_the_block_runs_with_the_signals_as_they_were() -> None:
    before = signal.getsignal(signal.SIGTERM)

    async def inside() -> bool:
        with stop_on_signals(lambda signum: None):
            return signal.getsignal(signal.SIGTERM) == before

    async def in_a_thread() -> bool:
        return await asyncio.to_thread(asyncio.run, inside())

    assert asyncio.run(in_a_thread())


async def test_within_summary_kept_the_signals_are_ignored_after_the_block_until_its_end() -> None:
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    with summary_kept():
        with stop_on_signals(lambda _signum: None):
            pass
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGTERM)  # the summary's moment: nothing happens
        await asyncio.sleep(0.01)
    assert {signum: signal.getsignal(signum) for signum in before} == before
