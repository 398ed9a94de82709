"""PUBLISH packets of frames: the topic (``--topic-meta``: with the run and seq levels), the
payload form, the MQTT 5 content type and the user properties ``seq``, ``run``,
``structtype``, ``sent`` (docs/mqtt.md)."""

from __future__ import annotations

import struct
from typing import Final

from simulator.adapters.mqtt.topics import frame_topic, meta_topic, topic_level
from simulator.domino.billing import SequencedFrame
from simulator.wire.codec import peek_header
from simulator.wire.jsonform import JsonDecoder, dumps_frame, json_or_raw

CONTENT_TYPE_BINARY: Final = "application/x-domino-billmsg"
CONTENT_TYPE_JSON: Final = "application/json"

_U16: Final = struct.Struct(">H")
_PROPERTY_CONTENT_TYPE: Final = b"\x03"
_PROPERTY_USER: Final = b"\x26"
_PUBLISH_QOS0: Final = b"\x30"
_PUBLISH_QOS1: Final = b"\x32"


def _str16(text: str) -> bytes:
    data = text.encode("utf-8")
    return _U16.pack(len(data)) + data


def _varint(value: int) -> bytes:
    """MQTT's variable byte integer. Twice a frame: a packet's and its properties' length,
    one and two bytes long for a frame, made without a loop."""
    if value < 0x80:
        return bytes((value,))
    if value < 0x4000:
        return bytes((value & 0x7F | 0x80, value >> 7))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


class FrameEncoder:
    """PUBLISH packets of frames (DUP 0, never retained), as gmqtt would write them.

    The drain encodes frame packets itself: gmqtt's ``publish()`` builds every property
    anew for every message, a third of the drain's time. The topic and the properties
    that do not change (content type, run, structtype) are encoded once per frame kind;
    only ``seq`` and the packet id are new per frame, and ``sent`` is encoded once per
    publish time (the drain stamps a whole batch with one). Acks still go through gmqtt.

    ``topic_meta``: each frame goes to ``…/{class}/{run}/{seq}`` (``meta_topic``), so a
    consumer without properties (MQTT 3.1.1) can key on the topic; ValueError for a run
    id that cannot be a topic level.
    """

    def __init__(
        self,
        server_cn: str,
        run_id: str,
        json_decoder: JsonDecoder | None,
        *,
        properties: bool,
        topic_meta: bool = False,
    ) -> None:
        if topic_meta and not topic_level(run_id):
            raise ValueError(f"a run id for a topic level (--topic-meta), not {run_id!r}")
        self.server_cn = server_cn
        self.properties = properties
        self.topic_meta = topic_meta
        self._run_id = run_id
        self._json = json_decoder
        content_type = CONTENT_TYPE_JSON if json_decoder is not None else CONTENT_TYPE_BINARY
        self._seq_head = (
            _PROPERTY_CONTENT_TYPE + _str16(content_type) + _PROPERTY_USER + _str16("seq")
        )
        self._run = _PROPERTY_USER + _str16("run") + _str16(run_id)
        # header bytes 2..8: the topic field (with --topic-meta: the topic up to the seq
        # level, without a length) and the properties after seq
        self._kinds: dict[bytes, tuple[bytes, bytes]] = {}
        self._sent_us = -1
        self._sent = b""

    def _kind(self, key: bytes, frame: bytes) -> tuple[bytes, bytes]:
        topic = frame_topic(self.server_cn, frame)
        struct_type = str(peek_header(frame)[1])
        tail = self._run + _PROPERTY_USER + _str16("structtype") + _str16(struct_type)
        if self.topic_meta:
            head = meta_topic(topic, self._run_id, 0)[:-1].encode("utf-8")
            known = self._kinds[key] = (head, tail)
        else:
            known = self._kinds[key] = (_str16(topic), tail)
        return known

    def prepare(self, item: SequencedFrame, sent_us: int) -> tuple[bytes, bytes, bytes]:
        """(topic field, properties field, payload); ValueError if the frame has none.

        ``sent_us``: the wall-clock time of the frame's first publish, in microseconds
        since the Unix epoch; a resend passes the first one again."""
        seq, frame = item
        key = frame[2:8]
        known = self._kinds.get(key)
        if known is None:
            known = self._kind(key, frame)
        payload = frame
        if self._json is not None:
            payload = dumps_frame(json_or_raw(self._json, frame, seq)).encode()
        text = str(seq).encode()
        topic = known[0]
        if self.topic_meta:
            topic = _U16.pack(len(topic) + len(text)) + topic + text
        if not self.properties:
            return topic, b"", payload
        if sent_us != self._sent_us:
            self._sent = _PROPERTY_USER + _str16("sent") + _str16(str(sent_us))
            self._sent_us = sent_us
        props = b"".join((self._seq_head, _U16.pack(len(text)), text, known[1], self._sent))
        return topic, _varint(len(props)) + props, payload

    @staticmethod
    def assemble(parts: tuple[bytes, bytes, bytes], mid: int | None) -> bytes:
        topic, props, payload = parts
        if mid is None:
            size = len(topic) + len(props) + len(payload)
            return b"".join((_PUBLISH_QOS0, _varint(size), topic, props, payload))
        size = len(topic) + 2 + len(props) + len(payload)
        return b"".join((_PUBLISH_QOS1, _varint(size), topic, _U16.pack(mid), props, payload))
