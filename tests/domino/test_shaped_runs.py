"""The engine paced by its output (`--rate`, `stages:`) and runs without end (`forever`).

The wall clock is fake and the engine's waits advance it, so nothing here sleeps: what is
checked is how many records the engine had written by each wall-clock instant.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field

import pytest

from simulator.adapters.sinks import drain_to_sink
from simulator.commands.run import run_to_sink
from simulator.domino.billing import SequencedFrame
from simulator.domino.simulation import RunOptions, Simulation
from simulator.scenario.loader import load_scenario_text
from simulator.scenario.models import Scenario
from simulator.scenario.rate import RatePlan, RateStage
from simulator.scenario.speed import Speed
from simulator.wire import constants as c
from simulator.wire.jsonform import JsonDecoder

WORKLOAD = """\
name: shaped
seed: 4
start: {start}
duration: {duration}
server: CN=Mail01/O=Acme
stamp_policy: activity
notes_ini: {{BillingClass: "Session,Database,Document", BillingSuppressTime: 1}}
databases:
  mail/shared.nsf: {{replica_id: "85258A3B:0052C1F0"}}
workload: {{users: 100, arrival: 1m, think_time: 1m, session_length: 20m}}
"""


def workload(
    duration: str = "1h", start: str = "2026-11-21T09:00:00Z", session_length: str = "20m"
) -> Scenario:
    text = WORKLOAD.format(duration=duration, start=start).replace(
        "session_length: 20m", f"session_length: {session_length}"
    )
    return load_scenario_text(text, "shaped.yaml")


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class ListSink:
    def __init__(self) -> None:
        self.frames: list[SequencedFrame] = []

    def write_batch(self, batch: list[SequencedFrame]) -> None:
        self.frames.extend(batch)

    def close(self) -> None:
        pass


@dataclass
class PacedRun:
    """A run on a fake clock: at each of the engine's waits, (seconds into the run, records
    written so far)."""

    sim: Simulation
    clock: FakeClock
    frames: list[SequencedFrame] = field(default_factory=list)
    samples: list[tuple[float, int]] = field(default_factory=list)


async def paced_run(
    scenario: Scenario, options: RunOptions, monkeypatch: pytest.MonkeyPatch
) -> PacedRun:
    clock = FakeClock()
    sim = Simulation(scenario, scenario.settings_with(), options, wall_clock=clock)
    run = PacedRun(sim, clock)
    started = clock.now

    async def fake_wait(timeout: float | None) -> None:
        assert timeout is not None and timeout > 0
        run.samples.append((clock.now - started, sim.writer.frames))
        clock.now += timeout

    monkeypatch.setattr(sim, "_wait_wake", fake_wait)
    sink = ListSink()
    drain = asyncio.create_task(drain_to_sink(sim.queue, sink))
    await asyncio.wait_for(sim.run(), 20)
    await asyncio.wait_for(drain, 5)
    run.frames = sink.frames
    return run


async def max_speed_frames(scenario: Scenario) -> list[SequencedFrame]:
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    sink = ListSink()
    await run_to_sink(sim, sink, io.StringIO())
    return sink.frames


def plan(*stages: tuple[float, float]) -> RatePlan:
    return RatePlan(tuple(RateStage(rate, seconds) for rate, seconds in stages))


async def test_a_rate_paces_the_records_and_leaves_them_as_at_max_speed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = workload()
    expected = await max_speed_frames(scenario)
    run = await paced_run(scenario, RunOptions(rate=RatePlan.constant(1000)), monkeypatch)
    assert run.frames == expected  # the same records, numbered alike: only the pace changed
    assert len(expected) > 5000
    # By every instant the engine has written no more than the rate allows: the bucket's
    # 0.05 s, and the few records of the event that went over.
    for seconds, written in run.samples:
        assert written <= 1000 * seconds + 50 + 5, (seconds, written)
    # And it kept up: the run took as long as its records at 1000/s.
    ended_at, written_at_last_wait = run.samples[-1]
    assert ended_at == pytest.approx(written_at_last_wait / 1000, abs=0.05)
    assert run.sim.target_rate() == 1000
    assert run.sim.pace == "1000/s"


def _is_session_end(sim: Simulation, frame: bytes) -> bool:
    record = JsonDecoder(sim.codec)(frame, 0)
    return bool(
        record["StructType"] == c.BILL_SESSIONREC and record["rec"]["Action"] == c.BILL_SESSION_END
    )


async def test_the_end_records_of_the_sessions_open_at_the_end_leave_at_the_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = workload(duration="30m", session_length="12h")
    expected = await max_speed_frames(scenario)
    run = await paced_run(scenario, RunOptions(rate=RatePlan.constant(1000)), monkeypatch)
    assert run.frames == expected
    # Every session is still open at the end: the shutdown writes all their ENDs.
    ends = sum(1 for _, frame in expected if _is_session_end(run.sim, frame))
    assert ends == run.sim.server.sessions_started > 100
    # They left at the rate as well: after the last wait, at most the bucket (0.05 s at
    # 1000/s) and the few records of a session's END more.
    ended_at, _ = run.samples[-1]
    assert len(expected) <= 1000 * ended_at + 50 + 5


async def test_a_stop_asked_for_ends_the_sessions_at_once_not_at_the_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = workload()
    clock = FakeClock()
    sim = Simulation(
        scenario,
        scenario.settings_with(),
        RunOptions(rate=RatePlan.constant(100)),
        wall_clock=clock,
    )
    waits: list[int] = []
    open_at_stop: list[int] = []

    async def fake_wait(timeout: float | None) -> None:
        waits.append(sim.writer.frames)
        clock.now += timeout or 0.0
        if len(waits) == 20:
            open_at_stop.append(len(sim.server.sessions))
            sim.request_stop()  # Ctrl-C

    monkeypatch.setattr(sim, "_wait_wake", fake_wait)
    sink = ListSink()
    drain = asyncio.create_task(drain_to_sink(sim.queue, sink))
    await asyncio.wait_for(sim.run(), 20)
    await asyncio.wait_for(drain, 5)
    assert len(waits) == 20  # no wait after the stop: the ENDs went at once
    assert not sim.server.sessions
    after_stop = sink.frames[waits[-1] :]
    ends = sum(1 for _, frame in after_stop if _is_session_end(sim, frame))
    # Every open session's END, more than a bucket at 100/s holds (5 records).
    assert ends == open_at_stop[0] > 5


async def test_stages_ramp_then_pause_then_the_last_rate_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = workload()
    shaped = plan((2000, 1), (0, 0.5), (4000, 0))
    run = await paced_run(scenario, RunOptions(rate=shaped), monkeypatch)
    assert run.frames == await max_speed_frames(scenario)
    at_ramp_end = max(n for t, n in run.samples if t <= 1.0)
    # The ramp 0 → 2000/s over 1 s: 1000 records.
    assert at_ramp_end == pytest.approx(1000, abs=60)
    # Nothing during the pause.
    in_pause = [n for t, n in run.samples if 1.0 < t <= 1.5]
    assert in_pause and max(in_pause) <= at_ramp_end + 5
    # Then 4000/s to the end.
    later = [(t, n) for t, n in run.samples if t > 1.6]
    (t0, n0), (t1, n1) = later[0], later[-1]
    assert (n1 - n0) / (t1 - t0) == pytest.approx(4000, rel=0.05)


async def test_a_last_stage_of_rate_0_ends_the_run_before_its_duration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = workload(duration="8h")
    run = await paced_run(scenario, RunOptions(rate=plan((500, 0), (500, 1), (0, 1))), monkeypatch)
    sim = run.sim
    assert sim.finished
    assert 0 < sim.now < sim.duration  # ended where the records had got to
    assert run.clock.now - 5000.0 == pytest.approx(2.0, abs=0.01)
    assert sim.writer.frames == len(run.frames)
    # The server shut down as at its duration: every open session got its END.
    assert not sim.server.sessions
    decode = JsonDecoder(sim.codec)
    last = decode(run.frames[-1][1], 0)
    assert (last["StructType"], last["rec"]["Action"]) == (c.BILL_SESSIONREC, c.BILL_SESSION_END)


async def test_a_speed_change_ends_the_shaping(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = workload()
    clock = FakeClock()
    sim = Simulation(
        scenario, scenario.settings_with(), RunOptions(rate=RatePlan.constant(10)), wall_clock=clock
    )
    assert sim.target_rate() == 10
    sim.set_speed(Speed(None))
    assert sim.target_rate() is None
    assert sim.pace == "max"
    frames = ListSink()
    await asyncio.wait_for(run_to_sink(sim, frames, io.StringIO()), 20)
    assert frames.frames == await max_speed_frames(scenario)  # never waited on the clock


# --- forever ----------------------------------------------------------------------------------


async def test_a_forever_run_goes_on_until_stopped_and_then_shuts_down() -> None:
    scenario = workload(duration="forever")
    assert scenario.duration is None and scenario.end is None
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    sink = ListSink()
    drain = asyncio.create_task(drain_to_sink(sim.queue, sink))
    task = asyncio.create_task(sim.run())
    # Past any duration a workload of 100 users would fill in a few seconds of wall time.
    while sim.now < 24 * 3_600_000_000:
        await asyncio.sleep(0)
    sim.request_stop()
    await asyncio.wait_for(task, 10)
    await asyncio.wait_for(drain, 5)
    assert sim.finished and not sim.server.sessions
    assert len(sink.frames) == sim.writer.frames
    # The generated users kept coming back: sessions started well past the first 100.
    assert sim.server.sessions_started > 1000


async def test_a_forever_run_ends_when_the_clock_runs_out_at_the_year_9999() -> None:
    scenario = workload(duration="forever", start="9999-12-31T20:00:00Z")
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    sink = ListSink()
    await asyncio.wait_for(run_to_sink(sim, sink, io.StringIO()), 20)
    decode = JsonDecoder(sim.codec)
    last = decode(sink.frames[-1][1], 0)
    assert last["TimeStamp"] == "9999-12-31T23:59:59.99Z"
    assert (last["StructType"], last["rec"]["Action"]) == (c.BILL_SESSIONREC, c.BILL_SESSION_END)
