"""Received frames -> relational rows: one table per record type, the C field names as columns.

The schema is defined here once (docs/addin.md shows it): every store that keeps rows
(SQLite, PostgreSQL) creates its tables from `Table` and maps each `ColumnType` to its own
SQL type. A frame is read through its JSON form (`simulator.wire.jsonform`), so a row holds
the values `decode` shows: ids and TIMEDATEs other than the header's as their JSON text
(lossless, zone bits included), SESSIONID and OID split into a column per part, the
variable data (Recipients, the AGENTREC names, the HTTP strings) as text columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from simulator.addin.store import Received, Rejected
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder, JsonObject, value_from_json
from simulator.wire.layout import NUMBER, CType
from simulator.wire.records import (
    AGENT_STRING_NAMES,
    BUILTIN_KINDS,
    HTTP_STRING_NAMES,
    AgentRec,
    HttpReqRec,
    MailRec,
    RawRec,
    RecordKind,
)
from simulator.wire.timedate import datetime_from_timedate, parse_timedate


class ColumnType(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    REAL = "real"
    TIMESTAMP = "timestamp"
    BYTES = "bytes"


Column = tuple[str, ColumnType]


@dataclass(frozen=True, slots=True)
class Table:
    """A table's name and its columns in order; `keyed`: (server, run, seq) is unique in it."""

    name: str
    columns: tuple[Column, ...]
    keyed: bool = True

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


TEXT = ColumnType.TEXT
INTEGER = ColumnType.INTEGER
REAL = ColumnType.REAL
TIMESTAMP = ColumnType.TIMESTAMP
BYTES = ColumnType.BYTES

# Who sent the frame and when: the store's key (server, run, seq) and the times.
META_COLUMNS: tuple[Column, ...] = (
    ("server", TEXT),
    ("run", TEXT),
    ("seq", INTEGER),
    ("time_stamp", TIMESTAMP),
    ("received_at", TIMESTAMP),
    ("sent", TIMESTAMP),
)
# The BILLMSG header; its TimeStamp is `time_stamp` above, as a timestamp.
HEADER_COLUMNS: tuple[Column, ...] = (
    ("Len", INTEGER),
    ("StructType", INTEGER),
    ("Class", INTEGER),
    ("ServerName", TEXT),
)
RESERVED = frozenset(name.lower() for name, _ in (*META_COLUMNS, *HEADER_COLUMNS, ("id", INTEGER)))

REJECTS = Table(
    "rejects",
    (
        ("server", TEXT),
        ("run", TEXT),
        ("seq", INTEGER),
        ("topic", TEXT),
        ("payload", BYTES),
        ("reason", TEXT),
        ("received_at", TIMESTAMP),
    ),
    keyed=False,
)
# A custom struct type no `--scenario` declared: its bytes after the header, as received.
RAW_CUSTOM = Table("custom", (*META_COLUMNS, *HEADER_COLUMNS, ("raw", BYTES)))

_PARTS: dict[str, tuple[Column, ...]] = {
    "sessionid": (("Index", INTEGER), ("SeqNo", INTEGER)),
    "oid": (("File", TEXT), ("Note", TEXT), ("Sequence", INTEGER), ("SequenceTime", TEXT)),
}
_SCALAR: dict[str, ColumnType] = {
    "int": INTEGER,
    "float": REAL,
    "str": TEXT,
    "time": TEXT,
    "id": TEXT,
    "unid": TEXT,
}


def _field_columns(name: str, ctype: CType) -> tuple[Column, ...]:
    parts = _PARTS.get(ctype.kind)
    if parts is None:
        return ((name, _SCALAR[ctype.kind]),)
    return tuple((f"{name}_{part}", kind) for part, kind in parts)


def _variable_columns(kind: RecordKind) -> tuple[Column, ...]:
    if kind.python_type is MailRec:
        return (("Recipients", TEXT),)
    if kind.python_type is AgentRec:
        return tuple((name, TEXT) for name in AGENT_STRING_NAMES)
    if kind.python_type is HttpReqRec:
        return tuple((name, TEXT) for name in HTTP_STRING_NAMES)
    return ()


# A declared custom type's table: `custom_` and its name.
CUSTOM_TABLE_PREFIX = "custom_"


def table_name(kind: RecordKind) -> str:
    """`sessionrec`, `dbrec`, …; a declared custom type's is `custom_` and its name."""
    name = kind.name.lower()
    return name if kind in BUILTIN_KINDS else f"{CUSTOM_TABLE_PREFIX}{name}"


_CLASS_OF_TABLE: dict[str, str] = {
    table_name(kind): c.CLASS_TOPIC_NAME[kind.bill_class] for kind in BUILTIN_KINDS
}


def table_class(table: Table) -> str:
    """The class (as topics name it) of the frames a table holds; `custom` for custom types."""
    return _CLASS_OF_TABLE.get(table.name, "custom")


def identity_of(name: str) -> Table:
    """What every frame table `name` has: who sent the frame and when, and its header; all
    a reader that does not know a custom type's fields can take from its table."""
    return Table(name, (*META_COLUMNS, *HEADER_COLUMNS))


def kind_table(kind: RecordKind) -> Table:
    columns = [column for name, ctype in kind.fields for column in _field_columns(name, ctype)]
    columns += _variable_columns(kind)
    return Table(table_name(kind), (*META_COLUMNS, *HEADER_COLUMNS, *columns))


BUILTIN_TABLES: tuple[Table, ...] = tuple(kind_table(kind) for kind in BUILTIN_KINDS)


def _fits(kind: RecordKind) -> bool:
    """A declared custom type whose field names clash with the reserved columns (SQL names
    ignore case) is kept in the raw `custom` table instead."""
    names = [name.lower() for name, _ in kind_table(kind).columns[len(META_COLUMNS) :]]
    return not RESERVED & set(names[len(HEADER_COLUMNS) :]) and len(set(names)) == len(names)


def _timestamp(us: int | None) -> datetime | None:
    return None if us is None else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def _field_values(kind: RecordKind, rec: JsonObject) -> list[Any]:
    values: list[Any] = []
    for name, ctype in kind.fields:
        value = rec[name]
        match ctype.kind:
            case "sessionid":
                values += (value["Index"], value["SeqNo"])
            case "oid":
                values += (value["File"], value["Note"], value["Sequence"], value["SequenceTime"])
            case "float":
                values.append(value_from_json(NUMBER, value))
            case _:
                values.append(value)
    if kind.python_type is MailRec:
        values.append(",".join(rec["Recipients"]))
    elif kind.python_type in (AgentRec, HttpReqRec):
        names = AGENT_STRING_NAMES if kind.python_type is AgentRec else HTTP_STRING_NAMES
        values += (rec[name] for name in names)
    return values


class RowMaker:
    """Frames -> (table, row) for one codec (its layout and its declared custom types)."""

    def __init__(self, decoder: JsonDecoder) -> None:
        self._decoder = decoder
        self._kinds: dict[int, tuple[Table, RecordKind]] = {}
        for struct_type, kind_codec in decoder.codec.by_struct_type.items():
            if _fits(kind_codec.kind):
                self._kinds[struct_type] = (kind_table(kind_codec.kind), kind_codec.kind)

    @property
    def codec(self) -> FrameCodec:
        return self._decoder.codec

    @property
    def tables(self) -> tuple[Table, ...]:
        """Every table this maker can fill, rejects included."""
        return (*(table for table, _ in self._kinds.values()), RAW_CUSTOM, REJECTS)

    def row(self, item: Received) -> tuple[Table, tuple[Any, ...]]:
        """The table and row of a received frame; ValueError (FrameError) if it does not read."""
        obj = self._decoder(item.frame)
        meta = (
            item.server,
            item.run,
            item.seq,
            datetime_from_timedate(parse_timedate(obj["TimeStamp"])),
            _timestamp(item.received_us),
            _timestamp(item.sent_us),
            obj["Len"],
            obj["StructType"],
            obj["Class"],
            obj["ServerName"],
        )
        known = self._kinds.get(obj["StructType"])
        if known is None:
            raw = self._decoder.codec.decode_raw(item.frame, 0, obj["Len"]).rec
            assert isinstance(raw, RawRec)
            return RAW_CUSTOM, (*meta, raw.raw)
        table, kind = known
        return table, (*meta, *_field_values(kind, obj["rec"]))


def reject_row(item: Rejected) -> tuple[Any, ...]:
    return (
        item.server,
        item.run,
        item.seq,
        item.topic,
        item.payload,
        item.reason,
        _timestamp(item.received_us),
    )


def rejected(item: Received, reason: str) -> Rejected:
    """A received frame that makes no row (it does not decode under the store's layout)."""
    return Rejected(
        item.server, item.run, item.seq, item.topic, item.frame, reason, item.received_us
    )


def rows_by_table(
    maker: RowMaker, items: Iterable[Received | Rejected]
) -> tuple[dict[Table, list[tuple[Any, ...]]], int]:
    """Group a batch's rows by table; returns them and how many became rejects."""
    out: dict[Table, list[tuple[Any, ...]]] = {}
    rejects = 0
    for item in items:
        if isinstance(item, Received):
            try:
                table, row = maker.row(item)
            except ValueError as error:
                refused = rejected(item, f"does not decode: {error}")
            else:
                out.setdefault(table, []).append(row)
                continue
        else:
            refused = item
        rejects += 1
        out.setdefault(REJECTS, []).append(reject_row(refused))
    return out, rejects
