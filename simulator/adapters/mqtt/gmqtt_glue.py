"""The gmqtt glue: every use of gmqtt's internals (and of asyncio's, reached through it).

gmqtt 0.8.0 (pinned in pyproject.toml) has no public way to write pre-encoded packets,
read a PUBACK's reason code, count free packet ids, read the CONNACK's Receive Maximum
and shared-subscription flag, see that a client acknowledges a message only once its
handler is done, receive messages without a task each and acknowledge them later, or
drop a client without its reconnect machinery. The drain, the subscriber and the
add-in's consumer need all of that, so they ask this module; no other module touches a
``_name`` of gmqtt.
``RELIED_ON`` lists each internal used here, and tests/adapters/mqtt/test_gmqtt_glue.py
fails, naming it and the gmqtt version, when an upgrade moves one.

gmqtt has no type stubs: its objects are ``Any`` and stay behind these functions.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any, Final

from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50, MQTTv311
from gmqtt.mqtt.package import Package
from gmqtt.storage import PersistentStorage

TESTED_GMQTT_VERSION: Final = "0.8.0"

RELIED_ON: Final[dict[str, tuple[str, ...]]] = {
    # owner (as a client reaches it) -> the internal attributes and methods used here
    "Client": (
        "_connection",
        "_connection_state",
        "_package_handler",
        "_is_active",
        "_create_connection",
    ),
    "Client._connection_state": ("protocol_version",),
    "Client._package_handler": (
        "_handle_puback_packet",
        "_handle_publish_packet",
        "_logger",
        "current_connection",
        "_connack_properties",
        "_permanent_failure",
        "_optimistic_acknowledgement",
        "id_generator",
    ),
    "Client._package_handler.id_generator": (
        "_used_ids",
        "_max",
        "_last_used_id",
        "_mid_generate",
    ),
    "Client._connection": (
        "_transport",
        "_protocol",
        "_last_data_out",
        "_last_data_in",
        "_keep_connection_callback",
        "put_package",
    ),
    "Client._connection._protocol": (
        "_paused",
        "_drain_helper",
        "_read_packet",
        "data_received",
        "connection_lost",
    ),
    "MQTTConnectError": ("_code", "message"),
}

MQTT_V5: Final[int] = MQTTv50
MQTT_V311: Final[int] = MQTTv311

# What gmqtt logs (its messages, as it formats them) of a refused CONNECT: billsim says
# it in a line of its own (the drain's mqtt.mqtt5_refused, a command's error), so these
# are left out of the clients' log; tests/adapters/mqtt/test_gmqtt_glue.py checks that
# gmqtt still says them so.
SAID_BY_BILLSIM: Final = (
    "[MqttPackageHandler] CONNACK: %s",
    "[MqttPackageHandler] Downgrading to MQTT 3.1 protocol version",
    "[MqttPackageHandler] CONNACK %s is permanent, not reconnecting",
    "[MqttPackageHandler] not reconnecting after a permanent CONNACK refusal",
)


class _SaidByBillsim(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in SAID_BY_BILLSIM


# gmqtt's warning of a connection lost with an error, traceback and all, from its protocol
# module's own logger (not the client's): the drain says it as mqtt.disconnected with the
# error as its reason, the subscribers' commands as a lost connection.
CONNECTION_LOST: Final = "[EXC: CONN LOST]"


class _LossSaidByBillsim(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != CONNECTION_LOST


logging.getLogger("gmqtt.mqtt.protocol").addFilter(_LossSaidByBillsim())

# The logger of every client made here: gmqtt's own (under `gmqtt`, so a command's level
# for gmqtt holds), without the lines billsim says itself.
CLIENT_LOG: Final = logging.getLogger("gmqtt.billsim")
CLIENT_LOG.addFilter(_SaidByBillsim())


class AckStore(PersistentStorage):  # type: ignore[misc]
    """gmqtt's in-flight store, used as its hook for acknowledgements.

    gmqtt calls ``push_message(mid, raw)`` inside ``publish()`` for QoS > 0 (status and
    replies: frames are written by the drain), ``remove_message_by_mid(mid)`` on every
    PUBACK, and ``clear()`` on a CONNACK without a session. No packet is kept (the drain
    keeps the frames and resends them itself), so gmqtt never replays anything and
    ``connect()`` never waits for a drain.

    With an ``OwnReconnectClient``, the PUBACKs of one socket read that took their
    message (reason code below 0x80) come to ``on_acks`` together, their packet ids
    already free, in the order read; ``on_ack`` hears of the others, one by one.
    """

    def __init__(self) -> None:
        super().__init__()
        self.last_mid = 0
        self.reason = 0  # reason code of the PUBACK being handled (v5; 0 otherwise)
        self.on_ack: Callable[[int], None] = _ignore_int
        self.on_acks: Callable[[list[int]], None] = self._one_by_one
        self.on_clear: Callable[[], None] = _ignore

    def _one_by_one(self, mids: list[int]) -> None:
        self.reason = 0
        for mid in mids:
            self.on_ack(mid)

    def push_message(self, mid: int, raw_package: object) -> None:
        self.last_mid = mid

    def remove_message_by_mid(self, mid: int) -> None:
        self.on_ack(mid)

    def clear(self) -> None:
        super().clear()
        self.on_clear()


def _ignore() -> None:
    return None


def _ignore_int(_mid: int) -> None:
    return None


class OwnReconnectClient(Client):  # type: ignore[misc]
    """A gmqtt Client that never reconnects by itself: the caller's loop does, with its
    own backoff and messages, on a fresh client each time.

    gmqtt calls ``reconnect`` after any connection loss, refused CONNACK or protocol
    downgrade; here that only sets ``lost`` (and ``refused_v5`` when gmqtt has switched
    to 3.1.1 because the broker refused an MQTT 5 CONNECT); ``lost_error`` is what the
    connection was lost with (None: closed), which gmqtt's on_disconnect does not get.
    With an ``AckStore``, each PUBACK's reason code is in ``store.reason`` while the
    store hears of the ack. It logs to ``CLIENT_LOG``: a refused CONNECT is the caller's
    to tell, in its own words.
    """

    def __init__(self, client_id: str, *, store: AckStore | None = None, **kwargs: Any) -> None:
        super().__init__(client_id, persistent_storage=store, logger=CLIENT_LOG, **kwargs)
        self.lost = asyncio.Event()
        self.refused_v5 = asyncio.Event()
        self.lost_error: BaseException | None = None
        if store is not None:
            _report_puback_reasons(self, store)
        _keep_the_loss_error(self)

    async def reconnect(self, delay: bool = False) -> None:
        if protocol_version(self) == MQTTv311:
            self.refused_v5.set()
        self.lost.set()


def _keep_the_loss_error(client: Any) -> None:
    """Each connection's ``connection_lost`` error to ``client.lost_error``: gmqtt only
    logs it, and hands on_disconnect an empty DISCONNECT in its place."""
    create_connection = client._create_connection

    async def create_connection_keeping_the_error(*args: Any, **kwargs: Any) -> Any:
        connection = await create_connection(*args, **kwargs)
        protocol = connection._protocol
        connection_lost = protocol.connection_lost

        def keep_the_error(exc: BaseException | None) -> None:
            client.lost_error = exc
            connection_lost(exc)

        protocol.connection_lost = keep_the_error
        return connection

    client._create_connection = create_connection_keeping_the_error


def _report_puback_reasons(client: Any, store: AckStore) -> None:
    """Each PUBACK to the store with its reason code: read by the connection's reader
    where it lies (`_packet_reader`), or, for one gmqtt's own reader read, through gmqtt.

    gmqtt hands a PUBACK through a packet object, three layers and five debug-log calls
    before its store hears of it (2.5 µs a PUBACK, measured, of a publisher's ~28 µs a
    frame). Read here, the PUBACKs of one socket read that took their message free their
    packet ids at once and go to ``store.on_acks`` in one call; one with a reason code
    of refusal goes alone to ``store.on_ack``, as gmqtt's handler would hand it."""
    handler = client._package_handler
    original = handler._handle_puback_packet
    generator = handler.id_generator

    def puback(cmd: int, packet: bytes) -> None:
        # gmqtt ignores the v5 reason code (absent: a 2-byte body, success).
        store.reason = packet[2] if len(packet) > 2 else 0
        original(cmd, packet)

    def refused_at(data: bytes, at: int) -> None:
        mid = data[at] << 8 | data[at + 1]
        store.reason = data[at + 2]
        generator._used_ids.discard(mid)  # gmqtt's free_id
        store.remove_message_by_mid(mid)

    def pubacks(mids: list[int]) -> None:
        generator._used_ids.difference_update(mids)  # gmqtt's free_id, for each
        store.on_acks(mids)

    handler._handle_puback_packet = puback
    _read_packets_with(client, pubacks=(pubacks, refused_at))


# -- the connection ----------------------------------------------------------------------


def protocol_version(client: Any) -> int:
    """The MQTT version the client speaks now (gmqtt lowers it when v5 is refused)."""
    version: int = client._connection_state.protocol_version
    return version


def refused_for_good(client: Any) -> bool:
    """The broker's CONNACK refused in a way retrying will not fix (bad login, …)."""
    return bool(client._package_handler._permanent_failure)


def receive_maximum(client: Any) -> int | None:
    """The Receive Maximum of the CONNACK, None if the broker sent none."""
    values = client._package_handler._connack_properties.get("receive_maximum")
    return int(values[0]) if values else None


def shared_subscriptions_available(client: Any) -> bool:
    """The CONNACK did not say Shared Subscription Available = 0 (absent means available)."""
    values = client._package_handler._connack_properties.get("shared_subscription_available")
    return not values or bool(values[0])


def acknowledges_after_handling(client: Any) -> bool:
    """The client sends a QoS 1 message's PUBACK only when its (async) ``on_message`` has
    returned, with the reason code it returned; gmqtt decides this when the client is made
    (``optimistic_acknowledgement=False``, honoured for a client made while the version
    is still MQTT 5, whatever version it then connects with)."""
    return client._package_handler._optimistic_acknowledgement is False


def transport(client: Any) -> asyncio.WriteTransport:
    """The socket's transport of a connected client."""
    connection_transport: asyncio.WriteTransport = client._connection._transport
    return connection_transport


def write(client: Any, data: bytes) -> None:
    """Write encoded packets, and tell gmqtt's keepalive that data went out (else it would
    send PINGREQs in the middle of a stream of PUBLISH packets)."""
    connection = client._connection
    connection._transport.write(data)
    connection._last_data_out = time.monotonic()


def coalesce_writes(client: Any) -> None:
    """From now on, what the connection writes in one turn of the event loop goes out in
    one send: gmqtt writes each PUBACK on its own, and a consumer acknowledging a
    committed batch of a thousand frames would otherwise make a thousand system calls.
    Order is kept; pending bytes are written before the transport closes."""
    transport = client._connection._transport
    write, close = transport.write, transport.close
    loop = asyncio.get_running_loop()
    pending: list[bytes] = []

    def flush() -> None:
        if pending:
            data = b"".join(pending)
            pending.clear()
            if not transport.is_closing():
                write(data)

    def coalesced(data: bytes) -> None:
        if not pending:
            loop.call_soon(flush)
        pending.append(bytes(data))

    def flushed_then_closed() -> None:
        flush()
        close()

    transport.write = coalesced
    transport.close = flushed_then_closed


def write_paused(client: Any) -> bool:
    """The transport's write buffer is above its high-water mark."""
    return bool(client._connection._protocol._paused)


async def until_writable(client: Any) -> None:
    """Wait until the write buffer is below its low-water mark; ConnectionError if the
    connection is lost meanwhile."""
    await client._connection._protocol._drain_helper()


def pause_reading(client: Any) -> None:
    """Take no more data from the socket until `resume_reading`: what the broker sends
    meanwhile waits in TCP's buffers and then in the broker. (asyncio's stream reader may
    resume a transport it paused itself, when its buffer drains: call again.)"""
    connection = client._connection
    if connection is not None and connection._transport.is_reading():
        connection._transport.pause_reading()


def resume_reading(client: Any) -> None:
    """Take data from the socket again (nothing when the connection is gone)."""
    connection = client._connection
    if connection is None:
        return
    transport = connection._transport
    if not transport.is_closing() and not transport.is_reading():
        transport.resume_reading()


def abort(client: Any) -> None:
    """Cut the socket without DISCONNECT (the broker then publishes the will)."""
    connection = client._connection
    if connection is not None:
        connection._transport.abort()


def drop(client: Any) -> None:
    """Forget a client: close its socket at once, stop its keepalive, free the packet ids
    gmqtt may have leaked."""
    client._is_active = False
    client._package_handler.id_generator._used_ids.clear()
    connection = client._connection
    if connection is not None:
        callback = connection._keep_connection_callback
        if callback is not None:
            callback.cancel()
        connection._transport.abort()


# -- receiving, and acknowledging later --------------------------------------------------------

Publish = tuple[str, bytes, str | None, dict[str, str], int | None]
"""A received PUBLISH: its topic, payload, content type (None: none), user properties (a
pair given twice: its last value) and packet id (None: QoS 0)."""
PublishesHandler = Callable[[list[Publish]], None]
"""Called with the PUBLISHes of one socket read, in the order received."""

# PUBLISH properties (MQTT 5, 3.3.2.3) other than content type, user property and topic
# alias: how many bytes each takes after its identifier (-2: a two-byte length and that
# many bytes; -1: a variable byte integer).
_SKIPPED_PROPERTIES: Final = {0x01: 1, 0x02: 4, 0x08: -2, 0x09: -2, 0x0B: -1}
_PUBLISH: Final = 0x30
_PUBACK: Final = 0x40  # its flags are all 0
_REFUSED_FROM: Final = 0x80  # PUBACK reason codes from here up: the message was not taken
_CONTENT_TYPE: Final = 0x03
_TOPIC_ALIAS: Final = 0x23
_USER_PROPERTY: Final = 0x26
# The properties of a frame as billsim publishes it (adapters/mqtt/packets.py: content
# type, then the user properties seq, run, structtype and sent if given; every string
# shorter than 256 bytes), each string's length byte captured before it: read in one
# match, where reading them one by one took 24k of a PUBLISH's 31k instructions
# (callgrind). A match is taken only when every length byte is its string's length:
# then it is the properties as the general reader reads them, string for string.
_FRAME_PROPERTIES: Final = re.compile(
    rb"\x03\x00(.)([^&]*)"
    rb"&\x00\x03seq\x00(.)([0-9]*)"
    rb"&\x00\x03run\x00(.)([^&]*)"
    rb"&\x00\x0astructtype\x00(.)([0-9]*)"
    rb"(?:&\x00\x04sent\x00(.)([0-9]*))?",
    re.DOTALL,
)


def receive_publish_batches(client: Any, on_publishes: PublishesHandler) -> None:
    """From now on, hand the QoS 0 and 1 PUBLISHes of each socket read to ``on_publishes``
    in one call, and acknowledge nothing: the caller acknowledges with ``acknowledge``
    when it will (an add-in: once the messages are committed). Set before connecting, so
    that a session's backlog, which may come with the CONNACK, is received so too.

    gmqtt makes a packet object of each packet read, hands it through three layers,
    parses every property into lists of a dict and runs each message's handler as an
    asyncio task whose end sends the PUBACK; for a consumer of tens of thousands of
    messages a second, that was most of its time. Here each connection's reader parses a
    PUBLISH where it lies in what was read, keeping only what a consumer of frames reads,
    and a read's messages go on together (a consumer's work a message is then a loop's
    turn, not a chain of calls); other packets go to gmqtt as before, those read before
    them handed on first. A malformed PUBLISH is dropped unacknowledged, as gmqtt drops it
    (the broker delivers it again on the session's next connection); QoS 2, which no
    subscription here asks for, is left to gmqtt.
    """
    handler = client._package_handler
    state = client._connection_state
    logger = handler._logger
    gmqtt_publish = handler._handle_publish_packet
    aliases: dict[int, str] = {}
    frame_properties = _FRAME_PROPERTIES.fullmatch

    def publish_at(cmd: int, data: bytes, at: int, stop: int) -> Publish | None:
        """The QoS 0 or 1 PUBLISH whose variable header starts at ``at`` and which ends
        at ``stop``; None (logged) for a malformed one."""
        start = at + 2
        at = start + (data[at] << 8 | data[at + 1])
        topic = data[start:at].decode()
        mid = None
        if cmd & 0x06:
            mid = data[at] << 8 | data[at + 1]
            at += 2
        content_type = None
        user: dict[str, str] = {}
        if state.protocol_version >= MQTTv50:
            end = data[at]
            if end < 0x80:  # properties of less than 128 bytes, as a frame's are
                at += 1
            else:
                end, at = _variable_byte_integer(data, at)
            end += at
            if end > stop:
                logger.critical("PUBLISH whose properties overrun the packet: dropped")
                return None
            frame = frame_properties(data, at, end)
            if frame is not None:
                (ct_size, ct, seq_size, seq, run_size, run, type_size, struct_type,
                 sent_size, sent) = frame.groups()  # fmt: skip
                if (
                    ct_size[0] == len(ct)
                    and seq_size[0] == len(seq)
                    and run_size[0] == len(run)
                    and type_size[0] == len(struct_type)
                    and (sent is None or sent_size[0] == len(sent))
                ):
                    content_type = ct.decode()
                    user["seq"] = seq.decode()
                    user["run"] = run.decode()
                    user["structtype"] = struct_type.decode()
                    if sent is not None:
                        user["sent"] = sent.decode()
                    at = end
            while at < end:
                ident = data[at]
                at += 1
                if ident == _USER_PROPERTY:
                    size = data[at] << 8 | data[at + 1]
                    key = data[at + 2 : at + 2 + size].decode()
                    at += 2 + size
                    size = data[at] << 8 | data[at + 1]
                    user[key] = data[at + 2 : at + 2 + size].decode()
                    at += 2 + size
                elif ident == _CONTENT_TYPE:
                    size = data[at] << 8 | data[at + 1]
                    content_type = data[at + 2 : at + 2 + size].decode()
                    at += 2 + size
                elif ident == _TOPIC_ALIAS:
                    alias = data[at] << 8 | data[at + 1]
                    at += 2
                    if topic:
                        aliases[alias] = topic
                    else:
                        topic = aliases.get(alias, "")
                else:
                    size = _SKIPPED_PROPERTIES.get(ident, 0)
                    if size == 0:
                        logger.critical("PUBLISH with an unknown property %#x: dropped", ident)
                        return None
                    if size == -1:
                        at = _variable_byte_integer(data, at)[1]
                    else:
                        at += size if size > 0 else 2 + (data[at] << 8 | data[at + 1])
            if at != end:
                logger.critical("PUBLISH whose properties overrun their length: dropped")
                return None
        if not topic or at > stop:
            logger.warning("PUBLISH without a topic, an unknown alias or too short: dropped")
            return None
        return topic, data[at:stop], content_type, user, mid

    def publish(cmd: int, packet: bytes) -> None:
        # What still reaches gmqtt's dispatch: QoS 2, and packets read before the reader
        # below was in place.
        if cmd & 0x06 == 0x04:
            gmqtt_publish(cmd, packet)
            return
        found = publish_at(cmd, packet, 0, len(packet))
        if found is not None:
            on_publishes([found])

    handler._handle_publish_packet = publish
    _read_packets_with(client, publish_at=publish_at, on_publishes=on_publishes)


PublishReader = Callable[[int, bytes, int, int], Publish | None]
"""Reads the PUBLISH with this first byte whose variable header starts at an offset of
the bytes read and that ends at another (None: malformed, dropped)."""
PubackReaders = tuple[Callable[[list[int]], None], Callable[[bytes, int], None]]
"""What takes PUBACKs: the packet ids of those that took their message (reason code
below 0x80), read one after the other, in one call; and one that did not, whose variable
header (packet id, reason code) starts at an offset of the bytes read, alone."""
_READERS: Final = "_billsim_readers"  # the client's attribute holding them


def _read_packets_with(
    client: Any,
    *,
    publish_at: PublishReader | None = None,
    on_publishes: PublishesHandler | None = None,
    pubacks: PubackReaders | None = None,
) -> None:
    """From the client's next connection on, read QoS 0 and 1 PUBLISHes (to
    ``on_publishes``, a read's together) and PUBACKs with these where they lie in what
    the socket read (`_packet_reader`, fed by `_read_from_socket`); one reader per
    connection, whichever of them were given, however many calls gave them."""
    readers: dict[str, Any] | None = client.__dict__.get(_READERS)
    if readers is None:
        readers = {}
        setattr(client, _READERS, readers)
        handler = client._package_handler
        create_connection = client._create_connection

        async def create_connection_reading_packets(*args: Any, **kwargs: Any) -> Any:
            connection = await create_connection(*args, **kwargs)
            publishes = None
            if readers.get("publish_at") is not None:
                publishes = (readers["publish_at"], readers["on_publishes"])
            reader = _packet_reader(
                connection, handler, publishes, readers.get("pubacks"), handler._logger
            )
            connection._protocol._read_packet = reader
            _read_from_socket(connection, reader)
            return connection

        client._create_connection = create_connection_reading_packets
    if publish_at is not None:
        readers["publish_at"] = publish_at
        readers["on_publishes"] = on_publishes
    if pubacks is not None:
        readers["pubacks"] = pubacks


def _read_from_socket(connection: Any, read_packets: Callable[[bytes], int]) -> None:
    """What the socket reads goes to ``read_packets`` at once, past gmqtt's stream reader
    (which copied each read into its buffer, and again out of it into gmqtt's read loop's
    own, a task's wake-up a read); the bytes of a packet not all there yet are kept for
    the next read. A malformed length closes the connection (gmqtt's read loop stopped
    reading, leaving it open). The stream reader still hears of the end of the stream,
    and gmqtt's read loop ends with it as before."""
    protocol = connection._protocol
    left = b""

    def data_received(data: bytes) -> None:
        nonlocal left
        if left:
            data = left + data
        used = read_packets(data)
        if used < 0:
            left = b""
            connection._transport.close()
        else:
            left = data[used:] if used < len(data) else b""

    protocol.data_received = data_received


def _packet_reader(
    connection: Any,
    handler: Any,
    publishes: tuple[PublishReader, PublishesHandler | None] | None,
    pubacks: PubackReaders | None,
    logger: Any,
) -> Callable[[bytes], int]:
    """gmqtt's ``MQTTProtocol._read_packet`` for one connection: the packets complete in
    ``data``, QoS 0 and 1 PUBLISHes read by the first of ``publishes`` and handed, a
    read's together, to the second, PUBACKs to ``pubacks`` (when given: those that took
    their message gathered, each run of them handed on before any other packet), any
    other packet to gmqtt as its own reader hands it on (after the PUBLISHes read before
    it); returns the bytes used, -1 for a malformed length."""
    put_package = connection.put_package
    gmqtt_read = connection._protocol._read_packet
    monotonic = time.monotonic
    publish_at, on_publishes = publishes if publishes is not None else (None, None)
    acked, refused_at = pubacks if pubacks is not None else (None, None)

    def hand_on(found: list[Publish]) -> None:
        try:
            if on_publishes is not None:
                on_publishes(found)
        except Exception:  # as gmqtt's handler does: the messages are lost, not the connection
            logger.exception("error handling packets")

    def read_packets(data: bytes) -> int:
        if handler.current_connection is not connection:
            return int(gmqtt_read(data))  # superseded: gmqtt drops what it reads
        found: list[Publish] = []
        try:
            return packets_in(data, found)
        finally:
            if found:
                hand_on(found)

    def packets_in(data: bytes, found: list[Publish]) -> int:
        size = len(data)
        at = 0
        mids: list[int] = []
        if acked is not None and size >= 4 and data[0] == _PUBACK:
            mids, at = _plain_pubacks(data)
        while size - at >= 2:
            cmd = data[at]
            if cmd == _PUBACK and acked is not None and data[at + 1] < 0x80:
                # A PUBACK: its length fits in one byte (2, or 3 and more with a reason code).
                body = at + 2
                stop = body + data[at + 1]
                if stop > size:
                    break
                if stop - body == 2 or (stop - body > 2 and data[body + 2] < _REFUSED_FROM):
                    mids.append(data[body] << 8 | data[body + 1])
                    at = stop
                    continue
            length = shift = 0
            body = at + 1
            while True:
                if body >= size:
                    return _handed(mids, acked, logger, at)  # the length is not all there yet
                byte = data[body]
                body += 1
                length |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
                shift += 7
                if shift > 21:
                    return _handed(mids, acked, logger, -1)
            stop = body + length
            if stop > size:
                break
            if mids:
                _handed(mids, acked, logger, 0)
                mids = []
            try:
                if cmd == _PUBACK and refused_at is not None and length >= 3:
                    refused_at(data, body)
                elif cmd & 0xF0 == _PUBLISH and cmd & 0x06 != 0x04 and publish_at is not None:
                    publish = publish_at(cmd, data, body, stop)
                    if publish is not None:
                        found.append(publish)
                else:
                    if found:
                        hand_on(found[:])
                        found.clear()
                    put_package(Package(cmd, data[body:stop]))
            except Exception:  # as gmqtt's handler does: the packet is lost, not the connection
                logger.exception("error handling a packet")
            at = stop
        connection._last_data_in = monotonic()  # gmqtt's keepalive: data came in
        return _handed(mids, acked, logger, at)

    return read_packets


def _plain_pubacks(data: bytes) -> tuple[list[int], int]:
    """The packet ids of the PUBACKs of success without reason code (``40 02``, then the
    id) when the whole packets of ``data`` are nothing else, and where they end; else
    none. Read with C loops, not a packet at a time: a publisher's socket reads mostly
    hold nothing else."""
    count = len(data) >> 2
    end = count << 2
    if data[0:end:4].count(_PUBACK) != count or data[1:end:4].count(2) != count:
        return [], 0
    words = array("H", data[:end])
    if not _BIG_ENDIAN:
        words.byteswap()
    return words[1::2].tolist(), end


def _handed(
    mids: list[int], acked: Callable[[list[int]], None] | None, logger: Any, result: int
) -> int:
    """Hand gathered PUBACKs on (when there are any); returns ``result``."""
    if mids and acked is not None:
        try:
            acked(mids)
        except Exception:  # as gmqtt's handler does: the packets are lost, not the connection
            logger.exception("error handling a packet")
    return result


def _variable_byte_integer(data: bytes, at: int) -> tuple[int, int]:
    """The variable byte integer at ``at``, and where it ends."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
        if shift > 21:
            raise ValueError("a variable byte integer of more than four bytes")


# PUBACK, success, without reason code or properties (allowed in MQTT 5 too): 0x40 0x02, then
# the packet id; as big-endian 16-bit words, the first word of each.
_PUBACK_WORD: Final = 0x4002
_BIG_ENDIAN: Final = sys.byteorder == "big"


def acknowledge(client: Any, packet_ids: Sequence[int]) -> None:
    """PUBACK (success) the QoS 1 messages with these packet ids, in the order given (MQTT
    wants receive order), in one write; nothing when the connection is gone."""
    connection = client._connection
    if not packet_ids or connection is None or connection._transport.is_closing():
        return
    words = array("H", (_PUBACK_WORD, 0)) * len(packet_ids)
    words[1::2] = array("H", packet_ids)
    if not _BIG_ENDIAN:
        words.byteswap()
    write(client, words.tobytes())


# -- packet ids ----------------------------------------------------------------------------


def usable_packet_ids(client: Any) -> int:
    """How many packet ids may be in use at once: gmqtt allows one fewer than the
    Receive Maximum it applied."""
    usable: int = client._package_handler.id_generator._max - 1
    return usable


def packet_ids_in_use(client: Any) -> int:
    return len(client._package_handler.id_generator._used_ids)


def free_packet_ids(client: Any) -> int:
    return usable_packet_ids(client) - packet_ids_in_use(client)


def take_packet_ids(client: Any, count: int) -> list[int]:
    """``count`` packet ids at once, the ones gmqtt's allocator would hand out in turn
    (its PUBACK handling frees them), or fewer when fewer are free.

    Its ``next_id`` is two calls and a debug-log call an id; ids in a row that are all
    free (the usual case between two wrap-arounds) are taken here in one step."""
    generator = client._package_handler.id_generator
    used = generator._used_ids
    last = generator._last_used_id
    if count <= 0:
        return []
    # gmqtt's _mid_generate: after the last one, ids up to _max - 1, then from 1 again,
    # skipping those in use; at most _max - 1 in use at once.
    stop = generator._max
    if len(used) + count <= stop - 1:
        head = range(last + 1, min(stop, last + 1 + count))
        tail = range(1, 1 + count - len(head))
        if used.isdisjoint(head) and used.isdisjoint(tail):
            ids = [*head, *tail]
            used.update(ids)
            generator._last_used_id = ids[-1]
            return ids
    taken: list[int] = []
    with suppress(OverflowError):
        while len(taken) < count:
            taken.append(generator._mid_generate())
    return taken


def give_back_packet_ids(client: Any, taken: list[int], kept: int) -> None:
    """Of the ids ``take_packet_ids`` just returned, the first ``kept`` were used: free
    the others, and let the allocator go on after the last one used, as if only those had
    been taken."""
    generator = client._package_handler.id_generator
    generator._used_ids.difference_update(taken[kept:])
    if kept < len(taken):
        generator._last_used_id = taken[kept - 1] if kept else taken[0] - 1


# -- what went wrong -----------------------------------------------------------------------


def disconnect_reason(packet: object, error: BaseException | None = None) -> str:
    """What gmqtt's on_disconnect got: a broker DISCONNECT's body (v5: reason code first),
    empty for a closed socket, or an error; for a closed socket, the ``error`` it was
    lost with (the client's ``lost_error``) when there was one."""
    if isinstance(packet, bytes | bytearray) and packet:
        return f"DISCONNECT from the broker, reason {packet[0]:#04x}"
    if isinstance(packet, BaseException):
        return str(packet)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()  # "connection reset by peer", without "[Errno 104]"
    if error is not None:
        return str(error) or type(error).__name__
    return "connection closed"


def connack_text(error: BaseException) -> str:
    """A refused CONNACK (gmqtt's MQTTConnectError) as words and its reason code."""
    code = getattr(error, "_code", None)
    message = str(getattr(error, "message", error)).removeprefix("Connection Refused: ")
    return f"{message} (CONNACK {code:#04x})" if isinstance(code, int) else message
