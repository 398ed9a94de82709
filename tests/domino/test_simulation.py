"""The engine around the server model: determinism, MQ$BILLING policies, pacing, stopping."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from simulator.adapters.sinks import drain_to_sink
from simulator.commands.run import RunRequest, run, run_to_sink
from simulator.domino.billing import SequencedFrame
from simulator.domino.mq import QuotaPolicy
from simulator.domino.simulation import RunOptions, Simulation
from simulator.scenario.bundled import resolve_scenario
from simulator.scenario.loader import load_scenario, load_scenario_text
from simulator.scenario.models import Scenario
from simulator.scenario.speed import Speed
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder
from simulator.wire.layout import Framing, Layout

MINUTE = 60_000_000


def crowd_text(users: int = 30, *, duration: str = "40m") -> str:
    """`users` users, each opening a charged database, reading a note and logging out."""
    names = "".join(
        f'  u{i}: {{name: "CN=User {i}/O=Acme", address: "10.0.1.{i}"}}\n' for i in range(users)
    )
    script = "".join(
        f"  - {{at: {i}s, user: u{i}, action: read, db: apps/o.nsf, note_id: 0x10,"
        f" bytes_in: {i}}}\n"
        f"  - {{at: {20 + i}m, user: u{i}, action: logout}}\n"
        for i in range(users)
        if i < 20
    ) + "".join(f"  - {{at: {i}s, user: u{i}, action: transfer}}\n" for i in range(20, users))
    return (
        "name: crowd\nseed: 3\nstart: 2026-11-21T09:00:00Z\n"
        f"duration: {duration}\nserver: CN=Mail01/O=Acme\n"
        'notes_ini: {BillingClass: "Session,Database,Document", BillingSuppressTime: 15}\n'
        "databases:\n"
        '  apps/o.nsf: {replica_id: "85258A3B:000000FF", documents: {0x10: {charge_read: 1}}}\n'
        f"users:\n{names}script:\n{script}"
    )


def simulation(
    scenario: Scenario,
    options: RunOptions | None = None,
    wall_clock: Callable[[], float] = time.monotonic,
) -> Simulation:
    return Simulation(
        scenario, scenario.settings_with(), options or RunOptions(), wall_clock=wall_clock
    )


def stepped_frames(scenario: Scenario, options: RunOptions | None = None) -> list[SequencedFrame]:
    """Every frame of a run, by stepping with a capturing sink (no queue)."""
    sim = simulation(scenario, options)
    frames: list[SequencedFrame] = []
    sim.writer.put = frames.append
    while sim.step():
        pass
    return frames


class ListSink:
    def __init__(self) -> None:
        self.frames: list[SequencedFrame] = []
        self.closed = False

    def write_batch(self, batch: list[SequencedFrame]) -> None:
        self.frames.extend(batch)

    def close(self) -> None:
        self.closed = True


class FakeClock:
    def __init__(self, now: float = 5000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- determinism ----------------------------------------------------------------------------


def run_out(
    scenario: str, out: Path, *, seed: int | None = None, layout: Layout = Layout.LINUX_X86_64
) -> bytes:
    request = RunRequest(scenario=scenario, out=out, seed=seed, layout=layout)
    code = run(request, stdout=io.StringIO(), stderr=io.StringIO())
    assert code == 0
    return out.read_bytes()


@pytest.mark.parametrize("layout", [Layout.LINUX_X86_64, Layout.WIN32])
def test_same_scenario_seed_and_layout_give_the_same_bytes(tmp_path: Path, layout: Layout) -> None:
    crowd = tmp_path / "crowd.yaml"
    crowd.write_text(crowd_text())
    for scenario in ("lifecycle-demo", str(crowd)):
        first = run_out(scenario, tmp_path / "1.nbf", layout=layout)
        second = run_out(scenario, tmp_path / "2.nbf", layout=layout)
        assert first == second
        assert len(first) > 0


def test_another_seed_changes_only_the_derived_identifiers(tmp_path: Path) -> None:
    """lifecycle-demo reads one charged document: only its DOCUMENT frame (the OID) differs."""
    same = run_out("lifecycle-demo", tmp_path / "a.nbf")
    other = run_out("lifecycle-demo", tmp_path / "b.nbf", seed=2)
    assert same != other
    codec = FrameCodec(Layout.LINUX_X86_64, Framing.PAD_UNION)
    decode = JsonDecoder(codec)
    size = 1000
    assert len(same) == len(other) == 12 * size
    differing = []
    for offset in range(0, len(same), size):
        if same[offset : offset + size] != other[offset : offset + size]:
            a, b = decode(same, offset), decode(other, offset)
            assert a["StructType"] == c.BILL_DOCCHARGE
            assert {k: v for k, v in a["rec"].items() if k != "OriginatorID"} == {
                k: v for k, v in b["rec"].items() if k != "OriginatorID"
            }
            differing.append(offset // size)
    assert differing == [5]


# --- MQ$BILLING policies --------------------------------------------------------------------


async def test_block_policy_with_a_tiny_quota_loses_nothing() -> None:
    scenario = load_scenario_text(crowd_text(), "crowd.yaml")
    expected = stepped_frames(scenario)
    assert len(expected) > 50
    sim = simulation(scenario, RunOptions(quota=2))
    sink = ListSink()
    written = await run_to_sink(sim, sink, io.StringIO())
    assert written == len(expected)
    assert sink.frames == expected
    assert sink.closed
    stats = sim.queue.stats()
    assert stats.dropped == 0
    assert stats.high_water <= 2


async def test_drop_policy_with_a_tiny_quota_and_no_consumer_counts_drops() -> None:
    scenario = load_scenario_text(crowd_text(), "crowd.yaml")
    expected = stepped_frames(scenario)
    sim = simulation(scenario, RunOptions(quota=2, policy=QuotaPolicy.DROP))
    await asyncio.wait_for(sim.run(), 5)
    stats = sim.queue.stats()
    assert sim.writer.frames == len(expected)
    assert stats.dropped == len(expected) - 2
    assert stats.depth == 2
    kept = sim.queue.get_many_nowait(10, hold=False)
    assert kept == expected[:2]


def test_a_burst_stops_where_a_put_of_each_frame_first_found_the_queue_full() -> None:
    """The burst hands its frames on at its end: it must stop after the same event, with
    the same frames queued and waiting, as a run putting each frame at once (some of
    these quotas fill up exactly at the end of an event, and the run goes on)."""
    scenario = load_scenario_text(crowd_text(), "crowd.yaml")
    for quota in range(1, 41):
        each = simulation(scenario, RunOptions(quota=quota))
        while not each.frames_waiting:
            assert each.step()
        burst = simulation(scenario, RunOptions(quota=quota))
        burst._burst(paced=False)
        assert burst.events == each.events, quota
        assert burst.frames_waiting == each.frames_waiting > 0
        # What a quit at once leaves: the quota's frames in the queue and those waiting.
        assert burst.frames_left == quota + burst.frames_waiting
        assert list(burst._pending) == list(each._pending)
        assert burst.queue.stats() == each.queue.stats()
        assert burst.queue.get_many_nowait(quota) == each.queue.get_many_nowait(quota)


def test_a_burst_into_a_dropping_queue_drops_what_a_put_of_each_would() -> None:
    scenario = load_scenario_text(crowd_text(), "crowd.yaml")
    options = RunOptions(quota=5, policy=QuotaPolicy.DROP)
    each = simulation(scenario, options)
    burst = simulation(scenario, options)
    burst._burst(paced=False)
    for _ in range(burst.events):
        each.step()
    assert burst.writer.frames > 5
    assert burst.queue.stats() == each.queue.stats()
    assert burst.queue.stats().dropped == burst.writer.frames - 5
    assert burst.queue.get_many_nowait(5) == each.queue.get_many_nowait(5)


# --- pacing ---------------------------------------------------------------------------------


async def test_a_60x_run_waits_virtual_time_over_60(monkeypatch: pytest.MonkeyPatch) -> None:
    """lifecycle-demo spans 90 virtual minutes: at 60x the engine waits 90 wall seconds in
    all, each wait the gap to the next event divided by 60 (a fake clock; no real sleep)."""
    clock = FakeClock()
    scenario = load_scenario(resolve_scenario("lifecycle-demo"))
    sim = simulation(scenario, RunOptions(speed=Speed.parse("60x")), wall_clock=clock)
    assert sim.pacer.delay_until(15 * MINUTE) == pytest.approx(15.0)
    waits: list[float] = []
    times: list[int] = []

    async def fake_wait(timeout: float | None) -> None:
        assert timeout is not None
        waits.append(timeout)
        times.append(sim.now)
        clock.now += timeout

    monkeypatch.setattr(sim, "_wait_wake", fake_wait)
    sink = ListSink()
    drain = asyncio.create_task(drain_to_sink(sim.queue, sink))
    await asyncio.wait_for(sim.run(), 5)
    await asyncio.wait_for(drain, 5)
    assert len(sink.frames) == 12
    assert sim.now == 90 * MINUTE
    assert sum(waits) == pytest.approx(90.0)
    assert sim.wall_ended - sim.wall_started == pytest.approx(90.0)
    assert all(w > 0 for w in waits)
    assert waits[0] == pytest.approx(5.0)  # from the events at 0m to the edit at 5m
    assert times[0] == 0


async def test_a_60x_run_paces_on_the_real_clock() -> None:
    text = crowd_text(0, duration="6s").replace(
        "users:\n", 'users:\n  a: {name: "CN=A/O=Acme", address: "10.0.0.1"}\n'
    )
    text += "  - {at: 0s, user: a, action: transfer}\n  - {at: 3s, user: a, action: logout}\n"
    scenario = load_scenario_text(text, "short.yaml")
    sim = simulation(scenario, RunOptions(speed=Speed.parse("60x")))
    drain = asyncio.create_task(drain_to_sink(sim.queue, ListSink()))
    started = time.monotonic()
    await asyncio.wait_for(sim.run(), 5)
    elapsed = time.monotonic() - started
    await drain
    assert 0.09 <= elapsed < 1.0  # 6 virtual seconds at 60x: 0.1 s


async def test_request_stop_mid_run_ends_open_sessions_and_returns() -> None:
    """Paced at realtime with a clock that never moves, the run waits for the edit at 5m;
    a stop then shuts the server down at the current virtual time (0): CLOSE_END, END."""
    scenario = load_scenario(resolve_scenario("lifecycle-demo"))
    sim = simulation(scenario, RunOptions(speed=Speed.parse("realtime")), wall_clock=FakeClock())
    sink = ListSink()
    drain = asyncio.create_task(drain_to_sink(sim.queue, sink))
    task = asyncio.create_task(sim.run())
    for _ in range(100):
        await asyncio.sleep(0)
        if sim.writer.frames >= 2:
            break
    assert sim.writer.frames == 2
    assert not task.done()
    sim.request_stop()
    await asyncio.wait_for(task, 2)
    await asyncio.wait_for(drain, 2)
    decode = JsonDecoder(sim.codec)
    objs = [decode(frame, 0, seq) for seq, frame in sink.frames]
    assert [(o["StructType"], o["rec"]["Action"]) for o in objs] == [
        (c.BILL_SESSIONREC, c.BILL_SESSION_START),
        (c.BILL_DBREC, c.BILL_DB_OPEN),
        (c.BILL_DBREC, c.BILL_DB_CLOSE_END),
        (c.BILL_SESSIONREC, c.BILL_SESSION_END),
    ]
    assert {o["TimeStamp"] for o in objs} == {"2026-11-21T09:00:00.00Z"}
    assert objs[-1]["rec"]["BytesIn"] == 400
    assert sim.finished
    assert not sim.server.sessions
    assert sim.now == 0
