"""Received frames -> relational rows: one table per record type, the C field names as columns.

The schema is defined here once (docs/addin.md shows it): every store that keeps rows
(SQLite, PostgreSQL) creates its tables from `Table` and maps each `ColumnType` to its own
SQL type. A row holds the values `decode` shows in the JSON form (`simulator.wire.jsonform`):
ids and TIMEDATEs other than the header's as their JSON text (lossless, zone bits
included), SESSIONID and OID split into a column per part, the variable data (Recipients,
the AGENTREC names, the HTTP strings) as text columns. Each record kind's frames are read
by a function generated from its field table: one `struct` unpack, each column's value
made straight from the unpacked values, with neither the JSON form nor text round trips.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from operator import itemgetter
from typing import Any, NamedTuple

from simulator.addin.store import NO_SERVER, Received, Rejected
from simulator.wire import constants as c
from simulator.wire.codec import LEN_AND_TYPE, FrameCodec, FrameError, KindCodec
from simulator.wire.jsonform import JsonDecoder
from simulator.wire.layout import CType
from simulator.wire.records import (
    AGENT_LENGTH_NAMES,
    AGENT_STRING_NAMES,
    BUILTIN_KINDS,
    HEADER_FIELDS,
    HTTP_STRING_NAMES,
    AgentRec,
    HttpReqRec,
    MailRec,
    RawRec,
    RecordKind,
)
from simulator.wire.text import SHOWN_ERRORS, as_stored
from simulator.wire.timedate import (
    FIRST_DATETIME_JDN,
    JDN_OF_UNIX_EPOCH,
    JULIAN_DAY_MASK,
    LAST_DATETIME_JDN,
    MICROSECONDS_PER_DAY,
    MICROSECONDS_PER_TICK,
    TICKS_PER_DAY,
    format_innards,
    unix_us_from_innards,
)

Buffer = bytes | bytearray | memoryview
_len_and_type = LEN_AND_TYPE.unpack_from
_MAX_LEN = c.MQ_MAX_MSGSIZE


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
)
"""Keyed as frames are: a redelivered reject (a frame cut short that the broker sends
again) is a duplicate, not a second reject; one without run and seq has NULLs there,
which never collide, so every copy of it is kept."""
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


def _fits(kind: RecordKind) -> bool:
    """A declared custom type whose field names clash with the reserved columns (SQL names
    ignore case) is kept in the raw `custom` table instead."""
    names = [name.lower() for name, _ in kind_table(kind).columns[len(META_COLUMNS) :]]
    return not RESERVED & set(names[len(HEADER_COLUMNS) :]) and len(set(names)) == len(names)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def datetime_from_us(us: int) -> datetime:
    """A timestamp column's value as a time: µs since the Unix epoch -> an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=us)


def us_from_datetime(moment: datetime) -> int:
    return (moment - _EPOCH) // _ONE_US


def _timestamp(us: int | None) -> datetime | None:
    return None if us is None else datetime_from_us(us)


class FrameRow(NamedTuple):
    """A frame read into its row, but for who sent it and when it arrived: the table, the
    header TimeStamp (µs since the Unix epoch) and the columns from `Len` on. The intake
    reads each frame once (`RowMaker.read`); the stores take the row from here."""

    maker: RowMaker
    table: Table
    time_stamp_us: int
    values: tuple[Any, ...]


Reader = Callable[[Buffer, int], FrameRow]

# The Python source of a C field's column values, from the unpacked values `v0`, `v1`, …,
# as the JSON form (`simulator.wire.jsonform`) writes them: the same text for ids and
# TIMEDATEs, the parts of a SESSIONID and an OID apart, a NUMBER as the double it is.
# A text field's and an id's value is looked up by its raw value first: most repeat (the
# server, the users, the databases), and a look-up costs a fraction of the partition and
# decode or the '%08X' formatting it saves (callgrind).
_TEXT = "(texts.get(v{0}) or _text(v{0}))"
_ID = "(ids.get((v{1}, v{0})) or _id(v{1}, v{0}))"
# Past this many, a cache starts again: ~6 MB of the longest names at most.
_CACHE_KEPT = 16384
_TEXTS: dict[bytes, str] = {}
_IDS: dict[tuple[int, int], str] = {}


def _text(raw: bytes) -> str:
    """A fixed-width text field's value: up to its first NUL, undecodable bytes as `\\udcXX`."""
    if len(_TEXTS) >= _CACHE_KEPT:
        _TEXTS.clear()
    text = _TEXTS[raw] = raw.partition(b"\0")[0].decode("utf-8", SHOWN_ERRORS)
    return text


def _id(high: int, low: int) -> str:
    """An id's (a replica or note id's) text, its high DWORD first, as the JSON form has it."""
    if len(_IDS) >= _CACHE_KEPT:
        _IDS.clear()
    text = _IDS[high, low] = f"{high:08X}:{low:08X}"
    return text


def _column_exprs(ctype: CType, index: int) -> tuple[list[str], int]:
    """The source of a field's column values, and how many unpacked values it uses."""
    i = index
    match ctype.kind:
        case "int" | "float":
            return [f"v{i}"], 1
        case "str":
            return [_TEXT.format(i)], 1
        case "time":
            return [f"_time(v{i}, v{i + 1})"], 2
        case "id":
            return [_ID.format(i, i + 1)], 2
        case "sessionid":
            return [f"v{i}", f"v{i + 1}"], 2
        case "unid":
            return [f"'%08X%08X%08X%08X' % (v{i + 1}, v{i}, v{i + 3}, v{i + 2})"], 4
        case "oid":
            exprs = [_ID.format(i, i + 1), _ID.format(i + 2, i + 3), f"v{i + 4}"]
            return [*exprs, f"_time(v{i + 5}, v{i + 6})"], 7
    raise AssertionError(ctype)  # pragma: no cover


def _variable_lines(kind_codec: KindCodec, columns: dict[str, str]) -> tuple[list[str], list[str]]:
    """Source that reads the variable data after the struct, with the checks (and the
    messages) of the codec's decoder; and the source of its column values."""
    kind, tail = kind_codec.kind, kind_codec.fixed_size
    if kind.python_type is MailRec:
        lines = [
            f"    end = {tail} + {columns['RecipientSize']}",
            "    if end > length: _short(length, end, 'RecipientSize')",
            f"    recipients = bytes(buf[{tail}:end]).decode('utf-8', SHOWN_ERRORS)",
        ]
        return lines, ["recipients"]
    if kind.python_type is AgentRec:
        lengths = [columns[name] for name in AGENT_LENGTH_NAMES]
        lines = [
            f"    p = {tail}",
            f"    q = p + {lengths[0]}",
            f"    r = q + {lengths[1]}",
            f"    end = r + {lengths[2]}",
            "    if end > length: _short(length, end, 'ULen + TLen + DLen')",
        ]
        spans = [("p", "q"), ("q", "r"), ("r", "end")]
        return lines, [f"bytes(buf[{a}:{b}]).decode('utf-8', SHOWN_ERRORS)" for a, b in spans]
    if kind.python_type is HttpReqRec:
        # Rare enough to read through the codec, whose decoder follows the eight offsets.
        lines = ["    strings = decode(buf, 0, length).rec[3:]"]
        return lines, [f"_stored(strings[{i}])" for i in range(len(HTTP_STRING_NAMES))]
    return [], []


def _stored_or_none(text: str | None) -> str | None:
    """An HTTP string as the text columns hold names: a byte that is not UTF-8 as `\\udcXX`."""
    return None if text is None else as_stored(text)


def _short(length: int, needed: int, what: str) -> None:
    raise FrameError(f"Len {length} is too small for the variable data ({what} needs {needed})")


def _compile_reader(maker: RowMaker, kind_codec: KindCodec, table: Table) -> Reader:
    """A function from a frame of one record kind (at offset 0, its Len checked) to its
    FrameRow: one `unpack_from`, then each column's value from the unpacked values."""
    index = 0
    header: dict[str, list[str]] = {}
    stamp: list[str] = []  # the TimeStamp as µs since the Unix epoch, in `stamp`
    for name, ctype in HEADER_FIELDS:
        if name == "TimeStamp":
            # unix_us_from_innards inline for a plain time of day and date; it is called
            # (and says what is wrong) for anything else.
            ticks, day_zone = f"v{index}", f"v{index + 1}"
            first, last = FIRST_DATETIME_JDN, LAST_DATETIME_JDN
            stamp = [
                f"    day = {day_zone} & {JULIAN_DAY_MASK}",
                f"    if {ticks} < {TICKS_PER_DAY} and {first} <= day <= {last}:",
                f"        stamp = (day - {JDN_OF_UNIX_EPOCH}) * {MICROSECONDS_PER_DAY} + {ticks} * "
                f"{MICROSECONDS_PER_TICK}",
                "    else:",
                f"        stamp = _stamp_us({ticks}, {day_zone})",
            ]
        exprs, used = _column_exprs(ctype, index)
        header[name] = exprs
        index += used
    record: dict[str, list[str]] = {}
    for name, ctype in kind_codec.kind.fields:
        record[name], used = _column_exprs(ctype, index)
        index += used
    lines, variable = _variable_lines(kind_codec, {k: v[0] for k, v in record.items()})
    values = [
        *header["Len"],
        *header["StructType"],
        *header["Class"],
        *header["ServerName"],
        *(expr for exprs in record.values() for expr in exprs),
        *variable,
    ]
    source = [
        "def read(buf, length):",
        f"    {''.join(f'v{i}, ' for i in range(index))}= unpack_from(buf, 0)",
        *lines,
        *stamp,
        f"    return new(FrameRow, (maker, table, stamp, ({', '.join(values)},)))",
    ]
    namespace: dict[str, Any] = {
        "unpack_from": kind_codec.struct.unpack_from,
        "decode": kind_codec.decode,
        "_time": format_innards,
        "texts": _TEXTS,
        "_text": _text,
        "ids": _IDS,
        "_id": _id,
        "_stamp_us": unix_us_from_innards,
        "_short": _short,
        "_stored": _stored_or_none,
        "SHOWN_ERRORS": SHOWN_ERRORS,
        "FrameRow": FrameRow,
        "new": tuple.__new__,  # FrameRow's own __new__ is a call more
        "maker": maker,
        "table": table,
    }
    exec("\n".join(source), namespace)
    reader: Reader = namespace["read"]
    return reader


class RowMaker:
    """Frames -> (table, row) for one codec (its layout and its declared custom types).

    The add-in's intake reads each frame once with its maker; stores given that maker take
    the rows as read. (A JsonDecoder stands for its codec: the JSON form is how this class
    read frames before it read them itself.)
    """

    def __init__(self, codec: FrameCodec | JsonDecoder) -> None:
        self.codec: FrameCodec = codec.codec if isinstance(codec, JsonDecoder) else codec
        self._kinds: dict[int, Table] = {}
        # Struct type -> (the smallest Len of its frames, its reader): what `read` reads
        # with, for a frame of at least that Len and at most MQ_MAX_MSGSIZE, at offset 0,
        # no longer than its buffer; the reader raises what `read` says (FrameError, or
        # ValueError for a TimeStamp that names no time).
        self.readers: dict[int, tuple[int, Reader]] = {}
        for struct_type, kind_codec in self.codec.by_struct_type.items():
            if _fits(kind_codec.kind):
                table = self._kinds[struct_type] = kind_table(kind_codec.kind)
                reader = _compile_reader(self, kind_codec, table)
                self.readers[struct_type] = (kind_codec.fixed_size, reader)

    @property
    def tables(self) -> tuple[Table, ...]:
        """Every table this maker can fill, rejects included."""
        return (*self._kinds.values(), RAW_CUSTOM, REJECTS)

    def read(self, frame: Buffer) -> FrameRow:
        """The frame (its first Len bytes) read into its row: FrameError if it does not
        decode, as `FrameCodec.decode` says it; ValueError if its TimeStamp names no time."""
        end = len(frame)
        if end >= 4:
            length, struct_type = _len_and_type(frame, 0)
            known = self.readers.get(struct_type)
            if known is not None and known[0] <= length <= _MAX_LEN and length <= end:
                try:
                    return known[1](frame, length)
                except FrameError as error:
                    raise FrameError(error.message, 0) from None
        # Anything else is read, or refused with the reason, as the codec does it.
        length, kind_codec = self.codec.locate(frame, 0)
        if kind_codec is not None:
            self.codec.decode(frame, 0)  # a declared type kept raw must still decode
        raw = self.codec.decode_raw(frame, 0, length)
        assert isinstance(raw.rec, RawRec)
        stamp = unix_us_from_innards(*raw.TimeStamp)
        values = (raw.Len, raw.StructType, raw.Class, as_stored(raw.ServerName), raw.rec.raw)
        return FrameRow(self, RAW_CUSTOM, stamp, values)

    def row(self, item: Received) -> tuple[Table, tuple[Any, ...]]:
        """The table and row of a received frame, its times as datetimes; ValueError
        (FrameError) if it does not read."""
        read = item.frame_row
        if read is None or read.maker is not self:
            read = self.read(item.frame)
        meta = (
            item.server,
            item.run,
            item.seq,
            datetime_from_us(read.time_stamp_us),
            datetime_from_us(item.received_us),
            _timestamp(item.sent_us),
        )
        return read.table, meta + read.values


Stamp = Callable[[int], Any]
"""How a store writes a time: from µs since the Unix epoch to the value it binds."""


def reject_row(item: Rejected, stamp: Stamp = datetime_from_us) -> tuple[Any, ...]:
    return (
        item.server,
        item.run,
        item.seq,
        item.topic,
        item.payload,
        item.reason,
        stamp(item.received_us),
    )


def rejected(item: Received, reason: str) -> Rejected:
    """A received frame that makes no row (it does not decode under the store's layout)."""
    return Rejected(
        item.server, item.run, item.seq, item.topic, item.frame, reason, item.received_us
    )


def _restamped(row: tuple[Any, ...], stamp: Stamp) -> tuple[Any, ...]:
    """A row of `RowMaker.row`, its times (time_stamp, received_at, sent) as `stamp` writes them."""
    times = tuple(None if time is None else stamp(us_from_datetime(time)) for time in row[3:6])
    return row[:3] + times + row[6:]


def rows_by_table(
    maker: RowMaker, items: Iterable[Received | Rejected], stamp: Stamp = datetime_from_us
) -> tuple[dict[Table, list[tuple[Any, ...]]], Counter[str]]:
    """Group a batch's rows by table, their times as `stamp` writes them (default:
    datetimes); returns them and how many became rejects, by server (`NO_SERVER` for a
    message whose topic named none). A row's first column is its server.

    A frame the intake read with this maker is taken as read; any other is read here."""
    grouped: dict[int, list[tuple[Any, ...]]] = {}  # by id(table): a Table hashes slowly
    tables: dict[int, Table] = {}
    rejects: Counter[str] = Counter()
    # Each distinct time written once a batch: a read's frames share their received_at,
    # and many frames their TimeStamp (a tick is 10 ms). `times` itself, as the default
    # of a look-up, says a time is not written yet.
    times: dict[int | None, Any] = {None: None}
    time = times.get
    for taken in items:
        item = taken
        if isinstance(item, Received):
            read = item.frame_row
            if read is not None and read.maker is maker:
                table = read.table
                stamp_us, received_us, sent_us = read.time_stamp_us, item.received_us, item.sent_us
                time_stamp = time(stamp_us, times)
                if time_stamp is times:
                    time_stamp = times[stamp_us] = stamp(stamp_us)
                received_at = time(received_us, times)
                if received_at is times:
                    received_at = times[received_us] = stamp(received_us)
                # Every frame's `sent` is a µs of its own: not worth a place in `times`.
                sent = None if sent_us is None else stamp(sent_us)
                meta = (item.server, item.run, item.seq, time_stamp, received_at, sent)
                row = meta + read.values
            else:
                try:
                    table, row = maker.row(item)
                except ValueError as error:
                    item = rejected(item, f"does not decode: {error}")
                else:
                    if stamp is not datetime_from_us:
                        row = _restamped(row, stamp)
            if isinstance(item, Received):
                key = id(table)
                rows = grouped.get(key)
                if rows is None:
                    rows = grouped[key] = []
                    tables[key] = table
                rows.append(row)
                continue
        rejects[item.server or NO_SERVER] += 1
        key = id(REJECTS)
        if key not in grouped:
            grouped[key], tables[key] = [], REJECTS
        grouped[key].append(reject_row(item, stamp))
    return {tables[key]: rows for key, rows in grouped.items()}, rejects


def tally_group(
    table: Table,
    server: str | None,
    rows: int,
    added: int,
    stored: Counter[tuple[str, str]],
    duplicates: Counter[str],
    rejected: Counter[str],
) -> None:
    """Count one server's group of a keyed table's rows, `added` of them new: the new
    frames as stored by class, the others as duplicates; a redelivered reject was counted
    a reject by `rows_by_table` and is a duplicate instead."""
    if table is REJECTS:
        name = server or NO_SERVER
        duplicates[name] += rows - added
        rejected[name] -= rows - added
        return
    assert server is not None  # a frame's server is its topic's
    stored[server, table_class(table)] += added
    duplicates[server] += rows - added


def by_server(rows: Sequence[tuple[Any, ...]]) -> list[tuple[str, Sequence[tuple[Any, ...]]]]:
    """A table's rows of one batch split by server (a row's first column), in order of
    first appearance: one group, the rows themselves, when one server sent them all."""
    first = rows[0][0]
    if rows[-1][0] == first and len(set(map(itemgetter(0), rows))) == 1:
        return [(first, rows)]
    groups: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        group = groups.get(row[0])
        if group is None:
            group = groups[row[0]] = []
        group.append(row)
    return list(groups.items())
