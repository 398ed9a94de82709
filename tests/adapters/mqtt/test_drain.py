"""The MQTT drain (simulator/adapters/mqtt/) against real mosquitto brokers of its own.

Unit tests first (URL, options, topics, packet encoding), then `broker` tests: each starts
a private mosquitto on a free loopback port (tests/broker_processes.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from broker_processes import (
    AmqttBroker,
    BrokerFactory,
    Collector,
    MosquittoBroker,
    free_port,
    make_tls_files,
)
from gmqtt import Client, Message
from gmqtt.mqtt.constants import MQTTv50, MQTTv311
from gmqtt.mqtt.package import PublishPacket
from gmqtt.mqtt.utils import IdGenerator
from samples import JDN, SERVER, SERVER_CN

from simulator.adapters.mqtt import packets as packets_module
from simulator.adapters.mqtt.drain import BillingDrain, BrokerError
from simulator.adapters.mqtt.options import MqttOptions
from simulator.adapters.mqtt.packets import (
    CONTENT_TYPE_BINARY,
    CONTENT_TYPE_JSON,
    FrameEncoder,
    _varint,
)
from simulator.adapters.mqtt.topics import (
    control_reply_topic,
    control_topic,
    frame_topic,
    meta_topic,
    stats_topic,
    status_topic,
    topic_run_and_seq,
)
from simulator.adapters.mqtt.url import BrokerUrl, parse_broker_url
from simulator.domino.billing import SequencedFrame
from simulator.domino.mq import MessageQueue
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder, dumps_frame, json_or_raw
from simulator.wire.records import DbRec, Frame, RawRec, SessionID, SessionRec
from simulator.wire.timedate import TimeDate

RUN = "run-7"
FRAMES = f"domino/billing/{SERVER_CN}/"
CUSTOM_TYPE = 32001


# -- helpers -----------------------------------------------------------------------------


class ListLog:
    """A structlog-like logger that keeps (level, event, fields)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def _add(self, level: str, event: str, kw: dict[str, Any]) -> None:
        self.events.append((level, event, kw))

    def debug(self, event: str, **kw: Any) -> None:
        self._add("debug", event, kw)

    def info(self, event: str, **kw: Any) -> None:
        self._add("info", event, kw)

    def warning(self, event: str, **kw: Any) -> None:
        self._add("warning", event, kw)

    def error(self, event: str, **kw: Any) -> None:
        self._add("error", event, kw)

    def named(self, event: str) -> list[dict[str, Any]]:
        return [kw for _level, name, kw in self.events if name == event]

    def text(self) -> str:
        return repr(self.events)


def make_frames(count: int, codec: FrameCodec, *, custom_every: int = 0) -> list[SequencedFrame]:
    """Real SESSIONREC and DBREC frames (and, every ``custom_every``, a custom one), seq 1..n."""
    frames: list[SequencedFrame] = []
    for seq in range(1, count + 1):
        stamp = TimeDate(seq % 8_640_000, JDN)
        user = f"CN=User {seq % 97}/O=Acme"
        if custom_every and seq % custom_every == 0:
            data = codec.encode(
                Frame(CUSTOM_TYPE, c.BILL_CLASS_SESSION, SERVER, stamp, RawRec(seq.to_bytes(8)))
            )
        elif seq % 2:
            rec = SessionRec(
                SessionID(seq % 50, 1), c.BILL_SESSION_START, user, seq, 2 * seq, "10.0.0.1"
            )
            data = codec.encode_record(rec, SERVER, stamp)
        else:
            rec2 = DbRec(SessionID(seq % 50, 1), c.BILL_DB_OPEN, user, seq, TimeDate(seq, JDN))
            data = codec.encode_record(rec2, SERVER, stamp)
        frames.append((seq, data))
    return frames


def expected_topic(frame: bytes) -> str:
    struct_type = int.from_bytes(frame[2:4], "little")
    if struct_type == CUSTOM_TYPE:
        return f"{FRAMES}custom/{CUSTOM_TYPE}"
    return FRAMES + ("session" if struct_type == c.BILL_SESSIONREC else "database")


def frames_of(collector: Collector) -> list[Any]:
    return [
        m
        for m in collector.messages
        if m.topic.startswith(FRAMES) and m.topic.rsplit("/", 1)[-1] not in ("status", "stats")
    ]


def seq_of(message: Any) -> int:
    return int(message.user_properties["seq"])


def sent_of(message: Any) -> int:
    return int(message.user_properties["sent"])


def wall_us() -> int:
    return time.time_ns() // 1000


def make_drain(
    url: str | BrokerUrl,
    queue: MessageQueue[SequencedFrame],
    codec: FrameCodec,
    *,
    log: ListLog | None = None,
    on_control: Callable[[bytes], Awaitable[dict[str, Any]]] | None = None,
    env: dict[str, str] | None = None,
    **options: Any,
) -> BillingDrain:
    broker_url = parse_broker_url(url, env=env or {}) if isinstance(url, str) else url
    options.setdefault("min_backoff", 0.05)
    options.setdefault("max_backoff", 0.5)
    options.setdefault("connect_timeout", 5.0)
    return BillingDrain(
        broker_url,
        MqttOptions(**options),
        queue,
        server_cn=SERVER_CN,
        run_id=RUN,
        codec=codec,
        on_control=on_control,
        log=log if log is not None else ListLog(),
    )


@asynccontextmanager
async def collecting(
    broker: MosquittoBroker, *topics: str, **kwargs: Any
) -> AsyncIterator[Collector]:
    collector = await Collector(broker, topics or (f"{FRAMES}#",), **kwargs).start()
    try:
        yield collector
    finally:
        await collector.stop()


async def fill(queue: MessageQueue[SequencedFrame], frames: list[SequencedFrame]) -> None:
    for item in frames:
        await queue.put(item)


@pytest.fixture
def codec() -> FrameCodec:
    return FrameCodec()


# -- topics and packets --------------------------------------------------------------------


class _Protocol:
    """What gmqtt's PublishPacket needs of a protocol: a version and an id allocator."""

    def __init__(self, proto_ver: int, mid: int) -> None:
        self.proto_ver = proto_ver
        self.id_generator = IdGenerator()
        # Through its public methods: the allocator hands out ids in turn.
        taken = [self.id_generator.next_id() for _ in range(mid - 1)]
        for used in taken:
            self.id_generator.free_id(used)


def _gmqtt_packet(
    item: SequencedFrame,
    mid: int | None,
    sent: int,
    decoder: JsonDecoder | None,
    version: int,
    topic_meta: bool,
) -> bytes:
    """The PUBLISH gmqtt's publish() would write for a frame."""
    seq, frame = item
    payload = (
        json.dumps(decoder(frame, 0, seq), separators=(",", ":"), ensure_ascii=False).encode()
        if decoder
        else frame
    )
    struct_type = str(int.from_bytes(frame[2:4], "little"))
    topic = frame_topic(SERVER_CN, frame)
    message = Message(
        meta_topic(topic, RUN, seq) if topic_meta else topic,
        payload,
        qos=0 if mid is None else 1,
        content_type=CONTENT_TYPE_JSON if decoder else CONTENT_TYPE_BINARY,
        user_property=[
            ("seq", str(seq)),
            ("run", RUN),
            ("structtype", struct_type),
            ("sent", str(sent)),
        ],
    )
    gmqtt_mid, theirs = PublishPacket.build_package(message, _Protocol(version, mid or 1))
    assert gmqtt_mid == mid
    return bytes(theirs)


def _with_class(frame: bytes, bill_class: int) -> bytes:
    return frame[:4] + bill_class.to_bytes(4, "little") + frame[8:]


@pytest.mark.parametrize("topic_meta", [False, True])
@pytest.mark.parametrize("json_payload", [False, True])
@pytest.mark.parametrize("version", [5, 4])
@pytest.mark.parametrize("qos", [0, 1])
def test_frame_packets_equal_gmqtts(
    codec: FrameCodec, json_payload: bool, version: int, qos: int, topic_meta: bool
) -> None:
    """The drain's own PUBLISH encoding of a batch gives the bytes gmqtt's publish() would
    write for each frame in turn, to the topic of either form: seqs of every length, a
    packet of a three-byte length, a kind seen in an earlier batch, a frame left out
    (no topic) whose packet id the next frame takes."""
    decoder = JsonDecoder(codec) if json_payload else None
    encoder = FrameEncoder(
        SERVER_CN, RUN, decoder, properties=version == MQTTv50, topic_meta=topic_meta
    )
    frames = make_frames(3, codec, custom_every=3)
    big = codec.encode(
        Frame(CUSTOM_TYPE, c.BILL_CLASS_SESSION, SERVER, TimeDate(1, JDN), RawRec(b"x" * 20_000))
    )
    no_topic = _with_class(frames[0][1], 0x4000)
    batches = [
        [frames[0], (9, frames[1][1]), (10, frames[2][1])],
        [(99, frames[1][1]), (100, no_topic), (12_345_678_901, frames[0][1]), (7, big)],
    ]
    for number, items in enumerate(batches):
        sent = 1_764_000_000_000_000 + number  # a batch shares a stamp
        mids = [300 + 10 * number + index for index in range(len(items))] if qos else None
        ours, rejected = encoder.packets(items, mids, sent)
        written = [item for item in items if item[1] is not no_topic]
        assert [index for index, _error in rejected] == [
            index for index, item in enumerate(items) if item[1] is no_topic
        ]
        theirs = b"".join(
            _gmqtt_packet(item, mids[index] if mids else None, sent, decoder, version, topic_meta)
            for index, item in enumerate(written)
        )
        assert ours == theirs


@pytest.mark.parametrize("qos", [0, 1])
def test_binary_batches_encoded_column_wise_equal_frame_by_frame(
    codec: FrameCodec, qos: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The column-wise encoding of binary batches (kept prefixes, C loops) writes the bytes
    the frame-by-frame one writes: batches of every size, frames of many lengths and
    kinds, seqs whose digits change within a batch, a stamp a batch; with the table of
    kept prefixes cleared when full, and a frame with no topic sending its whole batch
    frame by frame."""
    monkeypatch.setattr(packets_module, "_PREFIXES_KEPT", 40)
    ours = FrameEncoder(SERVER_CN, RUN, None, properties=True)
    reference = FrameEncoder(SERVER_CN, RUN, None, properties=True)
    frames = make_frames(600, codec, custom_every=7)
    custom = [
        (seq, codec.encode(Frame(CUSTOM_TYPE, c.BILL_CLASS_SESSION, SERVER, TimeDate(seq, JDN),
                                 RawRec(b"y" * (seq % 300)))))
        for seq in range(1, 200)
    ]  # fmt: skip
    no_topic = (5, _with_class(frames[0][1], 0x4000))
    batches: list[list[SequencedFrame]] = []
    at = 0
    for size in (1, 2, 3, 17, 250, 1, 330):
        batches.append([(seq * 37 + 95, frame) for seq, frame in frames[at : at + size]])
        at += size
    batches += [custom[:100], custom[100:], [*frames[:5], no_topic, *frames[5:9]], frames[:50]]
    for number, items in enumerate(batches):
        sent = 1_764_000_000_000_000 + number * 999_999_999_999
        mids = [(7 * index + number) % 65_535 + 1 for index in range(len(items))] if qos else None
        data, rejected = ours.packets(items, mids, sent)
        want, want_rejected = reference._packets_with_properties(items, mids, sent)
        assert data == want, number
        assert [(i, str(e)) for i, e in rejected] == [(i, str(e)) for i, e in want_rejected]
        assert ours._binary_packets(items, mids, sent) == (None if no_topic in items else data)


# -- broker tests ----------------------------------------------------------------------------


# -- broker tests ----------------------------------------------------------------------------


@pytest.mark.broker
async def test_qos1_every_frame_once_in_order(
    mosquitto: MosquittoBroker, codec: FrameCodec
) -> None:
    frames = make_frames(5000, codec, custom_every=997)
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    async with collecting(mosquitto) as collector:
        started = wall_us()
        drain = make_drain(mosquitto.url, queue, codec)
        await drain.start()
        run = asyncio.create_task(drain.run())
        await fill(queue, frames)
        queue.quit()
        await asyncio.wait_for(run, 20)
        ended = wall_us()
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= 5000, 20)
        assert await drain.close(5) == 0
        received = frames_of(collector)
    assert [seq_of(m) for m in received] == list(range(1, 5001))
    sent = [sent_of(m) for m in received]
    assert started <= sent[0] and sent == sorted(sent) and sent[-1] <= ended
    for message, (seq, frame) in zip(received, frames, strict=True):
        assert message.payload == frame
        assert message.topic == expected_topic(frame)
        assert message.qos == 1
        assert not message.retain
        assert message.prop("content_type") == CONTENT_TYPE_BINARY
        assert message.user_properties == {
            "seq": str(seq),
            "run": RUN,
            "structtype": str(int.from_bytes(frame[2:4], "little")),
            "sent": str(sent_of(message)),
        }
    stats = queue.stats()
    assert (stats.released, stats.held, stats.depth) == (5000, 0, 0)
    assert drain.delivered == 5000
    assert (drain.in_flight, drain.resent, drain.reconnects) == (0, 0, 0)
    assert drain.protocol == "5"
    assert drain.receive_maximum == 1000
    assert not drain.connected


@pytest.mark.broker
async def test_qos0_delivers_every_frame(mosquitto: MosquittoBroker, codec: FrameCodec) -> None:
    frames = make_frames(3000, codec)
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    async with collecting(mosquitto) as collector:
        drain = make_drain(mosquitto.url, queue, codec, qos=0)
        await drain.start()
        assert await drain.wait_connected(5)
        run = asyncio.create_task(drain.run())
        await fill(queue, frames)
        queue.quit()
        await asyncio.wait_for(run, 20)
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= 3000, 20)
        assert await drain.close(5) == 0
        received = frames_of(collector)
    assert [m.payload for m in received] == [frame for _seq, frame in frames]
    assert {m.qos for m in received} == {0}
    assert queue.stats().released == 3000
    assert drain.delivered == 3000


@pytest.mark.broker
async def test_json_payload(mosquitto: MosquittoBroker, codec: FrameCodec) -> None:
    frames = make_frames(50, codec)
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    decoder = JsonDecoder(codec)
    async with collecting(mosquitto) as collector:
        drain = make_drain(mosquitto.url, queue, codec, payload="json")
        run = asyncio.create_task(drain.run())
        await fill(queue, frames)
        queue.quit()
        await asyncio.wait_for(run, 10)
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= 50, 10)
        await drain.close(5)
    for message, (seq, frame) in zip(frames_of(collector), frames, strict=True):
        assert json.loads(message.payload) == json.loads(json.dumps(decoder(frame, 0, seq)))
        assert json.loads(message.payload)["seq"] == seq
        assert message.prop("content_type") == CONTENT_TYPE_JSON


@pytest.mark.broker
async def test_broker_outage_loses_nothing(
    mosquitto_factory: BrokerFactory, codec: FrameCodec
) -> None:
    broker = mosquitto_factory(persistence=True)
    frames = make_frames(4000, codec)
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    log = ListLog()
    drain = make_drain(broker.url, queue, codec, log=log)
    async with collecting(broker, client_id="outage-sub", session_expiry=600) as collector:
        run = asyncio.create_task(drain.run())

        async def produce() -> None:
            for start in range(0, len(frames), 20):
                await fill(queue, frames[start : start + 20])
                await asyncio.sleep(0.002)

        producer = asyncio.create_task(produce())
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= 800, 10)
        await broker.astop()
        assert not producer.done(), "the producer finished before the outage: slow it down"
        await asyncio.sleep(0.3)
        await broker.astart()
        await asyncio.wait_for(producer, 20)
        queue.quit()
        wanted = set(range(1, 4001))
        assert await collector.wait_for(
            lambda: {seq_of(m) for m in frames_of(collector)} >= wanted, 20
        ), broker.log_text()[-3000:]
        await asyncio.wait_for(run, 10)
        assert await drain.close(5) == 0
    by_seq = dict(frames)
    first: list[int] = []
    seen: set[int] = set()
    for message in frames_of(collector):
        seq = seq_of(message)
        assert message.payload == by_seq[seq]  # a duplicate is the same frame
        if seq not in seen:
            seen.add(seq)
            first.append(seq)
    assert first == sorted(first)
    assert drain.reconnects >= 1
    assert queue.stats().released == 4000
    assert drain.delivered >= 4000
    assert log.named("mqtt.disconnected")


@pytest.mark.broker
async def test_unacknowledged_frames_are_resent_in_order(
    mosquitto: MosquittoBroker, codec: FrameCodec
) -> None:
    """Frames published but not acknowledged when the connection dies are resent first,
    in their order, on the next connection; the broker stays up (and keeps the subscriber)."""
    frames = make_frames(1500, codec)
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    drain = make_drain(mosquitto.url, queue, codec)
    async with collecting(mosquitto) as collector:
        run = asyncio.create_task(drain.run())
        assert await drain.wait_connected(5)
        await fill(queue, frames[:500])
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= 500, 10)
        mosquitto.pause()  # PUBACKs stop: the next frames stay unacknowledged
        try:
            await fill(queue, frames[500:1000])
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while drain.in_flight < 500 and loop.time() < deadline:
                await asyncio.sleep(0.01)
            assert drain.in_flight == 500
            drain._abort_connection()
            await asyncio.sleep(0.05)
            assert not drain.connected
        finally:
            mosquitto.resume()
        await fill(queue, frames[1000:])
        queue.quit()
        await asyncio.wait_for(run, 10)
        assert await drain.close(5) == 0
        wanted = set(range(1, 1501))
        assert await collector.wait_for(
            lambda: {seq_of(m) for m in frames_of(collector)} >= wanted, 10
        )
    first: dict[int, None] = {}
    for message in frames_of(collector):
        assert message.payload == frames[seq_of(message) - 1][1]
        first.setdefault(seq_of(message))
    assert list(first) == list(range(1, 1501))
    assert drain.resent == 500
    assert drain.reconnects == 1
    assert drain.delivered == 1500
    assert queue.stats().released == 1500


@pytest.mark.broker
async def test_a_frame_resent_after_a_broker_restart_keeps_its_first_sent(
    mosquitto_factory: BrokerFactory, codec: FrameCodec
) -> None:
    """Frames published while the broker hangs stay unacknowledged; the connection is
    lost and the broker restarts; the drain publishes them again, each with the ``sent``
    of its first publish, from before the restart, while every frame published after it
    is stamped later."""
    broker = mosquitto_factory(persistence=True)
    frames = make_frames(600, codec)
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    drain = make_drain(broker.url, queue, codec)
    async with collecting(broker, client_id="resend-sub", session_expiry=600) as collector:
        run = asyncio.create_task(drain.run())
        assert await drain.wait_connected(5)
        await fill(queue, frames[:100])
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= 100, 10)
        broker.pause()  # the next frames are written to a broker that reads nothing
        try:
            await fill(queue, frames[100:400])
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while drain.in_flight < 300 and loop.time() < deadline:
                await asyncio.sleep(0.01)
            assert drain.in_flight == 300
            assert drain.resent == 0
            stopped = wall_us()
            # Lost before any PUBACK: all 300 are resent, whatever the broker does with
            # the copies it still reads before it stops.
            drain._abort_connection()
        finally:
            await broker.astop()  # SIGCONT, then SIGTERM: it saves the sessions and stops
        await asyncio.sleep(0.2)
        await broker.astart()
        await fill(queue, frames[400:])
        queue.quit()
        await asyncio.wait_for(run, 20)
        assert await drain.close(5) == 0
        wanted = set(range(1, 601))
        assert await collector.wait_for(
            lambda: {seq_of(m) for m in frames_of(collector)} >= wanted, 20
        ), broker.log_text()[-3000:]
    assert drain.resent >= 300
    sent_by_seq: dict[int, set[int]] = {}
    for message in frames_of(collector):
        sent_by_seq.setdefault(seq_of(message), set()).add(sent_of(message))
    assert all(len(stamps) == 1 for stamps in sent_by_seq.values()), "a copy was restamped"
    first_sent = {seq: stamps.pop() for seq, stamps in sent_by_seq.items()}
    assert all(first_sent[seq] <= stopped for seq in range(1, 401))
    assert all(first_sent[seq] > stopped for seq in range(401, 601))


@pytest.mark.broker
async def test_window_within_receive_maximum_and_quota(
    mosquitto_factory: BrokerFactory, codec: FrameCodec
) -> None:
    broker = mosquitto_factory(settings={"max_inflight_messages": 10})
    frames = make_frames(2000, codec)
    # A small quota: taken-but-unacknowledged frames count, so the producer blocks on
    # acks, never on the window alone.
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING", quota=50)
    log = ListLog()
    drain = make_drain(broker.url, queue, codec, log=log, window=1000)
    run = asyncio.create_task(drain.run())
    await fill(queue, frames)
    queue.quit()
    await asyncio.wait_for(run, 20)
    assert await drain.close(5) == 0
    assert drain.receive_maximum == 10
    assert drain.window == 8  # gmqtt: R - 1 ids; one kept for status and replies
    assert 0 < drain.in_flight_peak <= 9
    assert drain.delivered == 2000
    stats = queue.stats()
    assert stats.released == 2000
    assert stats.high_water <= 50
    assert log.named("mqtt.window_capped") == [
        {"requested": 1000, "window": 8, "receive_maximum": 10}
    ]


@pytest.mark.broker
async def test_status_online_offline_and_will(
    mosquitto: MosquittoBroker, codec: FrameCodec
) -> None:
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    drain = make_drain(mosquitto.url, queue, codec)
    await drain.start()
    assert await drain.wait_connected(5)
    topic = status_topic(SERVER_CN)
    async with collecting(mosquitto, topic) as collector:
        assert await collector.wait_count(1, topic)
        assert collector.messages[0][1:4] == (b"online", 1, True)  # retained
        drain._abort_connection()  # no DISCONNECT: the broker publishes the will
        assert await collector.wait_count(3, topic)
        assert [m.payload for m in collector.messages] == [b"online", b"offline", b"online"]
        assert drain.reconnects == 1
        assert drain.connected
        assert await drain.close(1) == 0
        assert await collector.wait_count(4, topic)
        assert collector.messages[3].payload == b"offline"
    async with collecting(mosquitto, topic) as late:
        assert await late.wait_count(1, topic)
        assert (late.messages[0].payload, late.messages[0].retain) == (b"offline", True)


@pytest.mark.broker
async def test_stats_published_only_when_connected(
    mosquitto: MosquittoBroker, codec: FrameCodec
) -> None:
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    drain = make_drain(mosquitto.url, queue, codec)
    assert not await drain.publish_stats({"rate": 1})
    await drain.start()
    assert await drain.wait_connected(5)
    async with collecting(mosquitto, stats_topic(SERVER_CN)) as collector:
        assert await drain.publish_stats({"rate": 12.5, "run": RUN})
        assert await collector.wait_count(1)
        message = collector.messages[0]
        assert json.loads(message.payload) == {"rate": 12.5, "run": RUN}
        assert (message.qos, message.retain) == (0, False)
    await drain.close(1)


@pytest.mark.broker
async def test_control_round_trip(mosquitto: MosquittoBroker, codec: FrameCodec) -> None:
    calls: list[bytes] = []

    async def handler(payload: bytes) -> dict[str, Any]:
        calls.append(payload)
        command = json.loads(payload)
        if command["cmd"] == "boom":
            raise RuntimeError("kaboom")
        return {"ok": True, "cmd": command["cmd"]}

    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    log = ListLog()
    drain = make_drain(mosquitto.url, queue, codec, on_control=handler, log=log)
    run = asyncio.create_task(drain.run())
    assert await drain.wait_connected(5)
    replies = "test/replies/#"
    async with collecting(mosquitto, replies, control_reply_topic(SERVER_CN)) as collector:
        requester: Any = Client("requester")
        await requester.connect(mosquitto.host, mosquitto.port)
        try:
            # The drain subscribes right after connecting; ask until it answers.
            for _ in range(50):
                requester.publish(
                    control_topic(SERVER_CN),
                    b'{"cmd": "stats"}',
                    qos=1,
                    response_topic="test/replies/1",
                    correlation_data=b"\x01\x02",
                )
                if await collector.wait_count(1, timeout=0.2):
                    break
            reply = collector.messages[0]
            assert reply.topic == "test/replies/1"
            assert json.loads(reply.payload) == {"ok": True, "cmd": "stats"}
            assert reply.prop("correlation_data") == b"\x01\x02"
            assert reply.prop("content_type") == CONTENT_TYPE_JSON
            collector.messages.clear()

            requester.publish(control_topic(SERVER_CN), b'{"cmd": "pause"}', qos=1)
            assert await collector.wait_count(1)
            assert collector.messages[0].topic == control_reply_topic(SERVER_CN)
            assert json.loads(collector.messages[0].payload) == {"ok": True, "cmd": "pause"}
            collector.messages.clear()

            requester.publish(
                control_topic(SERVER_CN), b'{"cmd": "boom"}', qos=0, response_topic="test/replies/2"
            )
            assert await collector.wait_count(1)
            failed = collector.messages[0]
            assert failed.topic == "test/replies/2"
            assert json.loads(failed.payload) == {"ok": False, "error": "RuntimeError: kaboom"}
            collector.messages.clear()

            # A wildcard response topic would get the drain disconnected: reply/ instead.
            requester.publish(
                control_topic(SERVER_CN), b'{"cmd": "resume"}', qos=1, response_topic="test/#"
            )
            assert await collector.wait_count(1)
            assert collector.messages[0].topic == control_reply_topic(SERVER_CN)
        finally:
            await requester.disconnect()
    assert drain.connected
    assert log.named("mqtt.control_failed")
    queue.quit()
    await asyncio.wait_for(run, 5)
    await drain.close(1)


@pytest.mark.broker
async def test_tls_with_client_certificate(
    mosquitto_factory: BrokerFactory, codec: FrameCodec, tmp_path: Path
) -> None:
    tls = make_tls_files(tmp_path / "tls")
    broker = mosquitto_factory(tls=tls, require_certificate=True)
    assert broker.url.startswith("mqtts://127.0.0.1:")
    frames = make_frames(100, codec)
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    async with collecting(broker) as collector:
        drain = make_drain(
            broker.url,
            queue,
            codec,
            ca_file=str(tls.ca_cert),
            cert_file=str(tls.client_cert),
            key_file=str(tls.client_key),
        )
        run = asyncio.create_task(drain.run())
        await fill(queue, frames)
        queue.quit()
        await asyncio.wait_for(run, 10)
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= 100, 10)
        assert await drain.close(2) == 0
    assert [m.payload for m in frames_of(collector)] == [frame for _seq, frame in frames]

    # Without the test CA the server certificate is not trusted: a configuration error,
    # reported at once instead of retried forever.
    untrusting = make_drain(
        broker.url,
        MessageQueue("MQ$BILLING"),
        codec,
        cert_file=str(tls.client_cert),
        key_file=str(tls.client_key),
    )
    with pytest.raises(BrokerError, match="certificate verify failed"):
        await asyncio.wait_for(untrusting.run(), 10)
    assert await untrusting.close(0) == 0


@pytest.mark.broker
async def test_username_and_password(
    mosquitto_factory: BrokerFactory,
    codec: FrameCodec,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cret-Pw0rd"
    broker = mosquitto_factory(passwords={"alice": secret})
    logs: list[ListLog] = []
    for url, env in (
        (f"mqtt://alice:{secret}@{broker.host}:{broker.port}", {}),
        (broker.url, {"BILLSIM_MQTT_USERNAME": "alice", "BILLSIM_MQTT_PASSWORD": secret}),
    ):
        queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
        log = ListLog()
        logs.append(log)
        drain = make_drain(url, queue, codec, log=log, env=env)
        assert drain.url.password == secret
        run = asyncio.create_task(drain.run())
        await fill(queue, make_frames(20, codec))
        queue.quit()
        await asyncio.wait_for(run, 10)
        assert await drain.close(2) == 0
        assert drain.delivered == 20
        assert secret not in str(drain.url) + repr(drain.url) + repr(drain)

    # A wrong password is a configuration error: run() fails at once, clearly.
    queue = MessageQueue("MQ$BILLING")
    await queue.put((1, make_frames(1, codec)[0][1]))
    log = ListLog()
    logs.append(log)
    wrong = make_drain(
        f"mqtt://alice:not-{secret}@{broker.host}:{broker.port}", queue, codec, log=log
    )
    with pytest.raises(BrokerError) as caught:
        await asyncio.wait_for(wrong.run(), 10)
    message = str(caught.value)
    assert "login refused: " in message
    assert "not authori" in message.lower() or "bad user name or password" in message.lower()
    assert "mqtt://alice:***@127.0.0.1" in message
    assert secret not in message
    with pytest.raises(BrokerError):
        await wrong.wait_connected(1)
    assert await wrong.close(0) == 1  # the frame never left
    for log in logs:
        assert secret not in log.text()
    assert secret not in caplog.text


@pytest.mark.broker
async def test_mqtt_311_without_properties(mosquitto: MosquittoBroker, codec: FrameCodec) -> None:
    frames = make_frames(200, codec)
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    log = ListLog()
    async with collecting(mosquitto) as collector:
        drain = make_drain(mosquitto.url, queue, codec, log=log, version="3.1.1")
        run = asyncio.create_task(drain.run())
        await fill(queue, frames)
        queue.quit()
        await asyncio.wait_for(run, 10)
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= 200, 10)
        assert await drain.close(2) == 0
    received = frames_of(collector)
    assert [m.payload for m in received] == [frame for _seq, frame in frames]
    assert all("user_property" not in m.properties for m in received)
    assert all("content_type" not in m.properties for m in received)
    assert (drain.protocol, drain.receive_maximum, drain.window) == ("3.1.1", None, 1000)
    assert len(log.named("mqtt.properties_off")) == 1


@pytest.mark.broker
async def test_topic_meta_on_311_puts_run_and_seq_in_topics_a_class_subscription_matches(
    mosquitto: MosquittoBroker, codec: FrameCodec
) -> None:
    """--topic-meta under MQTT 3.1.1: each frame goes to …/{class}/{run}/{seq}, which
    subscribers of domino/billing/+/{class}/# receive; the run id that cannot be a topic
    level is refused when the drain is made."""
    frames = make_frames(300, codec, custom_every=50)
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    log = ListLog()
    filters = [f"domino/billing/+/{kind}/#" for kind in ("session", "database", "custom")]
    async with collecting(mosquitto, *filters, version=MQTTv311) as collector:
        drain = make_drain(mosquitto.url, queue, codec, log=log, version="3.1.1", topic_meta=True)
        run = asyncio.create_task(drain.run())
        await fill(queue, frames)
        queue.quit()
        await asyncio.wait_for(run, 10)
        assert await collector.wait_for(lambda: len(frames_of(collector)) >= 300, 10)
        assert await drain.close(2) == 0
    received = frames_of(collector)
    assert [m.payload for m in received] == [frame for _seq, frame in frames]
    assert [m.topic for m in received] == [
        meta_topic(expected_topic(frame), RUN, seq) for seq, frame in frames
    ]
    assert [topic_run_and_seq(m.topic) for m in received] == [(RUN, seq) for seq, _ in frames]
    assert all("user_property" not in m.properties for m in received)
    (said,) = log.named("mqtt.properties_off")
    assert "run and seq are in the topic (--topic-meta)" in said["note"]
    with pytest.raises(ValueError, match="--topic-meta"):
        BillingDrain(
            parse_broker_url(mosquitto.url),
            MqttOptions(topic_meta=True),
            queue,
            server_cn=SERVER_CN,
            run_id="a/b",
            codec=codec,
        )


@pytest.mark.broker
async def test_a_stalled_delivery_is_told_once_with_the_drain_timeout_and_so_is_its_end(
    mosquitto: MosquittoBroker, codec: FrameCodec
) -> None:
    """A broker that holds the connection and answers nothing (paused): once frames wait
    `stall_after` seconds without a PUBACK, one warning with how many and the drain
    timeout that will apply; when the broker answers again, one line that delivery
    resumed; nothing is lost."""
    frames = make_frames(400, codec)
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    log = ListLog()
    drain = make_drain(
        mosquitto.url, queue, codec, log=log, stall_after=0.5, drain_timeout=42.0, keepalive=0
    )
    run = asyncio.create_task(drain.run())
    assert await drain.wait_connected(5)
    await fill(queue, frames[:100])
    for _ in range(200):
        if drain.delivered == 100:
            break
        await asyncio.sleep(0.02)
    mosquitto.pause()
    try:
        await fill(queue, frames[100:])
        for _ in range(500):  # the watch looks every half second here
            if log.named("mqtt.delivery_stalled"):
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.2)  # two more looks: still one warning
    finally:
        mosquitto.resume()
    queue.quit()
    await asyncio.wait_for(run, 20)
    assert await drain.close(5) == 0
    (stalled,) = log.named("mqtt.delivery_stalled")
    assert stalled["in_flight"] == 300 and stalled["drain_timeout"] == 42.0
    assert stalled["no_puback_for"] >= 0.5 and stalled["connected"] is True
    assert "--drain-timeout 42 s" in stalled["note"]
    (resumed,) = log.named("mqtt.delivery_resumed")
    assert resumed["stalled_for"] >= 0.5
    assert drain.delivered == 400


@pytest.mark.broker
async def test_falls_back_to_311_for_a_broker_without_mqtt5(
    codec: FrameCodec, tmp_path: Path
) -> None:
    """amqtt speaks 3.1.1 only and does not answer an MQTT 5 CONNECT: before the first
    login the drain alternates versions, and says so. amqtt is a dependency: without it
    the broker does not start and the test fails, never skips."""
    broker = AmqttBroker(tmp_path)
    broker.start()
    try:
        queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
        log = ListLog()
        drain = make_drain(broker.url, queue, codec, log=log, connect_timeout=1.0)
        run = asyncio.create_task(drain.run())
        await fill(queue, make_frames(20, codec))
        queue.quit()
        await asyncio.wait_for(run, 10)
        assert await drain.close(2) == 0
    finally:
        broker.stop()
    assert (drain.protocol, drain.delivered) == ("3.1.1", 20)
    # One line says it all: the fallback, what goes missing, and what to do about it.
    (refused,) = log.named("mqtt.mqtt5_refused")
    assert "without content type" in refused["note"] and "--topic-meta" in refused["note"]
    assert not log.named("mqtt.properties_off")


async def test_close_without_broker_counts_what_is_left(codec: FrameCodec) -> None:
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    log = ListLog()
    drain = make_drain(f"mqtt://127.0.0.1:{free_port()}", queue, codec, log=log)
    run = asyncio.create_task(drain.run())
    await fill(queue, make_frames(30, codec))
    await asyncio.sleep(0.2)  # a few refused attempts, backing off
    assert not drain.connected
    assert not await drain.publish_stats({"x": 1})
    assert await drain.close(0.1) == 30
    await asyncio.wait_for(run, 2)
    assert queue.depth == 30
    assert log.named("mqtt.connect_failed")
    (timed_out,) = log.named("mqtt.drain_timed_out")
    assert (timed_out["unacknowledged"], timed_out["acknowledged_meanwhile"]) == (30, 0)
    assert timed_out["drain_timeout"] == 0.1
    assert "--drain-timeout 0.1 s ran out with 30 frame(s)" in timed_out["note"]
    assert "none was acknowledged meanwhile" in timed_out["note"]


async def test_a_drain_timeout_too_short_for_a_slow_broker_says_what_would_do(
    codec: FrameCodec,
) -> None:
    """The line for a drain timeout that ran out while acks still came, slowly (a cluster
    failing over: issue 17 saw 130 frames/s and 1,425 frames left after the default 30 s):
    how many were left, how many were acknowledged meanwhile, at what rate, and how long
    the rest needed at it, which is what --drain-timeout wants."""
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    await fill(queue, make_frames(1425, codec))
    log = ListLog()
    drain = make_drain(f"mqtt://127.0.0.1:{free_port()}", queue, codec, log=log)
    drain._say_timed_out(30.0, acknowledged=3900, waited=30.0)
    (timed_out,) = log.named("mqtt.drain_timed_out")
    assert (timed_out["unacknowledged"], timed_out["acknowledged_meanwhile"]) == (1425, 3900)
    assert timed_out["note"] == (
        "--drain-timeout 30 s ran out with 1425 frame(s) not acknowledged, which count as "
        "undelivered (exit 1); 3900 were acknowledged meanwhile, 130 a second: at that rate "
        "the rest needed about 11 s more. A slow or failing-over broker needs a longer "
        "--drain-timeout"
    )
    drain._say_timed_out(0.5, acknowledged=1000, waited=0.5)
    assert (
        "2,000 a second: at that rate the rest needed about 0.7 s more"
        in (log.named("mqtt.drain_timed_out")[1]["note"])
    )


@pytest.mark.broker
async def test_a_drain_that_ends_in_time_says_nothing_of_its_timeout(
    mosquitto: MosquittoBroker, codec: FrameCodec
) -> None:
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    log = ListLog()
    drain = make_drain(mosquitto.url, queue, codec, log=log)
    run = asyncio.create_task(drain.run())
    assert await drain.wait_connected(5)
    await fill(queue, make_frames(100, codec))
    queue.quit()
    assert await drain.close(5) == 0
    await asyncio.wait_for(run, 5)
    assert drain.delivered == 100
    assert not log.named("mqtt.drain_timed_out")


def test_json_payloads_are_the_json_lines_of_every_other_command(codec: FrameCodec) -> None:
    """A JSON payload is `dumps_frame`'s text, as `run --stdout`, `decode` and `tail`
    write it, for names with a control character, DEL, a byte that was not UTF-8 and
    letters outside ASCII."""
    decoder = JsonDecoder(codec)
    encoder = FrameEncoder(SERVER_CN, RUN, decoder, properties=False)
    items = []
    for seq, name in enumerate(
        [
            "CN=Plain/O=Acme",
            "CN=Tab\there/O=Acme",
            "CN=Del\x7f/O=Acme",
            "CN=B\udcffd/O=Acme",
            "CN=Zoë Ñandú/O=Acme",
            "CN=Zoë\x7f/O=Acme",
        ],
        start=1,
    ):
        rec = SessionRec(SessionID(seq, 1), c.BILL_SESSION_START, name, seq, seq, "10.0.0.1")
        items.append((seq, codec.encode_record(rec, SERVER, TimeDate(seq, JDN))))
    ours, rejected = encoder.packets(items, None, 1)
    assert not rejected
    expected = b""
    for seq, frame in items:
        payload = dumps_frame(json_or_raw(decoder, frame, seq)).encode()
        topic = frame_topic(SERVER_CN, frame).encode()
        body = len(topic).to_bytes(2, "big") + topic + payload
        expected += b"\x30" + _varint(len(body)) + body
    assert ours == expected
    assert b"\\udcff" in ours and b"\\t" in ours and "Zoë\x7f".encode() in ours
