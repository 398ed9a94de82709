"""`billsim record`: a broker's billing frames captured to a file (docs/record-replay.md).

Subscribes (QoS 1) as `tail` does, to `domino/billing/+/#` or one server's topics, and
writes each frame as a capture line (simulator/adapters/capture.py): receive time,
topic, seq, the frame in base64, the MQTT 5 user properties. A JSON payload is written as
the binary frame it stands for (read as the add-in reads it); a message that is no frame
is kept byte for byte, so a replay hands a consumer what the broker handed the recorder.

It ends on Ctrl-C or SIGTERM, after `--until-idle` seconds without a frame, or when every
server it saw come online has gone offline (its run ended; `--follow` waits for the next
run instead). Frames are flushed to the file at least every second and at the end.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from simulator.adapters.capture import CaptureWriter
from simulator.adapters.mqtt.consumer import check_server_option
from simulator.adapters.mqtt.options import DEFAULT_CONNECT_TIMEOUT, tls_context
from simulator.adapters.mqtt.packets import CONTENT_TYPE_JSON
from simulator.adapters.mqtt.subscriber import (
    ServersOnline,
    Subscriber,
    hold_subscription,
    message_property,
    user_properties,
)
from simulator.adapters.mqtt.topics import (
    parse_frame_topic,
    parse_topic,
    subscription_topic,
)
from simulator.adapters.mqtt.url import DEFAULT_BROKER, parse_broker_url
from simulator.addin.intake import Intake, Message
from simulator.addin.store import Received
from simulator.commands.run import create
from simulator.commands.signals import stop_on_signals
from simulator.wire.layout import Layout

_FLUSH_INTERVAL: Final = 1.0  # seconds between flushes of the capture file
# After the last server went offline: how long to wait for frames still on their way.
_AFTER_OFFLINE: Final = 0.5


@dataclass(frozen=True)
class RecordRequest:
    """Everything `billsim record` was asked for (see the command's help)."""

    out: Path
    broker: str = DEFAULT_BROKER
    server: str | None = None  # a common name; None or "+": every server
    layout: Layout = Layout.LINUX_X86_64
    until_idle: float | None = None
    follow: bool = False
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    mqtt_version: str = "5"  # "5" (3.1.1 when refused) or "3.1.1" only


class Recorder:
    """Turns each received message into a capture line: the part of record without a
    network. `ended` is set once every server seen online has gone offline."""

    def __init__(self, writer: CaptureWriter, layout: Layout) -> None:
        self.writer = writer
        self.intake = Intake(layout)
        self.servers = ServersOnline()
        self.ended = False
        self.last_frame = time.monotonic()
        self._first: float | None = None

    def handle(self, topic: str, payload: bytes, properties: Mapping[str, Any]) -> None:
        parts = parse_topic(topic)
        if parts is None:
            return
        if parts.kind == "status":
            retained = bool(message_property(properties, "retain"))
            if self.servers.status(parts.server, payload.strip(), retained):
                self.ended = True
            return
        found = parse_frame_topic(topic)
        if found is None:
            return
        now = time.monotonic()
        if self._first is None:
            self._first = now
        self.last_frame = now
        props = user_properties(properties)
        content_type = message_property(properties, "content_type")
        json_form = (
            None
            if content_type is None
            else str(content_type).split(";", 1)[0].strip() == CONTENT_TYPE_JSON
        )
        message = Message(topic, parts.server, payload, json_form, props, found.run, found.seq)
        taken = self.intake.take(message, time.time_ns() // 1000)
        frame = taken.frame if isinstance(taken, Received) else payload
        self.writer.write(now - self._first, topic, taken.seq, frame, props)


async def record(request: RecordRequest, stream: TextIO, err: TextIO) -> int:
    """Capture until stopped (module doc); 0. SubscriberError (exit 1) when the broker
    cannot be reached within the connect timeout or refuses us; InputError (exit 2) for a
    bad URL, server or TLS file."""
    address = parse_broker_url(request.broker)
    if request.server is not None:
        check_server_option(request.server)
    server = None if request.server in (None, "+") else request.server
    topic = subscription_topic(server)
    tls = tls_context(
        address,
        ca_file=str(request.ca_file) if request.ca_file else None,
        cert_file=str(request.cert_file) if request.cert_file else None,
        key_file=str(request.key_file) if request.key_file else None,
    )
    writer = CaptureWriter(stream)
    recorder = Recorder(writer, request.layout)
    stop = asyncio.Event()

    def say(line: str) -> None:
        err.write(f"billsim record: {line}\n")
        err.flush()

    subscriber = Subscriber(
        address,
        recorder.handle,
        tls=tls,
        name="billsim-record",
        mqtt_version=request.mqtt_version,
    )
    deadline = time.monotonic() + request.connect_timeout
    with stop_on_signals(lambda _signum: stop.set()):
        watcher = asyncio.create_task(_watch(recorder, request, stream, stop, say))
        try:
            await hold_subscription(
                subscriber,
                topic,
                stop,
                deadline=deadline,
                waited=request.connect_timeout,
                on_waiting=lambda why: say(f"waiting for the broker at {address} ({why})"),
                on_subscribed=lambda: say(
                    f"recording {topic} on {address} ({subscriber.protocol}) to {request.out}"
                ),
                on_lost=lambda: say(f"lost the connection to {address}"),
            )
        finally:
            watcher.cancel()
            stream.flush()
    say(f"{writer.frames:,} frame(s) recorded to {request.out}")
    return 0


async def _watch(
    recorder: Recorder,
    request: RecordRequest,
    stream: TextIO,
    stop: asyncio.Event,
    say: Callable[[str], None],
) -> None:
    """Flush the file every second; set `stop` when recording should end by itself."""
    started = time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(min(_FLUSH_INTERVAL, _AFTER_OFFLINE))
        stream.flush()
        now = time.monotonic()
        if recorder.ended and not request.follow and now - recorder.last_frame >= _AFTER_OFFLINE:
            say("every server seen went offline: its run has ended (--follow waits for the next)")
            stop.set()
        idle = now - max(recorder.last_frame, started)
        if request.until_idle is not None and idle >= request.until_idle:
            say(f"no frame for {request.until_idle:g} s: ending")
            stop.set()


def run_record(request: RecordRequest, err: TextIO | None = None) -> int:
    """`billsim record`: the capture file opened (bad path: exit 2), then `record`."""
    logging.getLogger("gmqtt").setLevel(logging.ERROR)
    err = err or sys.stderr
    parse_broker_url(request.broker)  # a bad URL is exit 2 before the capture file is made
    stream = create(request.out, "w")
    try:
        return asyncio.run(record(request, stream, err))
    except KeyboardInterrupt:
        return 0
    finally:
        stream.close()
