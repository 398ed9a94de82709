"""PUBLISH packets of frames: the topic (``--topic-meta``: with the run and seq levels), the
payload form, the MQTT 5 content type and the user properties ``seq``, ``run``,
``structtype``, ``sent`` (docs/mqtt.md)."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator, Sequence
from itertools import repeat
from operator import itemgetter, mod
from typing import Final

from simulator.adapters.mqtt.topics import frame_topic, meta_topic, topic_level
from simulator.domino.billing import SequencedFrame
from simulator.errors import printable
from simulator.wire.codec import peek_header
from simulator.wire.jsonform import JsonDecoder, json_or_raw

CONTENT_TYPE_BINARY: Final = "application/x-domino-billmsg"
CONTENT_TYPE_JSON: Final = "application/json"

_U16: Final = struct.Struct(">H")
_PROPERTY_CONTENT_TYPE: Final = b"\x03"
_PROPERTY_USER: Final = b"\x26"
_PUBLISH_QOS0: Final = 0x30
_PUBLISH_QOS1: Final = 0x32
_VARINT_1: Final = [bytes((value,)) for value in range(0x80)]
# The column-wise encoding of binary frames (FrameEncoder._binary_packets), per frame
# in C: no bytecode runs a frame.
_SEQ: Final = itemgetter(0)  # a sequenced frame's seq
_FRAME: Final = itemgetter(1)  # and its bytes
_KIND: Final = itemgetter(slice(2, 8))  # a frame's header bytes 2..8: struct type, class
_FIRST: Final = itemgetter(0)
_SECOND: Final = itemgetter(1)
# Prefixes kept for that many (kind, seq digits, frame length) at most: frames whose
# lengths vary a lot (long strings) would otherwise grow the table without bound.
_PREFIXES_KEPT: Final = 4096


def _json_text() -> Callable[[object], str]:
    """``dumps_frame``'s JSON text without its per-call set-up: the stdlib's C encoder,
    made once (``JSONEncoder.encode`` makes one for every call), with the same options
    (no spaces, UTF-8 as it is) and no check for cycles, which a frame's JSON form never
    has."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator
        return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    encoder = make(
        None,
        json.JSONEncoder().default,
        json.encoder.encode_basestring,
        None,
        ":",
        ",",
        False,
        False,
        True,
    )
    join = "".join

    def text(obj: object) -> str:
        return join(encoder(obj, 0))

    return text


_dumps: Final = _json_text()


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

    The drain encodes frame packets itself, a batch at a time: gmqtt's ``publish()``
    builds every property anew for every message, a third of the drain's time. The topic
    field and the properties that do not change (content type, run, structtype) are
    encoded once per frame kind; the fixed header once per packet length; ``sent`` once
    per batch (the drain stamps a whole batch with one time). Per frame only ``seq``, the
    packet id and two lengths are new, and the pieces of a whole batch are joined once.

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
        seq_head = _PROPERTY_CONTENT_TYPE + _str16(content_type) + _PROPERTY_USER + _str16("seq")
        # by the length of the seq's text (at most 20 digits): the properties up to it
        self._seq_heads = [seq_head + _U16.pack(digits) for digits in range(21)]
        self._run = _PROPERTY_USER + _str16("run") + _str16(run_id)
        # header bytes 2..8 (struct type and class) -> the topic field (with --topic-meta:
        # the topic up to the seq level, without a length) and the properties after seq
        self._kinds: dict[bytes, tuple[bytes, bytes]] = {}
        # first byte -> remaining length -> the fixed header
        self._fixed: dict[int, dict[int, bytes]] = {_PUBLISH_QOS0: {}, _PUBLISH_QOS1: {}}
        # (first byte, size of the sent property) -> (kind, seq digits, frame length) ->
        # (all of the packet before the packet id, all between it and the seq's digits);
        # QoS 0: (all of the packet before the seq's digits, b"")
        self._prefixes: dict[
            tuple[int, int], dict[tuple[bytes, int, int], tuple[bytes, bytes]]
        ] = {}

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

    def _batch(
        self, packet_ids: Sequence[int] | None, sent_us: int
    ) -> tuple[int, dict[int, bytes], Iterator[int], int, bytes]:
        """What a batch's packets share: the fixed header's first byte and its table, the
        packet ids, their size in a packet, the ``sent`` property."""
        first = _PUBLISH_QOS0 if packet_ids is None else _PUBLISH_QOS1
        ids = iter(()) if packet_ids is None else iter(packet_ids)
        id_size = 0 if packet_ids is None else 2
        sent = _PROPERTY_USER + _str16("sent") + _str16(str(sent_us))
        return first, self._fixed[first], ids, id_size, sent

    def _fixed_header(self, first: int, size: int) -> bytes:
        header = bytes((first,)) + _varint(size)
        if size < 0x4000:  # kept for the lengths of two bytes or less: a bounded table
            self._fixed[first][size] = header
        return header

    def packets(
        self,
        items: Sequence[SequencedFrame],
        packet_ids: Sequence[int] | None,
        sent_us: int,
    ) -> tuple[bytes, list[tuple[int, ValueError]]]:
        """The PUBLISH packets of ``items`` in one piece, and the frames left out: (index
        in ``items``, why) for a frame with no topic or no JSON form. ``packet_ids``: QoS
        1, one for each frame, the first ones taken in turn by the frames written (so
        there are as many unused as frames left out); None: QoS 0.

        ``sent_us``: the wall-clock time of the frames' first publish, in microseconds
        since the Unix epoch; a resend passes the first one again."""
        if self.properties and not self.topic_meta:
            if self._json is None:
                packets = self._binary_packets(items, packet_ids, sent_us)
                if packets is not None:
                    return packets, []
            return self._packets_with_properties(items, packet_ids, sent_us)
        pieces: list[bytes] = []
        add = pieces.extend
        rejected: list[tuple[int, ValueError]] = []
        kinds = self._kinds
        json = self._json
        meta = self.topic_meta
        props = self.properties
        seq_heads = self._seq_heads
        u16 = _U16.pack
        first, fixed, ids, id_size, sent = self._batch(packet_ids, sent_us)
        # the properties but the seq's digits and the kind's tail
        props_base = len(seq_heads[0]) + len(sent)
        for index, (seq, frame) in enumerate(items):
            known = kinds.get(frame[2:8])
            payload = frame
            try:
                if known is None:
                    known = self._kind(frame[2:8], frame)
                if json is not None:
                    text = _dumps(json_or_raw(json, frame, seq))
                    # All `printable` escapes that the encoder left is a lone surrogate, never
                    # in ASCII text: a flag to read instead of a scan of every character.
                    if not text.isascii():
                        text = printable(text)
                    payload = text.encode()
            except ValueError as error:
                rejected.append((index, error))
                continue
            topic, tail = known
            seq_text = b"%d" % seq
            digits = len(seq_text)
            if meta:
                topic = u16(len(topic) + digits) + topic + seq_text
            size = len(topic) + id_size + len(payload)
            if props:
                props_size = props_base + digits + len(tail)
                props_length = _VARINT_1[props_size] if props_size < 0x80 else _varint(props_size)
                size += len(props_length) + props_size
                header = fixed.get(size) or self._fixed_header(first, size)
                if id_size:
                    add((header, topic, u16(next(ids)), props_length, seq_heads[digits]))
                else:
                    add((header, topic, props_length, seq_heads[digits]))
                add((seq_text, tail, sent, payload))
            else:
                header = fixed.get(size) or self._fixed_header(first, size)
                if id_size:
                    add((header, topic, u16(next(ids)), payload))
                else:
                    add((header, topic, payload))
        return b"".join(pieces), rejected

    def _packets_with_properties(
        self,
        items: Sequence[SequencedFrame],
        packet_ids: Sequence[int] | None,
        sent_us: int,
    ) -> tuple[bytes, list[tuple[int, ValueError]]]:
        """``packets`` of the usual run (MQTT 5 properties, the topic without run and seq).

        All of a packet but its fixed header, packet id, seq digits and payload depends only
        on the frame's kind and the number of digits of its seq (which changes once in a
        long while): those pieces, joined, and their length are made once a batch for each
        such pair, so a frame costs a look-up and one tuple of seven pieces."""
        pieces: list[bytes] = []
        add = pieces.extend
        rejected: list[tuple[int, ValueError]] = []
        json = self._json
        u16 = _U16.pack
        first, fixed, ids, id_size, sent = self._batch(packet_ids, sent_us)
        # seq digits -> kind -> (topic field, properties up to seq's digits, properties
        # after them, the size of all but the payload)
        by_digits: list[dict[bytes, tuple[bytes, bytes, bytes, int]] | None] = [None] * 21
        for index, (seq, frame) in enumerate(items):
            key = frame[2:8]
            seq_text = b"%d" % seq
            digits = len(seq_text)
            shapes = by_digits[digits]
            if shapes is None:
                shapes = by_digits[digits] = {}
            shape = shapes.get(key)
            payload = frame
            try:
                if shape is None:
                    shape = shapes[key] = self._shape(key, frame, digits, id_size, sent)
                if json is not None:
                    text = _dumps(json_or_raw(json, frame, seq))
                    if not text.isascii():  # see packets
                        text = printable(text)
                    payload = text.encode()
            except ValueError as error:
                rejected.append((index, error))
                continue
            topic, head, tail, size = shape
            size += len(payload)
            header = fixed.get(size) or self._fixed_header(first, size)
            if id_size:
                add((header, topic, u16(next(ids)), head, seq_text, tail, payload))
            else:
                add((header, topic, head, seq_text, tail, payload))
        return b"".join(pieces), rejected

    def _binary_packets(
        self,
        items: Sequence[SequencedFrame],
        packet_ids: Sequence[int] | None,
        sent_us: int,
    ) -> bytes | None:
        """``_packets_with_properties`` of binary frames, a column at a time: each piece of
        the packets (prefix, packet id, seq digits, tail, frame) is made for the whole
        batch by one C loop (``map``) and the columns interleaved by slice assignment, so
        that no bytecode runs per frame. None when a frame has no topic: the caller then
        encodes the batch frame by frame, which says which frames are left out.

        A packet's bytes before its seq digits depend only on its frame's kind, the
        number of its seq's digits and its frame's length: kept in ``_prefixes``; the
        bytes after them (run, structtype, sent) on its kind and the batch's ``sent``."""
        first, _fixed, _ids, id_size, sent = self._batch(packet_ids, sent_us)
        frames = list(map(_FRAME, items))
        seq_texts = list(map(mod, repeat(b"%d"), map(_SEQ, items)))
        kinds = list(map(_KIND, frames))
        prefixes = self._prefixes.get((first, len(sent)))
        if prefixes is None or len(prefixes) > _PREFIXES_KEPT:
            prefixes = self._prefixes[first, len(sent)] = {}
        tails = {kind: kind_tail + sent for kind, (_topic, kind_tail) in self._kinds.items()}
        try:
            # zip's tuple is made once and refilled: a list of a key a frame would set
            # off the garbage collector every few hundred frames. A key not there yet
            # raises: no scan of the results for a None.
            found = list(
                map(
                    prefixes.__getitem__,
                    zip(kinds, map(len, seq_texts), map(len, frames), strict=True),
                )
            )
            tail_list = list(map(tails.__getitem__, kinds))
        except KeyError:
            keys = list(zip(kinds, map(len, seq_texts), map(len, frames), strict=True))
            try:
                for key, frame in zip(keys, frames, strict=True):
                    if key not in prefixes:
                        prefixes[key] = self._prefix(key, frame, id_size, len(sent))
            except ValueError:
                return None  # no topic for a frame's kind
            found = list(map(prefixes.__getitem__, keys))
            tails = {kind: kind_tail + sent for kind, (_topic, kind_tail) in self._kinds.items()}
            tail_list = list(map(tails.__getitem__, kinds))
        count = len(frames)
        pieces: list[bytes]
        if packet_ids is not None:
            pieces = [b""] * (6 * count)
            pieces[0::6] = map(_FIRST, found)
            pieces[1::6] = map(_U16.pack, packet_ids)
            pieces[2::6] = map(_SECOND, found)
            pieces[3::6] = seq_texts
            pieces[4::6] = tail_list
            pieces[5::6] = frames
        else:
            pieces = [b""] * (4 * count)
            pieces[0::4] = map(_FIRST, found)
            pieces[1::4] = seq_texts
            pieces[2::4] = tail_list
            pieces[3::4] = frames
        return b"".join(pieces)

    def _prefix(
        self, key: tuple[bytes, int, int], frame: bytes, id_size: int, sent_size: int
    ) -> tuple[bytes, bytes]:
        """A ``_prefixes`` entry: ``_shape``'s pieces and the fixed header, joined."""
        kind, digits, length = key
        known = self._kinds.get(kind)
        if known is None:
            known = self._kind(kind, frame)
        topic, kind_tail = known
        head = self._seq_heads[digits]
        props_size = len(head) + digits + len(kind_tail) + sent_size
        head = _varint(props_size) + head
        size = len(topic) + id_size + len(head) + digits + len(kind_tail) + sent_size + length
        first = _PUBLISH_QOS1 if id_size else _PUBLISH_QOS0
        header = self._fixed[first].get(size) or self._fixed_header(first, size)
        if id_size:
            return header + topic, head
        return header + topic + head, b""

    def _shape(
        self, key: bytes, frame: bytes, digits: int, id_size: int, sent: bytes
    ) -> tuple[bytes, bytes, bytes, int]:
        known = self._kinds.get(key)
        if known is None:
            known = self._kind(key, frame)
        topic, kind_tail = known
        head = self._seq_heads[digits]
        tail = kind_tail + sent
        props_size = len(head) + digits + len(tail)
        head = _varint(props_size) + head
        return topic, head, tail, len(topic) + id_size + len(head) + digits + len(tail)
