"""Rewriting recorded frames in place: times moved, SessionID SeqNo and message ids
renumbered, the server renamed (`billsim replay`, docs/record-replay.md).

Sans-IO and byte-exact: a frame is patched where its field tables put each field, and
every other byte — padding, bytes after a string's NUL, variable data, a record the codec
cannot read — stays as it was. Which fields are touched follows from the tables, not from
a list per record: every TIMEDATE of kind time (the header TimeStamp, MAILREC
PostedDate, a custom type's TIMEDATE fields), the SequenceTime of every OID (DOCUMENT and
MAILREC OriginatorID), the SeqNo of every SESSIONID (SESSIONREC, DBREC, REPLREC). Two
rules are by name: the HTTP time stamp string (HTTPREQREC's variable data), and the
fields that name the writing server besides the header (REPLREC Source and Destination,
MAILREC HopName), which follow a rename when they held the old name.

A frame shorter than its record struct (cut, or of a struct type no table describes) has
its header rewritten only; one shorter than the header is left alone. A TIMEDATE that is
all zero (no time) or no valid time (a corrupted record) is left as it is.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.wire import constants as c
from simulator.wire.codec import LEN_AND_TYPE, FrameCodec, KindCodec
from simulator.wire.records import HEADER_FIELDS, MAILREC, REPLREC
from simulator.wire.timedate import (
    JULIAN_DAY_MASK,
    LAST_DATETIME_JDN,
    TICKS_PER_DAY,
    TimeDate,
    format_timedate,
    readable_day,
    shift_common_log_time,
    shift_innards,
)

_TIMEDATE = struct.Struct("<II")
_WORD = struct.Struct("<H")
_WORD_PAIR = struct.Struct("<HH")
# Inside an OID: File (8 bytes), Note (8), Sequence (4), then SequenceTime; the same in
# both layouts (every member is 4-aligned).
_OID_NOTE = 8
_OID_SEQUENCE_TIME = 20
_SEQNO = 2  # SESSIONID {WORD Index; WORD SeqNo}
_SERVER_NAME_SIZE = c.MAXUSERNAME + 1
_KNOWN_SERVER_NAMES = 256  # ServerName fields FrameRewriter keeps read (see server_name)
# Fields besides the header's ServerName that name the server writing the frame.
SERVER_NAME_FIELDS: dict[int, tuple[str, ...]] = {
    REPLREC.struct_type: ("Source", "Destination"),
    MAILREC.struct_type: ("HopName",),
}

SeqNoMap = Callable[[str, int, int], int]
"""(the frame's ServerName, SessionID Index, SeqNo) -> the SeqNo to write."""
MessageIdMap = Callable[[TimeDate, TimeDate], tuple[TimeDate, TimeDate]]
"""(OriginatorID File, Note) of a MAILREC -> the File and Note to write."""


class RewriteError(ValueError):
    """A valid time that the shift would move out of TIMEDATE's range, or out of the
    years 1..9999 (`readable_day`) when it was in them."""


def shown_shift(ticks: int) -> str:
    """A shift for an error: `+3,600 s`, `-0.5 s` (`:g` turns a rebase by centuries into
    an exponent)."""
    return f"{ticks / 100:+,.2f}".rstrip("0").rstrip(".") + " s"


def beyond_readable(day: int) -> str:
    """Why a Julian day outside `readable_day` cannot be written, for an error."""
    side = "after the end of the year 9999" if day > LAST_DATETIME_JDN else "before the year 1"
    return f"{side}, which no billsim tool reads back"


@dataclass(frozen=True, slots=True)
class FrameEdit:
    """What to change in a frame; the default changes nothing."""

    shift_ticks: int = 0  # hundredths of a second added to every time
    server_name: str | None = None  # the new ServerName
    seqno: SeqNoMap | None = None
    message_id: MessageIdMap | None = None

    @property
    def changes_nothing(self) -> bool:
        """True when `rewrite` would give every frame back as it is (a replay's first pass
        with no --rebase and no --server-name): its caller need not call it."""
        return (
            not self.shift_ticks
            and self.server_name is None
            and self.seqno is None
            and self.message_id is None
        )


@dataclass(frozen=True, slots=True)
class _Slots:
    """Where one record kind's rewritable fields lie, as offsets from the frame's start."""

    size: int  # the frame must be at least this long for these offsets to be inside it
    times: tuple[int, ...] = ()
    session_ids: tuple[int, ...] = ()
    server_names: tuple[int, ...] = ()
    message_ids: tuple[int, ...] = ()
    http_time_offset: int | None = None  # where HttpTimeStampOffset is
    rec_offset: int = 0
    names: dict[int, str] = field(default_factory=dict)  # offset -> field name, for errors


def _slots(codec: KindCodec) -> _Slots:
    kind = codec.kind
    base = codec.rec_offset
    offsets = codec.record.offsets
    times: list[int] = []
    session_ids: list[int] = []
    message_ids: list[int] = []
    names: dict[int, str] = {}
    for name, ctype in kind.fields:
        at = base + offsets[name]
        if ctype.kind == "time":
            times.append(at)
            names[at] = name
        elif ctype.kind == "oid":
            times.append(at + _OID_SEQUENCE_TIME)
            names[at + _OID_SEQUENCE_TIME] = f"{name}.SequenceTime"
            if kind is MAILREC:
                message_ids.append(at)
        elif ctype.kind == "sessionid":
            session_ids.append(at)
    http = None
    if kind.struct_type == c.BILL_HTTPREQREC:
        http = base + offsets["HttpTimeStampOffset"]
    servers = tuple(base + offsets[name] for name in SERVER_NAME_FIELDS.get(kind.struct_type, ()))
    return _Slots(
        codec.fixed_size,
        tuple(times),
        tuple(session_ids),
        servers,
        tuple(message_ids),
        http,
        base,
        names,
    )


def _text(data: bytearray, at: int, size: int) -> bytes:
    raw = bytes(data[at : at + size])
    end = raw.find(0)
    return raw if end < 0 else raw[:end]


class FrameRewriter:
    """Applies a `FrameEdit` to frames of one layout (and the custom types its codec knows)."""

    def __init__(self, codec: FrameCodec) -> None:
        self.codec = codec
        header = codec.geometry.header
        self.header_size = header.size
        self._server_at = header.offsets["ServerName"]
        self._stamp_at = header.offsets["TimeStamp"]
        assert HEADER_FIELDS[3][0] == "ServerName" and HEADER_FIELDS[4][0] == "TimeStamp"
        self._server_names: dict[bytes, str] = {}
        self._slots = {
            struct_type: _slots(kind_codec)
            for struct_type, kind_codec in codec.by_struct_type.items()
        }

    def server_name(self, frame: bytes) -> str | None:
        """The frame's ServerName, or None when it is shorter than the header."""
        if len(frame) < self.header_size:
            return None
        raw = frame[self._server_at : self._server_at + _SERVER_NAME_SIZE]
        # A stream names a few servers, in the same bytes frame after frame: each field's
        # bytes read once (a replay reads every frame's name twice).
        try:
            return self._server_names[raw]
        except KeyError:
            pass
        end = raw.find(0)
        name = (raw if end < 0 else raw[:end]).decode("utf-8", "surrogateescape")
        if len(self._server_names) >= _KNOWN_SERVER_NAMES:
            self._server_names.clear()  # a stream of ever new bytes there: no memory grows
        self._server_names[raw] = name
        return name

    def time_stamp(self, frame: bytes) -> TimeDate | None:
        """The frame's header TimeStamp, or None when it is shorter than the header."""
        if len(frame) < self.header_size:
            return None
        ticks, day_zone = _TIMEDATE.unpack_from(frame, self._stamp_at)
        return TimeDate(ticks, day_zone)

    def session_ids(self, frame: bytes) -> list[tuple[int, int]]:
        """(Index, SeqNo) of every SESSIONID of the frame (none when it is cut short)."""
        slots = self._slots_of(frame)
        if slots is None:
            return []
        return [_session_id(frame, at) for at in slots.session_ids]

    def _slots_of(self, frame: bytes | bytearray) -> _Slots | None:
        if len(frame) < 4:
            return None
        slots = self._slots.get(LEN_AND_TYPE.unpack_from(frame, 0)[1])
        if slots is None or len(frame) < slots.size:
            return None
        return slots

    def rewrite(self, frame: bytes, edit: FrameEdit) -> bytes:
        """`frame` with `edit` applied; RewriteError if a valid time would leave
        TIMEDATE's range."""
        if len(frame) < self.header_size:
            return frame
        data = bytearray(frame)
        old_server = _text(data, self._server_at, _SERVER_NAME_SIZE)
        shift = edit.shift_ticks
        if shift:
            self._move(data, self._stamp_at, shift, "TimeStamp")
        new_server = None
        if edit.server_name is not None:
            new_server = edit.server_name.encode("utf-8", "surrogateescape")
            _put_name(data, self._server_at, new_server)
        slots = self._slots_of(data)
        if slots is None:
            return bytes(data)
        if shift:
            for at in slots.times:
                self._move(data, at, shift, slots.names[at])
            if slots.http_time_offset is not None:
                _move_http_time(data, slots, shift)
        if new_server is not None:
            for at in slots.server_names:
                if _text(data, at, _SERVER_NAME_SIZE) == old_server:
                    _put_name(data, at, new_server)
        if edit.seqno is not None and slots.session_ids:
            server_text = old_server.decode("utf-8", "surrogateescape")
            for at in slots.session_ids:
                index, seqno = _WORD_PAIR.unpack_from(data, at)
                _WORD.pack_into(data, at + _SEQNO, edit.seqno(server_text, index, seqno))
        if edit.message_id is not None:
            for at in slots.message_ids:
                file = TimeDate(*_TIMEDATE.unpack_from(data, at))
                note = TimeDate(*_TIMEDATE.unpack_from(data, at + _OID_NOTE))
                new_file, new_note = edit.message_id(file, note)
                _TIMEDATE.pack_into(data, at, *new_file)
                _TIMEDATE.pack_into(data, at + _OID_NOTE, *new_note)
        return bytes(data)

    @staticmethod
    def _move(data: bytearray, at: int, shift: int, name: str) -> None:
        ticks, day_zone = _TIMEDATE.unpack_from(data, at)
        if ticks >= TICKS_PER_DAY or not (ticks or day_zone):
            return  # none a clock wrote, or no time: nothing to move
        try:
            moved, moved_day_zone = shift_innards(ticks, day_zone, shift)
        except ValueError as error:
            value = format_timedate(TimeDate(ticks, day_zone))
            raise RewriteError(f"{name} {value} moved by {shown_shift(shift)}: {error}") from None
        day = moved_day_zone & JULIAN_DAY_MASK
        # A time the source already held outside the years 1..9999 is moved as it is: only
        # a readable one made unreadable is the shift's fault.
        if not readable_day(day) and readable_day(day_zone & JULIAN_DAY_MASK):
            value = format_timedate(TimeDate(ticks, day_zone))
            raise RewriteError(
                f"{name} {value} moved by {shown_shift(shift)}: {beyond_readable(day)}"
            )
        _TIMEDATE.pack_into(data, at, moved, moved_day_zone)


def _session_id(frame: bytes, at: int) -> tuple[int, int]:
    index, seqno = _WORD_PAIR.unpack_from(frame, at)
    return index, seqno


def _put_name(data: bytearray, at: int, name: bytes) -> None:
    """A char[257] name field: the name, then zeros to its end."""
    if len(name) >= _SERVER_NAME_SIZE:
        raise ValueError(f"a server name of {len(name)} bytes does not fit char[257]")
    data[at : at + _SERVER_NAME_SIZE] = name + bytes(_SERVER_NAME_SIZE - len(name))


def _move_http_time(data: bytearray, slots: _Slots, shift: int) -> None:
    """The HTTP time stamp string, moved in place when it is one (same length: the
    common-log form is fixed-width); left alone otherwise."""
    assert slots.http_time_offset is not None
    relative = _WORD.unpack_from(data, slots.http_time_offset)[0]
    if relative == 0:
        return
    start = slots.rec_offset + relative
    end = data.find(0, start)
    if start >= len(data) or end < 0:
        return
    try:
        text = bytes(data[start:end]).decode("ascii")
    except UnicodeDecodeError:
        return
    moved = shift_common_log_time(text, shift)
    if moved is not None and len(moved) == len(text):
        data[start:end] = moved.encode("ascii")
