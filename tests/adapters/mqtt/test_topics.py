"""The topics of docs/mqtt.md (simulator/adapters/mqtt/topics.py): where the drain publishes
each frame and message, and how tail takes topics apart and subscribes."""

from __future__ import annotations

import pytest
from samples import SERVER_CN

from simulator.adapters.mqtt.topics import (
    FrameTopic,
    Topic,
    control_reply_topic,
    control_topic,
    frame_filters,
    frame_topic,
    meta_topic,
    parse_frame_topic,
    parse_topic,
    stats_topic,
    status_topic,
    subscription_topic,
    topic_level,
    topic_run_and_seq,
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


def matches(topic_filter: str, topic: str) -> bool:
    """MQTT's topic matching (3.1.1 §4.7, 5 §4.7): `+` one level, `#` the rest and its
    parent level."""
    want, have = topic_filter.split("/"), topic.split("/")
    for at, level in enumerate(want):
        if level == "#":
            return True
        if at >= len(have) or (level != "+" and level != have[at]):
            return False
    return len(want) == len(have)


def test_the_topic_meta_form_carries_run_and_seq_after_the_plain_topic() -> None:
    session = frame_topic(SERVER_CN, header(1, c.BILL_CLASS_SESSION))
    custom = frame_topic(SERVER_CN, header(32001, c.BILL_CLASS_DATABASE))
    assert meta_topic(session, "3f9c1a2b4d5e", 7) == f"{FRAMES}session/3f9c1a2b4d5e/7"
    assert meta_topic(custom, "r1", 12) == f"{FRAMES}custom/32001/r1/12"
    assert parse_frame_topic(f"{FRAMES}session/3f9c1a2b4d5e/7") == FrameTopic(
        Topic(SERVER_CN, "session", "session"), "3f9c1a2b4d5e", "7"
    )
    assert parse_frame_topic(f"{FRAMES}custom/32001/r1/12") == FrameTopic(
        Topic(SERVER_CN, "custom", "custom/32001"), "r1", "12"
    )
    assert parse_frame_topic(f"{FRAMES}mail") == FrameTopic(Topic(SERVER_CN, "mail", "mail"))
    assert parse_frame_topic(f"{FRAMES}custom/32001") == FrameTopic(
        Topic(SERVER_CN, "custom", "custom/32001")
    )
    # Neither form, or no frames at all.
    for topic in (
        f"{FRAMES}session/r1",
        f"{FRAMES}session/r1/7/8",
        f"{FRAMES}custom",
        f"{FRAMES}custom/32001/r1",
        f"{FRAMES}status",
        f"{FRAMES}control/reply",
        f"{FRAMES}stats",
        "elsewhere/Mail01/session/r1/7",
    ):
        assert parse_frame_topic(topic) is None, topic
    assert topic_run_and_seq(f"{FRAMES}session/r1/7") == ("r1", 7)
    assert topic_run_and_seq(f"{FRAMES}session/r1/x") == ("r1", None)
    assert topic_run_and_seq(f"{FRAMES}session/r1/0") == ("r1", None)
    assert topic_run_and_seq(f"{FRAMES}session") == (None, None)


def test_the_frame_filters_match_both_forms_of_every_frame_topic_and_nothing_else() -> None:
    every = frame_filters("+")
    assert every == tuple(
        f"domino/billing/+/{kind}/#" for kind in (*c.CLASS_TOPIC_NAME.values(), "custom")
    )
    assert frame_filters("Mail01")[0] == "domino/billing/Mail01/session/#"
    frames = [
        *(f"{FRAMES}{name}" for name in c.CLASS_TOPIC_NAME.values()),
        f"{FRAMES}custom/32001",
    ]
    for topic in frames:
        for form in (topic, meta_topic(topic, "3f9c1a2b4d5e", 42)):
            assert sum(matches(f, form) for f in every) == 1, form
            assert sum(matches(f, form) for f in frame_filters(SERVER_CN)) == 1, form
            assert not any(matches(f, form) for f in frame_filters("Mail02")), form
    for other in ("status", "stats", "control", "control/reply"):
        assert not any(matches(f, f"{FRAMES}{other}") for f in every), other
    # The plain subscription of one class, as a consumer writes it, takes both forms too.
    assert matches("domino/billing/+/session/#", f"{FRAMES}session/r1/7")
    assert matches("domino/billing/+/session/#", f"{FRAMES}session")
    assert not matches("domino/billing/+/session", f"{FRAMES}session/r1/7")


def test_a_topic_level_has_no_slash_no_wildcard_and_is_not_empty() -> None:
    assert topic_level("3f9c1a2b4d5e")
    for text in ("", "a/b", "a+", "#", "a\0b"):
        assert not topic_level(text), text
