"""The gmqtt internals that simulator/adapters/mqtt/gmqtt_glue.py relies on are still
there and still behave: a gmqtt upgrade that moves one fails here, naming it and the
gmqtt version, instead of somewhere deep in a drain test."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import tomllib
from importlib.metadata import version
from typing import Any

import gmqtt
import pytest
from broker_processes import MosquittoBroker
from gmqtt import MQTTConnectError
from hypothesis import given
from hypothesis import strategies as st
from paths import REPO
from samples import SERVER, SERVER_CN, SESSION_REC, STAMP

from simulator.adapters.mqtt import gmqtt_glue as glue
from simulator.adapters.mqtt.packets import FrameEncoder
from simulator.wire.codec import FrameCodec

INSTALLED = version("gmqtt")


def missing(owner: str, obj: object) -> list[str]:
    return [
        f"gmqtt {INSTALLED}: {owner}.{name} is gone (gmqtt_glue.py uses it; tested with "
        f"gmqtt {glue.TESTED_GMQTT_VERSION})"
        for name in glue.RELIED_ON[owner]
        if not hasattr(obj, name)
    ]


def reach(root: Any, owner: str) -> Any:
    """``Client._connection._protocol`` -> that object of ``root`` (a Client)."""
    obj = root
    for name in owner.split(".")[1:]:
        obj = getattr(obj, name)
    return obj


def test_the_installed_gmqtt_is_the_pinned_and_tested_one() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = [dep for dep in project["project"]["dependencies"] if re.match(r"gmqtt\b", dep)]
    assert pins == [f"gmqtt=={glue.TESTED_GMQTT_VERSION}"], (
        "pyproject.toml must pin gmqtt to the version gmqtt_glue.py was tested with"
    )
    assert INSTALLED == glue.TESTED_GMQTT_VERSION, (
        f"gmqtt {INSTALLED} is installed, gmqtt_glue.py was tested with "
        f"{glue.TESTED_GMQTT_VERSION}: run this file, then update TESTED_GMQTT_VERSION"
    )


def test_the_internals_of_a_client_before_it_connects() -> None:
    client = glue.OwnReconnectClient("glue-test", store=glue.AckStore())
    problems = missing("Client", client)
    for owner in (
        "Client._connection_state",
        "Client._package_handler",
        "Client._package_handler.id_generator",
    ):
        problems += missing(owner, reach(client, owner))
    problems += missing("MQTTConnectError", MQTTConnectError(5))
    assert not problems, "\n".join(problems)
    assert glue.connack_text(MQTTConnectError(5)) == "not authorised (CONNACK 0x05)"


@pytest.mark.broker
async def test_the_internals_of_a_connected_client_at_work(mosquitto: MosquittoBroker) -> None:
    """Connect, publish a frame through the glue, and see gmqtt report its PUBACK."""
    store = glue.AckStore()
    acks: list[list[int]] = []
    store.on_acks = acks.append
    client = glue.OwnReconnectClient("glue-test", store=store)
    await asyncio.wait_for(client.connect("127.0.0.1", mosquitto.port, version=glue.MQTT_V5), 10)
    try:
        problems: list[str] = []
        for owner in ("Client._connection", "Client._connection._protocol"):
            problems += missing(owner, reach(client, owner))
        assert not problems, "\n".join(problems)

        assert glue.protocol_version(client) == glue.MQTT_V5
        assert not glue.refused_for_good(client)
        assert (
            glue.receive_maximum(client) == 1000
        )  # max_inflight_messages of tests/broker_processes.py
        assert glue.usable_packet_ids(client) == 999  # gmqtt: one fewer than announced
        assert glue.packet_ids_in_use(client) == 0
        assert not glue.write_paused(client)
        await glue.until_writable(client)  # returns at once: nothing is buffered

        frame = FrameCodec().encode_record(SESSION_REC, SERVER, STAMP)
        encoder = FrameEncoder(SERVER_CN, "run-1", None, properties=True)
        mid = reach(client, "Client._package_handler.id_generator").next_id()
        assert glue.packet_ids_in_use(client) == 1
        assert glue.free_packet_ids(client) == 998
        mids = glue.take_packet_ids(client, 2)
        assert mids == [mid + 1, mid + 2], "gmqtt's allocator no longer hands ids out in turn"
        assert glue.free_packet_ids(client) == 996
        glue.give_back_packet_ids(client, mids, 1)
        assert glue.packet_ids_in_use(client) == 2
        assert reach(client, "Client._package_handler.id_generator").next_id() == mid + 2
        glue.give_back_packet_ids(client, [mid + 2], 0)
        data, _ = encoder.packets([(1, frame), (2, frame)], [mid, mid + 1], time.time_ns() // 1000)
        glue.write(client, data)
        for _ in range(200):
            if sum(map(len, acks)) == 2:
                break
            await asyncio.sleep(0.01)
        # 0x10, no matching subscribers: taken, so the PUBACKs of a read come together.
        assert [ack for read in acks for ack in read] == [mid, mid + 1], (
            "gmqtt no longer reports a PUBACK"
        )
        assert glue.packet_ids_in_use(client) == 0, "gmqtt no longer frees an acked id"

        glue.drop(client)
        assert glue.transport(client).is_closing()
        assert glue.packet_ids_in_use(client) == 0
        await asyncio.wait_for(client.lost.wait(), 5)  # gmqtt's reconnect is ours: it only says so
    finally:
        glue.abort(client)


def test_a_client_made_not_optimistic_acknowledges_after_handling_under_both_versions() -> None:
    client = glue.OwnReconnectClient("glue-test", optimistic_acknowledgement=False)
    assert glue.acknowledges_after_handling(client)
    assert not glue.acknowledges_after_handling(glue.OwnReconnectClient("glue-test"))


@pytest.mark.broker
@pytest.mark.parametrize("mqtt_version", [glue.MQTT_V5, glue.MQTT_V311])
async def test_a_message_is_acknowledged_only_when_its_handler_returns(
    mosquitto: MosquittoBroker, mqtt_version: int
) -> None:
    """The add-in's guarantee rests on this: a message whose handler has not returned is
    not acknowledged, so the broker delivers it again to the session's next connection."""
    release = asyncio.Event()
    seen: list[tuple[bytes, int]] = []

    async def hold(_client: Any, _topic: str, payload: bytes, _qos: int, props: Any) -> int:
        seen.append((bytes(payload), int(props.get("dup", 0))))
        await release.wait()
        return 0

    def consumer() -> Any:
        session: dict[str, Any] = {}
        if mqtt_version == glue.MQTT_V5:
            session["session_expiry_interval"] = 600
        client = glue.OwnReconnectClient(
            "glue-consumer", clean_session=False, optimistic_acknowledgement=False, **session
        )
        client.on_message = hold
        return client

    first = consumer()
    await asyncio.wait_for(first.connect("127.0.0.1", mosquitto.port, version=mqtt_version), 10)
    assert glue.shared_subscriptions_available(first)
    first.subscribe("glue/test", qos=1)
    publisher = glue.OwnReconnectClient("glue-publisher")
    await asyncio.wait_for(publisher.connect("127.0.0.1", mosquitto.port), 10)
    await asyncio.sleep(0.2)  # the SUBACK
    publisher.publish("glue/test", b"held", qos=1)
    for _ in range(200):
        if seen:
            break
        await asyncio.sleep(0.01)
    assert seen == [(b"held", 0)]
    glue.drop(first)  # gone before its handler returned: no PUBACK was sent

    second = consumer()
    await asyncio.wait_for(second.connect("127.0.0.1", mosquitto.port, version=mqtt_version), 10)
    for _ in range(200):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.01)
    assert seen[1:] == [(b"held", 1)], "the unacknowledged message was not delivered again"
    release.set()  # now both handlers return; the second connection's PUBACK settles it
    await asyncio.sleep(0.2)
    await second.disconnect()
    glue.drop(second)

    third = consumer()
    await asyncio.wait_for(third.connect("127.0.0.1", mosquitto.port, version=mqtt_version), 10)
    await asyncio.sleep(0.5)
    assert len(seen) == 2, "an acknowledged message was delivered again"
    await third.disconnect()
    await publisher.disconnect()


@pytest.mark.broker
@pytest.mark.parametrize("mqtt_version", [glue.MQTT_V5, glue.MQTT_V311])
async def test_received_publishes_are_acknowledged_only_when_the_receiver_says(
    mosquitto: MosquittoBroker, mqtt_version: int
) -> None:
    """`receive_publish_batches` hands each message over at once, with what MQTT 5 said of it;
    only `acknowledge` sends its PUBACK, so a message not acknowledged before its
    connection is gone is delivered again to the session's next connection."""
    seen: list[tuple[str, bytes, str | None, dict[str, str], int | None]] = []

    def consumer() -> Any:
        session: dict[str, Any] = {}
        if mqtt_version == glue.MQTT_V5:
            session["session_expiry_interval"] = 600
        client = glue.OwnReconnectClient("glue-receiver", clean_session=False, **session)
        glue.receive_publish_batches(client, seen.extend)
        return client

    async def until(count: int) -> None:
        for _ in range(200):
            if len(seen) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(seen)} message(s), not {count}")

    first = consumer()
    await asyncio.wait_for(first.connect("127.0.0.1", mosquitto.port, version=mqtt_version), 10)
    first.subscribe("glue/+", qos=1)
    publisher = glue.OwnReconnectClient("glue-publisher")
    await asyncio.wait_for(publisher.connect("127.0.0.1", mosquitto.port), 10)
    await asyncio.sleep(0.2)  # the SUBACK
    publisher.publish(
        "glue/a",
        b"first",
        qos=1,
        content_type="application/x-domino-billmsg",
        user_property=[("seq", "1"), ("run", "r"), ("seq", "2")],
        # Properties a frame never has, skipped on the way to the payload.
        payload_format_id=0,
        message_expiry_interval=600,
        response_topic="glue/reply",
        correlation_data=b"\x00\x01",
    )
    publisher.publish("glue/b", b"second", qos=1)
    publisher.publish("glue/c", b"at most once", qos=0)
    await until(3)
    (topic, payload, content_type, user, first_id), second, third = seen
    assert (topic, payload) == ("glue/a", b"first")
    if mqtt_version == glue.MQTT_V5:
        assert content_type == "application/x-domino-billmsg"
        assert user == {"seq": "2", "run": "r"}  # a key given twice: its last value
    else:
        assert (content_type, user) == (None, {})
    assert second[:2] == ("glue/b", b"second") and isinstance(second[4], int)
    assert third[:2] == ("glue/c", b"at most once") and third[4] is None
    assert isinstance(first_id, int)
    glue.acknowledge(first, [first_id])  # the first only
    await asyncio.sleep(0.2)
    glue.drop(first)

    seen.clear()
    second_connection = consumer()
    await asyncio.wait_for(
        second_connection.connect("127.0.0.1", mosquitto.port, version=mqtt_version), 10
    )
    await until(1)
    await asyncio.sleep(0.3)
    assert [message[:2] for message in seen] == [("glue/b", b"second")], "not delivered again"
    redelivered = seen[0][4]
    assert redelivered is not None
    glue.acknowledge(second_connection, [redelivered])
    await asyncio.sleep(0.2)
    await second_connection.disconnect()
    glue.drop(second_connection)

    seen.clear()
    third_connection = consumer()
    await asyncio.wait_for(
        third_connection.connect("127.0.0.1", mosquitto.port, version=mqtt_version), 10
    )
    await asyncio.sleep(0.5)
    assert seen == [], "an acknowledged message was delivered again"
    await third_connection.disconnect()
    await publisher.disconnect()


def _publish_body(topic: str, mid: int | None, props: bytes | None, payload: bytes) -> bytes:
    """A PUBLISH's variable header and payload (props None: MQTT 3.1.1, no properties)."""
    name = topic.encode()
    body = len(name).to_bytes(2, "big") + name
    if mid is not None:
        body += mid.to_bytes(2, "big")
    if props is not None:
        body += bytes([len(props)]) + props
    return body + payload


def _str16(text: str) -> bytes:
    return len(text.encode()).to_bytes(2, "big") + text.encode()


def test_publish_properties_are_read_or_skipped_as_mqtt_5_lays_them_out() -> None:
    seen: list[tuple[str, bytes, str | None, dict[str, str], int | None]] = []
    client = glue.OwnReconnectClient("glue-parse")
    glue.receive_publish_batches(client, seen.extend)
    publish = reach(client, "Client._package_handler")._handle_publish_packet
    skipped = (
        b"\x01\x01"  # payload format indicator
        + b"\x02\x00\x00\x02\x58"  # message expiry interval
        + b"\x08"
        + _str16("reply/to")  # response topic
        + b"\x09\x00\x02\xff\x00"  # correlation data
        + b"\x0b\x81\x01"  # subscription identifier 129, two bytes
    )
    props = (
        b"\x03"
        + _str16("application/json")
        + skipped
        + b"\x26"
        + _str16("seq")
        + _str16("7")
        + b"\x23\x00\x05"  # topic alias 5 for this topic
    )
    publish(0x32, _publish_body("a/b", 9, props, b"payload"))
    publish(0x30, _publish_body("", None, b"\x23\x00\x05", b"by alias"))  # QoS 0, aliased
    publish(0x32, _publish_body("a/c", 10, b"\x7f\x00", b"unknown property: dropped"))
    publish(0x32, _publish_body("", 11, b"", b"no topic: dropped"))
    assert seen == [
        ("a/b", b"payload", "application/json", {"seq": "7"}, 9),
        ("a/b", b"by alias", None, {}, None),
    ]
    seen.clear()
    reach(client, "Client._connection_state").protocol_version = glue.MQTT_V311
    publish(0x32, _publish_body("a/d", 12, None, b"\x26 not properties under 3.1.1"))
    assert seen == [("a/d", b"\x26 not properties under 3.1.1", None, {}, 12)]


async def test_the_connection_reader_takes_whole_packets_and_hands_the_rest_to_gmqtt() -> None:
    seen: list[tuple[str, bytes, str | None, dict[str, str], int | None]] = []
    client = glue.OwnReconnectClient("glue-reader")
    handler = reach(client, "Client._package_handler")

    class Connection:
        """A connection as gmqtt makes it, but for the socket."""

        def __init__(self) -> None:
            self.packages: list[tuple[int, bytes]] = []
            self._last_data_in = 0.0
            self._protocol = self
            self.superseded = 0

        def put_package(self, package: Any) -> None:
            self.packages.append((package.cmd, package.data))

        def _read_packet(self, data: bytes) -> int:  # gmqtt's own reader
            self.superseded += 1
            return len(data)

    connection = Connection()

    async def create_connection(*_args: Any, **_kwargs: Any) -> Connection:
        handler.set_connection(connection)
        return connection

    client._create_connection = create_connection
    glue.receive_publish_batches(client, seen.extend)
    assert await client._create_connection("127.0.0.1", 1883) is connection
    read = connection._read_packet  # the glue's now
    body = _publish_body("a/b", 1, b"", b"frame")
    publish = bytes([0x32, len(body)]) + body
    pingresp = b"\xd0\x00"
    data = publish + pingresp + publish + publish[:5]  # the last one not all there yet
    assert read(data) == len(data) - 5
    assert seen == [("a/b", b"frame", None, {}, 1)] * 2
    assert connection.packages == [(0xD0, b"")]
    assert connection._last_data_in > 0
    assert read(b"\x32\xff\xff\xff\xff\x01") == -1  # a length of five bytes: malformed
    handler.set_connection(object())  # superseded: gmqtt's reader drops what it reads
    assert read(data) == len(data) and connection.superseded == 1
    assert len(seen) == 2


class _Connection:
    """A connection as gmqtt makes it, but for the socket."""

    def __init__(self) -> None:
        self.packages: list[tuple[int, bytes]] = []
        self._last_data_in = 0.0
        self._protocol = self
        self.lost_with: list[BaseException | None] = []

    def put_package(self, package: Any) -> None:
        self.packages.append((package.cmd, package.data))

    def _read_packet(self, data: bytes) -> int:  # gmqtt's own reader
        return len(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost_with.append(exc)


def _fake_connections(monkeypatch: pytest.MonkeyPatch) -> _Connection:
    """The next connection of a client made from now on: a `_Connection` (which the glue
    gives its reader when the client connects: `_connect`)."""
    connection = _Connection()

    async def create_connection(self: Any, *_args: Any, **_kwargs: Any) -> _Connection:
        reach(self, "Client._package_handler").set_connection(connection)
        return connection

    monkeypatch.setattr(gmqtt.Client, "_create_connection", create_connection)
    return connection


async def _connect(client: Any, connection: _Connection) -> None:
    assert await client._create_connection("127.0.0.1", 1883) is connection


async def test_the_connection_reader_takes_pubacks_to_the_store_and_frees_their_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A publisher's PUBACKs, read where they lie: those that took their message (reason
    code below 0x80) of one read reach the store in one call, a refusal alone with its
    reason code, each run before the packet after it; the packet ids are free again, as
    gmqtt's own handler would leave them."""
    store = glue.AckStore()
    heard: list[object] = []
    store.on_ack = lambda mid: heard.append((mid, store.reason))
    store.on_acks = lambda mids: heard.append(list(mids))
    connection = _fake_connections(monkeypatch)
    client = glue.OwnReconnectClient("glue-pubacks", store=store)
    await _connect(client, connection)
    used = reach(client, "Client._package_handler.id_generator")._used_ids
    used.update({5, 6, 7, 8, 9, 10})
    pingresp = b"\xd0\x00"
    data = (
        b"\x40\x02\x00\x05"
        + b"\x40\x03\x00\x06\x10"  # 0x10, no matching subscribers: taken
        + b"\x40\x04\x00\x07\x87\x00"  # 0x87, not authorised: refused
        + b"\x40\x02\x00\x08"
        + pingresp
        + b"\x40\x02\x00\x09"
        + b"\x40\x02\x00"
    )
    assert connection._read_packet(data) == len(data) - 3, "the last PUBACK is not all there"
    assert heard == [[5, 6], (7, 0x87), [8], [9]]
    assert used == {10}
    assert connection.packages == [(0xD0, b"")]
    assert connection._last_data_in > 0
    heard.clear()
    assert connection._read_packet(b"\x40\x02\x00\x0a") == 4
    assert heard == [[10]] and not used


@pytest.mark.parametrize("after", [b"", b"\x40\x02\x01", b"\xd0\x00", b"\x40\x03\x01\x2c\x10"])
async def test_a_read_of_plain_pubacks_is_taken_whole_whatever_follows_them(
    monkeypatch: pytest.MonkeyPatch, after: bytes
) -> None:
    """A read of PUBACKs without reason code (taken at once, without a loop a packet)
    and what may follow them: part of one more, a PINGRESP, a PUBACK with a reason
    code. Their ids reach the store in the order read, in one call if nothing breaks
    the run, and are free again."""
    store = glue.AckStore()
    heard: list[list[int]] = []
    store.on_acks = lambda mids: heard.append(list(mids))
    connection = _fake_connections(monkeypatch)
    client = glue.OwnReconnectClient("glue-plain", store=store)
    await _connect(client, connection)
    used = reach(client, "Client._package_handler.id_generator")._used_ids
    mids = [*range(250, 260), 1, 65535, 256 * 7 + 3]
    used.update([*mids, 300])
    data = b"".join(b"\x40\x02" + mid.to_bytes(2, "big") for mid in mids) + after
    whole = len(data) - 3 if after == b"\x40\x02\x01" else len(data)
    assert connection._read_packet(data) == whole
    read = [mid for call in heard for mid in call]
    if after == b"\x40\x03\x01\x2c\x10":
        assert read == [*mids, 300]
        assert not used
    else:
        assert heard == [mids]
        assert used == {300}
    assert connection.packages == ([(0xD0, b"")] if after == b"\xd0\x00" else [])


async def test_without_a_handler_of_their_own_pubacks_together_reach_on_ack_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = glue.AckStore()
    heard: list[tuple[int, int]] = []
    store.on_ack = lambda mid: heard.append((mid, store.reason))
    connection = _fake_connections(monkeypatch)
    client = glue.OwnReconnectClient("glue-pubacks", store=store)
    await _connect(client, connection)
    data = b"\x40\x04\x00\x07\x87\x00" + b"\x40\x02\x00\x05" + b"\x40\x03\x00\x06\x10"
    assert connection._read_packet(data) == len(data)
    assert heard == [(7, 0x87), (5, 0), (6, 0)]


def test_packet_ids_taken_together_are_those_gmqtt_hands_out_one_by_one() -> None:
    """`take_packet_ids` takes what gmqtt's allocator would, in the same order, across a
    wrap-around, ids in use and a full allocator; ids given back are handed out again."""
    ours = glue.OwnReconnectClient("glue-ids")
    theirs = glue.OwnReconnectClient("glue-ids")
    mine = reach(ours, "Client._package_handler.id_generator")
    gmqtts = reach(theirs, "Client._package_handler.id_generator")
    for generator in (mine, gmqtts):
        generator._max = 20
        generator._last_used_id = 14
        generator._used_ids.update({2, 3, 16})
    for count in (1, 3, 4, 2, 5, 3):
        taken = glue.take_packet_ids(ours, count)
        expected: list[int] = []
        with contextlib.suppress(OverflowError):
            for _ in range(count):
                expected.append(gmqtts.next_id())
        assert taken == expected, count
        assert mine._used_ids == gmqtts._used_ids
        assert mine._last_used_id == gmqtts._last_used_id
    assert glue.free_packet_ids(ours) == 0 and glue.take_packet_ids(ours, 1) == []
    for generator in (mine, gmqtts):
        generator._used_ids.difference_update({4, 5, 6, 7})
        generator._last_used_id = 1
    taken = glue.take_packet_ids(ours, 3)
    assert taken == [4, 5, 6]
    glue.give_back_packet_ids(ours, taken, 1)  # only 4 was used
    assert glue.take_packet_ids(ours, 3) == [5, 6, 7]
    glue.give_back_packet_ids(ours, [5, 6, 7], 0)
    assert mine.next_id() == 5


@given(
    maximum=st.integers(2, 40),
    last=st.integers(0, 45),
    in_use=st.sets(st.integers(1, 39), max_size=30),
    steps=st.lists(st.tuples(st.integers(0, 45), st.sets(st.integers(1, 39))), max_size=12),
)
def test_packet_ids_taken_together_match_gmqtt_whatever_its_state(
    maximum: int, last: int, in_use: set[int], steps: list[tuple[int, set[int]]]
) -> None:
    ours = glue.OwnReconnectClient("glue-ids")
    theirs = glue.OwnReconnectClient("glue-ids")
    mine = reach(ours, "Client._package_handler.id_generator")
    gmqtts = reach(theirs, "Client._package_handler.id_generator")
    for generator in (mine, gmqtts):
        generator._max = maximum
        generator._last_used_id = last
        generator._used_ids.update(mid for mid in in_use if mid < maximum)
    for count, freed in steps:
        expected: list[int] = []
        with contextlib.suppress(OverflowError):
            for _ in range(count):
                expected.append(gmqtts._mid_generate())
        assert glue.take_packet_ids(ours, count) == expected
        assert (mine._used_ids, mine._last_used_id) == (gmqtts._used_ids, gmqtts._last_used_id)
        for generator in (mine, gmqtts):
            generator._used_ids -= freed


async def test_one_reader_takes_both_publishes_and_pubacks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = glue.AckStore()
    acks: list[list[int]] = []
    store.on_acks = acks.append
    seen: list[tuple[str, bytes, str | None, dict[str, str], int | None]] = []
    connection = _fake_connections(monkeypatch)
    client = glue.OwnReconnectClient("glue-both", store=store)
    glue.receive_publish_batches(client, seen.extend)
    await _connect(client, connection)
    body = _publish_body("a/b", 1, b"", b"frame")
    data = bytes([0x32, len(body)]) + body + b"\x40\x02\x00\x09"
    assert connection._read_packet(data) == len(data)
    assert seen == [("a/b", b"frame", None, {}, 1)]
    assert acks == [[9]]
    assert connection.packages == []


def test_gmqtt_still_logs_a_refused_connect_in_the_words_the_glue_leaves_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Our clients log to CLIENT_LOG, which drops gmqtt's lines of a refused CONNECT (the
    drain, tail and the add-in say it in their own words): each of those lines must still
    be one gmqtt logs, word for word, or a gmqtt upgrade brings the stray line back."""
    import inspect  # noqa: PLC0415

    from gmqtt.mqtt import handler  # noqa: PLC0415

    source = inspect.getsource(handler)
    for message in glue.SAID_BY_BILLSIM:
        assert f'"{message}"' in source, f"gmqtt {INSTALLED} no longer logs {message!r}"
    client = glue.OwnReconnectClient("glue-log-test")
    assert client._logger is glue.CLIENT_LOG
    assert client._package_handler._logger is glue.CLIENT_LOG
    with caplog.at_level("DEBUG", logger="gmqtt"):
        glue.CLIENT_LOG.warning("[MqttPackageHandler] CONNACK: %s", hex(1))
        glue.CLIENT_LOG.warning("[MqttPackageHandler] something else: %s", 7)
    assert [r.getMessage() for r in caplog.records] == ["[MqttPackageHandler] something else: 7"]


def test_gmqtt_still_warns_of_a_lost_connection_in_the_words_the_glue_leaves_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """gmqtt's protocol warns of a connection lost with an error, with its traceback; the
    drain says it itself (mqtt.disconnected), so the glue drops that line, and only it."""
    import inspect  # noqa: PLC0415

    from gmqtt.mqtt import protocol  # noqa: PLC0415

    source = inspect.getsource(protocol)
    assert f"'{glue.CONNECTION_LOST}'" in source, f"gmqtt {INSTALLED} no longer logs it"
    with caplog.at_level("DEBUG", logger="gmqtt"):
        protocol.logger.warning(glue.CONNECTION_LOST, exc_info=ConnectionResetError(104, "x"))
        protocol.logger.warning("[TRYING WRITE TO CLOSED SOCKET]")
    assert [r.getMessage() for r in caplog.records] == ["[TRYING WRITE TO CLOSED SOCKET]"]


async def test_the_error_a_connection_is_lost_with_is_the_disconnect_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """gmqtt hands on_disconnect an empty DISCONNECT for a lost socket; the error it was
    lost with is kept on the client, and is the reason (without its errno)."""
    connection = _fake_connections(monkeypatch)
    client = glue.OwnReconnectClient("glue-lost")
    await _connect(client, connection)
    error = ConnectionResetError(104, "Connection reset by peer")
    connection._protocol.connection_lost(error)
    assert connection.lost_with == [error]
    assert client.lost_error is error
    assert glue.disconnect_reason(b"", client.lost_error) == "connection reset by peer"
    assert glue.disconnect_reason(b"", None) == "connection closed"
    assert glue.disconnect_reason(b"", TimeoutError()) == "TimeoutError"
    assert glue.disconnect_reason(b"\x8b", error).startswith("DISCONNECT from the broker")


async def test_the_socket_feeds_the_reader_and_a_reads_publishes_go_on_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the socket reads goes to the reader at once (past gmqtt's stream reader); a
    packet cut between reads is read whole with the next; the PUBLISHes of one read come
    in one call, those before another packet handed on before gmqtt hears of it."""
    calls: list[list[tuple[str, bytes, str | None, dict[str, str], int | None]]] = []
    order: list[str] = []
    connection = _fake_connections(monkeypatch)
    put_package = connection.put_package

    def heard(package: Any) -> None:
        order.append(f"gmqtt {package.cmd:#x}")
        put_package(package)

    connection.put_package = heard  # type: ignore[method-assign]
    client = glue.OwnReconnectClient("glue-batches")

    def take(found: list[tuple[str, bytes, str | None, dict[str, str], int | None]]) -> None:
        calls.append(found)
        order.append(f"{len(found)} publishes")

    glue.receive_publish_batches(client, take)
    await _connect(client, connection)
    body = _publish_body("a/b", 1, b"", b"frame")
    publish = bytes([0x32, len(body)]) + body
    data = publish * 3 + b"\xd0\x00" + publish * 2
    feed = connection.data_received  # type: ignore[attr-defined]
    feed(data[:10])  # not a whole packet yet
    assert calls == []
    feed(data[10:-4])
    feed(data[-4:])
    assert [len(found) for found in calls] == [3, 1, 1]
    assert order == ["3 publishes", "gmqtt 0xd0", "1 publishes", "1 publishes"]
    assert calls[0][0] == ("a/b", b"frame", None, {}, 1)


def test_a_frames_properties_read_at_once_are_those_read_one_by_one() -> None:
    """billsim's own properties (content type, seq, run, structtype, sent) are read in one
    match; what only looks like them, string lengths telling otherwise, is read property
    by property, as any other layout is."""
    seen: list[tuple[str, bytes, str | None, dict[str, str], int | None]] = []
    client = glue.OwnReconnectClient("glue-frame-properties")
    glue.receive_publish_batches(client, seen.extend)
    publish = reach(client, "Client._package_handler")._handle_publish_packet

    def user(key: str, value: str) -> bytes:
        return b"\x26" + _str16(key) + _str16(value)

    ours = b"\x03" + _str16("application/json") + user("seq", "12") + user("run", "r-1")
    ours += user("structtype", "1")
    publish(0x32, _publish_body("a/b", 1, ours + user("sent", "1795"), b"frame"))
    publish(0x32, _publish_body("a/b", 2, ours, b"without sent"))
    # One content type whose text looks like the user properties after it.
    lookalike = "&\x00\x03seq\x00\x011&\x00\x03run\x00\x01r&\x00\x0astructtype\x00\x011"
    publish(0x32, _publish_body("a/b", 3, b"\x03" + _str16(lookalike), b"lookalike"))
    # A seq whose length byte says more than its digits: read so, the property after it
    # is none (0x72, "r"), and the message is dropped.
    cut = b"\x03" + _str16("t") + b"\x26" + _str16("seq") + b"\x00\x0512" + user("run", "r")
    publish(0x32, _publish_body("a/b", 4, cut + user("structtype", "1"), b"cut"))
    props = {"seq": "12", "run": "r-1", "structtype": "1"}
    assert seen == [
        ("a/b", b"frame", "application/json", {**props, "sent": "1795"}, 1),
        ("a/b", b"without sent", "application/json", props, 2),
        ("a/b", b"lookalike", lookalike, {}, 3),
    ]
