"""Sample BILLMSG frames the tests share: one record of each built-in kind, and their bytes
built by hand.

The values are those of the golden frames (queue/golden/README.md). `hand_frame` is the
oracle: it writes a frame field by field with `struct.pack_into` at the offsets
docs/wire-format.md states (copied here as literals), into a zeroed bytearray, using
nothing of the codec's own field tables or format strings.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from simulator.wire import constants as c
from simulator.wire.layout import Framing, Layout
from simulator.wire.records import (
    AgentRec,
    DbRec,
    DocumentRec,
    Frame,
    HttpReqRec,
    MailRec,
    Oid,
    Record,
    ReplRec,
    SessionID,
    SessionRec,
    Unid,
)
from simulator.wire.timedate import TimeDate

NATURAL = Layout.LINUX_X86_64
PACKED = Layout.WIN32
PAD = Framing.PAD_UNION

# --- docs/wire-format.md, as literals -------------------------------------------------------------


class Header(NamedTuple):
    """Where a layout puts the header's parts; Len@0, StructType@2, Class@4 and ServerName@8
    are the same in both layouts."""

    timestamp_at: int
    rec_at: int
    billmsg_size: int  # sizeof(BILLMSG)
    size: int  # the header's own bytes, TimeStamp's end


HEADER: dict[Layout, Header] = {
    NATURAL: Header(268, 280, 1000, 276),
    PACKED: Header(265, 273, 983, 273),
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

# --- The sample values (also those of the golden files; see queue/golden/README.md) -------

SERVER = "CN=Mail01/O=Acme"
SERVER_CN = "Mail01"  # SERVER's common name, as topics spell it
HUB = "CN=Hub01/O=Acme"
ALICE = "CN=Alice Smith/O=Acme"
BOB = "CN=Bob Jones/O=Acme"
CAROL = "CN=Carol Diaz/O=Acme"
ZOE = "CN=Zoë Müller/O=Acme"  # not ASCII: 22 bytes of UTF-8
JDN = 2461366  # 2026-11-21
STAMP = TimeDate(3_330_000, JDN)  # 2026-11-21T09:15:00.00Z
REPLICA = TimeDate(0x0052C1F0, 0x85258A3B)  # 85258A3B:0052C1F0, Alice's mail file
ORDERS_REPLICA = TimeDate(0x0052C1F1, 0x85258A3B)  # 85258A3B:0052C1F1, apps/orders.nsf
DOC_OID = Oid(
    ORDERS_REPLICA,
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
# Not zero (the simulator writes zero): a non-zero UNID pins the byte order of its halves.
MAIL_UNID = Unid(TimeDate(0x01020304, 0x05060708), TimeDate(0x090A0B0C, 0x0D0E0F10))

# One record of each built-in kind; typed, so a test can `_replace` a field of one.
SESSION_REC = SessionRec(SessionID(3, 1), c.BILL_SESSION_START, ALICE, 400, 2200, "10.1.2.3")
DB_REC = DbRec(SessionID(3, 1), c.BILL_DB_CLOSE, ALICE, 123_456, REPLICA)
REPL_REC = ReplRec(SessionID(4, 2), 90_000, 1_200, ORDERS_REPLICA, HUB, SERVER, 1)
DOC_REC = DocumentRec(c.BILLCHARGEREAD, ORDERS_REPLICA, ZOE, DOC_OID, 0.05)
MAIL_REC = MailRec(
    "Memo",
    MAIL_OID,
    MAIL_UNID,
    48_213,
    HUB,
    1,
    c.MAIL_ROUTING_STATE["pending"],
    1,
    ALICE,
    2,
    TimeDate(3_300_000, JDN),
    (BOB, CAROL),
)
AGENT_REC = AgentRec(350, c.BILL_AGENT_PUBLIC, ALICE, "AMgr", "apps/orders.nsf")
HTTP_REC = HttpReqRec(
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
)
# The same, by billing.h name, in the golden files' order.
RECORDS: dict[str, Record] = {
    "SESSIONREC": SESSION_REC,
    "DBREC": DB_REC,
    "REPLREC": REPL_REC,
    "DOCUMENT": DOC_REC,
    "MAILREC": MAIL_REC,
    "AGENTREC": AGENT_REC,
    "HTTPREQREC": HTTP_REC,
}
KIND_NAMES = list(RECORDS)
# STRUCT_TYPE by a record's Python type, for frames built record by record.
STRUCT_TYPE_OF: dict[type, tuple[int, int]] = {
    type(rec): STRUCT_TYPE[name] for name, rec in RECORDS.items()
}
# Each record as BillingWrite sends it: its struct type and class, SERVER, STAMP.
FRAMES: dict[str, Frame] = {
    name: Frame(*STRUCT_TYPE[name], SERVER, STAMP, rec) for name, rec in RECORDS.items()
}

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
