"""The control topic's commands, applied to a simulation without a broker."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

from simulator.adapters.sinks import drain_to_sink
from simulator.commands.run_mqtt import StatsMeter
from simulator.domino.billing import SequencedFrame
from simulator.domino.control import Controller
from simulator.domino.simulation import RunOptions, Simulation
from simulator.scenario.bundled import resolve_scenario
from simulator.scenario.loader import load_scenario, load_scenario_text
from simulator.scenario.speed import Speed
from simulator.wire import constants as c
from simulator.wire.jsonform import JsonDecoder

SCENARIO = """
name: control
start: "2026-11-21T09:00:00Z"
duration: 1h
server: CN=Mail01/O=Acme
notes_ini: {BillingClass: "Session", BillingSuppressTime: 15}
users:
  alice: {name: "CN=Alice/O=Acme", address: "10.0.0.1"}
script:
  - {at: 0m, user: alice, action: transfer}
"""


def make() -> tuple[Simulation, Controller, list[str]]:
    scenario = load_scenario_text(SCENARIO, "control.yaml")
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    quits: list[str] = []
    controller = Controller(sim, stats=lambda: {"records": 7}, on_quit=lambda: quits.append("q"))
    return sim, controller, quits


def send(controller: Controller, command: Any) -> dict[str, Any]:
    payload = command if isinstance(command, bytes) else json.dumps(command).encode()
    return controller.handle(payload)


def test_pause_and_resume_reach_the_engine() -> None:
    sim, controller, _ = make()
    assert send(controller, {"cmd": "pause"}) == {"ok": True, "cmd": "pause", "paused": True}
    assert sim.paused
    assert send(controller, {"cmd": "resume"})["paused"] is False
    assert not sim.paused


def test_speed_changes_the_pacer_and_bad_speeds_are_refused() -> None:
    sim, controller, _ = make()
    assert send(controller, {"cmd": "speed", "value": "60x"})["speed"] == "60x"
    assert sim.pacer.speed.factor == 60
    reply = send(controller, {"cmd": "speed", "value": "fast"})
    assert reply["ok"] is False and "speed" in reply["error"]
    assert sim.pacer.speed.factor == 60
    assert send(controller, {"cmd": "speed"})["ok"] is False


def test_set_changes_a_notes_ini_setting_from_the_next_record_on() -> None:
    sim, controller, _ = make()
    reply = send(controller, {"cmd": "set", "name": "billingclass", "value": "Session,Mail"})
    assert reply["ok"] is True
    assert reply["settings"]["BillingClass"] == "Session,Mail"
    assert sim.writer.class_mask == 0x01 | 0x08
    reply = send(controller, {"cmd": "set", "name": "BillingSuppressTime", "value": 5})
    assert reply["ok"] is True and sim.server.suppress_us == 5 * 60_000_000


def test_set_with_a_bad_value_or_name_is_an_error_reply_and_changes_nothing() -> None:
    sim, controller, _ = make()
    reply = send(controller, {"cmd": "set", "name": "BillingClass", "value": "Session,Bogus"})
    assert reply["ok"] is False and "Bogus" in reply["error"]
    assert sim.writer.class_mask == 0x01
    assert send(controller, {"cmd": "set", "name": "NoSuchSetting", "value": "1"})["ok"] is False
    assert send(controller, {"cmd": "set", "name": "BillingClass", "value": True})["ok"] is False


def test_server_name_cannot_change_while_the_server_runs() -> None:
    """ServerName is in every topic and the run's identity: a change is refused, a bad
    value is an error reply (it used to be accepted and kill the run at the next record)."""
    sim, controller, _ = make()
    long_name = "CN=" + "M" * 300
    reply = send(controller, {"cmd": "set", "name": "ServerName", "value": long_name})
    assert reply == {
        "ok": False,
        "error": "ServerName: name is 303 bytes of UTF-8, longer than 256",
    }
    reply = send(controller, {"cmd": "set", "name": "servername", "value": "CN=Hub/O=Acme"})
    assert reply == {"ok": False, "error": "ServerName cannot change while the server runs"}
    reply = send(controller, {"cmd": "set", "name": "ServerName", "value": "CN=Mail+01/O=Acme"})
    assert reply["ok"] is False and "not usable in an MQTT topic" in reply["error"]
    assert sim.server_name == sim.writer.server_name == "CN=Mail01/O=Acme"
    assert sim.settings.server_name is None
    # Naming the server it already is changes nothing, so it is no error.
    reply = send(controller, {"cmd": "set", "name": "ServerName", "value": "CN=Mail01/O=Acme"})
    assert reply["ok"] is True
    assert sim.server_name == sim.writer.server_name == "CN=Mail01/O=Acme"
    sim.run_action(sim.scenario.script[0])  # the next record is written as before
    assert sim.writer.frames == 1


def test_stats_and_quit() -> None:
    _, controller, quits = make()
    assert send(controller, {"cmd": "stats"}) == {
        "ok": True,
        "cmd": "stats",
        "stats": {"records": 7},
    }
    assert send(controller, {"cmd": "quit"})["quitting"] is True
    assert quits == ["q"]


def test_malformed_and_unknown_commands_get_error_replies() -> None:
    _, controller, quits = make()
    for payload in (b"{not json", b"\xff\xfe", b"[1, 2]", b'{"command": "pause"}', b'"pause"'):
        reply = controller.handle(payload)
        assert reply["ok"] is False and reply["error"], payload
    reply = send(controller, {"cmd": "reboot"})
    assert reply == {
        "ok": False,
        "error": "unknown command 'reboot' (pause, resume, speed, set, stats, quit)",
    }
    assert quits == []


MINUTE = 60_000_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ListSink:
    def __init__(self) -> None:
        self.frames: list[SequencedFrame] = []

    def write_batch(self, batch: list[SequencedFrame]) -> None:
        self.frames.extend(batch)

    def close(self) -> None:
        pass


async def test_quit_in_a_paced_run_ends_at_the_virtual_time_the_pacer_reached() -> None:
    """lifecycle-demo at 60x on a fake wall clock: START and OPEN at 0, then nothing until
    the edit at 5m. The virtual time (stats) moves with the wall clock between events, stands
    still while paused, and a quit ends the session (CLOSE_END, END) at the virtual time
    reached then, not at 0, the last event's."""
    clock = FakeClock()
    scenario = load_scenario(resolve_scenario("lifecycle-demo"))
    options = RunOptions(speed=Speed.parse("60x"))
    sim = Simulation(scenario, scenario.settings_with(), options, wall_clock=clock)
    meter = StatsMeter(sim, SimpleNamespace(in_flight=0, delivered=0), "run")
    controller = Controller(sim, stats=meter.sample, on_quit=sim.request_stop)
    sink = ListSink()
    drain = asyncio.create_task(drain_to_sink(sim.queue, sink))
    task = asyncio.create_task(sim.run())
    for _ in range(100):
        await asyncio.sleep(0)
        if sim.writer.frames >= 2:
            break
    assert sim.writer.frames == 2 and sim.now == 0

    def virtual_time() -> str:
        return str(send(controller, {"cmd": "stats"})["stats"]["virtual_time"])

    assert virtual_time() == "2026-11-21T09:00:00.00Z"
    clock.now += 2.0  # 2 virtual minutes at 60x
    assert sim.virtual_now() == 2 * MINUTE
    assert virtual_time() == "2026-11-21T09:02:00.00Z"
    assert send(controller, {"cmd": "pause"})["ok"]
    clock.now += 600.0
    assert virtual_time() == "2026-11-21T09:02:00.00Z"  # paused: frozen
    assert send(controller, {"cmd": "resume"})["ok"]
    clock.now += 0.5
    assert virtual_time() == "2026-11-21T09:02:30.00Z"
    assert send(controller, {"cmd": "speed", "value": "120x"})["ok"]
    clock.now += 0.5
    assert sim.virtual_now() == 3 * MINUTE + 30_000_000
    await asyncio.sleep(0)
    assert sim.writer.frames == 2  # the edit at 5m is not due yet
    assert send(controller, {"cmd": "quit"})["ok"]
    clock.now += 100.0  # the stop found it at 09:03:30; the shutdown takes its time
    await asyncio.wait_for(task, 2)
    await asyncio.wait_for(drain, 2)
    decode = JsonDecoder(sim.codec)
    objs = [decode(frame, 0, seq) for seq, frame in sink.frames]
    assert [(o["StructType"], o["rec"]["Action"], o["TimeStamp"]) for o in objs] == [
        (c.BILL_SESSIONREC, c.BILL_SESSION_START, "2026-11-21T09:00:00.00Z"),
        (c.BILL_DBREC, c.BILL_DB_OPEN, "2026-11-21T09:00:00.00Z"),
        (c.BILL_DBREC, c.BILL_DB_CLOSE_END, "2026-11-21T09:03:30.00Z"),
        (c.BILL_SESSIONREC, c.BILL_SESSION_END, "2026-11-21T09:03:30.00Z"),
    ]
    assert sim.now == 3 * MINUTE + 30_000_000
    assert virtual_time() == "2026-11-21T09:03:30.00Z"


async def test_a_paced_run_stopped_late_ends_no_later_than_its_duration() -> None:
    clock = FakeClock()
    scenario = load_scenario_text(SCENARIO, "control.yaml")
    options = RunOptions(speed=Speed.parse("realtime"))
    sim = Simulation(scenario, scenario.settings_with(), options, wall_clock=clock)
    drain = asyncio.create_task(drain_to_sink(sim.queue, ListSink()))
    task = asyncio.create_task(sim.run())
    for _ in range(100):
        await asyncio.sleep(0)
        if sim.writer.frames >= 1:
            break
    clock.now += 7200.0  # two hours of a one-hour scenario, and the loop has not looked yet
    assert sim.virtual_now() == sim.duration
    sim.request_stop()
    await asyncio.wait_for(task, 2)
    await asyncio.wait_for(drain, 2)
    assert sim.now == sim.duration
