"""The live line's pieces that need no run: the rate meter and the line off a terminal."""

from __future__ import annotations

import asyncio
import io

import pytest

from simulator.commands.run_live import LiveLine, RateMeter


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_rate_meter_reads_the_records_since_its_own_previous_reading() -> None:
    clock, count = _Clock(), [0]
    meter = RateMeter(lambda: count[0], clock)
    other = RateMeter(lambda: count[0], clock)
    count[0], clock.now = 500, 101.0
    assert meter.per_second() == 500.0
    count[0], clock.now = 800, 103.0
    assert meter.per_second() == 150.0  # 300 records over its own 2 s
    assert other.per_second() == 800 / 3  # 800 over the 3 s since it was made


def test_a_reading_right_after_the_last_repeats_its_rate() -> None:
    clock, count = _Clock(), [0]
    meter = RateMeter(lambda: count[0], clock)
    count[0], clock.now = 100, 101.0
    assert meter.per_second() == 100.0
    count[0], clock.now = 130, 101.01  # 30 records in 10 ms would read 3,000/s
    assert meter.per_second() == 100.0
    clock.now = 102.0  # the 30 still count, over the whole second since the last reading
    assert meter.per_second() == 30.0


class _Line(LiveLine):
    def line(self) -> str:
        return "records 1"


async def test_a_live_line_off_a_terminal_writes_nothing() -> None:
    stream = io.StringIO()
    live = _Line(stream)
    assert not live.enabled
    await asyncio.wait_for(live.run(interval=0.01), 1)  # returns at once
    live.clear()
    assert stream.getvalue() == ""


async def test_a_live_line_on_a_terminal_rewrites_itself_and_clears() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    live = _Line(stream)
    task = asyncio.create_task(live.run(interval=0.01))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    live.clear()
    text = stream.getvalue()
    assert text.startswith("\r\x1b[2Krecords 1")
    assert text.endswith("\r\x1b[2K")
