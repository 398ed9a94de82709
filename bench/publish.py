"""Publish-path benchmark: the engine and the MQTT publish path into a null transport.

`billsim run`'s MQTT path as the command runs it (`run_on_mqtt`: the engine, MQ$BILLING,
the BillingDrain with its window, frame packets, topics and properties, gmqtt's client
and the glue's PUBACK reader) with no socket under it: the event loop's
`create_connection` hands gmqtt a `NullTransport` that takes every write, answers the
CONNECT, SUBSCRIBE and PINGREQ, and acknowledges each QoS 1 PUBLISH at once, all the
PUBACKs of one write in one read, as a broker on loopback does. Prints frames per CPU
second on one core (best of N by CPU time) for binary and JSON payloads at QoS 1 and 0,
and the engine alone into a `NullSink` for reference. The transport stands in for the
broker: it parses each packet it is written for the packet id, which is the broker's work,
not billsim's. Its CPU time is measured apart (a clock reading around each write) and
each run prints both figures: billsim's own frames per CPU second (the stand-in's time
taken out; the aim of issue 16, 150,000 binary, is about this one) and the whole
process's (the stand-in's time in).
`--receive-maximum 20` (mosquitto's default) makes batches of 18 frames instead of 1,000.

Run by hand: `python bench/publish.py [--users 5000] [--duration 3h] [--repeat 3]
[--runs binary-1,binary-0,json-1] [--profile FILE] [--receive-maximum N]`. Under callgrind
(`valgrind --tool=callgrind python bench/publish.py --repeat 1 --runs binary-1 ...`) each
run prints its frames: instructions a frame are the total over them (less the engine's).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import logging
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import THROUGHPUT_SCENARIO

from simulator.adapters.logs import configure_logging
from simulator.adapters.mqtt.options import MqttOptions
from simulator.adapters.sinks import NullSink
from simulator.commands.garbage import collect_garbage_seldom
from simulator.commands.run import run_to_sink
from simulator.commands.run_mqtt import run_on_mqtt
from simulator.domino.simulation import RunOptions, Simulation
from simulator.scenario.loader import load_scenario_text

# The flat-keys scenario of bench/engine.py, with the classes the aim names.
_CLASSES = 'BillingClass: "Session,Database,Document"'

_CONNECT, _PUBLISH, _SUBSCRIBE, _PINGREQ, _DISCONNECT = 0x10, 0x30, 0x80, 0xC0, 0xE0


class NullTransport(asyncio.Transport):
    """A connection to a broker that is not there: writes are parsed and answered (CONNACK,
    SUBACK, PINGRESP, a PUBACK for each QoS 1 PUBLISH), each write's answers in one read
    on the next turn of the loop; nothing is kept. ``cpu`` is the CPU time spent in
    ``write`` (the parsing) when ``timed``: not under cProfile, where each reading of a CPU
    clock showed up as costly as the parsing itself. ``publishes``: the PUBLISH packets
    written."""

    def __init__(
        self,
        protocol: asyncio.Protocol,
        loop: asyncio.AbstractEventLoop,
        receive_maximum: int,
        timed: bool = True,
    ) -> None:
        super().__init__()
        self._protocol = protocol
        self._loop = loop
        self._closing = False
        self._reading = True
        self._v5 = True
        self._receive_maximum = receive_maximum
        self._partial = b""
        self._clock = time.process_time if timed else _no_clock
        self.cpu = 0.0
        self.publishes = 0
        self.bytes = 0

    # -- what asyncio and gmqtt ask of a transport ------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._loop.call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def is_reading(self) -> bool:
        return self._reading

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        self._reading = True

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def can_write_eof(self) -> bool:
        return False

    # -- the broker -------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        started = self._clock()
        data = self._partial + bytes(data)
        answers = bytearray()
        size = len(data)
        at = 0
        while at < size:
            length = shift = 0
            body = at + 1
            byte = 0x80
            while byte >= 0x80 and body < size:
                byte = data[body]
                body += 1
                length |= (byte & 0x7F) << shift
                shift += 7
            stop = body + length
            if byte >= 0x80 or stop > size:  # the rest comes with the next write
                break
            cmd = data[at]
            kind = cmd & 0xF0
            if kind == _PUBLISH:
                self.publishes += 1
                if cmd & 0x06:
                    mid_at = body + 2 + (data[body] << 8 | data[body + 1])
                    answers += b"\x40\x02" + data[mid_at : mid_at + 2]
            elif kind == _CONNECT:
                self._v5 = data[body + 6] == 5  # after the protocol name: the level
                if self._v5:
                    maximum = self._receive_maximum.to_bytes(2, "big")
                    answers += b"\x20\x06\x00\x00\x03\x21" + maximum
                else:
                    answers += b"\x20\x02\x00\x00"
            elif kind == _SUBSCRIBE:
                answers += (
                    b"\x90\x04" + data[body : body + 2] + b"\x00\x01"
                    if self._v5
                    else b"\x90\x03" + data[body : body + 2] + b"\x01"
                )
            elif kind == _PINGREQ:
                answers += b"\xd0\x00"
            elif kind == _DISCONNECT:
                self.close()
            at = stop
        self._partial = data[at:]
        self.bytes += at
        if answers and not self._closing:
            self._loop.call_soon(self._read, bytes(answers))
        self.cpu += self._clock() - started

    def _read(self, data: bytes) -> None:
        if not self._closing:
            self._protocol.data_received(data)


def _no_clock() -> float:
    return 0.0


def null_broker(
    loop: asyncio.AbstractEventLoop, receive_maximum: int, timed: bool = True
) -> list[NullTransport]:
    """Make every connection of ``loop`` a ``NullTransport``; returns the list they go in."""
    made: list[NullTransport] = []

    async def create_connection(
        protocol_factory: Callable[[], asyncio.Protocol], *_args: Any, **_kwargs: Any
    ) -> tuple[NullTransport, asyncio.Protocol]:
        protocol = protocol_factory()
        transport = NullTransport(protocol, loop, receive_maximum, timed)
        protocol.connection_made(transport)
        made.append(transport)
        return transport, protocol

    loop.create_connection = create_connection  # type: ignore[method-assign,assignment]
    return made


def _simulation(users: int, duration: str, classes: str) -> Simulation:
    text = THROUGHPUT_SCENARIO.format(users=users, duration=duration)
    text = text.replace(_CLASSES, f'BillingClass: "{classes}"')
    scenario = load_scenario_text(text, "<bench>")
    return Simulation(scenario, scenario.settings_with(), RunOptions())


def publish_run(
    sim: Simulation, options: MqttOptions, receive_maximum: int, timed: bool = True
) -> tuple[int, float, float]:
    """Frames delivered, CPU seconds of the whole run and of the null transport."""

    async def main() -> tuple[int, float]:
        transports = null_broker(asyncio.get_running_loop(), receive_maximum, timed)
        delivered, _ = await run_on_mqtt(
            sim,
            broker_url="mqtt://127.0.0.1:1",
            options=options,
            control=False,
            stats_interval=3600.0,
            drain_timeout=60.0,
            log_json=False,
            stderr=io.StringIO(),
            signals=False,
            live=False,
        )
        return delivered, sum(transport.cpu for transport in transports)

    started = time.process_time()
    delivered, transport_cpu = asyncio.run(main())
    return delivered, time.process_time() - started, transport_cpu


def engine_run(sim: Simulation) -> tuple[int, float]:
    sink = NullSink()
    started = time.process_time()
    asyncio.run(run_to_sink(sim, sink, stderr=io.StringIO()))
    return sink.frames, time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=5000, help="generated users")
    parser.add_argument("--duration", default="3h", help="virtual length of each run")
    parser.add_argument("--classes", default="Session,Database", help="BillingClass")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best is shown")
    parser.add_argument(
        "--runs",
        default="engine,binary-1,binary-0,json-1,json-0",
        help="engine, and PAYLOAD-QOS pairs (binary or json, 1 or 0)",
    )
    parser.add_argument("--topic-meta", action="store_true", help="run and seq in the topic")
    parser.add_argument("--mqtt-version", default="5", choices=("5", "3.1.1"))
    parser.add_argument(
        "--receive-maximum", type=int, default=65535, help="the null broker's Receive Maximum"
    )
    parser.add_argument("--profile", help="write a cProfile of the last run of each here (.N)")
    args = parser.parse_args()
    collect_garbage_seldom()  # as `billsim run` does before it runs
    with open("/proc/cpuinfo") as cpuinfo:
        models = [
            line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
        ]
    cpu = models[0] if models else platform.processor()
    print(f"billsim publish benchmark: Python {platform.python_version()}, {cpu}; ", end="")
    load = os.getloadavg()[0]
    print(f"{args.users} users, {args.duration}, classes {args.classes}, load {load:.1f}")
    # As a run without --verbose logs (gmqtt kept to warnings), into nothing.
    configure_logging(json=False, stream=io.StringIO(), level=logging.WARNING)
    for run in args.runs.split(","):
        best = whole = 0.0
        frames = 0
        for attempt in range(args.repeat):
            sim = _simulation(args.users, args.duration, args.classes)
            gc.collect()
            profiler = cProfile.Profile() if args.profile and attempt == args.repeat - 1 else None
            if profiler is not None:
                profiler.enable()
            if run == "engine":
                frames, cpu_seconds = engine_run(sim)
                transport_cpu = 0.0
            else:
                payload, qos = run.split("-")
                options = MqttOptions(
                    qos=int(qos),
                    payload=payload,
                    topic_meta=args.topic_meta,
                    version=args.mqtt_version,
                )
                frames, cpu_seconds, transport_cpu = publish_run(
                    sim, options, args.receive_maximum, timed=profiler is None
                )
                if frames != sim.writer.frames:
                    raise SystemExit(f"{run}: {frames} delivered of {sim.writer.frames}")
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(f"{args.profile}.{run}")
            own = frames / (cpu_seconds - transport_cpu)
            print(
                f"  {run}: {frames:,} frames, CPU {cpu_seconds:.2f} s, of it the null "
                f"transport {transport_cpu:.2f} s: billsim's own {own:,.0f} a CPU second "
                f"(with the transport {frames / cpu_seconds:,.0f})"
            )
            if own > best:
                best, whole = own, frames / cpu_seconds
        aim = " (aim ≥ 150,000)" if run.startswith("binary") else ""
        print(
            f"{run} (best of {args.repeat}): billsim's own {best:,.0f} frames a CPU second "
            f"({1e6 / best:.2f} µs a frame){aim}; with the null transport {whole:,.0f}"
        )


if __name__ == "__main__":
    main()
