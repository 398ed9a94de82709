"""The add-in's MQTT consumer: a persistent session whose PUBACKs wait for the store.

One connection at a time, always with the same client id and a session the broker keeps
(MQTT 5: clean start off, session expiry one day; 3.1.1: clean session off), so that a
crash, a disconnect while asleep or a broker restart (with persistence) loses nothing: what
was not acknowledged is delivered again. Each message goes to an async handler; its PUBACK
is sent only when the handler returns (gmqtt's ``optimistic_acknowledgement=False``), and
the handler returns once the message is committed to the stores.

Subscriptions: `$share/{group}/domino/billing/{server}/+` and `…/custom/+` at QoS 1, so the
members of a group share the stream; a plain subscription under MQTT 3.1.1 or when the
broker has no shared subscriptions. Connecting, as for `tail`: MQTT 5 first, 3.1.1 on a
fresh client when the broker refuses v5; an unreachable broker is retried every second
until a deadline (none after a first success); a refused login is not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from gmqtt import Subscription

from simulator.adapters.mqtt import gmqtt_glue as glue
from simulator.adapters.mqtt.connecting import (
    CONNECT_TIMEOUT,
    BrokerClient,
)
from simulator.adapters.mqtt.packets import CONTENT_TYPE_JSON
from simulator.adapters.mqtt.topics import FRAME_KINDS, TOPIC_ROOT, parse_topic
from simulator.adapters.mqtt.url import BrokerUrl
from simulator.addin.intake import Message
from simulator.errors import BillsimError, InputError

SESSION_EXPIRY: Final = 86_400  # seconds: a day's outage or sleep loses nothing
_GOODBYE_TIMEOUT: Final = 1.0

MessageHandler = Callable[[Message | None], Awaitable[None]]
"""Called with each message on a frame topic (None for any other topic the subscription
matched: status, stats, control); the message is acknowledged when it returns."""


class ConsumerError(BillsimError):
    """The broker cannot be reached, or refused the login or the subscription: exit 1."""


def client_id(group: str, member: int) -> str:
    """The fixed client id of a group member: its session outlives the process."""
    return f"billsim-addin-{group}-{member}"


def topic_filters(server: str, group: str | None) -> tuple[str, str]:
    """The frame topics of `server` (`+`: every server), shared within `group` if given."""
    if not server or (server != "+" and any(ch in server for ch in "/+#\0")):
        raise InputError(f"a server's common name or +, not {server!r}", field="--server")
    share = f"$share/{group}/" if group is not None else ""
    base = f"{share}{TOPIC_ROOT}/{server}"
    return f"{base}/+", f"{base}/custom/+"


def check_group(group: str) -> None:
    if not group or any(ch in group for ch in "/+#\0"):
        raise InputError(f"a share name without / + #, not {group!r}", field="--group")


class Consumer(BrokerClient):
    """The add-in's connection: a persistent session, messages acknowledged only once
    handled, each handed to ``handler``."""

    connection_error = ConsumerError

    def __init__(
        self,
        url: BrokerUrl,
        handler: MessageHandler,
        *,
        client_id: str,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(url, tls)
        self.client_id = client_id
        self._handler = handler
        self.shared = False
        self.session_present = False

    def _new_client(self, version: int) -> Any:
        session: dict[str, Any] = {}
        if version == glue.MQTT_V5:
            session["session_expiry_interval"] = SESSION_EXPIRY
        client = glue.OwnReconnectClient(
            self.client_id, clean_session=False, optimistic_acknowledgement=False, **session
        )
        if not glue.acknowledges_after_handling(client):
            raise AssertionError("gmqtt would acknowledge messages before they are stored")
        if self.url.username:
            client.set_auth_credentials(self.url.username, self.url.password)
        client.on_message = self._deliver
        client.on_connect = self._connected
        return client

    async def _connect_once(self) -> None:
        await super()._connect_once()
        glue.coalesce_writes(self._client)

    def _connected(self, _client: Any, flags: int, _rc: int, _properties: Any) -> None:
        self.session_present = bool(flags)

    async def _deliver(
        self, _client: Any, topic: str, payload: bytes, _qos: int, properties: Any
    ) -> int:
        await self._handler(_message(topic, bytes(payload), properties or {}))
        return 0  # the PUBACK's reason: success

    async def subscribe(self, server: str, group: str) -> tuple[str, ...]:
        """Subscribe to `server`'s frame topics at QoS 1 (shared within `group` where the
        connection allows it) and wait for the SUBACK; the filters subscribed.
        ConsumerError if the broker refuses them."""
        client = self._client
        self.shared = self.version == glue.MQTT_V5 and glue.shared_subscriptions_available(client)
        filters = topic_filters(server, group if self.shared else None)
        subscribed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_subscribe(_client: Any, _mid: int, granted: Any, _properties: Any) -> None:
            if not subscribed.done():
                subscribed.set_result(granted)

        client.on_subscribe = on_subscribe
        client.subscribe([Subscription(topic, qos=1) for topic in filters])
        try:
            granted = await asyncio.wait_for(subscribed, CONNECT_TIMEOUT)
        except TimeoutError:
            raise ConsumerError(f"{self.url} did not answer the subscription") from None
        if any(not isinstance(q, int) or q >= 0x80 for q in granted):
            raise ConsumerError(f"{self.url} refused the subscription to {', '.join(filters)}")
        return filters

    async def lost_within(self, stop: asyncio.Event, timeout: float | None) -> bool:
        """Wait until the connection is lost (True), or ``stop`` is set or ``timeout``
        seconds pass (False)."""
        lost = asyncio.ensure_future(self._client.lost.wait())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({lost, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        lost.cancel()
        stopped.cancel()
        return bool(self._client.lost.is_set())

    async def disconnect(self, timeout: float = _GOODBYE_TIMEOUT) -> None:
        """Say goodbye (the session stays at the broker) if it still listens; never raises.
        Messages not yet acknowledged stay with the session, to be delivered again."""
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), timeout)
        glue.drop(client)


def _message(topic: str, payload: bytes, properties: Mapping[str, Any]) -> Message | None:
    parts = parse_topic(topic)
    if parts is None or parts.kind not in FRAME_KINDS:
        return None
    content_type = _first(properties, "content_type")
    json_form = None
    if content_type is not None:
        json_form = str(content_type).split(";", 1)[0].strip() == CONTENT_TYPE_JSON
    user: dict[str, str] = {}
    for pair in properties.get("user_property") or ():
        if isinstance(pair, tuple | list) and len(pair) == 2:
            user[str(pair[0])] = str(pair[1])
    return Message(topic, parts.server, payload, json_form, user)


def _first(properties: Mapping[str, Any], name: str) -> Any:
    value = properties.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value
