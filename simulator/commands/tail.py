"""`billsim tail`: watch the billing topics of a broker, each frame decoded on one line.

Subscribes (QoS 1) to `domino/billing/+/#`, or `domino/billing/{CN}/#` with a server,
and prints each message as it arrives:

- frames (binary, or the JSON form sent with `--payload json`) as a readable line: the
  header time stamp, server, class, action, user, the record's key numbers and `#seq`;
  with `json_lines`, as the JSON form, one object a line (what `billsim decode` writes);
- status, stats and control messages as a dim line starting `--` (skipped in JSON mode);
- a frame that cannot be decoded as one line on stderr; tail goes on.

Connecting: MQTT 5 first (it carries the content type and the `seq` user property),
falling back to 3.1.1 at once when the broker refuses v5 (amqtt does). If the broker
cannot be reached, tail retries for `wait` seconds (saying so on stderr once) and then
fails with exit 1: a wrong URL is reported, not waited on forever. Once it has been
connected, a lost connection is retried without end (a message on stderr each time it
drops and comes back), so tail outlives a broker restart. Ctrl-C or SIGTERM: exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import ssl
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TextIO

from simulator.adapters.mqtt.drain import CONTENT_TYPE_JSON, TOPIC_ROOT, BrokerUrl, parse_broker_url
from simulator.errors import BillsimError, InputError
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec, FrameError
from simulator.wire.jsonform import JsonDecoder, JsonObject, dumps_frame
from simulator.wire.layout import Layout

DEFAULT_BROKER: Final = "mqtt://127.0.0.1:1883"
DEFAULT_WAIT: Final = 10.0  # seconds to keep trying an unreachable broker at start
CONNECT_TIMEOUT: Final = 5.0
RETRY_INTERVAL: Final = 1.0
_MQTT_V5: Final = 5
_MQTT_V311: Final = 4

_DIM: Final = "\x1b[2m"
_RESET: Final = "\x1b[0m"

SESSION_ACTIONS: Final = c.SESSION_ACTION_NAMES
DB_ACTIONS: Final = c.DB_ACTION_NAMES
DOC_TYPES: Final = c.CHARGE_TYPE_NAMES
_ROUTING_STATES: Final = {value: name.upper() for name, value in c.MAIL_ROUTING_STATE.items()}
_MAIL_PRIORITY: Final = {value: name for name, value in c.MAIL_PRIORITY.items()}
_MAIL_REPORT: Final = {value: name for name, value in c.MAIL_REPORT.items()}
_REPL_PRIORITY: Final = {value: name for name, value in c.REPL_PRIORITY.items()}


class TailError(BillsimError):
    """The broker cannot be reached or refused us: exit 1."""


# --- Rendering ---------------------------------------------------------------------------


def abbreviate(name: str) -> str:
    """A Domino name in abbreviated form: `CN=Alice Smith/O=Acme` → `Alice Smith/Acme`."""
    if "=" not in name:
        return name
    parts = []
    for part in name.split("/"):
        key, sep, value = part.partition("=")
        parts.append(value if sep and key.strip().upper() in _NAME_KEYS else part)
    return "/".join(parts)


_NAME_KEYS: Final = frozenset(("CN", "OU", "O", "C"))


def hundredths(value: int) -> str:
    """Hundredths of a second as `[h:]m:ss.hh`: DBOpenTime, ElapsedRunTime."""
    hours, rest = divmod(value, 360_000)
    minutes, rest = divmod(rest, 6_000)
    seconds, hundred = divmod(rest, 100)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}.{hundred:02d}"
    return f"{minutes}:{seconds:02d}.{hundred:02d}"


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _name_of(table: Mapping[int, str], value: Any, what: str) -> str:
    return table.get(value, f"{what} {value}") if isinstance(value, int) else f"{what} {value}"


def _time_of_day(stamp: Any) -> tuple[str, str | None]:
    """(`HH:MM:SS.hh`, date) of an ISO time stamp; an id-form stamp is kept whole."""
    if isinstance(stamp, str) and len(stamp) == 23 and stamp[10] == "T" and stamp.endswith("Z"):
        return stamp[11:22], stamp[:10]
    return str(stamp), None


def _sid(rec: Mapping[str, Any]) -> str:
    sid = rec.get("SessionID")
    if isinstance(sid, Mapping):
        return f"sid {sid.get('Index')}.{sid.get('SeqNo')}"
    return "sid ?"


def _describe(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """(what, who, details) of a frame's JSON form, by struct type."""
    rec: Mapping[str, Any] = obj.get("rec") or {}
    struct_type = obj.get("StructType")
    if struct_type == c.BILL_SESSIONREC:
        what = _name_of(SESSION_ACTIONS, rec.get("Action"), "action")
        details = (
            f"{_sid(rec)}  in {_n(rec.get('BytesIn'))}  out {_n(rec.get('BytesOut'))}"
            f"  {rec.get('NetAdr', '')}"
        )
        return what, abbreviate(str(rec.get("Username", ""))), details.rstrip()
    if struct_type == c.BILL_DBREC:
        what = _name_of(DB_ACTIONS, rec.get("Action"), "action")
        open_time = rec.get("DBOpenTime")
        shown = hundredths(open_time) if isinstance(open_time, int) else str(open_time)
        details = f"{_sid(rec)}  db {rec.get('ReplicaID')}  open {shown}"
        return what, abbreviate(str(rec.get("Username", ""))), details
    if struct_type == c.BILL_DOCCHARGE:
        what = _name_of(DOC_TYPES, rec.get("Type"), "type")
        details = f"db {rec.get('ReplicaID')}  charge {rec.get('Charge')}"
        return what, abbreviate(str(rec.get("Username", ""))), details
    if struct_type == c.BILL_MAILREC:
        what = _name_of(_ROUTING_STATES, rec.get("RoutingState"), "state")
        recipients = rec.get("RecipientCount")
        details = (
            f"{rec.get('FormType', '')}  to {_n(recipients)} recipient"
            f"{'' if recipients == 1 else 's'}  {_n(rec.get('MessageSize'))} bytes"
            f"  {_name_of(_MAIL_PRIORITY, rec.get('Priority'), 'priority')}"
            f"  report {_name_of(_MAIL_REPORT, rec.get('Report'), '')}"
            f"  via {abbreviate(str(rec.get('HopName', '')))}"
        )
        return what, abbreviate(str(rec.get("Originator", ""))), details
    if struct_type == c.BILL_REPLREC:
        details = (
            f"{_sid(rec)}  to {abbreviate(str(rec.get('Destination', '')))}"
            f"  db {rec.get('ReplicaID')}  in {_n(rec.get('BytesIn'))}"
            f"  out {_n(rec.get('BytesOut'))}"
            f"  {_name_of(_REPL_PRIORITY, rec.get('Priority'), 'priority')}"
        )
        return "REPLICATE", abbreviate(str(rec.get("Source", ""))), details
    if struct_type == c.BILL_AGENTREC:
        elapsed = rec.get("ElapsedRunTime")
        flags = rec.get("Flags")
        flag_names = (
            ",".join(name for name, bit in c.AGENT_FLAGS.items() if flags & bit)
            if isinstance(flags, int)
            else str(flags)
        )
        details = (
            f"{rec.get('TaskName', '')}  {rec.get('DatabaseName', '')}"
            f"  ran {hundredths(elapsed) if isinstance(elapsed, int) else elapsed}"
            + (f"  {flag_names}" if flag_names else "")
        )
        return "RUN", abbreviate(str(rec.get("UserName", ""))), details
    if struct_type == c.BILL_HTTPREQREC:
        request = str(rec.get("RequestLine") or "")
        method, _, rest = request.partition(" ")
        path = rest.rsplit(" ", 1)[0] if rest else ""
        details = (
            f"{path}  {rec.get('HttpStatusCode')}  {_n(rec.get('HttpContentLength'))} bytes"
            f"  {rec.get('HttpReqTimeMs')} ms"
            + (f"  from {rec['Partner']}" if rec.get("Partner") else "")
        )
        return method or "HTTP", abbreviate(str(rec.get("AuthUser") or "-")), details
    # Custom types (decoded by name when the sender knew them) and unknown ones.
    if "raw" in rec:
        raw = str(rec["raw"])
        return f"type {struct_type}", "", f"{len(raw) // 2} bytes of record"
    fields = "  ".join(f"{key} {value}" for key, value in rec.items())
    return f"type {struct_type}", "", fields


def _class_name(bill_class: Any) -> str:
    if isinstance(bill_class, int):
        return c.CLASS_TOPIC_NAME.get(bill_class, f"class {bill_class:#x}")
    return str(bill_class)


def frame_line(obj: Mapping[str, Any], *, server: str | None = None, seq: Any = None) -> str:
    """The one-line, readable form of a frame's JSON form."""
    clock, _ = _time_of_day(obj.get("TimeStamp"))
    if server is None:
        server = abbreviate(str(obj.get("ServerName", ""))).split("/", 1)[0]
    what, who, details = _describe(obj)
    if seq is None:
        seq = obj.get("seq")
    line = (
        f"{clock:<11} {server:<8} {_class_name(obj.get('Class')):<11} {what:<9} {who:<22} {details}"
    )
    if seq is not None:
        line += f"  #{seq}"
    return line.rstrip()


@dataclass(frozen=True)
class Topic:
    """A topic of DESIGN §6 taken apart: the server's CN and what follows it."""

    server: str
    kind: str  # a class name, "custom", "status", "stats", "control", "control/reply", …
    rest: str  # after the server, e.g. "custom/32001", "control/reply"


def parse_topic(topic: str) -> Topic | None:
    prefix = TOPIC_ROOT + "/"
    if not topic.startswith(prefix):
        return None
    server, _, rest = topic[len(prefix) :].partition("/")
    if not server or not rest:
        return None
    kind = rest if rest == "control/reply" else rest.split("/", 1)[0]
    return Topic(server, kind, rest)


FRAME_KINDS: Final = frozenset((*c.CLASS_TOPIC_NAME.values(), "custom"))


def _prop(properties: Mapping[str, Any], name: str) -> Any:
    """A received MQTT 5 property (gmqtt gives lists), or None."""
    value = properties.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _user_properties(properties: Mapping[str, Any]) -> dict[str, str]:
    pairs = properties.get("user_property") or []
    out: dict[str, str] = {}
    for pair in pairs:
        if isinstance(pair, tuple | list) and len(pair) == 2:
            out[str(pair[0])] = str(pair[1])
    return out


def _looks_like_json(payload: bytes, content_type: Any) -> bool:
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
        self._date: str | None = None

    def handle(self, topic: str, payload: bytes, properties: Mapping[str, Any]) -> None:
        """Print one message; a frame that cannot be decoded is reported on stderr."""
        parts = parse_topic(topic)
        if parts is not None and parts.kind in FRAME_KINDS:
            self._frame(topic, parts, bytes(payload), properties)
        elif not self.json_lines:
            self._dim(_side_line(topic, parts, bytes(payload)))

    def _frame(
        self, topic: str, parts: Topic, payload: bytes, properties: Mapping[str, Any]
    ) -> None:
        user = _user_properties(properties)
        seq: Any = user.get("seq")
        obj: JsonObject | None = None
        if _looks_like_json(payload, _prop(properties, "content_type")):
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
        _, date = _time_of_day(obj.get("TimeStamp"))
        if date is not None and date != self._date:
            self._date = date
            self._dim(f"-- {date}")
        try:
            line = frame_line(obj, server=parts.server, seq=seq)
        except (TypeError, ValueError, AttributeError):
            line = f"{parts.server} {parts.rest}: {dumps_frame(obj)}"
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
        ("records", _n(total) if total is not None else None),
        ("delivered", _n(stats.get("delivered"))),
        ("queued", _n(stats.get("queue_depth"))),
        ("in flight", _n(stats.get("in_flight"))),
        ("dropped", _n(stats.get("dropped"))),
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


# --- The MQTT side -------------------------------------------------------------------------


def _client_class() -> type[Any]:
    from gmqtt import Client  # noqa: PLC0415 - gmqtt only when tail runs

    class TailClient(Client):  # type: ignore[misc]
        """gmqtt without its own reconnects (ours are bounded and say what they do)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.lost = asyncio.Event()
            self.refused_v5 = asyncio.Event()

        async def reconnect(self, delay: bool = False) -> None:
            # gmqtt calls this on a lost connection and on CONNACK 0x01 to a v5 CONNECT
            # (after switching its protocol version to 3.1.1).
            if self._connection_state.protocol_version == _MQTT_V311:
                self.refused_v5.set()
            self.lost.set()

    return TailClient


async def _connect_once(address: BrokerUrl, on_message: Any) -> tuple[Any, int]:
    """A connected client and its MQTT version (5, else 3.1.1 if the broker refuses v5)."""
    from gmqtt import MQTTConnectError  # noqa: PLC0415

    client_class = _client_class()
    for version in (_MQTT_V5, _MQTT_V311):
        client = client_class(f"billsim-tail-{os.getpid()}-{time.monotonic_ns() % 10**6}")
        if address.username:
            client.set_auth_credentials(address.username, address.password)
        client.on_message = on_message
        context: ssl.SSLContext | bool = ssl.create_default_context() if address.tls else False
        connect = asyncio.ensure_future(
            client.connect(address.host, address.port, ssl=context, keepalive=30, version=version)
        )
        refused = asyncio.ensure_future(client.refused_v5.wait())
        try:
            done, _ = await asyncio.wait(
                {connect, refused}, timeout=CONNECT_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            refused.cancel()
        if connect in done:
            error = connect.exception()
            if error is None:
                return client, version
            if isinstance(error, MQTTConnectError):
                raise TailError(f"{address.redacted()} refused the connection: {error}")
            raise error
        connect.cancel()
        with contextlib.suppress(BaseException):
            await connect
        if version == _MQTT_V311 or refused not in done:
            raise TimeoutError(f"no CONNACK within {CONNECT_TIMEOUT:g} s")
        # CONNACK 0x01 to v5: try 3.1.1 with a fresh client.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), 1)
    raise AssertionError("unreachable")  # pragma: no cover


async def _connect(
    address: BrokerUrl,
    on_message: Any,
    *,
    deadline: float | None,
    stop: asyncio.Event,
    err: TextIO,
    waiting_note: str,
) -> tuple[Any, int] | None:
    """Connect, retrying every second until `deadline` (None: without end); None if stopped."""
    said = False
    while not stop.is_set():
        try:
            return await _connect_once(address, on_message)
        except (OSError, TimeoutError) as error:
            reason = _reason(error)
            if deadline is not None and time.monotonic() >= deadline:
                raise TailError(f"cannot connect to {address.redacted()}: {reason}") from None
            if not said:
                err.write(f"billsim tail: {waiting_note} {address.redacted()} ({reason})\n")
                err.flush()
                said = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RETRY_INTERVAL)
    return None


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def subscription_topic(server: str | None) -> str:
    """`domino/billing/+/#`, or one server's topics (its common name, `CN=` or not)."""
    if not server:
        return f"{TOPIC_ROOT}/+/#"
    first = server.split("/", 1)[0].strip()
    cn = first[3:].strip() if first[:3].upper() == "CN=" else first
    if not cn or any(ch in cn for ch in "+#"):
        raise InputError(f"{server!r} is not a server name usable in a topic", field="--server")
    return f"{TOPIC_ROOT}/{cn}/#"


async def tail(
    broker: str = DEFAULT_BROKER,
    *,
    out: TextIO,
    err: TextIO,
    json_lines: bool = False,
    server: str | None = None,
    layout: Layout = Layout.LINUX_X86_64,
    wait: float = DEFAULT_WAIT,
    stop: asyncio.Event | None = None,
) -> int:
    """Print the broker's billing messages until `stop` is set (or SIGINT/SIGTERM); 0.

    Raises TailError (exit 1) when the broker cannot be reached within `wait` seconds
    or refuses the connection, InputError (exit 2) for a bad URL or server name.
    """
    address = parse_broker_url(broker)
    topic = subscription_topic(server)
    printer = TailPrinter(out, err, json_lines=json_lines, layout=layout)
    stop = stop or asyncio.Event()
    broken_pipe = False

    def on_message(client: Any, msg_topic: str, payload: bytes, qos: int, props: Any) -> int:
        nonlocal broken_pipe
        if stop.is_set():
            return 0
        try:
            printer.handle(msg_topic, payload, props or {})
        except BrokenPipeError:
            broken_pipe = True
            stop.set()
        return 0

    with _signals_set(stop):
        deadline: float | None = time.monotonic() + wait
        note = "waiting for the broker at"
        while not stop.is_set():
            connected = await _connect(
                address, on_message, deadline=deadline, stop=stop, err=err, waiting_note=note
            )
            if connected is None:
                break
            client, version = connected
            subscribed = asyncio.get_running_loop().create_future()

            def on_subscribe(
                client: Any, mid: int, qos: Any, props: Any, done: Any = subscribed
            ) -> None:
                if not done.done():
                    done.set_result(qos)

            client.on_subscribe = on_subscribe
            client.subscribe(topic, qos=1)
            try:
                granted = await asyncio.wait_for(subscribed, CONNECT_TIMEOUT)
            except TimeoutError:
                granted = None  # no SUBACK yet; the messages will tell
            if granted and all(isinstance(q, int) and q >= 0x80 for q in granted):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.disconnect(), 1)
                raise TailError(f"{address.redacted()} refused the subscription to {topic}")
            protocol = "MQTT 5" if version == _MQTT_V5 else "MQTT 3.1.1"
            err.write(f"billsim tail: subscribed to {topic} on {address.redacted()} ({protocol})\n")
            err.flush()
            lost = asyncio.ensure_future(client.lost.wait())
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({lost, stopped}, return_when=asyncio.FIRST_COMPLETED)
            lost.cancel()
            stopped.cancel()
            if stop.is_set():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.disconnect(), 2)
                break
            err.write(f"billsim tail: lost the connection to {address.redacted()}\n")
            err.flush()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 1)
            deadline = None  # it was there: wait for it to come back, however long
            note = "reconnecting to"
    if broken_pipe:
        raise BrokenPipeError
    return 0


@contextlib.contextmanager
def _signals_set(stop: asyncio.Event) -> Any:
    """SIGINT and SIGTERM set `stop` while tail runs (main thread only; else as they were)."""
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (ValueError, RuntimeError, NotImplementedError):
            continue
        installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def run_tail(
    broker: str = DEFAULT_BROKER,
    *,
    json_lines: bool = False,
    server: str | None = None,
    layout: Layout = Layout.LINUX_X86_64,
    wait: float = DEFAULT_WAIT,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """`billsim tail`: run until Ctrl-C; the exit code (0), or TailError / InputError."""
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
    )
    try:
        return asyncio.run(coroutine)
    except KeyboardInterrupt:  # Ctrl-C before the handlers were in place, or off the main thread
        return 0
