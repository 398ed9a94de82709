"""BILLMSG frames byte for byte (docs/wire-format.md).

The expected bytes are built here by hand, field by field with `struct.pack_into` at the
offsets docs/wire-format.md states (copied as literals), into a zeroed bytearray: nothing of the
codec's own field tables or format strings is used to build them.

The golden frame files under `queue/golden/` are checked against the same hand-built
bytes. They are never rewritten by the tests; to regenerate them after an intended
format change, run from the repository root:

    PYTHONPATH=.:tests python tests/wire/test_codec.py --regenerate-golden
"""

from __future__ import annotations

import io
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from paths import GOLDEN_FRAMES

from simulator.wire import constants as c
from simulator.wire.codec import EncodeError, FrameCodec, FrameError, peek_header
from simulator.wire.layout import Framing, Layout
from simulator.wire.records import (
    AgentRec,
    DbRec,
    DocumentRec,
    Frame,
    HttpReqRec,
    MailRec,
    Oid,
    RawRec,
    Record,
    ReplRec,
    SessionID,
    SessionRec,
    Unid,
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

# --- docs/wire-format.md, as literals -------------------------------------------------------------

# (offset of TimeStamp, offset of rec, sizeof(BILLMSG), header size); Len@0, StructType@2,
# Class@4 and ServerName@8 are the same in both layouts.
HEADER: dict[Layout, tuple[int, int, int, int]] = {
    NATURAL: (268, 280, 1000, 276),
    PACKED: (265, 273, 983, 273),
}
REC_SIZE: dict[Layout, dict[str, int]] = {
    NATURAL: {
        "SESSIONREC": 336,
        "DBREC": 276,
        "REPLREC": 536,
        "DOCUMENT": 312,
        "MAILREC": 716,
        "AGENTREC": 16,
        "HTTPREQREC": 28,
    },
    PACKED: {
        "SESSIONREC": 335,
        "DBREC": 275,
        "REPLREC": 536,
        "DOCUMENT": 303,
        "MAILREC": 710,
        "AGENTREC": 14,
        "HTTPREQREC": 28,
    },
}
HTTP_OFFSETS = {
    "HttpContentLength": 0,
    "HttpReqTimeMs": 4,
    "HttpStatusCode": 8,
    "TimeStamp": 12,
    "AuthUser": 14,
    "Partner": 16,
    "Referer": 18,
    "ServerAddr": 20,
    "UserAgent": 22,
    "RequestLine": 24,
    "ContentType": 26,
}
OFFSETS: dict[Layout, dict[str, dict[str, int]]] = {
    NATURAL: {
        "SESSIONREC": {
            "SessionID": 0,
            "Action": 4,
            "Username": 6,
            "BytesIn": 264,
            "BytesOut": 268,
            "NetAdr": 272,
        },
        "DBREC": {"SessionID": 0, "Action": 4, "Username": 6, "DBOpenTime": 264, "ReplicaID": 268},
        "REPLREC": {
            "SessionID": 0,
            "BytesIn": 4,
            "BytesOut": 8,
            "ReplicaID": 12,
            "Source": 20,
            "Destination": 277,
            "Priority": 534,
        },
        "DOCUMENT": {"Type": 0, "ReplicaID": 4, "Username": 12, "OriginatorID": 272, "Charge": 304},
        "MAILREC": {
            "FormType": 0,
            "OriginatorID": 132,
            "OrigMessageID": 160,
            "MessageSize": 176,
            "HopName": 180,
            "Priority": 438,
            "RoutingState": 440,
            "Report": 442,
            "Originator": 444,
            "RecipientCount": 702,
            "RecipientSize": 704,
            "PostedDate": 708,
        },
        "AGENTREC": {"ULen": 0, "TLen": 2, "DLen": 4, "ElapsedRunTime": 8, "Flags": 12},
        "HTTPREQREC": HTTP_OFFSETS,
    },
    PACKED: {
        "SESSIONREC": {
            "SessionID": 0,
            "Action": 4,
            "Username": 6,
            "BytesIn": 263,
            "BytesOut": 267,
            "NetAdr": 271,
        },
        "DBREC": {"SessionID": 0, "Action": 4, "Username": 6, "DBOpenTime": 263, "ReplicaID": 267},
        "REPLREC": {
            "SessionID": 0,
            "BytesIn": 4,
            "BytesOut": 8,
            "ReplicaID": 12,
            "Source": 20,
            "Destination": 277,
            "Priority": 534,
        },
        "DOCUMENT": {"Type": 0, "ReplicaID": 2, "Username": 10, "OriginatorID": 267, "Charge": 295},
        "MAILREC": {
            "FormType": 0,
            "OriginatorID": 130,
            "OrigMessageID": 158,
            "MessageSize": 174,
            "HopName": 178,
            "Priority": 435,
            "RoutingState": 437,
            "Report": 439,
            "Originator": 441,
            "RecipientCount": 698,
            "RecipientSize": 700,
            "PostedDate": 702,
        },
        "AGENTREC": {"ULen": 0, "TLen": 2, "DLen": 4, "ElapsedRunTime": 6, "Flags": 10},
        "HTTPREQREC": HTTP_OFFSETS,
    },
}
# Struct types and classes (docs/wire-format.md "Constants").
STRUCT_TYPE = {
    "SESSIONREC": (1, 0x01),
    "REPLREC": (1001, 0x02),
    "DOCUMENT": (2001, 0x04),
    "MAILREC": (3001, 0x08),
    "DBREC": (4001, 0x10),
    "AGENTREC": (5001, 0x20),
    "HTTPREQREC": (6001, 0x40),
}
MAX_FRAME = 65326

# --- The canonical values (also those of the golden files; see queue/golden/README.md) ----

SERVER = "CN=Mail01/O=Acme"
JDN = 2461366  # 2026-11-21
STAMP = TimeDate(3_330_000, JDN)  # 2026-11-21T09:15:00.00Z
REPLICA = TimeDate(0x0052C1F0, 0x85258A3B)  # 85258A3B:0052C1F0
ORDERS_REPLICA = TimeDate(0x0052C1F1, 0x85258A3B)
DOC_OID = Oid(
    TimeDate(0x0052C1F1, 0x85258A3B),
    TimeDate(0x00002306, 0x00258EB6),
    7,
    TimeDate(3_240_000, JDN),  # 09:00:00.00
)
MAIL_OID = Oid(
    TimeDate(0x11223344, 0x85258A3B),
    TimeDate(0x55667788, 0x0099AABB),
    1,
    TimeDate(3_300_000, JDN),  # 09:10:00.00
)
MAIL_UNID = Unid(TimeDate(0x01020304, 0x05060708), TimeDate(0x090A0B0C, 0x0D0E0F10))

CANONICAL: dict[str, Record] = {
    "SESSIONREC": SessionRec(
        SessionID(3, 1), c.BILL_SESSION_START, "CN=Alice Smith/O=Acme", 400, 2200, "10.1.2.3"
    ),
    "DBREC": DbRec(SessionID(3, 1), c.BILL_DB_CLOSE, "CN=Alice Smith/O=Acme", 123_456, REPLICA),
    "REPLREC": ReplRec(
        SessionID(4, 2), 90_000, 1_200, ORDERS_REPLICA, "CN=Hub01/O=Acme", SERVER, 1
    ),
    "DOCUMENT": DocumentRec(
        c.BILLCHARGEREAD, ORDERS_REPLICA, "CN=Zoë Müller/O=Acme", DOC_OID, 0.05
    ),
    "MAILREC": MailRec(
        "Memo",
        MAIL_OID,
        MAIL_UNID,
        48_213,
        "CN=Hub01/O=Acme",
        1,
        c.MAIL_ROUTING_STATE["pending"],
        1,
        "CN=Alice Smith/O=Acme",
        2,
        TimeDate(3_300_000, JDN),
        ("CN=Bob Jones/O=Acme", "CN=Carol Diaz/O=Acme"),
    ),
    "AGENTREC": AgentRec(
        350, c.BILL_AGENT_PUBLIC, "CN=Alice Smith/O=Acme", "AMgr", "apps/orders.nsf"
    ),
    "HTTPREQREC": HttpReqRec(
        5120,
        35,
        200,
        "21/Nov/2026:09:15:00 +0000",
        None,
        "10.1.2.9",
        None,
        "127.0.0.1",
        "Mozilla/5.0",
        "GET /apps/orders.nsf/byDate?OpenView HTTP/1.1",
        "text/html",
    ),
}
KIND_NAMES = list(CANONICAL)

# --- The hand-built oracle ----------------------------------------------------------------


def _w16(buf: bytearray, at: int, value: int) -> None:
    struct.pack_into("<H", buf, at, value)


def _w32(buf: bytearray, at: int, value: int) -> None:
    struct.pack_into("<I", buf, at, value)


def _wnum(buf: bytearray, at: int, value: float) -> None:
    struct.pack_into("<d", buf, at, value)


def _wtd(buf: bytearray, at: int, value: TimeDate) -> None:
    _w32(buf, at, value.ticks)  # Innards[0]
    _w32(buf, at + 4, value.day_zone)  # Innards[1]


def _wsid(buf: bytearray, at: int, value: SessionID) -> None:
    _w16(buf, at, value.Index)
    _w16(buf, at + 2, value.SeqNo)


def _wunid(buf: bytearray, at: int, value: Unid) -> None:
    _wtd(buf, at, value.File)
    _wtd(buf, at + 8, value.Note)


def _woid(buf: bytearray, at: int, value: Oid) -> None:
    _wtd(buf, at, value.File)
    _wtd(buf, at + 8, value.Note)
    _w32(buf, at + 16, value.Sequence)
    _wtd(buf, at + 20, value.SequenceTime)


def _wstr(buf: bytearray, at: int, size: int, text: str) -> None:
    data = text.encode("utf-8")
    assert len(data) < size, "the oracle only builds valid frames"
    buf[at : at + len(data)] = data  # the rest of the array stays zero (the NUL included)


def _variable_data(rec: Record, rec_size: int) -> tuple[bytes, dict[str, int]]:
    """The bytes after the record struct, and the length/offset fields describing them."""
    if isinstance(rec, MailRec):
        data = ",".join(rec.Recipients).encode("utf-8")
        return data, {"RecipientSize": len(data)}
    if isinstance(rec, AgentRec):
        names = [rec.UserName.encode(), rec.TaskName.encode(), rec.DatabaseName.encode()]
        return b"".join(names), {
            "ULen": len(names[0]),
            "TLen": len(names[1]),
            "DLen": len(names[2]),
        }
    if isinstance(rec, HttpReqRec):
        data = b""
        offsets: dict[str, int] = {}
        for name in (
            "TimeStamp",
            "AuthUser",
            "Partner",
            "Referer",
            "ServerAddr",
            "UserAgent",
            "RequestLine",
            "ContentType",
        ):
            value = getattr(rec, name)
            if value is None:
                offsets[name] = 0
            else:
                offsets[name] = rec_size + len(data)  # from the first byte of HTTPREQREC
                data += value.encode() + b"\0"
        return data, offsets
    return b"", {}


def _write_record(
    buf: bytearray, base: int, o: dict[str, int], rec: Record, derived: dict[str, int]
) -> None:
    if isinstance(rec, SessionRec):
        _wsid(buf, base + o["SessionID"], rec.SessionID)
        _w16(buf, base + o["Action"], rec.Action)
        _wstr(buf, base + o["Username"], 257, rec.Username)
        _w32(buf, base + o["BytesIn"], rec.BytesIn)
        _w32(buf, base + o["BytesOut"], rec.BytesOut)
        _wstr(buf, base + o["NetAdr"], 64, rec.NetAdr)
    elif isinstance(rec, DbRec):
        _wsid(buf, base + o["SessionID"], rec.SessionID)
        _w16(buf, base + o["Action"], rec.Action)
        _wstr(buf, base + o["Username"], 257, rec.Username)
        _w32(buf, base + o["DBOpenTime"], rec.DBOpenTime)
        _wtd(buf, base + o["ReplicaID"], rec.ReplicaID)
    elif isinstance(rec, ReplRec):
        _wsid(buf, base + o["SessionID"], rec.SessionID)
        _w32(buf, base + o["BytesIn"], rec.BytesIn)
        _w32(buf, base + o["BytesOut"], rec.BytesOut)
        _wtd(buf, base + o["ReplicaID"], rec.ReplicaID)
        _wstr(buf, base + o["Source"], 257, rec.Source)
        _wstr(buf, base + o["Destination"], 257, rec.Destination)
        _w16(buf, base + o["Priority"], rec.Priority)
    elif isinstance(rec, DocumentRec):
        _w16(buf, base + o["Type"], rec.Type)
        _wtd(buf, base + o["ReplicaID"], rec.ReplicaID)
        _wstr(buf, base + o["Username"], 257, rec.Username)
        _woid(buf, base + o["OriginatorID"], rec.OriginatorID)
        _wnum(buf, base + o["Charge"], rec.Charge)
    elif isinstance(rec, MailRec):
        _wstr(buf, base + o["FormType"], 130, rec.FormType)
        _woid(buf, base + o["OriginatorID"], rec.OriginatorID)
        _wunid(buf, base + o["OrigMessageID"], rec.OrigMessageID)
        _w32(buf, base + o["MessageSize"], rec.MessageSize)
        _wstr(buf, base + o["HopName"], 257, rec.HopName)
        _w16(buf, base + o["Priority"], rec.Priority)
        _w16(buf, base + o["RoutingState"], rec.RoutingState)
        _w16(buf, base + o["Report"], rec.Report)
        _wstr(buf, base + o["Originator"], 257, rec.Originator)
        _w16(buf, base + o["RecipientCount"], rec.RecipientCount)
        _w16(buf, base + o["RecipientSize"], derived["RecipientSize"])
        _wtd(buf, base + o["PostedDate"], rec.PostedDate)
    elif isinstance(rec, AgentRec):
        _w16(buf, base + o["ULen"], derived["ULen"])
        _w16(buf, base + o["TLen"], derived["TLen"])
        _w16(buf, base + o["DLen"], derived["DLen"])
        _w32(buf, base + o["ElapsedRunTime"], rec.ElapsedRunTime)
        _w32(buf, base + o["Flags"], rec.Flags)
    elif isinstance(rec, HttpReqRec):
        _w32(buf, base + o["HttpContentLength"], rec.HttpContentLength)
        _w32(buf, base + o["HttpReqTimeMs"], rec.HttpReqTimeMs)
        _w32(buf, base + o["HttpStatusCode"], rec.HttpStatusCode)
        for name, offset in derived.items():
            _w16(buf, base + o[name], offset)
    else:  # pragma: no cover - the oracle knows the built-in kinds only
        raise AssertionError(rec)


def kind_name(rec: Record) -> str:
    return {
        SessionRec: "SESSIONREC",
        DbRec: "DBREC",
        ReplRec: "REPLREC",
        DocumentRec: "DOCUMENT",
        MailRec: "MAILREC",
        AgentRec: "AGENTREC",
        HttpReqRec: "HTTPREQREC",
    }[type(rec)]


def hand_frame(
    layout: Layout,
    framing: Framing,
    rec: Record,
    server: str = SERVER,
    stamp: TimeDate = STAMP,
) -> bytes:
    """The frame docs/wire-format.md describes, built without the codec."""
    name = kind_name(rec)
    timestamp_at, rec_at, billmsg_size, _ = HEADER[layout]
    rec_size = REC_SIZE[layout][name]
    var, derived = _variable_data(rec, rec_size)
    length = rec_at + rec_size + len(var)
    if framing is PAD:
        length = max(length, billmsg_size)
    buf = bytearray(length)
    struct_type, bill_class = STRUCT_TYPE[name]
    _w16(buf, 0, length)
    _w16(buf, 2, struct_type)
    _w32(buf, 4, bill_class)
    _wstr(buf, 8, 257, server)
    _wtd(buf, timestamp_at, stamp)
    _write_record(buf, rec_at, OFFSETS[layout][name], rec, derived)
    buf[rec_at + rec_size : rec_at + rec_size + len(var)] = var
    return bytes(buf)


_CODECS: dict[tuple[Layout, Framing], FrameCodec] = {}


def codec_for(layout: Layout, framing: Framing) -> FrameCodec:
    key = (layout, framing)
    if key not in _CODECS:
        _CODECS[key] = FrameCodec(layout, framing)
    return _CODECS[key]


def canonical_frame(name: str) -> Frame:
    struct_type, bill_class = STRUCT_TYPE[name]
    return Frame(struct_type, bill_class, SERVER, STAMP, CANONICAL[name])


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
    _w16(buf, at, value)
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
    expected = hand_frame(layout, framing, CANONICAL[name])
    assert codec.encode_record(CANONICAL[name], SERVER, STAMP) == expected
    assert codec.encode(canonical_frame(name)) == expected
    decoded = codec.decode(expected)
    assert decoded == canonical_frame(name)._replace(Len=len(expected))


@ALL
@pytest.mark.parametrize("name", KIND_NAMES)
def test_frame_length(layout: Layout, framing: Framing, name: str) -> None:
    data = codec_for(layout, framing).encode_record(CANONICAL[name], SERVER, STAMP)
    assert _word(data, 0) == len(data)
    fixed = HEADER[layout][1] + REC_SIZE[layout][name]
    var_len = {
        "MAILREC": len("CN=Bob Jones/O=Acme,CN=Carol Diaz/O=Acme"),
        "AGENTREC": len("CN=Alice Smith/O=AcmeAMgrapps/orders.nsf"),
        "HTTPREQREC": 27 + 9 + 10 + 12 + 46 + 10,
    }.get(name, 0)
    if framing is PAD:
        assert len(data) == max(HEADER[layout][2], fixed + var_len)
        # The canonical MAILREC (996 + 40, 983 + 40) is longer than sizeof(BILLMSG) already.
        long_mail = {NATURAL: 1036, PACKED: 1023}[layout]
        assert len(data) == (long_mail if name == "MAILREC" else HEADER[layout][2])
        assert data[fixed + var_len :] == bytes(len(data) - fixed - var_len)
    else:
        assert len(data) == fixed + var_len


def test_http_offsets_literal() -> None:
    """The canonical HTTPREQREC's offsets, counted by hand from the first byte of HTTPREQREC."""
    for layout in LAYOUTS:
        data = codec_for(layout, COMPACT).encode_record(CANONICAL["HTTPREQREC"], SERVER, STAMP)
        rec = HEADER[layout][1]
        offsets = [_word(data, rec + 12 + 2 * i) for i in range(8)]
        # TimeStamp (26 + NUL), AuthUser absent, Partner (8 + NUL), Referer absent,
        # ServerAddr (9 + NUL), UserAgent (11 + NUL), RequestLine (45 + NUL), ContentType.
        assert offsets == [28, 0, 55, 0, 64, 74, 86, 132]
        assert data[rec + 28 : rec + 55] == b"21/Nov/2026:09:15:00 +0000\0"
        assert data[rec + 132 :] == b"text/html\0"
        assert len(data) == rec + 142


def test_header_bytes_literal() -> None:
    data = codec_for(NATURAL, PAD).encode_record(CANONICAL["SESSIONREC"], SERVER, STAMP)
    assert data[:8] == bytes.fromhex("e8 03 01 00 01 00 00 00")
    assert data[8:24] == b"CN=Mail01/O=Acme"
    assert data[24:268] == bytes(244)
    assert data[268:276] == bytes.fromhex("d0 cf 32 00 b6 8e 25 00")
    assert data[276:280] == bytes(4)
    assert data[280:284] == bytes.fromhex("03 00 01 00")  # SessionID {3, 1}
    packed = codec_for(PACKED, COMPACT).encode_record(CANONICAL["SESSIONREC"], SERVER, STAMP)
    assert packed[:8] == bytes.fromhex("60 02 01 00 01 00 00 00")  # Len 608 = 273 + 335
    assert len(packed) == 608
    assert packed[265:273] == bytes.fromhex("d0 cf 32 00 b6 8e 25 00")


def test_mailrec_recipients_follow_the_struct() -> None:
    for layout in LAYOUTS:
        data = codec_for(layout, COMPACT).encode_record(CANONICAL["MAILREC"], SERVER, STAMP)
        fixed = HEADER[layout][1] + REC_SIZE[layout]["MAILREC"]
        o = OFFSETS[layout]["MAILREC"]
        rec = HEADER[layout][1]
        assert data[fixed:] == b"CN=Bob Jones/O=Acme,CN=Carol Diaz/O=Acme"  # no NUL
        assert _word(data, rec + o["RecipientSize"]) == 40
        assert _word(data, rec + o["RecipientCount"]) == 2


def test_agentrec_names_follow_the_struct() -> None:
    for layout in LAYOUTS:
        data = codec_for(layout, COMPACT).encode_record(CANONICAL["AGENTREC"], SERVER, STAMP)
        rec = HEADER[layout][1]
        assert [_word(data, rec + i) for i in (0, 2, 4)] == [21, 4, 15]
        assert data[rec + REC_SIZE[layout]["AGENTREC"] :] == (
            b"CN=Alice Smith/O=AcmeAMgrapps/orders.nsf"
        )


def test_mailrec_without_recipients() -> None:
    rec = CANONICAL["MAILREC"]
    assert isinstance(rec, MailRec)
    empty = rec._replace(Recipients=(), RecipientCount=0)
    for layout in LAYOUTS:
        for framing in FRAMINGS:
            data = codec_for(layout, framing).encode_record(empty, SERVER, STAMP)
            assert data == hand_frame(layout, framing, empty)
            assert codec_for(layout, framing).decode(data).rec == empty


def test_http_all_strings_absent_and_all_present() -> None:
    base = CANONICAL["HTTPREQREC"]
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
        assert len(compact) == HEADER[layout][1] + 28


# --- Padding and size limits ----------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
@pytest.mark.parametrize("recipient_bytes", [0, 1, 3, 4, 5, 2000])
def test_pad_union_mailrec_around_billmsg_size(layout: Layout, recipient_bytes: int) -> None:
    """Variable data starts right after the struct; padding only fills up to sizeof(BILLMSG)."""
    rec = CANONICAL["MAILREC"]
    assert isinstance(rec, MailRec)
    recipients = ("x" * recipient_bytes,) if recipient_bytes else ()
    long = rec._replace(Recipients=recipients, RecipientCount=len(recipients))
    fixed = HEADER[layout][1] + REC_SIZE[layout]["MAILREC"]
    billmsg = HEADER[layout][2]
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
    rec = CANONICAL["MAILREC"]
    assert isinstance(rec, MailRec)
    codec = codec_for(layout, framing)
    room = MAX_FRAME - HEADER[layout][1] - REC_SIZE[layout]["MAILREC"]
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
    agent = CANONICAL["AGENTREC"]
    assert isinstance(agent, AgentRec)
    room = MAX_FRAME - HEADER[layout][1] - REC_SIZE[layout]["AGENTREC"]
    fits = agent._replace(UserName="u" * 30_000, TaskName="t" * 30_000)
    fits = fits._replace(DatabaseName="d" * (room - 60_000))
    assert len(codec.encode_record(fits, SERVER, STAMP)) == MAX_FRAME
    with pytest.raises(EncodeError, match="MQ_MAX_MSGSIZE"):
        codec.encode_record(fits._replace(DatabaseName="d" * (room - 59_999)), SERVER, STAMP)
    with pytest.raises(EncodeError):
        codec.encode_record(agent._replace(UserName="u" * 70_000), SERVER, STAMP)
    http = CANONICAL["HTTPREQREC"]
    assert isinstance(http, HttpReqRec)
    with pytest.raises(EncodeError):
        codec.encode_record(http._replace(UserAgent="m" * MAX_FRAME), SERVER, STAMP)
    mail = CANONICAL["MAILREC"]
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
    at = HEADER[layout][1] + OFFSETS[layout][name][field]
    longest = "n" * (size - 1)  # 256, 63, 129 bytes: the NUL takes the last one
    rec = replaced(CANONICAL[name], field, longest)
    data = codec.encode_record(rec, SERVER, STAMP)
    assert data == hand_frame(layout, framing, rec)
    assert data[at : at + size] == longest.encode() + b"\0"
    assert codec.decode(data).rec == rec
    multibyte = "é" * ((size - 1) // 2) + "n" * ((size - 1) % 2)  # exactly size - 1 bytes
    assert codec.decode(codec.encode_record(replaced(rec, field, multibyte), SERVER, STAMP)).rec
    for too_long in ("n" * size, "é" * (size // 2 + 1), multibyte + "n"):
        with pytest.raises(EncodeError, match=field):
            codec.encode_record(replaced(rec, field, too_long), SERVER, STAMP)


@ALL
def test_server_name_limit(layout: Layout, framing: Framing) -> None:
    codec = codec_for(layout, framing)
    rec = CANONICAL["SESSIONREC"]
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
        rec = replaced(CANONICAL[name], field, value)
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
        codec.encode(canonical_frame("SESSIONREC")._replace(Class=2**32))
    with pytest.raises(EncodeError):
        codec.encode(canonical_frame("SESSIONREC")._replace(TimeStamp=TimeDate(-1, 0)))


def test_struct_type_must_match_the_record() -> None:
    codec = codec_for(NATURAL, PAD)
    wrong = canonical_frame("SESSIONREC")._replace(StructType=4001)
    with pytest.raises(EncodeError, match="4001"):
        codec.encode(wrong)
    with pytest.raises(EncodeError, match="999"):
        codec.encode(canonical_frame("DBREC")._replace(StructType=999))


def test_header_class_is_kept_on_encode() -> None:
    """`encode` writes the frame's own Class (the header says which class enabled it)."""
    codec = codec_for(PACKED, COMPACT)
    frame = canonical_frame("DBREC")._replace(Class=0x7F)
    data = codec.encode(frame)
    assert struct.unpack_from("<I", data, 4)[0] == 0x7F
    assert codec.decode(data) == frame._replace(Len=len(data))


# --- Decoding errors ------------------------------------------------------------------------


@ALL
@pytest.mark.parametrize("name", KIND_NAMES)
def test_truncated_frame(layout: Layout, framing: Framing, name: str) -> None:
    codec = codec_for(layout, framing)
    data = hand_frame(layout, framing, CANONICAL[name])
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
    header_size = HEADER[layout][3]
    data = hand_frame(layout, PAD, CANONICAL["SESSIONREC"])
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
    data = hand_frame(layout, COMPACT, CANONICAL["DBREC"])
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
    fixed = HEADER[layout][1] + REC_SIZE[layout][name]
    data = hand_frame(layout, framing, CANONICAL[name])
    short = _set_word(data, 0, fixed - 1)[: fixed - 1]
    with pytest.raises(FrameError, match=f"smaller than a {name}") as info:
        codec.decode(short)
    assert info.value.offset == 0


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
def test_recipient_size_past_len(layout: Layout) -> None:
    codec = codec_for(layout, COMPACT)
    data = hand_frame(layout, COMPACT, CANONICAL["MAILREC"])
    at = HEADER[layout][1] + OFFSETS[layout]["MAILREC"]["RecipientSize"]
    bad = _set_word(data, at, _word(data, at) + 1)
    with pytest.raises(FrameError, match="RecipientSize") as info:
        codec.decode(b"\0" * 7 + bad, 7)
    assert info.value.offset == 7
    # In a pad-union frame the recipients may run into the padding, never past Len.
    pad = codec_for(layout, PAD)
    padded = hand_frame(layout, PAD, CANONICAL["MAILREC"])
    beyond = len(padded) - HEADER[layout][1] - REC_SIZE[layout]["MAILREC"] + 1
    with pytest.raises(FrameError, match="RecipientSize"):
        pad.decode(_set_word(padded, at, beyond))


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
def test_agent_lengths_past_len(layout: Layout) -> None:
    codec = codec_for(layout, COMPACT)
    data = hand_frame(layout, COMPACT, CANONICAL["AGENTREC"])
    rec = HEADER[layout][1]
    for at in (rec, rec + 2, rec + 4):
        with pytest.raises(FrameError, match="ULen") as info:
            codec.decode(_set_word(data, at, _word(data, at) + 1))
        assert info.value.offset == 0


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
def test_http_offset_past_the_end(layout: Layout) -> None:
    codec = codec_for(layout, COMPACT)
    data = hand_frame(layout, COMPACT, CANONICAL["HTTPREQREC"])
    rec = HEADER[layout][1]
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
    data = hand_frame(layout, COMPACT, CANONICAL["HTTPREQREC"])
    cut = _set_word(data, 0, len(data) - 1)[:-1]  # ContentType loses its NUL
    with pytest.raises(FrameError, match="ContentType string has no NUL") as info:
        codec.decode(b"\0\0" + cut, 2)
    assert info.value.offset == 2


@ALL
def test_unknown_struct_type_is_raw(layout: Layout, framing: Framing) -> None:
    codec = codec_for(layout, framing)
    header_size = HEADER[layout][3]
    for struct_type in (0, 2, 999, 32001, 65535):
        data = _set_word(hand_frame(layout, framing, CANONICAL["REPLREC"]), 2, struct_type)
        frame = codec.decode(data)
        assert isinstance(frame.rec, RawRec)
        assert frame.rec.raw == data[header_size:]
        assert (frame.StructType, frame.Class, frame.ServerName) == (struct_type, 2, SERVER)
        assert frame.TimeStamp == STAMP
        assert frame.Len == len(data)
        assert codec.encode(frame) == data


def test_read_frames_names_the_bad_frame() -> None:
    codec = codec_for(NATURAL, COMPACT)
    good = [hand_frame(NATURAL, COMPACT, CANONICAL[name]) for name in KIND_NAMES[:3]]
    mail = hand_frame(NATURAL, COMPACT, CANONICAL["MAILREC"])
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
        assert [frame.rec for _, _, frame in seen] == [CANONICAL[n] for n in KIND_NAMES[:3]]


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

    data = b"".join(hand_frame(PACKED, PAD, CANONICAL[name]) for name in KIND_NAMES)
    frames = list(read_frames(Trickle(data), codec))  # type: ignore[arg-type]
    assert [frame.rec for _, _, frame in frames] == list(CANONICAL.values())
    assert b"".join(chunk for _, chunk, _ in frames) == data


# --- Golden files ---------------------------------------------------------------------------


def golden_bytes(layout: Layout, framing: Framing) -> bytes:
    """One frame of each type back to back, in the order of `CANONICAL`, from the oracle."""
    return b"".join(hand_frame(layout, framing, CANONICAL[name]) for name in KIND_NAMES)


@ALL
def test_peek_header_reads_len_and_struct_type_of_every_kind(
    layout: Layout, framing: Framing
) -> None:
    data = golden_bytes(layout, framing)
    offset = 0
    for name in KIND_NAMES:
        frame = hand_frame(layout, framing, CANONICAL[name])
        assert peek_header(data, offset) == (len(frame), _word(frame, 2))
        assert peek_header(frame) == (len(frame), _word(frame, 2))
        offset += len(frame)


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
        canonical_frame(name)._replace(Len=len(chunk))
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
                codec.encode_record(CANONICAL[name], SERVER, STAMP) for name in KIND_NAMES
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
