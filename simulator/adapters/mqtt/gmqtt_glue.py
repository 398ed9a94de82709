"""The gmqtt glue: every use of gmqtt's internals, in one place.

gmqtt has no type stubs: its objects are ``Any`` and stay behind this module's functions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gmqtt import Client
from gmqtt.storage import PersistentStorage


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


class DrainClient(Client):  # type: ignore[misc]
    """A gmqtt Client that never reconnects by itself and reports PUBACK reason codes.

    gmqtt calls ``reconnect`` after any connection loss, refused CONNACK or protocol
    downgrade; here that only marks the client dead, for the drain's own loop.
    """

    def __init__(self, client_id: str, store: AckStore, **kwargs: Any) -> None:
        super().__init__(client_id, persistent_storage=store, **kwargs)
        self.dead = asyncio.Event()
        handler = self._package_handler
        original = handler._handle_puback_packet

        def puback(cmd: int, packet: bytes) -> None:
            # gmqtt ignores the v5 reason code (absent: a 2-byte body, success).
            store.reason = packet[2] if len(packet) > 2 else 0
            original(cmd, packet)

        handler._handle_puback_packet = puback

    async def reconnect(self, delay: bool = False) -> None:
        self.dead.set()


def disconnect_reason(packet: object) -> str:
    """What gmqtt's on_disconnect got: a broker DISCONNECT's body (v5: reason code first),
    empty for a closed socket, or an error."""
    if isinstance(packet, bytes | bytearray) and packet:
        return f"DISCONNECT from the broker, reason {packet[0]:#04x}"
    if isinstance(packet, BaseException):
        return str(packet)
    return "connection closed"


def connack_text(error: BaseException) -> str:
    code = getattr(error, "_code", None)
    message = str(getattr(error, "message", error)).removeprefix("Connection Refused: ")
    return f"{message} (CONNACK {code:#04x})" if isinstance(code, int) else message
