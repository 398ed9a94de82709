"""`billsim tail`: watch the billing topics of a broker, each frame decoded on one line.

Subscribes (QoS 1) to `domino/billing/+/#`, or `domino/billing/{CN}/#` with a server,
and prints each message as it arrives:

- frames (binary, or the JSON form sent with `--payload json`) as a readable line: the
  header time stamp, server, class, action, user, the record's key numbers and `#seq`;
  with `json_lines`, as the JSON form, one object a line (what `billsim decode` writes);
- status, stats and control messages as a dim line starting `--` (skipped in JSON mode);
- a frame that cannot be decoded as one line on stderr; tail goes on.

Connecting (adapters/mqtt/subscriber.py): MQTT 5 first, else 3.1.1; mqtts:// with
`--ca-file`, `--cert-file`, `--key-file` as for `run`. If the broker cannot be reached,
tail retries for `wait` seconds (saying so on stderr once) and then fails with exit 1: a
wrong URL is reported, not waited on forever. Once it has been connected, a lost
connection is retried without end (a message on stderr each time it drops and comes
back), so tail outlives a broker restart. Ctrl-C or SIGTERM: exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, TextIO

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
    FRAME_KINDS,
    Topic,
    parse_topic,
    subscription_topic,
    topic_run_and_seq,
)
from simulator.adapters.mqtt.url import DEFAULT_BROKER, parse_broker_url
from simulator.commands.signals import stop_on_signals
from simulator.errors import InputError
from simulator.wire.codec import FrameCodec, FrameError
from simulator.wire.jsonform import JsonDecoder, JsonObject, dumps_frame
from simulator.wire.layout import Layout
from simulator.wire.text import TextView, thousands

_DIM: Final = "\x1b[2m"
_RESET: Final = "\x1b[0m"


def _looks_like_json(payload: bytes, content_type: object) -> bool:
    if content_type is not None:
        return str(content_type).split(";", 1)[0].strip() == CONTENT_TYPE_JSON
    return payload.lstrip()[:1] == b"{" and payload.rstrip()[-1:] == b"}"


class TailPrinter:
    """Turns each received message into output lines: the part of tail without a network."""

    def __init__(
        self,
        out: TextIO,
        err: TextIO,
        *,
        json_lines: bool = False,
        layout: Layout = Layout.LINUX_X86_64,
        color: bool | None = None,
    ) -> None:
        self.out = out
        self.err = err
        self.json_lines = json_lines
        self.decoder = JsonDecoder(FrameCodec(layout))
        self.color = _wants_color(out) if color is None else color
        self.frames = 0
        self.bad = 0
        self.view = TextView()
        # `ended` names the server whose going offline ended the run (ServersOnline).
        self.servers = ServersOnline()
        self.ended: str | None = None

    def handle(self, topic: str, payload: bytes, properties: Mapping[str, Any]) -> None:
        """Print one message; a frame that cannot be decoded is reported on stderr."""
        parts = parse_topic(topic)
        if parts is not None and parts.kind in FRAME_KINDS:
            self._frame(topic, parts, bytes(payload), properties)
            return
        if not self.json_lines:
            self._dim(_side_line(topic, parts, bytes(payload)))
        if parts is not None and parts.kind == "status":
            retained = bool(message_property(properties, "retain"))
            if self.servers.status(parts.server, bytes(payload).strip(), retained):
                self.ended = parts.server

    def _frame(
        self, topic: str, parts: Topic, payload: bytes, properties: Mapping[str, Any]
    ) -> None:
        user = user_properties(properties)
        seq: Any = user.get("seq")
        if seq is None:  # MQTT 3.1.1: the --topic-meta form carries it in the topic
            seq = topic_run_and_seq(topic)[1]
        obj: JsonObject | None = None
        if _looks_like_json(payload, message_property(properties, "content_type")):
            try:
                loaded = json.loads(payload)
            except ValueError:
                loaded = None
            if isinstance(loaded, dict):
                obj = loaded
        if obj is None:
            try:
                obj = self.decoder(payload, 0, _int_or_none(seq))
            except FrameError as error:
                self.bad += 1
                self._warn(f"{topic}: not a frame ({len(payload)} bytes): {error.message}")
                return
            if obj["Len"] != len(payload):
                self._warn(
                    f"{topic}: frame Len {obj['Len']} but the message has {len(payload)} bytes"
                )
        self.frames += 1
        if self.json_lines:
            if seq is not None and "seq" not in obj:
                obj["seq"] = _int_or_none(seq) or seq
            self._write(dumps_frame(obj))
            return
        try:
            date_line, line = self.view.lines(obj, server=parts.server, seq=seq)
        except (TypeError, ValueError, AttributeError):
            date_line, line = None, f"{parts.server} {parts.rest}: {dumps_frame(obj)}"
        if date_line is not None:
            self._dim(date_line)
        self._write(line)

    def _write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def _dim(self, line: str) -> None:
        self._write(f"{_DIM}{line}{_RESET}" if self.color else line)

    def _warn(self, message: str) -> None:
        self.err.write(f"billsim tail: {message}\n")
        self.err.flush()


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _side_line(topic: str, parts: Topic | None, payload: bytes) -> str:
    """Status, stats, control and foreign messages: `-- server kind text`."""
    text = payload.decode("utf-8", "replace")
    if parts is None:
        return f"-- {topic} {_clip(text)}"
    if parts.kind == "stats":
        try:
            stats = json.loads(payload)
        except ValueError:
            stats = None
        if isinstance(stats, dict):
            return f"-- {parts.server} stats {_stats_text(stats)}"
    if parts.kind in ("control", "control/reply") or text.lstrip().startswith("{"):
        with contextlib.suppress(ValueError):
            text = dumps_frame(json.loads(payload))
    return f"-- {parts.server} {parts.rest} {_clip(text)}"


def _stats_text(stats: Mapping[str, Any]) -> str:
    records = stats.get("records")
    total = (
        sum(v for v in records.values() if isinstance(v, int))
        if isinstance(records, dict)
        else None
    )
    fields = [
        ("time", stats.get("virtual_time")),
        ("records", thousands(total) if total is not None else None),
        ("delivered", thousands(stats.get("delivered"))),
        ("queued", thousands(stats.get("queue_depth"))),
        ("in flight", thousands(stats.get("in_flight"))),
        ("dropped", thousands(stats.get("dropped"))),
        ("rate", f"{stats.get('rate')}/s"),
    ]
    return "  ".join(f"{name} {value}" for name, value in fields if value not in (None, "None"))


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _wants_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    isatty: Callable[[], bool] | None = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:
        return False


async def tail(
    broker: str = DEFAULT_BROKER,
    *,
    out: TextIO,
    err: TextIO,
    json_lines: bool = False,
    server: str | None = None,
    layout: Layout = Layout.LINUX_X86_64,
    wait: float = DEFAULT_CONNECT_TIMEOUT,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    stop: asyncio.Event | None = None,
    follow: bool = False,
    mqtt_version: str = "5",
) -> int:
    """Print the broker's billing messages until `stop` is set (or SIGINT/SIGTERM), or,
    unless `follow`, until the servers seen online have all gone offline; 0.

    Raises SubscriberError (exit 1) when the broker cannot be reached within `wait` seconds
    or refuses the connection, InputError (exit 2) for a bad URL, server name or TLS file.
    """
    address = parse_broker_url(broker)
    if server == "":
        # Not addin's check: a full name (CN=Mail01/O=Acme) is tail's way to name Mail01.
        raise InputError("a server's common name or full name, not ''", field="--server")
    topic = subscription_topic(server)
    tls = tls_context(address, ca_file=ca_file, cert_file=cert_file, key_file=key_file)
    printer = TailPrinter(out, err, json_lines=json_lines, layout=layout)
    stop = stop or asyncio.Event()
    broken_pipe = False

    def on_message(msg_topic: str, payload: bytes, props: Mapping[str, Any]) -> None:
        nonlocal broken_pipe
        if stop.is_set():
            return
        try:
            printer.handle(msg_topic, payload, props)
        except BrokenPipeError:
            broken_pipe = True
            stop.set()
        if printer.ended is not None and not follow:
            say(f"{printer.ended} went offline: its run has ended (--follow waits for the next)")
            stop.set()

    def say(line: str) -> None:
        err.write(f"billsim tail: {line}\n")
        err.flush()

    deadline = time.monotonic() + wait
    note = "waiting for the broker at"

    def say_waiting(reason: str) -> None:
        say(f"{note} {address} ({reason})")

    def say_lost() -> None:
        nonlocal note
        say(f"lost the connection to {address}")
        note = "reconnecting to"

    subscriber = Subscriber(address, on_message, tls=tls, mqtt_version=mqtt_version)
    with stop_on_signals(lambda _signum: stop.set()):
        await hold_subscription(
            subscriber,
            topic,
            stop,
            deadline=deadline,
            waited=wait,
            on_waiting=say_waiting,
            on_subscribed=lambda: say(
                f"subscribed to {topic} on {address} ({subscriber.protocol})"
            ),
            on_lost=say_lost,
        )
    if broken_pipe:
        raise BrokenPipeError
    return 0


def run_tail(
    broker: str = DEFAULT_BROKER,
    *,
    json_lines: bool = False,
    server: str | None = None,
    layout: Layout = Layout.LINUX_X86_64,
    wait: float = DEFAULT_CONNECT_TIMEOUT,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    follow: bool = False,
    mqtt_version: str = "5",
) -> int:
    """`billsim tail`: run until Ctrl-C, or until the run it watches ends (unless `follow`);
    the exit code (0), or SubscriberError / InputError."""
    # gmqtt warns of what tail reports itself (a refused v5 CONNECT, a lost connection).
    logging.getLogger("gmqtt").setLevel(logging.ERROR)
    coroutine = tail(
        broker,
        out=out or sys.stdout,
        err=err or sys.stderr,
        json_lines=json_lines,
        server=server,
        layout=layout,
        wait=wait,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        follow=follow,
        mqtt_version=mqtt_version,
    )
    try:
        return asyncio.run(coroutine)
    except KeyboardInterrupt:  # Ctrl-C before the handlers were in place, or off the main thread
        return 0
