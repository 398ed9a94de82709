"""A received message becomes the frame it carries (binary, or JSON encoded back to the
same bytes) or a reject that says why; seq, run and sent come from the user properties."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from samples import HTTP_REC, MAIL_REC, SERVER, SERVER_CN, SESSION_REC, STAMP

from simulator.addin.intake import Intake, Message, frame_class
from simulator.addin.store import Received, Rejected
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder, dumps_frame
from simulator.wire.layout import Framing, Layout

TOPIC = f"domino/billing/{SERVER_CN}/session"
PROPS = {"seq": "7", "run": "run-1", "sent": "1700000000000000", "structtype": "1"}


def message(
    payload: bytes, json_form: bool | None = False, props: Mapping[str, str] = PROPS
) -> Message:
    return Message(TOPIC, SERVER_CN, payload, json_form, props)


def test_a_binary_frame_is_taken_with_its_properties() -> None:
    frame = FrameCodec().encode_record(SESSION_REC, SERVER, STAMP)
    got = Intake(Layout.LINUX_X86_64).take(message(frame), received_us=5)
    assert got == Received(SERVER_CN, "run-1", 7, TOPIC, frame, 1_700_000_000_000_000, 5)
    assert frame_class(frame) == "session"


def test_without_properties_the_frame_is_taken_without_a_key() -> None:
    frame = FrameCodec().encode_record(MAIL_REC, SERVER, STAMP)
    got = Intake(Layout.LINUX_X86_64).take(message(frame, json_form=None, props={}), received_us=0)
    assert isinstance(got, Received)
    assert (got.run, got.seq, got.sent_us, got.frame) == (None, None, None, frame)
    assert frame_class(frame) == "mail"


@pytest.mark.parametrize("framing", list(Framing))
@pytest.mark.parametrize("json_form", [True, None])
def test_the_json_form_is_encoded_back_to_the_same_bytes(
    framing: Framing, json_form: bool | None
) -> None:
    codec = FrameCodec(Layout.LINUX_X86_64, framing)
    frame = codec.encode_record(HTTP_REC, SERVER, STAMP)
    payload = dumps_frame(JsonDecoder(codec)(frame, 0, 7)).encode()
    got = Intake(Layout.LINUX_X86_64).take(message(payload, json_form), received_us=0)
    assert isinstance(got, Received)
    assert got.frame == frame


@pytest.mark.parametrize(
    ("payload", "json_form", "reason"),
    [
        (b"garbage!", False, "not a frame (8 bytes)"),
        (b"", False, "not a frame (0 bytes)"),
        (b"{not json}", True, "not JSON"),
        (b"[1, 2]", True, "not an object"),
        (json.dumps({"StructType": 1}).encode(), True, "not the JSON form of a frame"),
    ],
)
def test_a_message_that_is_no_frame_is_rejected_with_the_reason(
    payload: bytes, json_form: bool, reason: str
) -> None:
    got = Intake(Layout.LINUX_X86_64).take(message(payload, json_form), received_us=9)
    assert isinstance(got, Rejected)
    assert reason in got.reason
    assert (got.server, got.run, got.seq, got.topic, got.payload) == (
        SERVER_CN,
        "run-1",
        7,
        TOPIC,
        payload,
    )


def test_a_frame_whose_len_is_not_the_message_length_is_rejected() -> None:
    frame = FrameCodec().encode_record(SESSION_REC, SERVER, STAMP)
    got = Intake(Layout.LINUX_X86_64).take(message(frame + b"\0\0", props={}), received_us=0)
    assert isinstance(got, Rejected)
    assert got.reason == f"frame Len {len(frame)} but the message has {len(frame) + 2} bytes"


def test_a_truncated_frame_is_rejected() -> None:
    frame = FrameCodec().encode_record(SESSION_REC, SERVER, STAMP)
    got = Intake(Layout.LINUX_X86_64).take(message(frame[:-10], props={}), received_us=0)
    assert isinstance(got, Rejected)
    assert "truncated frame" in got.reason


def test_a_seq_or_sent_that_is_no_number_is_a_reject() -> None:
    frame = FrameCodec().encode_record(SESSION_REC, SERVER, STAMP)
    got = Intake(Layout.LINUX_X86_64).take(message(frame, props={"seq": "seven"}), received_us=0)
    assert isinstance(got, Rejected)
    assert got.reason == "user property seq is not a whole number: 'seven'"
    got = Intake(Layout.LINUX_X86_64).take(message(frame, props={"sent": "-1"}), received_us=0)
    assert isinstance(got, Rejected) and "sent" in got.reason


def test_under_mqtt_311_run_and_seq_come_from_a_topic_meta_topic() -> None:
    """--topic-meta: no properties, run and seq in the topic; the properties win when a
    broker carries both; a seq level that is not a whole number above 0 is a reject."""
    frame = FrameCodec().encode_record(SESSION_REC, SERVER, STAMP)
    intake = Intake(Layout.LINUX_X86_64)
    topic = f"{TOPIC}/3f9c1a2b4d5e/12"

    def take(props: Mapping[str, str], run: str, seq: str) -> Received | Rejected:
        return intake.take(Message(topic, SERVER_CN, frame, None, props, run, seq), 9)

    assert take({}, "3f9c1a2b4d5e", "12") == Received(
        SERVER_CN, "3f9c1a2b4d5e", 12, topic, frame, None, 9
    )
    both = take(PROPS, "3f9c1a2b4d5e", "12")
    assert isinstance(both, Received) and (both.run, both.seq) == ("run-1", 7)
    for seq in ("0", "x", "-3", ""):
        got = take({}, "3f9c1a2b4d5e", seq)
        assert isinstance(got, Rejected), seq
        assert "the topic's seq level is not a whole number above 0" in got.reason
        assert (got.run, got.seq, got.payload) == ("3f9c1a2b4d5e", None, frame)
    empty_run = take({}, "", "12")
    assert isinstance(empty_run, Rejected) and "run level is empty" in empty_run.reason


def test_taking_a_reads_messages_together_is_taking_each() -> None:
    """`take_all` takes the usual frame itself and leaves the rest to `take`: for every
    kind of message, the same item (the row read included), or nothing for no message."""
    codec = FrameCodec()
    session = codec.encode_record(SESSION_REC, SERVER, STAMP)
    mail = codec.encode_record(MAIL_REC, SERVER, STAMP)
    http = codec.encode_record(HTTP_REC, SERVER, STAMP)
    no_time = codec.encode_record(SESSION_REC, SERVER, STAMP._replace(ticks=0xFFFFFFFF))
    as_json = dumps_frame(JsonDecoder(codec)(session, 0, 7)).encode()
    messages = [
        message(session),
        message(mail, props={"seq": "8", "run": "run-1"}),  # without sent
        message(http),
        None,
        message(session, props={"seq": "٣", "sent": "5"}),  # a digit, not ASCII
        message(session, props={"seq": "9", "sent": " 12"}),
        message(session, props={"seq": "x"}),
        message(session + b"\0"),
        message(session[:-1]),
        message(b"\x05\x00"),
        message(no_time),
        message(as_json, json_form=True),
        message(as_json, json_form=None),
        message(session, json_form=None),
        Message(TOPIC, None, session, False, PROPS),
        Message(f"{TOPIC}/r1/4", SERVER_CN, session, False, {}, "r1", "4"),
    ]
    intake = Intake(Layout.LINUX_X86_64)
    taken = intake.take_all(messages, 42)
    each = [None if m is None else intake.take(m, 42) for m in messages]
    assert taken == each
    rows = [getattr(item, "frame_row", None) for item in taken]
    assert rows == [getattr(item, "frame_row", None) for item in each]
    assert sum(isinstance(item, Received) for item in taken) == 10
