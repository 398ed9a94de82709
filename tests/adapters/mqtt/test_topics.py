"""The topics of docs/mqtt.md (simulator/adapters/mqtt/topics.py): where the drain publishes
each frame and message, and how tail takes topics apart and subscribes."""

from __future__ import annotations

import pytest
from samples import SERVER_CN

from simulator.adapters.mqtt.topics import (
    control_reply_topic,
    control_topic,
    frame_topic,
    parse_topic,
    stats_topic,
    status_topic,
    subscription_topic,
)
from simulator.errors import InputError
from simulator.wire import constants as c

FRAMES = f"domino/billing/{SERVER_CN}/"


def header(struct_type: int, bill_class: int) -> bytes:
    """The first bytes of a frame that its topic depends on: Len, StructType, Class."""
    return (
        (1000).to_bytes(2, "little")
        + struct_type.to_bytes(2, "little")
        + bill_class.to_bytes(4, "little")
    )


def test_frame_topics_by_class_and_custom_type() -> None:
    for bill_class, name in c.CLASS_TOPIC_NAME.items():
        assert frame_topic(SERVER_CN, header(1, bill_class)) == FRAMES + name
    assert frame_topic(SERVER_CN, header(32001, c.BILL_CLASS_SESSION)) == f"{FRAMES}custom/32001"
    with pytest.raises(ValueError, match="no topic"):
        frame_topic(SERVER_CN, header(1, 0x80))
    with pytest.raises(ValueError, match="no BILLMSG header"):
        frame_topic(SERVER_CN, b"\x01\x02")


def test_the_server_topics() -> None:
    assert status_topic(SERVER_CN) == f"{FRAMES}status"
    assert stats_topic(SERVER_CN) == f"{FRAMES}stats"
    assert control_topic(SERVER_CN) == f"{FRAMES}control"
    assert control_reply_topic(SERVER_CN) == f"{FRAMES}control/reply"


def test_topics_taken_apart() -> None:
    custom = parse_topic("domino/billing/Mail01/custom/32001")
    assert custom is not None and (custom.server, custom.kind, custom.rest) == (
        "Mail01",
        "custom",
        "custom/32001",
    )
    reply = parse_topic("domino/billing/Mail01/control/reply")
    assert reply is not None and (reply.server, reply.kind) == ("Mail01", "control/reply")
    assert parse_topic("elsewhere/x") is None
    assert parse_topic("domino/billing/Mail01") is None


def test_subscriptions() -> None:
    assert subscription_topic(None) == "domino/billing/+/#"
    assert subscription_topic("Mail01") == "domino/billing/Mail01/#"
    assert subscription_topic("CN=Mail01/O=Acme") == "domino/billing/Mail01/#"
    with pytest.raises(InputError, match="--server"):
        subscription_topic("Mail+01")
