"""The MQTT drain: MQ$BILLING to an MQTT broker, at least once and in order (docs/mqtt.md).

A pure adapter: it takes frames from the queue and publishes them; what the frames say
is the engine's business. The daemon wires it up:

    drain = BillingDrain(parse_broker_url(text), MqttOptions(), queue,
                         server_cn="Mail01", run_id=run_id, codec=codec, on_control=handler)
    await drain.start()                  # connects in the background, never blocks
    run_task = asyncio.create_task(drain.run())
    ...                                  # the engine puts (seq, frame) into the queue
    queue.quit()                         # the engine is done
    left = await drain.close(drain_timeout)   # waits for the acks, offline, disconnect
    await run_task                       # returns, or raises BrokerError (refused at start)

Delivery (QoS 1). Frames are taken with a holding get, so a frame keeps its quota slot
until the broker's PUBACK releases it: a producer blocked on the quota wakes on acks, and
a broker outage loses nothing below the quota. Which frames are in flight, in what order
they are (re)published and what each PUBACK releases is the business of the sans-IO
``InFlightWindow`` (window.py); this module does the I/O around it. PUBACKs are learnt
through gmqtt's ``persistent_storage`` hook (``AckStore``): those of one socket read
together, the window told of them in one call and the queue released once. Frame PUBLISH
packets are encoded a batch at a time by ``FrameEncoder`` (packets.py), with the packet
ids gmqtt's own allocator would hand out, taken together, and written in one write; the
PUBACK reader frees the ids as gmqtt would. Status, stats
and control replies go through gmqtt's ``publish()``. Whatever of gmqtt is not public is
reached through gmqtt_glue.py.

When the connection is lost, every unacknowledged frame is published again after the
reconnect (same seq and sent, new packet id) before any new frame is taken. A subscriber
may so see a frame twice, always with the same seq, and sees the first copies in order.
``sent`` is read from the wall clock once per batch written, not per frame.

Reconnects are ours, not gmqtt's: each connection is a fresh ``OwnReconnectClient`` with
a clean session, reached through a jittered exponential backoff. A fresh client per
connection means no packet ids leaked by a lost session, no stale acks (a superseded
client's callbacks are ignored) and no replay by gmqtt itself.

QoS 0: a frame is released once written to the transport; the transport's write buffer
(high/low water marks) is the back-pressure, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from typing import Any, Final

from gmqtt import Message, MQTTConnectError

from simulator.adapters.logs import EventLog, get_logger
from simulator.adapters.metrics.histogram import Histogram
from simulator.adapters.mqtt import gmqtt_glue as glue
from simulator.adapters.mqtt.gmqtt_glue import MQTT_V5, MQTT_V311, AckStore, OwnReconnectClient
from simulator.adapters.mqtt.options import MqttOptions, tls_context
from simulator.adapters.mqtt.packets import CONTENT_TYPE_JSON, FrameEncoder
from simulator.adapters.mqtt.topics import (
    STATUS_OFFLINE,
    STATUS_ONLINE,
    check_server,
    control_reply_topic,
    control_topic,
    publishable,
    stats_topic,
    status_topic,
)
from simulator.adapters.mqtt.url import BrokerUrl, connect_failure
from simulator.adapters.mqtt.window import InFlightWindow, Resumed, Stalled, Waiting
from simulator.domino.billing import SequencedFrame
from simulator.domino.mq import MessageQueue, MQQuittingError
from simulator.errors import BillsimError
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder

__all__ = ["BillingDrain", "BrokerError"]


_QOS0_BATCH: Final = 256  # frames written between two yields to the event loop
# Packet ids gmqtt and the window keep back from the Receive Maximum (see window.open).
_SERVICE_PACKET_IDS: Final = 2
_WRITE_HIGH: Final = 256 * 1024  # transport write buffer: pause above, resume below low
_WRITE_LOW: Final = 64 * 1024
_CLOSE_POLL: Final = 0.01  # seconds between checks while close() waits for the drain
_STALL_LOOK: Final = 1.0  # seconds between looks for a stalled delivery
_OFFLINE_ACK_TIMEOUT: Final = 1.0
_DISCONNECT_TIMEOUT: Final = 2.0
_MQTT5_RECEIVE_MAXIMUM_DEFAULT: Final = 65535
_NONE_LEFT_OUT: Final[set[int]] = set()  # never changed: shared by every batch


# -- errors ------------------------------------------------------------------------------


class BrokerError(BillsimError):
    """The broker cannot be used as configured (refused login, untrusted certificate):
    raised by ``run()`` when it happens before the first connection (exit code 1)."""


class _RefusedError(Exception):
    """A refusal that retrying will not fix."""


class _DowngradedError(Exception):
    """The broker refused MQTT 5; try again at once with 3.1.1."""


class _NoAnswerError(Exception):
    """The TCP (and TLS) connection was made but the login got no CONNACK."""


# -- the drain ---------------------------------------------------------------------------


def _wall_us() -> int:
    """The wall clock in microseconds since the Unix epoch: a frame's ``sent``."""
    return time.time_ns() // 1000


def _no_delay(transport: asyncio.BaseTransport) -> None:
    """Send each write at once (TCP_NODELAY).

    With Nagle's algorithm on, a window of small PUBLISH writes waits on the peer's
    delayed ACK (~40 ms): a small receive-maximum then caps delivery at a few hundred
    frames a second.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class BillingDrain:
    """Moves frames from MQ$BILLING to the broker: at least once, in order (module doc).

    Counters (for stats, the live view and metrics): ``published`` (the first time),
    ``delivered`` (acknowledged at QoS 1, written at QoS 0), ``in_flight`` (taken from the
    queue, not yet acknowledged), ``resent``,
    ``reconnects``, ``refused`` (PUBACK with a failure reason: released, not delivered),
    ``rejected`` (frames with no topic or no JSON form: released, not sent),
    ``connected``, ``protocol`` ("5" or "3.1.1"), ``receive_maximum`` (None under 3.1.1),
    ``window`` and ``in_flight_peak`` (most QoS 1 packet ids in use at once). Give
    ``ack_latency`` a ``Histogram`` (µs) and each acknowledged frame's publish-to-ack
    time is recorded in it (the metrics endpoint folds it now and then).
    """

    def __init__(
        self,
        url: BrokerUrl,
        options: MqttOptions,
        queue: MessageQueue[SequencedFrame],
        *,
        server_cn: str,
        run_id: str,
        codec: FrameCodec,
        on_control: Callable[[bytes], Awaitable[dict[str, Any]]] | None = None,
        log: EventLog | None = None,
    ) -> None:
        check_server(server_cn)
        self.url = url
        self.options = options
        self.server_cn = server_cn
        self.run_id = run_id
        self.client_id = options.client_id or f"billsim-{server_cn}-{run_id}"
        self.status_topic = status_topic(server_cn)
        self.stats_topic = stats_topic(server_cn)
        self.control_topic = control_topic(server_cn)
        self.control_reply_topic = control_reply_topic(server_cn)
        self.log: EventLog = log if log is not None else get_logger("billsim.mqtt")
        self._queue = queue
        self._on_control = on_control
        self._ssl = tls_context(
            url, ca_file=options.ca_file, cert_file=options.cert_file, key_file=options.key_file
        )
        self._json = JsonDecoder(codec) if options.payload == "json" else None
        self._version: int = MQTT_V311 if options.version == "3.1.1" else MQTT_V5

        self._client: Any = None  # the current OwnReconnectClient
        self._store: AckStore | None = None
        self._connected = False
        self._ever_connected = False
        self._props = self._version == MQTT_V5
        self._encoder = FrameEncoder(
            server_cn, run_id, self._json, properties=self._props, topic_meta=options.topic_meta
        )
        self._said_no_properties = False
        self._window = InFlightWindow(options.window)
        self._written_qos0 = 0
        self._want_room = False
        self._want_acks = False
        self._awaiting: dict[int, asyncio.Future[None]] = {}  # service mids waited on
        self._refusals: set[int] = set()
        self._wake = asyncio.Event()
        self._lost_signal = asyncio.Event()
        self._connected_event = asyncio.Event()
        self._failed_event = asyncio.Event()
        self._connector: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._closing = False
        self._closed = False
        self._failure: BrokerError | None = None
        # Why the latest connection attempt failed: what a run that never connects reports.
        self.last_error: str | None = None

        self.reconnects = 0
        self.rejected = 0
        self.in_flight_peak = 0
        # Publish-to-ack latencies (µs) of acknowledged frames, for the metrics endpoint:
        # off (None) unless one is served; see _on_ack.
        self.ack_latency: Histogram | None = None
        self._acks_at: int | None = None
        self.protocol = options.version
        self.receive_maximum: int | None = None

    def __repr__(self) -> str:
        return (
            f"<BillingDrain {self.url} {self.server_cn} qos={self.options.qos} "
            f"{'connected' if self._connected else 'disconnected'} "
            f"delivered={self.delivered} in_flight={self.in_flight}>"
        )

    # -- state -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def in_flight(self) -> int:
        """Frames taken from the queue and not yet acknowledged (published or waiting
        for a resend)."""
        return self._window.in_flight

    @property
    def window(self) -> int:
        """The most frames left unacknowledged at once on the current connection."""
        return self._window.size

    @property
    def delivered(self) -> int:
        return self._window.delivered + self._written_qos0

    @property
    def published(self) -> int:
        """Frames published (QoS 0: written) the first time; resends are `resent`."""
        return self._window.first_publishes + self._written_qos0

    @property
    def resent(self) -> int:
        return self._window.resent

    @property
    def refused(self) -> int:
        return self._window.refused

    def stats(self) -> dict[str, Any]:
        return {
            "connected": self._connected,
            "protocol": self.protocol,
            "delivered": self.delivered,
            "in_flight": self.in_flight,
            "resent": self.resent,
            "reconnects": self.reconnects,
            "refused": self.refused,
            "rejected": self.rejected,
        }

    async def wait_connected(self, timeout: float | None = None) -> bool:
        """Wait for a connection; False on timeout. Raises ``BrokerError`` when the broker
        refused the first connection for good."""
        waiter = asyncio.ensure_future(self._connected_event.wait())
        failed = asyncio.ensure_future(self._failed_event.wait())
        try:
            await asyncio.wait(
                (waiter, failed), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
            failed.cancel()
        if self._failure is not None:
            raise self._failure
        return self._connected

    # -- connection ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in the background (never blocks); frames wait meanwhile."""
        if self._connector is None and not self._closing:
            self._connector = asyncio.create_task(self._connect_loop(), name="billsim-mqtt")
            if self.options.qos:
                self._watcher = asyncio.create_task(self._watch_delivery(), name="billsim-stall")

    def _backoff(self, attempt: int) -> float:
        options = self.options
        ceiling = min(options.max_backoff, options.min_backoff * 2.0 ** min(attempt, 30))
        return ceiling * random.uniform(0.5, 1.0)

    async def _connect_loop(self) -> None:
        attempt = 0
        delay = 0.0
        while not self._closing:
            if self._connected:
                self._lost_signal.clear()
                if self._connected and not self._closing:
                    await self._lost_signal.wait()
                delay = self._backoff(0)
                continue
            if delay:
                await asyncio.sleep(delay)
                if self._closing:
                    return
            try:
                await self._connect_once()
            except _DowngradedError:
                delay = 0.0
                continue
            except _NoAnswerError as error:
                delay = self._backoff(attempt)
                note = None
                if not self._ever_connected and self.options.version == "5":
                    # Some 3.1.1-only brokers (amqtt) neither answer nor refuse an MQTT 5
                    # CONNECT: until a first login, alternate the two versions.
                    self._version = MQTT_V311 if self._version == MQTT_V5 else MQTT_V5
                    note = f"next attempt with MQTT {'5' if self._version == MQTT_V5 else '3.1.1'}"
                self.last_error = str(error)
                # The first MQTT 5 login closed without an answer is, as often as not, a
                # 3.1.1-only broker (RabbitMQ before 3.13): said in one line, mqtt5_refused,
                # once the 3.1.1 login is in; a broker that is down warns from the next.
                say = self.log.debug if note is not None and attempt == 0 else self.log.warning
                say(
                    "mqtt.connect_failed",
                    broker=str(self.url),
                    error=str(error),
                    attempt=attempt + 1,
                    retry_in=round(delay, 2),
                    note=note,
                )
            except _RefusedError as error:
                if not self._ever_connected:
                    self._fail(BrokerError(f"cannot connect to the broker {self.url}: {error}"))
                    return
                delay = self._backoff(attempt)
                self.log.error(
                    "mqtt.refused", broker=str(self.url), error=str(error), retry_in=round(delay, 2)
                )
            except MQTTConnectError as error:
                delay = self._backoff(attempt)
                self.last_error = glue.connack_text(error)
                self.log.warning(
                    "mqtt.connect_failed",
                    broker=str(self.url),
                    error=glue.connack_text(error),
                    attempt=attempt + 1,
                    retry_in=round(delay, 2),
                )
            except (OSError, TimeoutError) as error:
                delay = self._backoff(attempt)
                self.last_error = connect_failure(error)
                self.log.warning(
                    "mqtt.connect_failed",
                    broker=str(self.url),
                    error=error,
                    attempt=attempt + 1,
                    retry_in=round(delay, 2),
                )
            else:
                attempt = 0
                delay = 0.0
                continue
            attempt += 1

    async def _watch_delivery(self) -> None:
        """Say once per stall when frames wait without a PUBACK for ``stall_after``
        seconds (how many, and the drain timeout the command will apply at the end), and
        when acks come again (the window's ``watch``)."""
        while not self._closed:
            self._look_for_stalls()
            await asyncio.sleep(min(_STALL_LOOK, self.options.stall_after))

    def _look_for_stalls(self) -> None:
        change = self._window.watch(asyncio.get_running_loop().time(), self.options.stall_after)
        if isinstance(change, Stalled):
            drain_timeout = self.options.drain_timeout
            self.log.warning(
                "mqtt.delivery_stalled",
                broker=str(self.url),
                in_flight=change.in_flight,
                no_puback_for=round(change.quiet_for, 1),
                connected=self._connected,
                drain_timeout=drain_timeout,
                note=f"no PUBACK for {change.quiet_for:.0f} s while {change.in_flight} "
                f"frame(s) wait; at the end they get --drain-timeout {drain_timeout:g} s, "
                "then count as undelivered (exit 1): a failing-over cluster may need more",
            )
        elif isinstance(change, Resumed):
            self.log.info(
                "mqtt.delivery_resumed",
                broker=str(self.url),
                stalled_for=round(change.stalled_for, 1),
                in_flight=change.in_flight,
            )

    def _fail(self, error: BrokerError) -> None:
        self._failure = error
        self.log.error("mqtt.failed", error=str(error))
        self._failed_event.set()
        self._wake.set()

    async def _connect_once(self) -> None:
        store = AckStore()
        will = Message(self.status_topic, STATUS_OFFLINE, qos=1, retain=True)
        client = OwnReconnectClient(
            self.client_id, store=store, clean_session=True, will_message=will
        )
        store.on_ack = lambda mid: self._on_ack(client, mid)
        store.on_acks = lambda mids: self._on_acks(client, mids)
        store.on_clear = lambda: self._on_clear(client)
        client.on_disconnect = lambda _client, packet, exc=None: self._lost(
            client, glue.disconnect_reason(packet, client.lost_error)
        )
        if self._on_control is not None:
            client.on_message = lambda _c, topic, payload, _qos, properties: self._on_message(
                client, topic, payload, properties
            )
        if self.url.username is not None:
            client.set_auth_credentials(self.url.username, self.url.password)
        version = self._version
        self.log.debug("mqtt.connecting", broker=str(self.url), client_id=self.client_id)
        connect = asyncio.ensure_future(
            client.connect(
                self.url.host,
                self.url.port,
                ssl=self._ssl if self._ssl is not None else False,
                keepalive=self.options.keepalive,
                version=version,
            )
        )
        dead = asyncio.ensure_future(client.lost.wait())
        try:
            await asyncio.wait(
                (connect, dead),
                timeout=self.options.connect_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        except BaseException:
            connect.cancel()
            glue.drop(client)
            raise
        finally:
            dead.cancel()
        if not connect.done():
            connect.cancel()
            glue.drop(client)
            await asyncio.wait((connect,))
            if not connect.cancelled():
                connect.exception()  # retrieved: it is replaced by the errors below
            if version == MQTT_V5 and client.refused_v5.is_set():
                self._version = MQTT_V311
                raise _DowngradedError
            if client.lost.is_set():
                raise _NoAnswerError("the broker closed the connection during login")
            raise _NoAnswerError(f"no CONNACK within {self.options.connect_timeout} s")
        error = connect.exception()
        if error is not None:
            glue.drop(client)
            if isinstance(error, MQTTConnectError):
                if glue.refused_for_good(client):
                    raise _RefusedError(f"login refused: {glue.connack_text(error)}")
                raise error
            if isinstance(error, ssl.SSLCertVerificationError):
                raise _RefusedError(connect_failure(error))
            raise error
        if self._closing:
            glue.drop(client)
            return
        if client.lost.is_set() or not client.is_connected:
            glue.drop(client)
            raise ConnectionResetError("the connection closed right after login")
        self._adopt(client, store)

    def _adopt(self, client: Any, store: AckStore) -> None:
        """Make a logged-in client the current one: window, status, control, resends."""
        v5 = glue.protocol_version(client) >= MQTT_V5
        self.protocol = "5" if v5 else "3.1.1"
        self._props = self._encoder.properties = v5
        if v5:
            announced = glue.receive_maximum(client)
            self.receive_maximum = announced or _MQTT5_RECEIVE_MAXIMUM_DEFAULT
        else:
            self.receive_maximum = None
            if not self._said_no_properties:
                self._said_no_properties = True
                self._say_no_properties()
        previous = self._window.size
        window = self._window.open(glue.usable_packet_ids(client))
        if window != previous and window < self.options.window:
            # Worth telling only when the broker's Receive Maximum caps it: a couple of
            # packet ids kept back for status and stats is not news on every run.
            capped_by_broker = window < self.options.window - _SERVICE_PACKET_IDS
            (self.log.info if capped_by_broker else self.log.debug)(
                "mqtt.window_capped",
                requested=self.options.window,
                window=window,
                receive_maximum=self.receive_maximum,
            )
        transport = glue.transport(client)
        transport.set_write_buffer_limits(high=_WRITE_HIGH, low=_WRITE_LOW)
        _no_delay(transport)

        self._client = client
        self._store = store
        self._connected = True
        self._publish_service(self.status_topic, STATUS_ONLINE, qos=1, retain=True)
        if self._on_control is not None:
            client.subscribe(self.control_topic, qos=1)
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        self._connected_event.set()
        self.log.info(
            "mqtt.connected",
            broker=str(self.url),
            client_id=self.client_id,
            protocol=self.protocol,
            receive_maximum=self.receive_maximum,
            window=self.window,
            qos=self.options.qos,
            resend=self._window.waiting,
        )
        self._wake.set()

    def _say_no_properties(self) -> None:
        """One line for a connection without MQTT 5 properties: why (the broker refused
        MQTT 5, or --mqtt-version 3.1.1), what frames go without, and where a consumer
        finds run and seq then (--topic-meta)."""
        if self.options.topic_meta:
            keyed = "run and seq are in the topic (--topic-meta): …/{class}/{run}/{seq}"
        else:
            keyed = (
                "a consumer cannot tell a resent frame from a new one: --topic-meta puts "
                "run and seq in the topic"
            )
        off = "frames go without content type and the seq, run, structtype, sent properties"
        if self.options.version == "5":
            self.log.warning(
                "mqtt.mqtt5_refused",
                broker=str(self.url),
                note=f"the broker speaks MQTT 3.1.1 only: falling back to it; {off}; {keyed}",
            )
        else:
            self.log.warning("mqtt.properties_off", note=f"MQTT 3.1.1: {off}; {keyed}")

    def _lost(self, client: Any, reason: str) -> None:
        """The current connection is gone: unacknowledged frames go back to be resent."""
        client.lost.set()
        if client is not self._client or not self._connected:
            return
        self._connected = False
        self._connected_event.clear()
        unacked = self._window.lose()
        self._want_room = False
        glue.drop(client)
        for future in self._awaiting.values():
            if not future.done():
                future.set_result(None)  # no ack will come: stop waiting
        self._awaiting.clear()
        self._wake.set()
        self._lost_signal.set()
        if not self._closing:
            self.log.warning(
                "mqtt.disconnected", broker=str(self.url), reason=reason, unacked=unacked
            )

    def _on_clear(self, client: Any) -> None:
        # A CONNACK without a session: gmqtt forgets its in-flight messages. The drain
        # publishes only after that CONNACK, so there is nothing to lose; should there be,
        # those frames are resent.
        if client is self._client and self._window.lose():
            self._wake.set()

    def _on_ack(self, client: Any, mid: int) -> None:
        if client is not self._client:
            return
        store = self._store
        released = self._window.ack(mid, store.reason if store is not None else 0)
        if released is None:
            future = self._awaiting.pop(mid, None)
            if future is not None and not future.done():
                future.set_result(None)
        else:
            self._queue.release()
            latency = self.ack_latency
            if latency is not None:
                # One reading of the clock for all the PUBACKs of one read from the socket
                # (they arrived together): the first ack's time holds until the loop turns.
                acked = self._acks_at
                if acked is None:
                    acked = self._acks_at = _wall_us()
                    asyncio.get_running_loop().call_soon(self._acks_read)
                latency.pending.append(acked - released.sent)
            reason = released.reason
            if not released.delivered and reason not in self._refusals:
                self._refusals.add(reason)
                self.log.error("mqtt.frame_refused", seq=released.item[0], reason=f"{reason:#04x}")
        # Refill as soon as one packet id is free. Waiting for several acks deadlocks with
        # a broker that leaves Nagle on (mosquitto's default): it holds the rest of its
        # PUBACKs until our delayed ACK, ~40 ms, when we send nothing meanwhile.
        if self._want_room:
            self._want_room = False
            self._wake.set()
        elif self._want_acks and not self._window.unacknowledged:
            self._wake.set()

    def _on_acks(self, client: Any, mids: list[int]) -> None:
        """The PUBACKs of one socket read that took their message (``_on_ack`` for each,
        in one go)."""
        if client is not self._client:
            return
        latency = self.ack_latency
        sent: list[int] | None = None if latency is None else []
        released, others = self._window.acked(mids, sent)
        if released:
            self._queue.release(released)
            if sent:
                assert latency is not None
                # One reading of the clock for all the PUBACKs of one read (see _on_ack).
                acked = self._acks_at
                if acked is None:
                    acked = self._acks_at = _wall_us()
                    asyncio.get_running_loop().call_soon(self._acks_read)
                latency.pending.extend([acked - first for first in sent])
        for mid in others:
            future = self._awaiting.pop(mid, None)
            if future is not None and not future.done():
                future.set_result(None)
        if self._want_room:
            self._want_room = False
            self._wake.set()
        elif self._want_acks and not self._window.unacknowledged:
            self._wake.set()

    def _acks_read(self) -> None:
        self._acks_at = None

    # -- publishing ------------------------------------------------------------------------

    def _packets(
        self, items: list[SequencedFrame], packet_ids: list[int] | None, sent_us: int
    ) -> tuple[bytes, set[int]]:
        """The PUBLISH packets of frames (``FrameEncoder.packets``) and the indexes of
        those left out, with no topic or no JSON form: logged, counted and released."""
        data, rejected = self._encoder.packets(items, packet_ids, sent_us)
        if not rejected:
            return data, _NONE_LEFT_OUT
        for index, error in rejected:
            self.rejected += 1
            self.log.error("mqtt.frame_rejected", seq=items[index][0], error=str(error))
        self._queue.release(len(rejected))
        return data, {index for index, _error in rejected}

    def _writable(self, client: Any, entries: list[Waiting] | list[SequencedFrame]) -> bool:
        """The transport is open; if it is closing (lost, and not yet reported: that comes
        in a callback), say it now and let the frames wait for the reconnect, after those
        in flight, instead of a busy loop."""
        if not glue.transport(client).is_closing():
            return True
        self._window.put_back(
            entry if isinstance(entry, Waiting) else Waiting(entry) for entry in entries
        )
        self._lost(client, "closed")
        return False

    def _send_new_qos1(self, items: list[SequencedFrame]) -> None:
        """Publish frames taken from the queue at QoS 1 into the window, in one write;
        there is room (``_room``) for them all."""
        client = self._client
        if not self._writable(client, items):
            return
        packet_ids = glue.take_packet_ids(client, len(items))
        if len(packet_ids) < len(items):
            # Fewer ids free than counted (not expected: _room counts them): the rest waits.
            self._window.put_back(Waiting(item) for item in items[len(packet_ids) :])
            items = items[: len(packet_ids)]
            self._want_room = True
        now = _wall_us()
        data, left_out = self._packets(items, packet_ids, now)
        if left_out:
            items = [item for index, item in enumerate(items) if index not in left_out]
            glue.give_back_packet_ids(client, packet_ids, len(items))
            del packet_ids[len(items) :]
        self._window.published_new(packet_ids, items, now)
        if data:
            glue.write(client, data)
        self.in_flight_peak = max(self.in_flight_peak, glue.packet_ids_in_use(client))

    def _send_qos1(self, entries: list[Waiting]) -> None:
        """Publish waiting frames (resends first) at QoS 1 into the window, in one write,
        each with the publish time it first had."""
        client = self._client
        window = self._window
        if not self._writable(client, entries):
            return
        now = _wall_us()
        chunks: list[bytes] = []
        done = 0
        # A run of frames that share a publish time (new ones: now) goes in one batch.
        while done < len(entries):
            sent = entries[done].sent
            stamp = now if sent is None else sent
            end = done + 1
            while end < len(entries) and entries[end].sent == sent:
                end += 1
            packet_ids = glue.take_packet_ids(client, end - done)
            if not packet_ids:
                self._want_room = True  # no packet id free: the rest waits
                break
            end = done + len(packet_ids)
            run = entries[done:end]
            data, left_out = self._packets([entry.item for entry in run], packet_ids, stamp)
            if left_out:
                run = [entry for index, entry in enumerate(run) if index not in left_out]
                glue.give_back_packet_ids(client, packet_ids, len(run))
            for packet_id, entry in zip(packet_ids, run, strict=False):
                window.published(packet_id, entry, stamp)
            chunks.append(data)
            done = end
        if chunks:
            glue.write(client, b"".join(chunks))
        if done < len(entries):  # keep the rest, in order, for the next round
            window.put_back(entries[done:])
        self.in_flight_peak = max(self.in_flight_peak, glue.packet_ids_in_use(client))

    def _send_qos0(self, items: list[SequencedFrame]) -> None:
        """Write frames at QoS 0 and release them."""
        client = self._client
        if not self._writable(client, items):
            return
        data, left_out = self._packets(items, None, _wall_us())
        if data:
            glue.write(client, data)
        self._queue.release(len(items) - len(left_out))
        self._written_qos0 += len(items) - len(left_out)

    def _publish_service(
        self, topic: str, payload: bytes, *, qos: int, retain: bool, **props: Any
    ) -> int | None:
        """Publish a status, stats or reply message; the packet id at QoS 1 (None at QoS 0
        or when no id is free: then it goes at QoS 0)."""
        client = self._client
        if client is None or not self._connected:
            return None
        if qos and glue.free_packet_ids(client) <= 0:
            qos = 0
        client.publish(topic, payload, qos, retain, **(props if self._props else {}))
        if qos and self._store is not None:
            return self._store.last_mid
        return None

    async def publish_stats(self, obj: Mapping[str, Any]) -> bool:
        """Publish ``obj`` as JSON to ``…/stats`` (QoS 0, not retained); False (skipped)
        while disconnected."""
        if not self._connected:
            return False
        body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)
        self._publish_service(
            self.stats_topic, body.encode(), qos=0, retain=False, content_type=CONTENT_TYPE_JSON
        )
        return True

    # -- control -----------------------------------------------------------------------------

    def _on_message(
        self, client: Any, topic: str, payload: bytes, properties: dict[str, Any]
    ) -> None:
        if client is not self._client or topic != self.control_topic or self._closing:
            return
        if properties.get("retain"):
            # A retained command would run again at every start: ignore it.
            self.log.warning("mqtt.control_retained_ignored", topic=topic)
            return
        task = asyncio.get_running_loop().create_task(self._answer(bytes(payload), properties))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _answer(self, payload: bytes, properties: dict[str, Any]) -> None:
        assert self._on_control is not None
        try:
            reply = await self._on_control(payload)
            if not isinstance(reply, dict):
                raise TypeError(f"the control handler returned {type(reply).__name__}, not a dict")
            body = json.dumps(reply, separators=(",", ":"), ensure_ascii=False, default=str)
        except Exception as error:  # a crash in the handler becomes an error reply
            self.log.error(
                "mqtt.control_failed", error=f"{type(error).__name__}: {error}", exc_info=True
            )
            body = json.dumps(
                {"ok": False, "error": f"{type(error).__name__}: {error}"}, ensure_ascii=False
            )
        topic = self.control_reply_topic
        response = properties.get("response_topic")
        if response:
            if publishable(response[0]):
                topic = response[0]
            else:
                self.log.warning("mqtt.bad_response_topic", response_topic=repr(response[0]))
        props: dict[str, Any] = {"content_type": CONTENT_TYPE_JSON}
        correlation = properties.get("correlation_data")
        if correlation and isinstance(correlation[0], bytes | bytearray):
            props["correlation_data"] = bytes(correlation[0])
        if not self._connected:
            self.log.warning("mqtt.control_reply_lost", reason="disconnected")
            return
        self._publish_service(topic, body.encode(), qos=1, retain=False, **props)

    # -- the drain loop ------------------------------------------------------------------

    async def run(self) -> None:
        """Drain until the queue quits and every frame is acknowledged (QoS 1) or written
        (QoS 0), or until ``close()``. Raises ``BrokerError`` if the broker refused the
        first connection for good (bad credentials, untrusted certificate)."""
        await self.start()
        if self.options.qos:
            await self._run_qos1()
        else:
            await self._run_qos0()
        if self._failure is not None:
            raise self._failure

    def _room(self) -> int:
        """Frames that may be published now: the window, and the packet ids gmqtt has free
        (status, subscription and replies use them too)."""
        return self._window.room(glue.free_packet_ids(self._client))

    async def _run_qos1(self) -> None:
        queue = self._queue
        wake = self._wake
        window = self._window
        while True:
            wake.clear()
            if self._closing or self._failure is not None:
                return
            if not self._connected:
                if queue.is_quitting and not queue.depth and not window.waiting:
                    return
                await wake.wait()
                continue
            room = self._room()
            if room <= 0:
                self._want_room = True
                await wake.wait()
                continue
            if window.waiting:
                self._send_qos1(window.next_waiting(room))
                continue
            batch = queue.get_many_nowait(room)
            if batch:
                self._send_new_qos1(batch)
                continue
            if queue.is_quitting:
                if not window.unacknowledged:
                    return
                self._want_acks = True
                await wake.wait()
                self._want_acks = False
                continue
            got = await self._next_frame()
            if got is not None:
                if self._connected and not window.waiting:
                    self._send_new_qos1([got])
                else:
                    window.wait(got)

    async def _run_qos0(self) -> None:
        queue = self._queue
        wake = self._wake
        window = self._window
        while True:
            wake.clear()
            if self._closing or self._failure is not None:
                return
            if not self._connected:
                if queue.is_quitting and not queue.depth and not window.waiting:
                    return
                await wake.wait()
                continue
            client = self._client
            if window.waiting:
                items = [entry.item for entry in window.next_waiting(_QOS0_BATCH)]
            else:
                items = queue.get_many_nowait(_QOS0_BATCH)
            if items:
                self._send_qos0(items)
                if glue.write_paused(client):
                    try:
                        await glue.until_writable(client)
                    except ConnectionError:
                        self._lost(client, "closed while writing")
                else:
                    await asyncio.sleep(0)
                continue
            if queue.is_quitting:
                await self._flush(client)
                return
            got = await self._next_frame()
            if got is not None:
                window.wait(got)

    async def _flush(self, client: Any) -> None:
        """Wait (QoS 0, at the end) until the transport has sent what was written."""
        transport = glue.transport(client)
        while (
            self._connected
            and not self._closing
            and not transport.is_closing()
            and transport.get_write_buffer_size()
        ):
            await asyncio.sleep(_CLOSE_POLL)

    async def _next_frame(self) -> SequencedFrame | None:
        """Wait for a frame or a wake-up (connect, loss, close); the frame, or None."""
        get = asyncio.ensure_future(self._queue.get())
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((get, woken), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            # Cancelled: a frame already taken must not get lost from view.
            woken.cancel()
            if not get.done():
                get.cancel()
            elif not get.cancelled() and get.exception() is None:
                self._window.wait(get.result())
            raise
        woken.cancel()
        if not get.done():
            get.cancel()  # a waiting get takes nothing when cancelled
            return None
        error = get.exception()
        if isinstance(error, MQQuittingError):
            return None
        if error is not None:
            raise error
        return get.result()

    def _drained(self) -> bool:
        queue = self._queue
        if queue.depth or queue.held:
            return False
        if self.options.qos == 0 and self._connected:
            transport = glue.transport(self._client)
            return transport.is_closing() or not transport.get_write_buffer_size()
        return True

    # -- shutdown ----------------------------------------------------------------------------

    async def close(self, drain_timeout: float) -> int:
        """Wait up to ``drain_timeout`` s for the queue to empty and the acks to arrive,
        then publish the retained ``offline`` and disconnect cleanly. Returns the number
        of frames left undelivered (queued plus taken and unacknowledged)."""
        queue = self._queue
        if not self._closed:
            loop = asyncio.get_running_loop()
            began, delivered_before = loop.time(), self.delivered
            deadline = began + max(0.0, drain_timeout)
            while self._failure is None and not self._drained():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await asyncio.sleep(min(_CLOSE_POLL, remaining))
            timed_out = drain_timeout > 0 and self._failure is None and not self._drained()
            self._closing = True
            self._closed = True
            self._wake.set()
            self._lost_signal.set()
            connector = self._connector
            if connector is not None:
                connector.cancel()
                await asyncio.wait((connector,))
                if not connector.cancelled() and connector.exception() is not None:
                    self.log.error("mqtt.connector_failed", error=repr(connector.exception()))
            watcher = self._watcher
            if watcher is not None:
                watcher.cancel()
                await asyncio.wait((watcher,))
                self._look_for_stalls()  # a last look: a stall that ended meanwhile
            current = asyncio.current_task()
            for task in list(self._handlers):
                if task is not current:  # a control handler may be what closes the drain
                    task.cancel()
            await self._say_offline_and_disconnect()
            if timed_out and queue.depth + queue.held:
                self._say_timed_out(
                    drain_timeout, self.delivered - delivered_before, loop.time() - began
                )
            self.log.info(
                "mqtt.closed",
                broker=str(self.url),
                delivered=self.delivered,
                resent=self.resent,
                reconnects=self.reconnects,
                undelivered=queue.depth + queue.held,
            )
        return queue.depth + queue.held

    def _say_timed_out(self, drain_timeout: float, acknowledged: int, waited: float) -> None:
        """One line when the drain timeout runs out with frames unacknowledged: how many,
        and what would have been enough. A broker failing over, or slowed down by it
        (acks still coming, so no stall is told), is where the default is too short."""
        left = self._queue.depth + self._queue.held
        if acknowledged and waited > 0:
            rate, more = acknowledged / waited, left * waited / acknowledged
            seconds = f"{more:,.0f}" if more >= 10 else f"{more:.1f}"
            need = (
                f"{acknowledged} were acknowledged meanwhile, {rate:,.0f} a second: at that "
                f"rate the rest needed about {seconds} s more"
            )
        else:
            need = "none was acknowledged meanwhile"
        self.log.warning(
            "mqtt.drain_timed_out",
            broker=str(self.url),
            drain_timeout=drain_timeout,
            unacknowledged=left,
            acknowledged_meanwhile=acknowledged,
            note=f"--drain-timeout {drain_timeout:g} s ran out with {left} frame(s) not "
            f"acknowledged, which count as undelivered (exit 1); {need}. A slow or "
            "failing-over broker needs a longer --drain-timeout",
        )

    async def _say_offline_and_disconnect(self) -> None:
        client = self._client
        if client is None:
            return
        if not self._connected:
            glue.drop(client)
            return
        mid = self._publish_service(self.status_topic, STATUS_OFFLINE, qos=1, retain=True)
        if mid is not None:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._awaiting[mid] = future
            with suppress(TimeoutError):
                await asyncio.wait_for(future, _OFFLINE_ACK_TIMEOUT)
        self._connected = False
        self._connected_event.clear()
        self._window.lose()
        try:
            await asyncio.wait_for(client.disconnect(), _DISCONNECT_TIMEOUT)
        except (OSError, TimeoutError) as error:
            self.log.debug("mqtt.disconnect_failed", error=str(error))
            glue.drop(client)

    # -- for tests -------------------------------------------------------------------------

    def _abort_connection(self) -> None:
        """Cut the socket without DISCONNECT (the broker then publishes the will)."""
        if self._client is not None:
            glue.abort(self._client)
