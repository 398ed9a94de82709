"""The gmqtt glue: every use of gmqtt's internals (and of asyncio's, reached through it).

gmqtt 0.8.0 (pinned in pyproject.toml) has no public way to write pre-encoded packets,
read a PUBACK's reason code, count free packet ids, read the CONNACK's Receive Maximum
and shared-subscription flag, see that a client acknowledges a message only once its
handler is done, or drop a client without its reconnect machinery. The drain, the
subscriber and the add-in's consumer need all of that, so they ask this module; no other
module touches a ``_name`` of gmqtt.
``RELIED_ON`` lists each internal used here, and tests/adapters/mqtt/test_gmqtt_glue.py
fails, naming it and the gmqtt version, when an upgrade moves one.

gmqtt has no type stubs: its objects are ``Any`` and stay behind these functions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Final

from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50, MQTTv311
from gmqtt.storage import PersistentStorage

TESTED_GMQTT_VERSION: Final = "0.8.0"

RELIED_ON: Final[dict[str, tuple[str, ...]]] = {
    # owner (as a client reaches it) -> the internal attributes and methods used here
    "Client": ("_connection", "_connection_state", "_package_handler", "_is_active"),
    "Client._connection_state": ("protocol_version",),
    "Client._package_handler": (
        "_handle_puback_packet",
        "_connack_properties",
        "_permanent_failure",
        "_optimistic_acknowledgement",
        "id_generator",
    ),
    "Client._package_handler.id_generator": ("_used_ids", "_max", "next_id"),
    "Client._connection": (
        "_transport",
        "_protocol",
        "_last_data_out",
        "_keep_connection_callback",
    ),
    "Client._connection._protocol": ("_paused", "_drain_helper"),
    "MQTTConnectError": ("_code", "message"),
}

MQTT_V5: Final[int] = MQTTv50
MQTT_V311: Final[int] = MQTTv311


class AckStore(PersistentStorage):  # type: ignore[misc]
    """gmqtt's in-flight store, used as its hook for acknowledgements.

    gmqtt calls ``push_message(mid, raw)`` inside ``publish()`` for QoS > 0 (status and
    replies: frames are written by the drain), ``remove_message_by_mid(mid)`` on every
    PUBACK, and ``clear()`` on a CONNACK without a session. No packet is kept (the drain
    keeps the frames and resends them itself), so gmqtt never replays anything and
    ``connect()`` never waits for a drain.
    """

    def __init__(self) -> None:
        super().__init__()
        self.last_mid = 0
        self.reason = 0  # reason code of the PUBACK being handled (v5; 0 otherwise)
        self.on_ack: Callable[[int], None] = _ignore_int
        self.on_clear: Callable[[], None] = _ignore

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
    to 3.1.1 because the broker refused an MQTT 5 CONNECT). With an ``AckStore``, each
    PUBACK's reason code is in ``store.reason`` while the store hears of the ack.
    """

    def __init__(self, client_id: str, *, store: AckStore | None = None, **kwargs: Any) -> None:
        super().__init__(client_id, persistent_storage=store, **kwargs)
        self.lost = asyncio.Event()
        self.refused_v5 = asyncio.Event()
        if store is not None:
            _report_puback_reasons(self, store)

    async def reconnect(self, delay: bool = False) -> None:
        if protocol_version(self) == MQTTv311:
            self.refused_v5.set()
        self.lost.set()


def _report_puback_reasons(client: Any, store: AckStore) -> None:
    handler = client._package_handler
    original = handler._handle_puback_packet

    def puback(cmd: int, packet: bytes) -> None:
        # gmqtt ignores the v5 reason code (absent: a 2-byte body, success).
        store.reason = packet[2] if len(packet) > 2 else 0
        original(cmd, packet)

    handler._handle_puback_packet = puback


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


def packet_id_allocator(client: Any) -> Callable[[], int]:
    """gmqtt's own allocator (its PUBACK handling frees the ids): each call takes one;
    OverflowError when none is free."""
    next_id: Callable[[], int] = client._package_handler.id_generator.next_id
    return next_id


# -- what went wrong -----------------------------------------------------------------------


def disconnect_reason(packet: object) -> str:
    """What gmqtt's on_disconnect got: a broker DISCONNECT's body (v5: reason code first),
    empty for a closed socket, or an error."""
    if isinstance(packet, bytes | bytearray) and packet:
        return f"DISCONNECT from the broker, reason {packet[0]:#04x}"
    if isinstance(packet, BaseException):
        return str(packet)
    return "connection closed"


def connack_text(error: BaseException) -> str:
    """A refused CONNACK (gmqtt's MQTTConnectError) as words and its reason code."""
    code = getattr(error, "_code", None)
    message = str(getattr(error, "message", error)).removeprefix("Connection Refused: ")
    return f"{message} (CONNACK {code:#04x})" if isinstance(code, int) else message
