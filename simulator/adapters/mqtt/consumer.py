"""The add-in's MQTT consumer: a persistent session whose PUBACKs wait for the store.

One connection at a time, always with the same client id and a session the broker keeps
(MQTT 5: clean start off, session expiry one day; 3.1.1: clean session off), so that a
crash, a disconnect while asleep or a broker restart (with persistence) loses nothing: what
was not acknowledged is delivered again. Each message goes to a handler, with a token;
nothing is acknowledged until the handler's owner hands the token to `acknowledge` (the
add-in: once the message is committed to the stores). No asyncio task per message: the
messages of each socket read are taken from gmqtt as they are parsed, and go to the
handler in one call (`gmqtt_glue.receive_publish_batches`).

Flow control: a consumer may hold at most `max_unacknowledged` messages it has not
acknowledged. It says so to the broker (MQTT 5 Receive Maximum), and stops reading the
socket while it holds that many, until acknowledgements free room: mosquitto 2.0.11
keeps its in-flight limit only until the first PUBACK, then sends a client its whole
queue (eclipse-mosquitto/mosquitto#2301), which piled up tens of thousands of messages in
the add-in, each waiting seconds for its commit.

Subscriptions: `$share/{group}/domino/billing/{server}/{class}/#` for each class and
`…/custom/#` at QoS 1, so the members of a group share the stream, and both topic forms
match (the plain `…/{class}` and the `--topic-meta` `…/{class}/{run}/{seq}`); a plain
subscription under MQTT 3.1.1 or when the broker has no shared subscriptions. Connecting,
as for `tail`: MQTT 5 first, 3.1.1 on a fresh client when the broker refuses v5 or closes
the connection on it (RabbitMQ before 3.13); an unreachable broker is retried every
second until a deadline (none after a first success); a refused login is not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Iterable
from typing import Any, Final

from gmqtt import Subscription

from simulator.adapters.mqtt import gmqtt_glue as glue
from simulator.adapters.mqtt.connecting import BrokerClient
from simulator.adapters.mqtt.packets import CONTENT_TYPE_JSON
from simulator.adapters.mqtt.topics import (
    TOPIC_ROOT,
    FrameTopic,
    frame_filters,
    parse_frame_topic,
)
from simulator.adapters.mqtt.url import BrokerUrl
from simulator.addin.intake import Message
from simulator.errors import BillsimError, InputError

SESSION_EXPIRY: Final = 86_400  # seconds: a day's outage or sleep loses nothing
_GOODBYE_TIMEOUT: Final = 1.0
# The wait for the SUBACK. NATS makes a JetStream consumer for each QoS 1 filter before it
# answers, replicated in a cluster: a 3-node cluster on a loaded 2-core machine took 5.1 s
# for the add-in's eight filters (tests/commands/test_broker_matrix.py), past the 5 s a
# CONNACK is given.
SUBACK_TIMEOUT: Final = 30.0

Ack = int | None
"""What acknowledges a message (`Consumer.acknowledge`); None: nothing to (QoS 0)."""
MessageHandler = Callable[[list[Message | None], list[Ack]], None]
"""Called with the messages of one socket read, in the order received (None for a
message on any other topic the subscription matched: status, stats, control), and the
tokens that acknowledge them, one each."""
# Topics and content types seen, remembered so each is taken apart once (a consumer sees
# a few of each); forgotten past this many, should a broker send endless new ones.
_REMEMBERED: Final = 4096
_UNSEEN: Final[Any] = object()


class ConsumerError(BillsimError):
    """The broker cannot be reached, or refused the login or the subscription: exit 1."""


def client_id(group: str, member: int) -> str:
    """The fixed client id of a group member: its session outlives the process."""
    return f"billsim-addin-{group}-{member}"


def check_server_option(server: str) -> None:
    """`--server` of addin, tail and record: one topic level (a common name), or `+`;
    InputError otherwise."""
    if not server or (server != "+" and any(ch in server for ch in "/+#\0")):
        raise InputError(f"a server's common name or +, not {server!r}", field="--server")


def topic_filters(server: str, group: str | None) -> tuple[str, ...]:
    """The frame topics of `server` (`+`: every server) in both forms, one filter per
    class and one for custom types, shared within `group` if given."""
    check_server_option(server)
    share = f"$share/{group}/" if group is not None else ""
    return tuple(share + topic for topic in frame_filters(server))


def legacy_filters(server: str, group: str | None) -> tuple[str, str]:
    """What add-ins before `--topic-meta` subscribed to (`…/{server}/+`, `…/custom/+`): a
    session they left at the broker still holds them, and a frame matching one of them
    and a filter of today would come twice."""
    share = f"$share/{group}/" if group is not None else ""
    base = f"{share}{TOPIC_ROOT}/{server}"
    return f"{base}/+", f"{base}/custom/+"


def describe_filters(filters: tuple[str, ...]) -> str:
    """`domino/billing/+/{session,database,…,custom}/#`: the filters of `topic_filters`
    in one line."""
    heads, kinds = zip(*(f.removesuffix("/#").rsplit("/", 1) for f in filters), strict=True)
    if len(set(heads)) != 1:
        return ", ".join(filters)
    return f"{heads[0]}/{{{','.join(kinds)}}}/#"


def check_group(group: str) -> None:
    if not group or any(ch in group for ch in "/+#\0"):
        raise InputError(f"a share name without / + #, not {group!r}", field="--group")


class Consumer(BrokerClient):
    """The add-in's connection: a persistent session, each message handed to ``handler``
    and acknowledged only when its token comes back to `acknowledge`."""

    connection_error = ConsumerError

    def __init__(
        self,
        url: BrokerUrl,
        handler: MessageHandler,
        *,
        client_id: str,
        tls: ssl.SSLContext | None = None,
        max_unacknowledged: int | None = None,
        mqtt_version: str = "5",
    ) -> None:
        super().__init__(url, tls, mqtt_version)
        if max_unacknowledged is not None and not 1 <= max_unacknowledged <= 65_535:
            raise ValueError(f"max_unacknowledged is 1 to 65535, not {max_unacknowledged}")
        self.client_id = client_id
        self._handler = handler
        self.max_unacknowledged = max_unacknowledged
        self.unacknowledged = 0  # messages of the current connection held unacknowledged
        self.shared = False
        self.session_present = False
        # Each client made counts one up; a token holds it above the packet id, so a
        # token of a connection since gone never acknowledges a message of a newer one.
        self._generation = 0
        # Topics of the plain form (and of no frames) as taken apart; `--topic-meta`
        # topics, each new, are found by their plain part (`_message`).
        self._topics: dict[str, FrameTopic | None] = {}
        self._json_forms: dict[str, bool] = {}

    def _new_client(self, version: int) -> Any:
        session: dict[str, Any] = {}
        if version == glue.MQTT_V5:
            session["session_expiry_interval"] = SESSION_EXPIRY
            if self.max_unacknowledged is not None:
                session["receive_maximum"] = self.max_unacknowledged
        client = glue.OwnReconnectClient(
            self.client_id, clean_session=False, optimistic_acknowledgement=False, **session
        )
        if not glue.acknowledges_after_handling(client):
            raise AssertionError("gmqtt would acknowledge messages before they are stored")
        if self.url.username:
            client.set_auth_credentials(self.url.username, self.url.password)
        self._generation += 1
        self.unacknowledged = 0
        generation = self._generation << 16
        handler, message = self._handler, self._message
        limit = self.max_unacknowledged or 1 << 32  # None: no limit of our own

        topics, json_forms = self._topics, self._json_forms

        def deliver(publishes: list[glue.Publish]) -> None:
            messages: list[Message | None] = []
            acks: list[Ack] = []
            held = 0
            # A plain frame topic seen before with a content type seen before, the usual
            # case, is taken apart here; anything else by `_message`.
            for topic, payload, content_type, user, mid in publishes:
                if mid is None:
                    acks.append(None)
                else:
                    acks.append(generation | mid)
                    held += 1
                parts = topics.get(topic)
                json_form = json_forms.get(content_type) if content_type is not None else None
                if parts is None or parts.run is not None or json_form is None:
                    messages.append(message(topic, payload, content_type, user))
                else:
                    messages.append(
                        Message(topic, parts.topic.server, payload, json_form, user, None, None)
                    )
            self.unacknowledged += held
            if self.unacknowledged >= limit:
                glue.pause_reading(client)
            handler(messages, acks)

        glue.receive_publish_batches(client, deliver)
        client.on_connect = self._connected
        return client

    def acknowledge(self, tokens: Iterable[Ack]) -> None:
        """Acknowledge the messages these tokens came with, in the order given (their
        receive order); those the current connection did not receive are left: the
        broker delivers them again on the session's next connection."""
        client = self._client
        if client is None:
            return
        current = self._generation
        packet_ids = [
            token & 0xFFFF for token in tokens if token is not None and token >> 16 == current
        ]
        glue.acknowledge(client, packet_ids)
        self.unacknowledged -= len(packet_ids)
        if self.max_unacknowledged is not None and self.unacknowledged < self.max_unacknowledged:
            glue.resume_reading(client)

    def _message(
        self, topic: str, payload: bytes, content_type: str | None, user: dict[str, str]
    ) -> Message | None:
        topics = self._topics
        parts = topics.get(topic, _UNSEEN)
        run = seq = None
        if parts is _UNSEEN:
            # A `--topic-meta` topic: its plain part is one seen before, as a rule.
            head, _, seq = topic.rpartition("/")
            base, _, run = head.rpartition("/")
            parts = topics.get(base)
            if parts is None or parts.run is not None:
                parts, run, seq = self._new_topic(topic)
        if parts is None:
            return None
        json_form = None
        if content_type is not None:
            json_form = self._json_forms.get(content_type)
            if json_form is None:
                if len(self._json_forms) >= _REMEMBERED:
                    self._json_forms.clear()
                json_form = content_type.split(";", 1)[0].strip() == CONTENT_TYPE_JSON
                self._json_forms[content_type] = json_form
        return Message(topic, parts.topic.server, payload, json_form, user, run, seq)

    def _new_topic(self, topic: str) -> tuple[FrameTopic | None, str | None, str | None]:
        """A topic not seen before taken apart, and remembered: its plain part, with the
        run and seq levels of a `--topic-meta` topic."""
        topics = self._topics
        if len(topics) >= _REMEMBERED:
            topics.clear()
        found = parse_frame_topic(topic)
        if found is None or found.run is None:
            topics[topic] = found
            return found, None, None
        plain = FrameTopic(found.topic)
        topics[f"{TOPIC_ROOT}/{plain.topic.server}/{plain.topic.rest}"] = plain
        return plain, found.run, found.seq

    async def _connect_once(self) -> None:
        await super()._connect_once()
        glue.coalesce_writes(self._client)

    def _connected(self, _client: Any, flags: int, _rc: int, _properties: Any) -> None:
        self.session_present = bool(flags)

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
            granted = await asyncio.wait_for(subscribed, SUBACK_TIMEOUT)
        except TimeoutError:
            raise ConsumerError(
                f"{self.url} did not answer the subscription within {SUBACK_TIMEOUT:g} s"
            ) from None
        if any(not isinstance(q, int) or q >= 0x80 for q in granted):
            raise ConsumerError(f"{self.url} refused the subscription to {', '.join(filters)}")
        if self.session_present:
            # A session an older add-in left may hold its filters (`legacy_filters`, shared
            # where the broker has shared subscriptions, else plain): a frame would match
            # one of them too, and come twice. Their UNSUBACK is waited for, so that a
            # frame published once this returns comes once; without one in time the add-in
            # goes on (a frame that still comes twice is counted as a duplicate, not lost).
            unsubscribed = asyncio.Event()
            client.on_unsubscribe = lambda *_args: unsubscribed.set()
            shared = legacy_filters(server, group) if self.shared else ()
            client.unsubscribe([*shared, *legacy_filters(server, None)])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(unsubscribed.wait(), SUBACK_TIMEOUT)
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
