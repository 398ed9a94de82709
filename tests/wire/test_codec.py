"""BILLMSG frames byte for byte (docs/wire-format.md).

The expected bytes are built by hand by `hand_frame` (tests/samples.py), field by field with
`struct.pack_into` at the offsets docs/wire-format.md states (copied as literals), into a zeroed
bytearray: nothing of the codec's own field tables or format strings is used to build them.

The golden frame files under `queue/golden/` are checked against the same hand-built
bytes. They are never rewritten by the tests; to regenerate them after an intended
format change, run from the repository root:

    PYTHONPATH=.:tests python tests/wire/test_codec.py --regenerate-golden
"""

from __future__ import annotations

import io
import re
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from paths import GOLDEN_FRAMES, REPO
from samples import (
    DOC_OID,
    FRAMES,
    HEADER,
    KIND_NAMES,
    OFFSETS,
    REC_SIZE,
    RECORDS,
    SERVER,
    STAMP,
    hand_frame,
)

from simulator.wire import codec as codec_module
from simulator.wire import constants as c
from simulator.wire.codec import EncodeError, FrameCodec, FrameError, peek_class, peek_header
from simulator.wire.layout import Framing, Layout
from simulator.wire.records import (
    AgentRec,
    Frame,
    HttpReqRec,
    MailRec,
    RawRec,
    Record,
    SessionID,
    SessionRec,
)
from simulator.wire.stream import FrameStreamError, read_frames
from simulator.wire.timedate import TimeDate

NATURAL = Layout.LINUX_X86_64
PACKED = Layout.WIN32
PAD = Framing.PAD_UNION
COMPACT = Framing.COMPACT
LAYOUTS = (NATURAL, PACKED)
FRAMINGS = (PAD, COMPACT)

GOLDEN_DIR = GOLDEN_FRAMES

MAX_FRAME = 65342  # MQ_MAX_MSGSIZE (docs/wire-format.md)

_CODECS: dict[tuple[Layout, Framing], FrameCodec] = {}


def codec_for(layout: Layout, framing: Framing) -> FrameCodec:
    key = (layout, framing)
    if key not in _CODECS:
        _CODECS[key] = FrameCodec(layout, framing)
    return _CODECS[key]


def golden_path(layout: Layout, framing: Framing) -> Path:
    return GOLDEN_DIR / f"{layout}-{framing}.nbf"


def replaced(rec: Record, field: str, value: object) -> Record:
    """The record with one field changed (by name, as the parametrized tests give it)."""
    assert field in rec._fields
    changed: Record = type(rec)(**{**rec._asdict(), field: value})
    return changed


def _word(data: bytes, at: int) -> int:
    value: int = struct.unpack_from("<H", data, at)[0]
    return value


def _set_word(data: bytes, at: int, value: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into("<H", buf, at, value)
    return bytes(buf)


ALL = pytest.mark.parametrize(
    ("layout", "framing"),
    [(layout, framing) for layout in LAYOUTS for framing in FRAMINGS],
    ids=str,
)

# --- Golden bytes ---------------------------------------------------------------------------


@ALL
@pytest.mark.parametrize("name", KIND_NAMES)
def test_golden_bytes(layout: Layout, framing: Framing, name: str) -> None:
    codec = codec_for(layout, framing)
    expected = hand_frame(layout, framing, RECORDS[name])
    assert codec.encode_record(RECORDS[name], SERVER, STAMP) == expected
    assert codec.encode(FRAMES[name]) == expected
    decoded = codec.decode(expected)
    assert decoded == FRAMES[name]._replace(Len=len(expected))


@ALL
@pytest.mark.parametrize("name", KIND_NAMES)
def test_frame_length(layout: Layout, framing: Framing, name: str) -> None:
    data = codec_for(layout, framing).encode_record(RECORDS[name], SERVER, STAMP)
    assert _word(data, 0) == len(data)
    fixed = HEADER[layout].rec_at + REC_SIZE[layout][name]
    var_len = {
        "MAILREC": len("CN=Bob Jones/O=Acme,CN=Carol Diaz/O=Acme"),
        "AGENTREC": len("CN=Alice Smith/O=AcmeAMgrapps/orders.nsf"),
        "HTTPREQREC": 27 + 9 + 10 + 12 + 46 + 10,
    }.get(name, 0)
    if framing is PAD:
        assert len(data) == max(HEADER[layout].billmsg_size, fixed + var_len)
        # The sample MAILREC (996 + 40, 983 + 40) is longer than sizeof(BILLMSG) already.
        long_mail = {NATURAL: 1036, PACKED: 1023}[layout]
        assert len(data) == (long_mail if name == "MAILREC" else HEADER[layout].billmsg_size)
        assert data[fixed + var_len :] == bytes(len(data) - fixed - var_len)
    else:
        assert len(data) == fixed + var_len


def test_http_offsets_literal() -> None:
    """The sample HTTPREQREC's offsets, counted by hand from the first byte of HTTPREQREC."""
    for layout in LAYOUTS:
        data = codec_for(layout, COMPACT).encode_record(RECORDS["HTTPREQREC"], SERVER, STAMP)
        rec = HEADER[layout].rec_at
        offsets = [_word(data, rec + 12 + 2 * i) for i in range(8)]
        # TimeStamp (26 + NUL), AuthUser absent, Partner (8 + NUL), Referer absent,
        # ServerAddr (9 + NUL), UserAgent (11 + NUL), RequestLine (45 + NUL), ContentType.
        assert offsets == [28, 0, 55, 0, 64, 74, 86, 132]
        assert data[rec + 28 : rec + 55] == b"21/Nov/2026:09:15:00 +0000\0"
        assert data[rec + 132 :] == b"text/html\0"
        assert len(data) == rec + 142


def test_header_bytes_literal() -> None:
    data = codec_for(NATURAL, PAD).encode_record(RECORDS["SESSIONREC"], SERVER, STAMP)
    assert data[:8] == bytes.fromhex("e8 03 01 00 01 00 00 00")
    assert data[8:24] == b"CN=Mail01/O=Acme"
    assert data[24:268] == bytes(244)
    assert data[268:276] == bytes.fromhex("d0 cf 32 00 b6 8e 25 00")
    assert data[276:280] == bytes(4)
    assert data[280:284] == bytes.fromhex("03 00 01 00")  # SessionID {3, 1}
    packed = codec_for(PACKED, COMPACT).encode_record(RECORDS["SESSIONREC"], SERVER, STAMP)
    assert packed[:8] == bytes.fromhex("60 02 01 00 01 00 00 00")  # Len 608 = 273 + 335
    assert len(packed) == 608
    assert packed[265:273] == bytes.fromhex("d0 cf 32 00 b6 8e 25 00")


def test_mailrec_recipients_follow_the_struct() -> None:
    for layout in LAYOUTS:
        data = codec_for(layout, COMPACT).encode_record(RECORDS["MAILREC"], SERVER, STAMP)
        fixed = HEADER[layout].rec_at + REC_SIZE[layout]["MAILREC"]
        o = OFFSETS[layout]["MAILREC"]
        rec = HEADER[layout].rec_at
        assert data[fixed:] == b"CN=Bob Jones/O=Acme,CN=Carol Diaz/O=Acme"  # no NUL
        assert _word(data, rec + o["RecipientSize"]) == 40
        assert _word(data, rec + o["RecipientCount"]) == 2


def test_agentrec_names_follow_the_struct() -> None:
    for layout in LAYOUTS:
        data = codec_for(layout, COMPACT).encode_record(RECORDS["AGENTREC"], SERVER, STAMP)
        rec = HEADER[layout].rec_at
        assert [_word(data, rec + i) for i in (0, 2, 4)] == [21, 4, 15]
        assert data[rec + REC_SIZE[layout]["AGENTREC"] :] == (
            b"CN=Alice Smith/O=AcmeAMgrapps/orders.nsf"
        )


def test_mailrec_without_recipients() -> None:
    rec = RECORDS["MAILREC"]
    assert isinstance(rec, MailRec)
    empty = rec._replace(Recipients=(), RecipientCount=0)
    for layout in LAYOUTS:
        for framing in FRAMINGS:
            data = codec_for(layout, framing).encode_record(empty, SERVER, STAMP)
            assert data == hand_frame(layout, framing, empty)
            assert codec_for(layout, framing).decode(data).rec == empty


def test_http_all_strings_absent_and_all_present() -> None:
    base = RECORDS["HTTPREQREC"]
    assert isinstance(base, HttpReqRec)
    absent = base._replace(
        TimeStamp=None, Partner=None, ServerAddr=None, UserAgent=None, RequestLine=None
    )
    absent = absent._replace(ContentType=None)
    present = base._replace(AuthUser="CN=Alice Smith/O=Acme", Referer="")
    for layout in LAYOUTS:
        for framing in FRAMINGS:
            codec = codec_for(layout, framing)
            for rec in (absent, present):
                data = codec.encode_record(rec, SERVER, STAMP)
                assert data == hand_frame(layout, framing, rec)
                assert codec.decode(data).rec == rec
        compact = codec_for(layout, COMPACT).encode_record(absent, SERVER, STAMP)
        assert len(compact) == HEADER[layout].rec_at + 28


# --- Padding and size limits ----------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
@pytest.mark.parametrize("recipient_bytes", [0, 1, 3, 4, 5, 2000])
def test_pad_union_mailrec_around_billmsg_size(layout: Layout, recipient_bytes: int) -> None:
    """Variable data starts right after the struct; padding only fills up to sizeof(BILLMSG)."""
    rec = RECORDS["MAILREC"]
    assert isinstance(rec, MailRec)
    recipients = ("x" * recipient_bytes,) if recipient_bytes else ()
    long = rec._replace(Recipients=recipients, RecipientCount=len(recipients))
    fixed = HEADER[layout].rec_at + REC_SIZE[layout]["MAILREC"]
    billmsg = HEADER[layout].billmsg_size
    data = codec_for(layout, PAD).encode_record(long, SERVER, STAMP)
    assert data == hand_frame(layout, PAD, long)
    assert len(data) == max(billmsg, fixed + recipient_bytes)
    assert data[fixed : fixed + recipient_bytes] == b"x" * recipient_bytes
    assert data[fixed + recipient_bytes :] == bytes(len(data) - fixed - recipient_bytes)
    compact = codec_for(layout, COMPACT).encode_record(long, SERVER, STAMP)
    assert len(compact) == fixed + recipient_bytes
    assert compact[2:] == data[2 : len(compact)]  # all but Len


@ALL
def test_mq_max_msgsize(layout: Layout, framing: Framing) -> None:
    assert c.MQ_MAX_MSGSIZE == MAX_FRAME
    rec = RECORDS["MAILREC"]
    assert isinstance(rec, MailRec)
    codec = codec_for(layout, framing)
    room = MAX_FRAME - HEADER[layout].rec_at - REC_SIZE[layout]["MAILREC"]
    names = ("a" * 250,) * (room // 251)
    last = room - len(",".join(names)) - 1
    exact = rec._replace(Recipients=(*names, "b" * last), RecipientCount=len(names) + 1)
    data = codec.encode_record(exact, SERVER, STAMP)
    assert len(data) == MAX_FRAME
    assert _word(data, 0) == MAX_FRAME
    assert data == hand_frame(layout, framing, exact)
    assert codec.decode(data).rec == exact
    over = exact._replace(Recipients=(*names, "b" * (last + 1)))
    with pytest.raises(EncodeError, match="MQ_MAX_MSGSIZE"):
        codec.encode_record(over, SERVER, STAMP)


@ALL
def test_variable_data_past_mq_max_msgsize(layout: Layout, framing: Framing) -> None:
    codec = codec_for(layout, framing)
    agent = RECORDS["AGENTREC"]
    assert isinstance(agent, AgentRec)
    room = MAX_FRAME - HEADER[layout].rec_at - REC_SIZE[layout]["AGENTREC"]
    fits = agent._replace(UserName="u" * 30_000, TaskName="t" * 30_000)
    fits = fits._replace(DatabaseName="d" * (room - 60_000))
    assert len(codec.encode_record(fits, SERVER, STAMP)) == MAX_FRAME
    with pytest.raises(EncodeError, match="MQ_MAX_MSGSIZE"):
        codec.encode_record(fits._replace(DatabaseName="d" * (room - 59_999)), SERVER, STAMP)
    with pytest.raises(EncodeError):
        codec.encode_record(agent._replace(UserName="u" * 70_000), SERVER, STAMP)
    http = RECORDS["HTTPREQREC"]
    assert isinstance(http, HttpReqRec)
    with pytest.raises(EncodeError):
        codec.encode_record(http._replace(UserAgent="m" * MAX_FRAME), SERVER, STAMP)
    mail = RECORDS["MAILREC"]
    assert isinstance(mail, MailRec)
    with pytest.raises(EncodeError):
        codec.encode_record(mail._replace(Recipients=("r" * 70_000,)), SERVER, STAMP)


# (record, field, array size): every char[] of every built-in record.
STRING_FIELDS = [
    ("SESSIONREC", "Username", 257),
    ("SESSIONREC", "NetAdr", 64),
    ("DBREC", "Username", 257),
    ("REPLREC", "Source", 257),
    ("REPLREC", "Destination", 257),
    ("DOCUMENT", "Username", 257),
    ("MAILREC", "FormType", 130),
    ("MAILREC", "HopName", 257),
    ("MAILREC", "Originator", 257),
]


@ALL
@pytest.mark.parametrize(("name", "field", "size"), STRING_FIELDS)
def test_string_length_limits(
    layout: Layout, framing: Framing, name: str, field: str, size: int
) -> None:
    codec = codec_for(layout, framing)
    at = HEADER[layout].rec_at + OFFSETS[layout][name][field]
    longest = "n" * (size - 1)  # 256, 63, 129 bytes: the NUL takes the last one
    rec = replaced(RECORDS[name], field, longest)
    data = codec.encode_record(rec, SERVER, STAMP)
    assert data == hand_frame(layout, framing, rec)
    assert data[at : at + size] == longest.encode() + b"\0"
    assert codec.decode(data).rec == rec
    multibyte = "é" * ((size - 1) // 2) + "n" * ((size - 1) % 2)  # exactly size - 1 bytes
    assert codec.decode(codec.encode_record(replaced(rec, field, multibyte), SERVER, STAMP)).rec
    for too_long in ("n" * size, "é" * (size // 2 + 1), multibyte + "n"):
        with pytest.raises(EncodeError, match=field):
            codec.encode_record(replaced(rec, field, too_long), SERVER, STAMP)


def test_names_kept_encoded_stay_bounded_and_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec_module, "_FITTING_LIMIT", 3)
    codec = codec_for(NATURAL, PAD)
    at = HEADER[NATURAL].rec_at + OFFSETS[NATURAL]["SESSIONREC"]["Username"]
    for round_ in range(2):  # the second time from the table, or after it was emptied
        for name in ("anna", "bo", "cé", "dirk", "anna", "n" * 256):
            rec = replaced(RECORDS["SESSIONREC"], "Username", name)
            data = codec.encode_record(rec, SERVER, STAMP)
            assert data == hand_frame(NATURAL, PAD, rec), (round_, name)
            assert data[at : at + len(name.encode()) + 1] == name.encode() + b"\0"
            assert len(codec_module._FITTING[257]) <= 3
        with pytest.raises(EncodeError, match="Username"):
            codec.encode_record(replaced(rec, "Username", "n" * 257), SERVER, STAMP)


@ALL
def test_server_name_limit(layout: Layout, framing: Framing) -> None:
    codec = codec_for(layout, framing)
    rec = RECORDS["SESSIONREC"]
    data = codec.encode_record(rec, "S" * 256, STAMP)
    assert data[8 : 8 + 257] == b"S" * 256 + b"\0"
    assert codec.decode(data).ServerName == "S" * 256
    with pytest.raises(EncodeError, match="ServerName"):
        codec.encode_record(rec, "S" * 257, STAMP)
    with pytest.raises(EncodeError, match="ServerName"):
        codec.encode(Frame(40000, 0, "S" * 257, STAMP, RawRec(b"")))


# (record, field, bad value): integers that do not fit their WORD or DWORD.
OUT_OF_RANGE: list[tuple[str, str, object]] = [
    ("SESSIONREC", "BytesIn", 2**32),
    ("SESSIONREC", "BytesOut", -1),
    ("SESSIONREC", "Action", 2**16),
    ("SESSIONREC", "SessionID", SessionID(2**16, 1)),
    ("SESSIONREC", "SessionID", SessionID(1, -1)),
    ("DBREC", "DBOpenTime", 2**32),
    ("DBREC", "ReplicaID", TimeDate(0, 2**32)),
    ("REPLREC", "Priority", 2**16),
    ("REPLREC", "BytesIn", -1),
    ("DOCUMENT", "Type", -1),
    ("DOCUMENT", "OriginatorID", DOC_OID._replace(Sequence=2**32)),
    ("MAILREC", "MessageSize", 2**32),
    ("MAILREC", "RecipientCount", 2**16),
    ("MAILREC", "PostedDate", TimeDate(2**32, 0)),
    ("AGENTREC", "ElapsedRunTime", 2**32),
    ("AGENTREC", "Flags", -1),
    ("HTTPREQREC", "HttpStatusCode", 2**32),
    ("HTTPREQREC", "HttpContentLength", -1),
]


@pytest.mark.parametrize(("name", "field", "value"), OUT_OF_RANGE)
def test_integer_out_of_range(name: str, field: str, value: object) -> None:
    for layout in LAYOUTS:
        codec = codec_for(layout, COMPACT)
        rec = replaced(RECORDS[name], field, value)
        with pytest.raises(EncodeError, match=name):
            codec.encode_record(rec, SERVER, STAMP)


def test_integer_extremes_fit() -> None:
    rec = SessionRec(SessionID(0xFFFF, 0), 0xFFFF, "", 0xFFFF_FFFF, 0, "")
    for layout in LAYOUTS:
        for framing in FRAMINGS:
            data = codec_for(layout, framing).encode_record(rec, SERVER, TimeDate(2**32 - 1, 0))
            assert data == hand_frame(layout, framing, rec, stamp=TimeDate(2**32 - 1, 0))


def test_header_out_of_range() -> None:
    codec = codec_for(NATURAL, PAD)
    with pytest.raises(EncodeError):
        codec.encode(FRAMES["SESSIONREC"]._replace(Class=2**32))
    with pytest.raises(EncodeError):
        codec.encode(FRAMES["SESSIONREC"]._replace(TimeStamp=TimeDate(-1, 0)))


def test_struct_type_must_match_the_record() -> None:
    codec = codec_for(NATURAL, PAD)
    wrong = FRAMES["SESSIONREC"]._replace(StructType=4001)
    with pytest.raises(EncodeError, match="4001"):
        codec.encode(wrong)
    with pytest.raises(EncodeError, match="999"):
        codec.encode(FRAMES["DBREC"]._replace(StructType=999))


def test_header_class_is_kept_on_encode() -> None:
    """`encode` writes the frame's own Class (the header says which class enabled it)."""
    codec = codec_for(PACKED, COMPACT)
    frame = FRAMES["DBREC"]._replace(Class=0x7F)
    data = codec.encode(frame)
    assert struct.unpack_from("<I", data, 4)[0] == 0x7F
    assert codec.decode(data) == frame._replace(Len=len(data))


# --- Decoding errors ------------------------------------------------------------------------


@ALL
@pytest.mark.parametrize("name", KIND_NAMES)
def test_truncated_frame(layout: Layout, framing: Framing, name: str) -> None:
    codec = codec_for(layout, framing)
    data = hand_frame(layout, framing, RECORDS[name])
    with pytest.raises(FrameError, match="truncated") as info:
        codec.decode(data[:-1])
    assert info.value.offset == 0
    with pytest.raises(FrameError, match="truncated") as info:
        codec.decode(b"\xff" * 5 + data[:-1], 5)
    assert info.value.offset == 5
    assert "byte offset 5" in str(info.value)
    for short in (b"", data[:1], data[:3]):
        with pytest.raises(FrameError, match="truncated") as info:
            codec.decode(short)
        assert info.value.offset == 0


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
def test_len_smaller_than_the_header(layout: Layout) -> None:
    codec = codec_for(layout, PAD)
    header_size = HEADER[layout].size
    data = hand_frame(layout, PAD, RECORDS["SESSIONREC"])
    for length in (0, 4, header_size - 1):
        with pytest.raises(FrameError, match="header") as info:
            codec.decode(_set_word(data, 0, length))
        assert info.value.offset == 0
    # Exactly a header, with an unknown struct type: a RawRec with no bytes.
    bare = _set_word(_set_word(data, 0, header_size), 2, 40000)[:header_size]
    frame = codec.decode(bare)
    assert frame.rec == RawRec(b"")
    assert frame.Len == header_size
    assert codec.encode(frame) == bare


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
def test_len_over_mq_max_msgsize(layout: Layout) -> None:
    codec = codec_for(layout, COMPACT)
    data = hand_frame(layout, COMPACT, RECORDS["DBREC"])
    big = _set_word(data, 0, MAX_FRAME + 1) + bytes(MAX_FRAME + 1 - len(data))
    with pytest.raises(FrameError, match="MQ_MAX_MSGSIZE") as info:
        codec.decode(big)
    assert info.value.offset == 0
    with pytest.raises(FrameError, match="MQ_MAX_MSGSIZE"):
        codec.decode(_set_word(data, 0, 0xFFFF))


@ALL
@pytest.mark.parametrize("name", KIND_NAMES)
def test_len_smaller_than_the_record(layout: Layout, framing: Framing, name: str) -> None:
    codec = codec_for(layout, framing)
    fixed = HEADER[layout].rec_at + REC_SIZE[layout][name]
    data = hand_frame(layout, framing, RECORDS[name])
    short = _set_word(data, 0, fixed - 1)[: fixed - 1]
    with pytest.raises(FrameError, match=f"smaller than a {name}") as info:
        codec.decode(short)
    assert info.value.offset == 0


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
def test_recipient_size_past_len(layout: Layout) -> None:
    codec = codec_for(layout, COMPACT)
    data = hand_frame(layout, COMPACT, RECORDS["MAILREC"])
    at = HEADER[layout].rec_at + OFFSETS[layout]["MAILREC"]["RecipientSize"]
    bad = _set_word(data, at, _word(data, at) + 1)
    with pytest.raises(FrameError, match="RecipientSize") as info:
        codec.decode(b"\0" * 7 + bad, 7)
    assert info.value.offset == 7
    # In a pad-union frame the recipients may run into the padding, never past Len.
    pad = codec_for(layout, PAD)
    padded = hand_frame(layout, PAD, RECORDS["MAILREC"])
    beyond = len(padded) - HEADER[layout].rec_at - REC_SIZE[layout]["MAILREC"] + 1
    with pytest.raises(FrameError, match="RecipientSize"):
        pad.decode(_set_word(padded, at, beyond))


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
def test_agent_lengths_past_len(layout: Layout) -> None:
    codec = codec_for(layout, COMPACT)
    data = hand_frame(layout, COMPACT, RECORDS["AGENTREC"])
    rec = HEADER[layout].rec_at
    for at in (rec, rec + 2, rec + 4):
        with pytest.raises(FrameError, match="ULen") as info:
            codec.decode(_set_word(data, at, _word(data, at) + 1))
        assert info.value.offset == 0


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
def test_http_offset_past_the_end(layout: Layout) -> None:
    codec = codec_for(layout, COMPACT)
    data = hand_frame(layout, COMPACT, RECORDS["HTTPREQREC"])
    rec = HEADER[layout].rec_at
    end = len(data) - rec  # relative to HTTPREQREC: the first byte after the frame
    for index in range(8):
        at = rec + 12 + 2 * index
        with pytest.raises(FrameError, match="past the frame's end") as info:
            codec.decode(_set_word(data, at, end))
        assert info.value.offset == 0
        with pytest.raises(FrameError, match="past the frame's end"):
            codec.decode(_set_word(data, at, 0xFFFF))


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
def test_http_string_without_nul(layout: Layout) -> None:
    codec = codec_for(layout, COMPACT)
    data = hand_frame(layout, COMPACT, RECORDS["HTTPREQREC"])
    cut = _set_word(data, 0, len(data) - 1)[:-1]  # ContentType loses its NUL
    with pytest.raises(FrameError, match="ContentType string has no NUL") as info:
        codec.decode(b"\0\0" + cut, 2)
    assert info.value.offset == 2


@ALL
def test_unknown_struct_type_is_raw(layout: Layout, framing: Framing) -> None:
    codec = codec_for(layout, framing)
    header_size = HEADER[layout].size
    for struct_type in (0, 2, 999, 32001, 65535):
        data = _set_word(hand_frame(layout, framing, RECORDS["REPLREC"]), 2, struct_type)
        frame = codec.decode(data)
        assert isinstance(frame.rec, RawRec)
        assert frame.rec.raw == data[header_size:]
        assert (frame.StructType, frame.Class, frame.ServerName) == (struct_type, 2, SERVER)
        assert frame.TimeStamp == STAMP
        assert frame.Len == len(data)
        assert codec.encode(frame) == data


def test_read_frames_names_the_bad_frame() -> None:
    codec = codec_for(NATURAL, COMPACT)
    good = [hand_frame(NATURAL, COMPACT, RECORDS[name]) for name in KIND_NAMES[:3]]
    mail = hand_frame(NATURAL, COMPACT, RECORDS["MAILREC"])
    at = 280 + 704
    bad_mail = _set_word(mail, at, _word(mail, at) + 1)
    bad_offset = sum(len(g) for g in good)
    cases: list[tuple[bytes, str]] = [
        (bad_mail + good[0], "RecipientSize"),  # the record is wrong
        (_set_word(mail, 0, 3) + good[0], "header"),  # Len too small
        (_set_word(mail, 0, 0xFFFF) + good[0], "MAX"),  # Len too large
        (_set_word(mail, 0, 600)[:600] + good[0], "smaller than a MAILREC"),
        (mail[:-1], "truncated"),  # the stream ends inside the frame
        (b"\x10", "truncated"),  # the stream ends inside Len
    ]
    for bad, message in cases:
        stream = io.BytesIO(b"".join(good) + bad)
        frames = read_frames(stream, codec)
        seen: list[tuple[int, bytes, Frame]] = []
        with pytest.raises(FrameStreamError, match=message) as info:
            seen.extend(frames)
        assert info.value.offset == bad_offset
        assert info.value.seq == 4
        assert f"byte offset {bad_offset} (frame 4)" in str(info.value)
        assert [data for _, data, _ in seen] == good
        assert [offset for offset, _, _ in seen] == [0, len(good[0]), len(good[0]) + len(good[1])]
        assert [frame.rec for _, _, frame in seen] == [RECORDS[n] for n in KIND_NAMES[:3]]


def test_read_frames_empty_stream_and_chunked_reads() -> None:
    codec = codec_for(PACKED, PAD)
    assert list(read_frames(io.BytesIO(b""), codec)) == []

    class Trickle(io.RawIOBase):
        """A stream that returns at most 7 bytes a read, like a pipe."""

        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            count = 7 if size < 0 else min(size, 7)
            chunk, self.data = self.data[:count], self.data[count:]
            return chunk

    data = b"".join(hand_frame(PACKED, PAD, RECORDS[name]) for name in KIND_NAMES)
    frames = list(read_frames(Trickle(data), codec))  # type: ignore[arg-type]
    assert [frame.rec for _, _, frame in frames] == list(RECORDS.values())
    assert b"".join(chunk for _, chunk, _ in frames) == data


# --- Golden files ---------------------------------------------------------------------------


def golden_bytes(layout: Layout, framing: Framing) -> bytes:
    """One frame of each type back to back, in the order of `RECORDS`, from the oracle."""
    return b"".join(hand_frame(layout, framing, RECORDS[name]) for name in KIND_NAMES)


@ALL
def test_peek_header_reads_len_and_struct_type_of_every_kind(
    layout: Layout, framing: Framing
) -> None:
    data = golden_bytes(layout, framing)
    offset = 0
    for name in KIND_NAMES:
        frame = hand_frame(layout, framing, RECORDS[name])
        assert peek_header(data, offset) == (len(frame), _word(frame, 2))
        assert peek_header(frame) == (len(frame), _word(frame, 2))
        assert (
            peek_class(data, offset) == peek_class(frame) == struct.unpack_from("<I", frame, 4)[0]
        )
        offset += len(frame)


# A slice of a frame's first four bytes read as a number: Len or StructType read by hand.
_HAND_ROLLED_HEADER = re.compile(r"from_bytes\(\s*\w+\[\s*(?:0?\s*:\s*2|2\s*:\s*4)\s*\]")


def test_len_and_struct_type_are_read_by_peek_header_or_its_struct_only() -> None:
    """One way to read a frame's Len and StructType in billsim: `peek_header`, or the
    `LEN_AND_TYPE` struct it wraps in hot loops, never a slice turned into a number."""
    hand_rolled = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sorted((REPO / "simulator").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _HAND_ROLLED_HEADER.search(line)
    ]
    assert not hand_rolled, "\n".join(hand_rolled)
    assert _HAND_ROLLED_HEADER.search('int.from_bytes(frame[2:4], "little")')
    assert _HAND_ROLLED_HEADER.search('int.from_bytes(data[:2], "little")')


@ALL
def test_golden_file(layout: Layout, framing: Framing) -> None:
    path = golden_path(layout, framing)
    assert path.exists(), (
        f"{path} missing: PYTHONPATH=.:tests python tests/wire/test_codec.py --regenerate-golden"
    )
    data = path.read_bytes()
    assert data == golden_bytes(layout, framing)
    codec = codec_for(layout, framing)
    frames = list(read_frames(io.BytesIO(data), codec))
    assert [frame for _, _, frame in frames] == [
        FRAMES[name]._replace(Len=len(chunk))
        for name, (_, chunk, _) in zip(KIND_NAMES, frames, strict=True)
    ]
    assert b"".join(codec.encode(frame) for _, _, frame in frames) == data


def test_golden_readme_exists() -> None:
    readme = (GOLDEN_DIR / "README.md").read_text(encoding="utf-8")
    for layout in LAYOUTS:
        for framing in FRAMINGS:
            assert golden_path(layout, framing).name in readme


def regenerate_golden(write: Callable[[Path, bytes], None]) -> None:
    for layout in LAYOUTS:
        for framing in FRAMINGS:
            codec = FrameCodec(layout, framing)
            data = b"".join(
                codec.encode_record(RECORDS[name], SERVER, STAMP) for name in KIND_NAMES
            )
            if data != golden_bytes(layout, framing):
                raise SystemExit(
                    f"{layout}/{framing}: the codec disagrees with the hand-built oracle"
                )
            write(golden_path(layout, framing), data)


def main(argv: list[str]) -> int:
    if argv != ["--regenerate-golden"]:
        usage = "usage: PYTHONPATH=.:tests python tests/wire/test_codec.py --regenerate-golden"
        print(usage, file=sys.stderr)
        return 2

    def write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path} ({len(data)} bytes)")

    regenerate_golden(write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
