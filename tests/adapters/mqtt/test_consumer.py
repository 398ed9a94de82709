"""The add-in's consumer: how many messages it holds unacknowledged (flow control)."""

from __future__ import annotations

import asyncio
import time

import pytest
from broker_processes import MosquittoBroker, find_program
from gmqtt import Client, Subscription
from gmqtt.mqtt.constants import MQTTv50

from simulator.adapters.mqtt.consumer import (
    Ack,
    Consumer,
    describe_filters,
    legacy_filters,
    topic_filters,
)
from simulator.adapters.mqtt.url import parse_broker_url
from simulator.addin.intake import Message

LINE = b"f" * 2000 + b"\n"  # a frame's size, give or take
# Past its limit, what the socket read already holds is still taken: up to 256 KiB a
# read (asyncio), 128 messages here.
SLACK = 200


async def wait_until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.broker
async def test_a_consumer_holds_about_max_unacknowledged_and_reads_on_as_it_acknowledges(
    mosquitto: MosquittoBroker,
) -> None:
    """mosquitto 2.0.11 keeps a client's in-flight limit only until the first PUBACK, then
    sends its whole queue: the consumer stops reading at its own limit (give or take what
    one read of the socket held) and reads on when acknowledgements free room."""
    held: list[Ack] = []

    def take(_messages: list[Message | None], acks: list[Ack]) -> None:
        held.extend(acks)

    consumer = Consumer(
        parse_broker_url(mosquitto.url), take, client_id="flow-test", max_unacknowledged=100
    )
    assert await consumer.connect(
        deadline=time.monotonic() + 10, stop=asyncio.Event(), on_waiting=lambda _r: None, waited=10
    )
    await consumer.subscribe("+", "flow")
    publisher = await asyncio.create_subprocess_exec(
        find_program("mosquitto_pub"),
        *("-h", "127.0.0.1", "-p", str(mosquitto.port), "-q", "1", "-l"),
        *("-t", "domino/billing/Mail01/session"),
        stdin=asyncio.subprocess.PIPE,
    )
    assert publisher.stdin is not None
    publisher.stdin.write(LINE * 1000)
    await publisher.stdin.drain()
    publisher.stdin.close()
    assert await publisher.wait() == 0
    try:
        await wait_until(lambda: len(held) >= 100)
        await asyncio.sleep(0.5)
        assert 100 <= len(held) <= 100 + SLACK, "read far past its limit"
        acknowledged = 0
        for _ in range(3):  # acknowledging one frees room: mosquitto then sends everything
            consumer.acknowledge(held[acknowledged : acknowledged + 1])
            acknowledged += 1
            await asyncio.sleep(0.3)
            assert len(held) - acknowledged <= 100 + SLACK, "read far past its limit"
        while len(held) < 1000:  # acknowledging all it holds, it gets the rest
            before = len(held)
            consumer.acknowledge(held[acknowledged:before])
            acknowledged = before
            await wait_until(lambda before=before: len(held) > before or len(held) == 1000)
        assert consumer.unacknowledged == len(held) - acknowledged
    finally:
        await consumer.disconnect()


def test_messages_are_taken_apart_by_topic_in_either_form() -> None:
    """A frame topic gives the server, and the run and seq levels of the --topic-meta
    form; any other topic the subscription matched is no message (None)."""
    taken: list[Message | None] = []
    consumer = Consumer(
        parse_broker_url("mqtt://127.0.0.1:1"), lambda m, _a: taken.extend(m), client_id="t"
    )
    base = "domino/billing/Mail01"

    def parts(topic: str) -> tuple[str | None, str | None, str | None] | None:
        message = consumer._message(topic, b"x", None, {})
        return None if message is None else (message.server, message.topic_run, message.topic_seq)

    # Twice each, in both orders: the plain part of a --topic-meta topic is remembered.
    for _ in range(2):
        assert parts(f"{base}/session/r1/7") == ("Mail01", "r1", "7")
        assert parts(f"{base}/session") == ("Mail01", None, None)
        assert parts(f"{base}/session/r1/8") == ("Mail01", "r1", "8")
        assert parts(f"{base}/custom/32001") == ("Mail01", None, None)
        assert parts(f"{base}/custom/32001/r2/x") == ("Mail01", "r2", "x")
        assert parts("domino/billing/Mail02/custom/32001/r2/5") == ("Mail02", "r2", "5")
        for other in ("status", "stats", "control/reply", "session/r1", "custom", "bogus/a/b"):
            assert parts(f"{base}/{other}") is None, other
    assert taken == []  # _message hands nothing on by itself


def test_the_add_ins_filters_take_both_forms_one_filter_a_kind() -> None:
    shared = topic_filters("+", "addins")
    assert shared[0] == "$share/addins/domino/billing/+/session/#"
    assert shared[-1] == "$share/addins/domino/billing/+/custom/#"
    assert len(shared) == 8
    assert describe_filters(shared) == (
        "$share/addins/domino/billing/+/"
        "{session,database,document,mail,replication,agent,httprequest,custom}/#"
    )
    assert topic_filters("Mail01", None)[1] == "domino/billing/Mail01/database/#"
    assert legacy_filters("+", "g") == (
        "$share/g/domino/billing/+/+",
        "$share/g/domino/billing/+/custom/+",
    )


@pytest.mark.broker
async def test_a_session_left_with_the_old_filters_delivers_a_frame_once(
    mosquitto: MosquittoBroker,
) -> None:
    """An add-in before --topic-meta subscribed to …/+ and …/custom/+; its session keeps
    them. Subscribing anew on that session drops them, so that a frame matching an old
    and a new filter comes once, not twice."""
    client_id = "billsim-addin-legacy-1"
    old = Client(client_id, clean_session=False, session_expiry_interval=600)
    await old.connect(mosquitto.host, mosquitto.port, version=MQTTv50)
    subscribed = asyncio.Event()
    old.on_subscribe = lambda *_args: subscribed.set()
    old.subscribe([Subscription(f, qos=1) for f in legacy_filters("+", None)])
    await asyncio.wait_for(subscribed.wait(), 5)
    await old.disconnect()

    taken: list[Message | None] = []

    def take(messages: list[Message | None], acks: list[Ack]) -> None:
        taken.extend(messages)
        consumer.acknowledge(acks)

    consumer = Consumer(parse_broker_url(mosquitto.url), take, client_id=client_id)
    assert await consumer.connect(
        deadline=time.monotonic() + 10, stop=asyncio.Event(), on_waiting=lambda _r: None
    )
    assert consumer.session_present
    await consumer.subscribe("+", "legacy")
    try:
        publish = find_program("mosquitto_pub")
        for topic in ("domino/billing/Mail01/session", "domino/billing/Mail01/custom/32001"):
            done = await asyncio.create_subprocess_exec(
                publish, "-h", mosquitto.host, "-p", str(mosquitto.port), "-q", "1",
                "-t", topic, "-m", "frame",
            )  # fmt: skip
            assert await done.wait() == 0
        await wait_until(lambda: len(taken) >= 2)
        await asyncio.sleep(0.5)  # a second copy would come within this
    finally:
        await consumer.disconnect()
    assert [m.topic for m in taken if m is not None] == [
        "domino/billing/Mail01/session",
        "domino/billing/Mail01/custom/32001",
    ]
