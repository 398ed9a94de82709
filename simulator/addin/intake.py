"""A received MQTT message made into what a store takes: the frame it carries, or a reject.

The payload is the binary frame, or its JSON form (as its content type says; with no
content type, as under MQTT 3.1.1, a payload that reads as a JSON object), which is encoded
back to the frame it stands for, in the framing whose length its `Len` gives.
The binary frame must decode with the add-in's layout (a custom struct type no scenario
declares is checked as far as its header): it is read once, into the row the relational
stores take (`simulator.addin.rows`). `seq`, `run` and `sent` come from the MQTT 5 user
properties; without them (MQTT 3.1.1), `run` and `seq` from the topic when it has the
`--topic-meta` form (`…/{class}/{run}/{seq}`). Anything that fails is a `Rejected` naming
the reason, never dropped.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from simulator.addin.rows import FrameRow, RowMaker
from simulator.addin.store import Received, Rejected
from simulator.wire import constants as c
from simulator.wire.codec import LEN_AND_TYPE, FrameCodec, FrameError, peek_class, peek_header
from simulator.wire.jsonform import frame_from_json
from simulator.wire.layout import Framing, Layout
from simulator.wire.records import RecordKind

_len_and_type = LEN_AND_TYPE.unpack_from
_HEADER_SIZE = LEN_AND_TYPE.size
_MAX_LEN = c.MQ_MAX_MSGSIZE


@dataclass(slots=True)  # not frozen: see Received
class Message:
    """One message as the broker delivered it: its topic, the server named in the topic,
    the payload, whether its content type says JSON (None: no content type, as under
    MQTT 3.1.1), its user properties (MQTT 5; empty otherwise) and the run and seq levels
    of a `--topic-meta` topic (None for the plain form; seq as the topic spells it)."""

    topic: str
    server: str | None
    payload: bytes
    json: bool | None
    user_properties: Mapping[str, str]
    topic_run: str | None = None
    topic_seq: str | None = None


class Intake:
    """Turns messages into `Received` / `Rejected` for one layout and set of custom types."""

    def __init__(self, layout: Layout, custom_kinds: Iterable[RecordKind] = ()) -> None:
        kinds = tuple(custom_kinds)
        self.codec = FrameCodec(layout, Framing.PAD_UNION, kinds)
        self._compact = FrameCodec(layout, Framing.COMPACT, kinds)
        # Give the stores this maker (`open_store(url, intake.rows)`): they take the rows read here.
        self.rows = RowMaker(self.codec)

    def take_all(
        self, messages: Iterable[Message | None], received_us: int
    ) -> list[Received | Rejected | None]:
        """`take` of each message (None: nothing, for a message that is none), all of them
        received at ``received_us``."""
        taken: list[Received | Rejected | None] = []
        keep = taken.append
        readers = self.rows.readers
        # The usual frame (binary, a whole number for seq and for sent if given, of a
        # kind with a reader, its Len the payload's) is taken here, as `take` would take
        # it; `take` takes anything else, and any frame the reader refuses.
        for message in messages:
            if message is None:
                keep(None)
                continue
            props = message.user_properties
            seq = props.get("seq")
            sent = props.get("sent")
            frame = message.payload
            size = len(frame)
            if (
                message.json is False
                and seq is not None
                and seq.isdigit()
                and (sent is None or sent.isdigit())
                and message.server is not None
                and size >= _HEADER_SIZE
            ):
                length, struct_type = _len_and_type(frame, 0)
                known = readers.get(struct_type)
                if known is not None and known[0] <= length == size <= _MAX_LEN:
                    try:
                        row = known[1](frame, length)
                    except ValueError:  # a FrameError too: `take` says why
                        pass
                    else:
                        keep(
                            Received(
                                message.server,
                                props.get("run"),
                                int(seq),
                                message.topic,
                                frame,
                                None if sent is None else int(sent),
                                received_us,
                                row,
                            )
                        )
                        continue
            keep(self.take(message, received_us))
        return taken

    def take(self, message: Message, received_us: int) -> Received | Rejected:
        props = message.user_properties
        run = props.get("run")
        seq_text = props.get("seq")
        sent_text = props.get("sent")
        if seq_text is None and message.topic_seq is not None:
            # MQTT 3.1.1 with --topic-meta: the properties' place is in the topic.
            return self._keyed_by_topic(message, received_us)
        try:
            # Digits, the usual case, are read here without a call.
            seq = (
                int(seq_text)
                if seq_text is not None and seq_text.isdigit()
                else _whole_number(props, "seq")
            )
            sent_us = (
                int(sent_text)
                if sent_text is not None and sent_text.isdigit()
                else _whole_number(props, "sent")
            )
        except ValueError as error:
            return _rejected(message, received_us, str(error), None, run)
        return self._frame(message, received_us, run, seq, sent_us)

    def _keyed_by_topic(self, message: Message, received_us: int) -> Received | Rejected:
        """A message whose run and seq are levels of its topic (and `sent`, if a broker
        carried properties after all, from them)."""
        run = message.user_properties.get("run") or message.topic_run
        text = message.topic_seq
        try:
            if text is None or not text.isdigit() or int(text) < 1:
                raise ValueError(f"the topic's seq level is not a whole number above 0: {text!r}")
            if not run:
                raise ValueError("the topic's run level is empty")
            sent_us = _whole_number(message.user_properties, "sent")
        except ValueError as error:
            return _rejected(message, received_us, str(error), None, run or None)
        return self._frame(message, received_us, run, int(text), sent_us)

    def _frame(
        self,
        message: Message,
        received_us: int,
        run: str | None,
        seq: int | None,
        sent_us: int | None,
    ) -> Received | Rejected:
        server = message.server
        if server is None:
            return _rejected(message, received_us, "the topic names no server", seq, run)
        frame = message.payload
        try:
            if _is_json(frame, message.json):
                frame = self._from_json(frame)
                frame_row = self._read(frame)
            else:
                frame_row = self._read(frame)
                length = peek_header(frame)[0] if frame_row is None else frame_row.values[0]
                if length != len(frame):
                    raise ValueError(f"frame Len {length} but the message has {len(frame)} bytes")
        except ValueError as error:
            return _rejected(message, received_us, str(error), seq, run)
        return Received(server, run, seq, message.topic, frame, sent_us, received_us, frame_row)

    def _read(self, frame: bytes) -> FrameRow | None:
        """The frame read into its row; ValueError if it does not decode. None when only its
        TimeStamp names no time: such a frame is taken as it is (an NBF store keeps it), and
        a relational store rejects it itself."""
        try:
            return self.rows.read(frame)
        except FrameError as error:
            raise ValueError(f"not a frame ({len(frame)} bytes): {error.message}") from None
        except ValueError:
            return None

    def _from_json(self, payload: bytes) -> bytes:
        try:
            obj = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"not JSON: {error}") from None
        if not isinstance(obj, dict):
            raise ValueError("not the JSON form of a frame: not an object")
        try:
            frame = frame_from_json(self.codec, obj)
            encoded = self.codec.encode(frame)
            if frame.Len and frame.Len != len(encoded):
                # A compact run's frame: its JSON form keeps the Len it was written with.
                compact = self._compact.encode(frame)
                if len(compact) == frame.Len:
                    encoded = compact
        except (ValueError, TypeError, OverflowError, struct.error) as error:
            raise ValueError(f"not the JSON form of a frame: {error}") from None
        return encoded


def _rejected(
    message: Message, received_us: int, reason: str, seq: int | None, run: str | None
) -> Rejected:
    return Rejected(message.server, run, seq, message.topic, message.payload, reason, received_us)


def frame_class(frame: bytes) -> str:
    """The topic name of a stored frame's class (`session`, …), `custom` for custom types."""
    struct_type = peek_header(frame)[1]
    if struct_type >= c.CUSTOM_STRUCT_TYPE_MIN:
        return "custom"
    return c.CLASS_TOPIC_NAME.get(peek_class(frame), "unknown")


def _whole_number(props: Mapping[str, str], name: str) -> int | None:
    text = props.get(name)
    if text is None:
        return None
    if text.isdigit() or text.strip().isdigit():
        return int(text)
    raise ValueError(f"user property {name} is not a whole number: {text!r}")


def _is_json(payload: bytes, declared: bool | None) -> bool:
    if declared is not None:
        return declared
    return payload.lstrip()[:1] == b"{" and payload.rstrip()[-1:] == b"}"
