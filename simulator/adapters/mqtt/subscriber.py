"""An MQTT subscriber of the billing topics: the one gmqtt client that ``tail`` and
``record`` read the broker with, kept subscribed across lost connections
(``hold_subscription``), and the servers it has seen online (``ServersOnline``: a run has
ended when the last of them goes offline).

Connecting: MQTT 5 first (it carries the content type and the ``seq`` user property),
falling back to 3.1.1 at once, on a fresh client, when the broker refuses v5 (NATS,
amqtt) or closes the connection on it (RabbitMQ before 3.13). ``connect`` retries an
unreachable broker every second until a deadline, and without end once there is none
(after a first success: a broker restart is waited out). A refused login is not retried.
gmqtt's own reconnects are off: a lost connection is reported by ``until_lost``, and the
caller connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from simulator.adapters.mqtt.connecting import (
    CONNECT_TIMEOUT,
    BrokerClient,
)
from simulator.adapters.mqtt.gmqtt_glue import OwnReconnectClient
from simulator.adapters.mqtt.topics import STATUS_OFFLINE, STATUS_ONLINE
from simulator.adapters.mqtt.url import BrokerUrl
from simulator.errors import BillsimError

_GOODBYE_TIMEOUT: Final = 1.0

MessageHandler = Callable[[str, bytes, Mapping[str, Any]], None]
"""Called with each message's topic, payload and MQTT 5 properties (as gmqtt gives them:
each value a list; empty under 3.1.1)."""


def message_property(properties: Mapping[str, Any], name: str) -> Any:
    """A received MQTT 5 property (gmqtt gives lists), or None."""
    value = properties.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def user_properties(properties: Mapping[str, Any]) -> dict[str, str]:
    """A received message's MQTT 5 user properties by name (empty under 3.1.1)."""
    pairs = properties.get("user_property") or []
    out: dict[str, str] = {}
    for pair in pairs:
        if isinstance(pair, tuple | list) and len(pair) == 2:
            out[str(pair[0])] = str(pair[1])
    return out


class SubscriberError(BillsimError):
    """The broker cannot be reached, or refused the login or the subscription: exit 1."""


class Subscriber(BrokerClient):
    """One connection at a time to ``url``, each message handed to ``on_message``."""

    connection_error = SubscriberError

    def __init__(
        self,
        url: BrokerUrl,
        on_message: MessageHandler,
        *,
        tls: ssl.SSLContext | None = None,
        name: str = "billsim-tail",
        mqtt_version: str = "5",
    ) -> None:
        super().__init__(url, tls, mqtt_version)
        self.name = name
        self._on_message = on_message

    def _new_client(self, _version: int) -> OwnReconnectClient:
        client = OwnReconnectClient(f"{self.name}-{os.getpid()}-{time.monotonic_ns() % 10**6}")
        if self.url.username:
            client.set_auth_credentials(self.url.username, self.url.password)
        client.on_message = self._deliver
        return client

    def _deliver(self, _client: Any, topic: str, payload: bytes, _qos: int, properties: Any) -> int:
        self._on_message(topic, bytes(payload), properties or {})
        return 0  # the PUBACK reason: success

    async def subscribe(self, topic: str) -> None:
        """Subscribe at QoS 1 and wait (up to the connect timeout) for the SUBACK;
        SubscriberError if the broker refuses every topic."""
        client = self._client
        subscribed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_subscribe(_client: Any, _mid: int, granted: Any, _properties: Any) -> None:
            if not subscribed.done():
                subscribed.set_result(granted)

        client.on_subscribe = on_subscribe
        client.subscribe(topic, qos=1)
        try:
            granted = await asyncio.wait_for(subscribed, CONNECT_TIMEOUT)
        except TimeoutError:
            granted = None  # no SUBACK yet; the messages will tell
        if granted and all(isinstance(q, int) and q >= 0x80 for q in granted):
            await self.disconnect(_GOODBYE_TIMEOUT)
            raise SubscriberError(f"{self.url} refused the subscription to {topic}")

    async def until_lost(self, stop: asyncio.Event) -> bool:
        """Wait until the connection is lost (True) or ``stop`` is set (False)."""
        lost = asyncio.ensure_future(self._client.lost.wait())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({lost, stopped}, return_when=asyncio.FIRST_COMPLETED)
        lost.cancel()
        stopped.cancel()
        return not stop.is_set()

    async def disconnect(self, timeout: float) -> None:
        """Say goodbye if the broker still listens; never raises."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), timeout)


class ServersOnline:
    """The servers seen online, by their status messages. A run has ended when the last of
    them goes offline: live, not by a retained `offline` an earlier run left behind."""

    def __init__(self) -> None:
        self.online: set[str] = set()

    def status(self, server: str, status: bytes, retained: bool) -> bool:
        """Take one status message; True when it took the last server seen online offline."""
        if status == STATUS_ONLINE:
            self.online.add(server)
        elif status == STATUS_OFFLINE and not retained and server in self.online:
            self.online.discard(server)
            return not self.online
        return False


async def hold_subscription(
    subscriber: Subscriber,
    topic: str,
    stop: asyncio.Event,
    *,
    deadline: float | None,
    waited: float,
    on_waiting: Callable[[str], None],
    on_subscribed: Callable[[], None],
    on_lost: Callable[[], None],
) -> None:
    """Subscribe to `topic` and stay subscribed until `stop` is set (`tail` and `record`).

    The first connection must be made by `deadline` (else SubscriberError, or a return
    when `stop` is set meanwhile); after a lost connection, `subscriber` connects again
    without a deadline: the broker was there, so it is waited for however long it takes.
    """
    while not stop.is_set():
        connected = await subscriber.connect(
            deadline=deadline, stop=stop, on_waiting=on_waiting, waited=waited
        )
        if not connected:
            break
        await subscriber.subscribe(topic)
        on_subscribed()
        if not await subscriber.until_lost(stop):
            await subscriber.disconnect(2)
            break
        on_lost()
        await subscriber.disconnect(1)
        deadline = None
