"""The add-in's consumer: how many messages it holds unacknowledged (flow control)."""

from __future__ import annotations

import asyncio
import time

import pytest
from brokers import MosquittoBroker, find_program

from simulator.adapters.mqtt.consumer import Ack, Consumer
from simulator.adapters.mqtt.url import parse_broker_url
from simulator.addin.intake import Message

LINE = b"f" * 2000 + b"\n"  # a frame's size, give or take
# Past its limit, what the socket read and asyncio's stream reader already hold is still
# taken: up to 256 KiB a read (asyncio), 128 messages here.
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

    def take(_message: Message | None, ack: Ack) -> None:
        held.append(ack)

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
