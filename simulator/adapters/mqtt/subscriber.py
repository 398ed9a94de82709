"""An MQTT subscriber of the billing topics: one gmqtt client that ``tail`` (and later
other commands) connect with."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from typing import Any, Final, TextIO

from simulator.adapters.mqtt.url import BrokerUrl
from simulator.errors import BillsimError

CONNECT_TIMEOUT: Final = 5.0
RETRY_INTERVAL: Final = 1.0
_MQTT_V5: Final = 5
_MQTT_V311: Final = 4


class SubscriberError(BillsimError):
    """The broker cannot be reached or refused us: exit 1."""


def subscriber_class() -> type[Any]:
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


async def connect_once(address: BrokerUrl, on_message: Any) -> tuple[Any, int]:
    """A connected client and its MQTT version (5, else 3.1.1 if the broker refuses v5)."""
    from gmqtt import MQTTConnectError  # noqa: PLC0415

    client_class = subscriber_class()
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
                raise SubscriberError(f"{address.redacted()} refused the connection: {error}")
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


async def connect(
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
            return await connect_once(address, on_message)
        except (OSError, TimeoutError) as error:
            reason = _reason(error)
            if deadline is not None and time.monotonic() >= deadline:
                raise SubscriberError(f"cannot connect to {address.redacted()}: {reason}") from None
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
