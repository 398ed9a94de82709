"""The BILLMSG header and record structs of billing.h, as Python values and C field tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from simulator.wire import constants as c
from simulator.wire.layout import (
    DBID,
    DWORD,
    NUMBER,
    OID,
    SESSIONID,
    TIMEDATE,
    UNID,
    WORD,
    CType,
    Field,
    char,
)
from simulator.wire.timedate import TimeDate


class SessionID(NamedTuple):
    Index: int
    SeqNo: int


class Unid(NamedTuple):
    File: TimeDate
    Note: TimeDate


class Oid(NamedTuple):
    File: TimeDate
    Note: TimeDate
    Sequence: int
    SequenceTime: TimeDate


class SessionRec(NamedTuple):
    SessionID: SessionID
    Action: int
    Username: str
    BytesIn: int
    BytesOut: int
    NetAdr: str


class DbRec(NamedTuple):
    SessionID: SessionID
    Action: int
    Username: str
    DBOpenTime: int
    ReplicaID: TimeDate


class ReplRec(NamedTuple):
    SessionID: SessionID
    BytesIn: int
    BytesOut: int
    ReplicaID: TimeDate
    Source: str
    Destination: str
    Priority: int


class DocumentRec(NamedTuple):
    Type: int
    ReplicaID: TimeDate
    Username: str
    OriginatorID: Oid
    Charge: float


class MailRec(NamedTuple):
    """MAILREC; RecipientSize is derived from `Recipients`, which follow the struct."""

    FormType: str
    OriginatorID: Oid
    OrigMessageID: Unid
    MessageSize: int
    HopName: str
    Priority: int
    RoutingState: int
    Report: int
    Originator: str
    RecipientCount: int
    PostedDate: TimeDate
    Recipients: tuple[str, ...]


class AgentRec(NamedTuple):
    """AGENTREC; ULen, TLen and DLen are derived from the three names that follow it."""

    ElapsedRunTime: int
    Flags: int
    UserName: str
    TaskName: str
    DatabaseName: str


class HttpReqRec(NamedTuple):
    """HTTPREQREC; the eight offsets are derived from which strings are present (None = absent)."""

    HttpContentLength: int
    HttpReqTimeMs: int
    HttpStatusCode: int
    TimeStamp: str | None
    AuthUser: str | None
    Partner: str | None
    Referer: str | None
    ServerAddr: str | None
    UserAgent: str | None
    RequestLine: str | None
    ContentType: str | None


class CustomRec(NamedTuple):
    """A record of a scenario-declared custom type: values in the order of its field table."""

    values: tuple[object, ...]


class RawRec(NamedTuple):
    """The bytes after the header of a frame whose struct type no table describes."""

    raw: bytes


Record = (
    SessionRec
    | DbRec
    | ReplRec
    | DocumentRec
    | MailRec
    | AgentRec
    | HttpReqRec
    | CustomRec
    | RawRec
)


class Frame(NamedTuple):
    """One BILLMSG: the header and its record. `Len` is filled in by encoding or decoding."""

    StructType: int
    Class: int
    ServerName: str
    TimeStamp: TimeDate
    rec: Record
    Len: int = 0


USERNAME = char(c.MAXUSERNAME + 1)

HEADER_FIELDS: tuple[Field, ...] = (
    ("Len", WORD),
    ("StructType", WORD),
    ("Class", DWORD),
    ("ServerName", USERNAME),
    ("TimeStamp", TIMEDATE),
)

HTTP_STRING_NAMES: tuple[str, ...] = (
    "TimeStamp",
    "AuthUser",
    "Partner",
    "Referer",
    "ServerAddr",
    "UserAgent",
    "RequestLine",
    "ContentType",
)
HTTP_OFFSET_NAMES: tuple[str, ...] = tuple(f"Http{name}Offset" for name in HTTP_STRING_NAMES)
AGENT_STRING_NAMES: tuple[str, ...] = ("UserName", "TaskName", "DatabaseName")
AGENT_LENGTH_NAMES: tuple[str, ...] = ("ULen", "TLen", "DLen")


@dataclass(frozen=True, slots=True)
class RecordKind:
    """One struct type: its C field table, its default class and the Python type of its values.

    `derived` names the fields the codec computes from the variable data instead of
    taking them from the Python value.
    """

    name: str
    struct_type: int
    bill_class: int
    fields: tuple[Field, ...]
    python_type: type
    derived: tuple[str, ...] = ()


SESSIONREC = RecordKind(
    "SESSIONREC",
    c.BILL_SESSIONREC,
    c.BILL_CLASS_SESSION,
    (
        ("SessionID", SESSIONID),
        ("Action", WORD),
        ("Username", USERNAME),
        ("BytesIn", DWORD),
        ("BytesOut", DWORD),
        ("NetAdr", char(c.MAXNETADR)),
    ),
    SessionRec,
)
DBREC = RecordKind(
    "DBREC",
    c.BILL_DBREC,
    c.BILL_CLASS_DATABASE,
    (
        ("SessionID", SESSIONID),
        ("Action", WORD),
        ("Username", USERNAME),
        ("DBOpenTime", DWORD),
        ("ReplicaID", DBID),
    ),
    DbRec,
)
REPLREC = RecordKind(
    "REPLREC",
    c.BILL_REPLREC,
    c.BILL_CLASS_REPLICATION,
    (
        ("SessionID", SESSIONID),
        ("BytesIn", DWORD),
        ("BytesOut", DWORD),
        ("ReplicaID", DBID),
        ("Source", USERNAME),
        ("Destination", USERNAME),
        ("Priority", WORD),
    ),
    ReplRec,
)
DOCUMENT = RecordKind(
    "DOCUMENT",
    c.BILL_DOCCHARGE,
    c.BILL_CLASS_DOCUMENT,
    (
        ("Type", WORD),
        ("ReplicaID", DBID),
        ("Username", USERNAME),
        ("OriginatorID", OID),
        ("Charge", NUMBER),
    ),
    DocumentRec,
)
MAILREC = RecordKind(
    "MAILREC",
    c.BILL_MAILREC,
    c.BILL_CLASS_MAIL,
    (
        ("FormType", char(c.DESIGN_NAME_MAX)),
        ("OriginatorID", OID),
        ("OrigMessageID", UNID),
        ("MessageSize", DWORD),
        ("HopName", USERNAME),
        ("Priority", WORD),
        ("RoutingState", WORD),
        ("Report", WORD),
        ("Originator", USERNAME),
        ("RecipientCount", WORD),
        ("RecipientSize", WORD),
        ("PostedDate", TIMEDATE),
    ),
    MailRec,
    derived=("RecipientSize",),
)
AGENTREC = RecordKind(
    "AGENTREC",
    c.BILL_AGENTREC,
    c.BILL_CLASS_AGENT,
    (
        ("ULen", WORD),
        ("TLen", WORD),
        ("DLen", WORD),
        ("ElapsedRunTime", DWORD),
        ("Flags", DWORD),
    ),
    AgentRec,
    derived=AGENT_LENGTH_NAMES,
)
HTTPREQREC = RecordKind(
    "HTTPREQREC",
    c.BILL_HTTPREQREC,
    c.BILL_CLASS_HTTPREQUEST,
    (
        ("HttpContentLength", DWORD),
        ("HttpReqTimeMs", DWORD),
        ("HttpStatusCode", DWORD),
        *((name, WORD) for name in HTTP_OFFSET_NAMES),
    ),
    HttpReqRec,
    derived=HTTP_OFFSET_NAMES,
)

BUILTIN_KINDS: tuple[RecordKind, ...] = (
    SESSIONREC,
    REPLREC,
    DOCUMENT,
    MAILREC,
    DBREC,
    AGENTREC,
    HTTPREQREC,
)


def custom_kind(
    name: str, struct_type: int, bill_class: int, fields: tuple[tuple[str, CType], ...]
) -> RecordKind:
    """A BILLMNGR-style extension record declared by a scenario."""
    if not c.CUSTOM_STRUCT_TYPE_MIN <= struct_type <= c.CUSTOM_STRUCT_TYPE_MAX:
        raise ValueError(
            f"custom struct types are {c.CUSTOM_STRUCT_TYPE_MIN}..{c.CUSTOM_STRUCT_TYPE_MAX}, "
            f"not {struct_type}"
        )
    return RecordKind(name, struct_type, bill_class, fields, CustomRec)
