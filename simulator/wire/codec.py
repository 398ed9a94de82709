"""Encode and decode BILLMSG frames: header, record struct and variable data, byte-exact.

Each record kind gets, per layout and framing, one `struct.Struct` for the header and
its record together and a pair of functions generated from the kind's field table, so
that encoding a frame is one `pack` call and no per-field interpretation.
"""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from simulator.errors import quoted
from simulator.wire import constants as c
from simulator.wire.layout import CompiledStruct, CType, Framing, Layout, compile_fields
from simulator.wire.records import (
    AGENTREC,
    BUILTIN_KINDS,
    HEADER_FIELDS,
    HTTP_STRING_NAMES,
    HTTPREQREC,
    MAILREC,
    AgentRec,
    CustomRec,
    Frame,
    HttpReqRec,
    MailRec,
    Oid,
    RawRec,
    Record,
    RecordKind,
    SessionID,
    Unid,
)
from simulator.wire.timedate import TimeDate

Buffer = bytes | bytearray | memoryview


class EncodeError(ValueError):
    """A value does not fit the C field it is written to."""


class FrameError(ValueError):
    """A frame that cannot be read; `offset` is the byte offset of the frame in its stream."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        if self.offset is None:
            return self.message
        return f"byte offset {self.offset}: {self.message}"


@dataclass(frozen=True, slots=True)
class FrameGeometry:
    """Where the record starts and how big BILLMSG is, for one layout."""

    header: CompiledStruct
    rec_offset: int
    billmsg_size: int


def frame_geometry(layout: Layout) -> FrameGeometry:
    header = compile_fields(HEADER_FIELDS, layout)
    # BILLREC is a union holding a NUMBER (DOCUMENT.Charge): aligned to 8 unless packed.
    union_align = 1 if layout.packed else 8
    rec_offset = -(-header.size // union_align) * union_align
    largest = max(compile_fields(kind.fields, layout).size for kind in BUILTIN_KINDS)
    union_size = -(-largest // union_align) * union_align
    return FrameGeometry(header, rec_offset, rec_offset + union_size)


Encoder = Callable[[int, int, str, TimeDate, Record], bytes]
Decoder = Callable[[Buffer, int, int], Frame]


def _pack_args(
    ctype: CType, src: str, name: str, lines: list[str], temps: list[int], cached: bool = False
) -> list[str]:
    """Source expressions giving a field's struct arguments; strings are encoded into temps
    (`cached`: looked up first in `_fitsN`, the `_FITTING` table of their size N)."""
    kind = ctype.kind
    if kind in ("int", "float"):
        return [src]
    if kind in ("time", "id", "sessionid"):
        return [f"{src}[0]", f"{src}[1]"]
    if kind == "unid":
        return [f"{src}[0][0]", f"{src}[0][1]", f"{src}[1][0]", f"{src}[1][1]"]
    if kind == "oid":
        return [
            f"{src}[0][0]",
            f"{src}[0][1]",
            f"{src}[1][0]",
            f"{src}[1][1]",
            f"{src}[2]",
            f"{src}[3][0]",
            f"{src}[3][1]",
        ]
    assert kind == "str"
    temp = f"s{len(temps)}"
    temps.append(1)
    if cached:
        # A subscript in a try (free in 3.11 while nothing is raised) rather than `.get`,
        # a method call: this runs for each name of each frame. The miss leaves the
        # except clause before `_fit` runs, so a name too long is not reported as
        # raised while handling the KeyError.
        lines.append("    try:")
        lines.append(f"        {temp} = _fits{ctype.size}[{src}]")
        lines.append("    except KeyError:")
        lines.append(f"        {temp} = None")
        lines.append(f"    if {temp} is None: {temp} = _fit({src}, {name!r}, {ctype.size})")
        return [temp]
    lines.append(f"    {temp} = {src}.encode('utf-8', 'surrogateescape')")
    lines.append(f"    if len({temp}) >= {ctype.size}: _too_long({name!r}, {temp}, {ctype.size})")
    return [temp]


def _unpack_expr(ctype: CType, index: int) -> tuple[str, int]:
    """A source expression building a field's Python value from `v`, and how many items it uses."""
    kind = ctype.kind
    i = index
    if kind in ("int", "float"):
        return f"v[{i}]", 1
    if kind in ("time", "id"):
        return f"TimeDate(v[{i}], v[{i + 1}])", 2
    if kind == "sessionid":
        return f"SessionID(v[{i}], v[{i + 1}])", 2
    if kind == "unid":
        return f"Unid(TimeDate(v[{i}], v[{i + 1}]), TimeDate(v[{i + 2}], v[{i + 3}]))", 4
    if kind == "oid":
        return (
            f"Oid(TimeDate(v[{i}], v[{i + 1}]), TimeDate(v[{i + 2}], v[{i + 3}]), v[{i + 4}], "
            f"TimeDate(v[{i + 5}], v[{i + 6}]))",
            7,
        )
    assert kind == "str"
    return f"_text(v[{i}])", 1


def _too_long(name: str, encoded: bytes, size: int) -> None:
    raise EncodeError(
        f"{name}: {len(encoded)} bytes of UTF-8 do not fit char[{size}] (at most {size - 1})"
    )


# The encoded bytes of strings known to fit a char[size], by size: a run's user, server
# and database names recur in frame after frame, and a look-up costs less than encoding
# and measuring each again. Emptied when full, so a run of more names than that does not
# grow it.
_FITTING: dict[int, dict[str, bytes]] = {}
_FITTING_LIMIT = 1 << 16


def _fit(text: str, name: str, size: int) -> bytes:
    encoded = text.encode("utf-8", "surrogateescape")
    if len(encoded) >= size:
        _too_long(name, encoded, size)
    known = _FITTING[size]
    if len(known) >= _FITTING_LIMIT:
        known.clear()
    known[text] = encoded
    return encoded


def _text(raw: bytes) -> str:
    end = raw.find(0)
    return (raw if end < 0 else raw[:end]).decode("utf-8", "surrogateescape")


def _variable_data_lines(kind: RecordKind, rec_size: int) -> list[str]:
    """Source that computes `var` (the bytes after the struct) and the derived fields."""
    if kind is MAILREC:
        return [
            "    var = ','.join(r.Recipients).encode('utf-8', 'surrogateescape')",
            "    RecipientSize = len(var)",
            f"    if RecipientSize > {c.WORD_MAX}: _word_overflow('RecipientSize', RecipientSize)",
        ]
    if kind is AGENTREC:
        return [
            "    u = r.UserName.encode('utf-8', 'surrogateescape')",
            "    t = r.TaskName.encode('utf-8', 'surrogateescape')",
            "    d = r.DatabaseName.encode('utf-8', 'surrogateescape')",
            "    ULen, TLen, DLen = len(u), len(t), len(d)",
            "    var = u + t + d",
        ]
    if kind is HTTPREQREC:
        return ["    var, offsets = _http_strings(r)"] + [
            f"    Http{name}Offset = offsets[{i}]" for i, name in enumerate(HTTP_STRING_NAMES)
        ]
    return []


def _word_overflow(name: str, value: int) -> None:
    raise EncodeError(f"{name}: {value} does not fit a WORD (at most {c.WORD_MAX})")


def _make_http_strings(rec_size: int) -> Callable[[HttpReqRec], tuple[bytes, list[int]]]:
    def http_strings(r: HttpReqRec) -> tuple[bytes, list[int]]:
        parts: list[bytes] = []
        offsets: list[int] = []
        position = rec_size
        for value in r[3:]:
            if value is None:
                offsets.append(0)
                continue
            data = value.encode("utf-8", "surrogateescape") + b"\0"
            if position > c.WORD_MAX:
                raise EncodeError(f"HTTP string offset {position} does not fit a WORD")
            offsets.append(position)
            parts.append(data)
            position += len(data)
        return b"".join(parts), offsets

    return http_strings


class KindCodec:
    """Encoder and decoder of one record kind under one layout and framing."""

    def __init__(self, kind: RecordKind, layout: Layout, framing: Framing) -> None:
        self.kind = kind
        self.layout = layout
        self.framing = framing
        geometry = frame_geometry(layout)
        self.record = compile_fields(kind.fields, layout, start=geometry.rec_offset)
        gap = geometry.rec_offset - geometry.header.size
        self.struct = struct.Struct(
            "<" + geometry.header.format + (f"{gap}x" if gap else "") + self.record.format
        )
        self.fixed_size = self.struct.size
        self.min_len = geometry.billmsg_size if framing is Framing.PAD_UNION else 0
        self.rec_offset = geometry.rec_offset
        self.encode: Encoder
        self.decode: Decoder
        self._generate()

    def _generate(self) -> None:
        kind = self.kind
        lines: list[str] = []
        temps: list[int] = []
        header_args = ["Len"]
        header_args += _pack_args(HEADER_FIELDS[1][1], "StructType", "StructType", lines, temps)
        header_args += _pack_args(HEADER_FIELDS[2][1], "Class", "Class", lines, temps)
        # The server name is the same in every frame of a run: encoded once (see
        # _server_name_bytes), then looked up.
        server_name_size = HEADER_FIELDS[3][1].size
        lines.append("    try:")
        lines.append("        s_server = _server_names[ServerName]")
        lines.append("    except KeyError:")
        lines.append("        s_server = None")
        lines.append("    if s_server is None: s_server = _server_name_bytes(ServerName)")
        header_args.append("s_server")
        header_args += _pack_args(HEADER_FIELDS[4][1], "TimeStamp", "TimeStamp", lines, temps)
        variable = _variable_data_lines(kind, self.record.size)
        lines += variable
        record_args: list[str] = []
        for position, (name, ctype) in enumerate(kind.fields):
            if name in kind.derived:
                record_args.append(name)
                continue
            custom = kind.python_type is CustomRec
            src = f"r.values[{position}]" if custom else f"r.{name}"
            if ctype.kind == "str":
                _FITTING.setdefault(ctype.size, {})
            record_args += _pack_args(ctype, src, name, lines, temps, cached=not custom)
        size = self.fixed_size
        fields: tuple[str, ...] = getattr(kind.python_type, "_fields", ())
        if kind.python_type is not CustomRec and fields:
            # The record's fields into locals at once: cheaper than an attribute look-up
            # for each (and for each use).
            local = {f"r.{name}": f"F_{name}" for name in fields}
            pattern = re.compile(r"\br\.(\w+)")
            lines = [pattern.sub(lambda m: local.get(m[0], m[0]), line) for line in lines]
            record_args = [pattern.sub(lambda m: local.get(m[0], m[0]), a) for a in record_args]
            lines.insert(0, f"    {', '.join(local.values())}, = r")
        body = ["def encode(StructType, Class, ServerName, TimeStamp, r):", *lines]
        server_names: dict[str, bytes] = {}

        def server_name_bytes(name: str) -> bytes:
            encoded = name.encode("utf-8", "surrogateescape")
            if len(encoded) >= server_name_size:
                _too_long("ServerName", encoded, server_name_size)
            server_names[name] = encoded
            return encoded

        # A record of fixed size is padded by its pack (trailing pad bytes in the format)
        # rather than by joining a second bytes object to it.
        pack = self.struct.pack
        if variable:
            body += [
                f"    n = {size} + len(var)",
                f"    if n > {c.MQ_MAX_MSGSIZE}: _too_big(n)",
                f"    Len = n if n >= {self.min_len} else {self.min_len}",
                "    try:",
                f"        b = pack({', '.join(header_args + record_args)}) + var",
                "    except _StructError as e: _bad_value(e, r)",
                f"    return b if n >= {self.min_len} else b + bytes({self.min_len} - n)",
            ]
        else:
            padded = max(size, self.min_len)
            if padded > size:
                pack = struct.Struct(self.struct.format + f"{padded - size}x").pack
            body += [
                f"    Len = {padded}",
                "    try:",
                f"        return pack({', '.join(header_args + record_args)})",
                "    except _StructError as e: _bad_value(e, r)",
            ]
        namespace: dict[str, object] = {
            "pack": pack,
            "_server_names": server_names,
            "_server_name_bytes": server_name_bytes,
            "_too_long": _too_long,
            "_fit": _fit,
            "_word_overflow": _word_overflow,
            "_too_big": _too_big,
            "_bad_value": _make_bad_value(kind.name),
            "_StructError": struct.error,
            "_http_strings": _make_http_strings(self.record.size),
        }
        namespace.update({f"_fits{size}": known for size, known in _FITTING.items()})
        exec("\n".join(body), namespace)
        self.encode = namespace["encode"]  # type: ignore[assignment]

        # Decoder: header values, then each non-derived record field.
        index = 0
        header_exprs: list[str] = []
        for _name, ctype in HEADER_FIELDS:
            expr, used = _unpack_expr(ctype, index)
            header_exprs.append(expr)
            index += used
        field_exprs: dict[str, str] = {}
        for name, ctype in kind.fields:
            expr, used = _unpack_expr(ctype, index)
            field_exprs[name] = expr
            index += used
        dlines = [
            "def decode(buf, offset, length):",
            "    v = unpack_from(buf, offset)",
        ]
        tail = self.fixed_size
        if kind is MAILREC:
            dlines += [
                f"    end = {tail} + {field_exprs['RecipientSize']}",
                "    if end > length: _short(length, end, 'RecipientSize')",
                f"    var = bytes(buf[offset + {tail}:offset + end])",
                "    Recipients = (",
                "        tuple(var.decode('utf-8', 'surrogateescape').split(',')) if var else ()",
                "    )",
            ]
            args = [field_exprs[n] for n, _ in kind.fields if n not in kind.derived]
            rec = f"MailRec({', '.join(args)}, Recipients)"
        elif kind is AGENTREC:
            dlines += [
                f"    ULen = {field_exprs['ULen']}",
                f"    TLen = {field_exprs['TLen']}",
                f"    DLen = {field_exprs['DLen']}",
                f"    end = {tail} + ULen + TLen + DLen",
                "    if end > length: _short(length, end, 'ULen + TLen + DLen')",
                f"    p = offset + {tail}",
                "    q = p + ULen",
                "    r = q + TLen",
                "    u = bytes(buf[p:q]).decode('utf-8', 'surrogateescape')",
                "    t = bytes(buf[q:r]).decode('utf-8', 'surrogateescape')",
                "    d = bytes(buf[r:r + DLen]).decode('utf-8', 'surrogateescape')",
            ]
            rec = f"AgentRec({field_exprs['ElapsedRunTime']}, {field_exprs['Flags']}, u, t, d)"
        elif kind is HTTPREQREC:
            offsets = ", ".join(field_exprs[f"Http{n}Offset"] for n in HTTP_STRING_NAMES)
            dlines += [f"    strings = _http_read(buf, offset, length, ({offsets},))"]
            rec = (
                f"HttpReqRec({field_exprs['HttpContentLength']}, {field_exprs['HttpReqTimeMs']}, "
                f"{field_exprs['HttpStatusCode']}, *strings)"
            )
        elif kind.python_type is CustomRec:
            rec = f"CustomRec(({', '.join(field_exprs.values())},))"
        else:
            rec = f"{kind.python_type.__name__}({', '.join(field_exprs.values())})"
        dlines.append(f"    return Frame({', '.join(header_exprs[1:])}, {rec}, {header_exprs[0]})")
        dnamespace: dict[str, object] = {
            "unpack_from": self.struct.unpack_from,
            "_text": _text,
            "_short": _short,
            "_http_read": _make_http_read(self.rec_offset),
            "TimeDate": TimeDate,
            "SessionID": SessionID,
            "Unid": Unid,
            "Oid": Oid,
            "Frame": Frame,
            "MailRec": MailRec,
            "AgentRec": AgentRec,
            "HttpReqRec": HttpReqRec,
            "CustomRec": CustomRec,
            kind.python_type.__name__: kind.python_type,
        }
        exec("\n".join(dlines), dnamespace)
        self.decode = dnamespace["decode"]  # type: ignore[assignment]


def _too_big(size: int) -> None:
    raise EncodeError(f"frame of {size} bytes exceeds MQ_MAX_MSGSIZE ({c.MQ_MAX_MSGSIZE})")


def _make_bad_value(kind_name: str) -> Callable[[struct.error, object], None]:
    def bad_value(error: struct.error, rec: object) -> None:
        raise EncodeError(
            f"{kind_name}: a value does not fit its C type ({error}): {quoted(rec)}"
        ) from error

    return bad_value


def _short(length: int, needed: int, what: str) -> None:
    raise FrameError(f"Len {length} is too small for the variable data ({what} needs {needed})")


def _make_http_read(
    rec_offset: int,
) -> Callable[[Buffer, int, int, tuple[int, ...]], list[str | None]]:
    def http_read(
        buf: Buffer, offset: int, length: int, offsets: tuple[int, ...]
    ) -> list[str | None]:
        strings: list[str | None] = []
        frame_end = offset + length
        for name, relative in zip(HTTP_STRING_NAMES, offsets, strict=True):
            if relative == 0:
                strings.append(None)
                continue
            start = offset + rec_offset + relative
            if start >= frame_end:
                raise FrameError(f"Http{name}Offset {relative} points past the frame's end")
            end = bytes(buf[start:frame_end]).find(b"\0")
            if end < 0:
                raise FrameError(f"the HTTP {name} string has no NUL before the frame's end")
            strings.append(bytes(buf[start : start + end]).decode("utf-8", "surrogateescape"))
        return strings

    return http_read


@functools.lru_cache(maxsize=256)
def kind_codec_for(kind: RecordKind, layout: Layout, framing: Framing) -> KindCodec:
    """The codec of `kind` (compiled once per process and reused: a KindCodec does not
    change once made, and compiling one takes about a millisecond)."""
    return KindCodec(kind, layout, framing)


class FrameCodec:
    """Every record kind's codec for one layout and framing, plus the scenario's custom kinds."""

    def __init__(
        self,
        layout: Layout = Layout.LINUX_X86_64,
        framing: Framing = Framing.PAD_UNION,
        custom_kinds: Iterable[RecordKind] = (),
    ) -> None:
        self.layout = layout
        self.framing = framing
        self.geometry = frame_geometry(layout)
        self.header_size = self.geometry.header.size
        kinds = [*BUILTIN_KINDS, *custom_kinds]
        self.by_struct_type: dict[int, KindCodec] = {
            kind.struct_type: kind_codec_for(kind, layout, framing) for kind in kinds
        }
        self.by_python_type: dict[type, KindCodec] = {
            kind.python_type: self.by_struct_type[kind.struct_type] for kind in BUILTIN_KINDS
        }
        self._raw_header = struct.Struct("<" + self.geometry.header.format)

    def kind_codec(self, struct_type: int) -> KindCodec | None:
        return self.by_struct_type.get(struct_type)

    def encode(self, frame: Frame) -> bytes:
        """The frame's bytes; `Len` is computed, never taken from the frame."""
        if isinstance(frame.rec, RawRec):
            return self._encode_raw(frame)
        codec = self.by_struct_type.get(frame.StructType)
        if codec is None or (codec.kind.python_type is not type(frame.rec)):
            raise EncodeError(
                f"struct type {frame.StructType} does not hold a {type(frame.rec).__name__}"
            )
        return codec.encode(
            frame.StructType, frame.Class, frame.ServerName, frame.TimeStamp, frame.rec
        )

    def encode_record(self, rec: Record, server_name: str, timestamp: TimeDate) -> bytes:
        """A built-in record with its kind's struct type and class: BillingWrite's header."""
        codec = self.by_python_type[type(rec)]
        kind = codec.kind
        return codec.encode(kind.struct_type, kind.bill_class, server_name, timestamp, rec)

    def _encode_raw(self, frame: Frame) -> bytes:
        assert isinstance(frame.rec, RawRec)
        server = frame.ServerName.encode("utf-8", "surrogateescape")
        if len(server) > c.MAXUSERNAME:
            _too_long("ServerName", server, c.MAXUSERNAME + 1)
        length = self.header_size + len(frame.rec.raw)
        if length > c.MQ_MAX_MSGSIZE:
            _too_big(length)
        header = self._raw_header.pack(
            length, frame.StructType, frame.Class, server, frame.TimeStamp[0], frame.TimeStamp[1]
        )
        return header + frame.rec.raw

    def locate(self, buf: Buffer, offset: int = 0) -> tuple[int, KindCodec | None]:
        """Check the frame at `offset` can be read: its Len, and the table its struct type names.

        Returns Len and that table (None for a struct type no table describes).
        """
        available = len(buf) - offset
        if available < 4:
            raise FrameError("truncated frame: no room for Len and StructType", offset)
        length, struct_type = LEN_AND_TYPE.unpack_from(buf, offset)
        self.check_length(length, offset)
        if available < length:
            raise FrameError(
                f"truncated frame: Len is {length} but only {available} bytes follow", offset
            )
        codec = self.by_struct_type.get(struct_type)
        if codec is not None and length < codec.fixed_size:
            raise FrameError(
                f"Len {length} is smaller than a {codec.kind.name} frame ({codec.fixed_size})",
                offset,
            )
        return length, codec

    def decode(self, buf: Buffer, offset: int = 0) -> Frame:
        """The frame starting at `offset`; FrameError (offset relative to `buf`) if unreadable."""
        length, codec = self.locate(buf, offset)
        if codec is None:
            return self.decode_raw(buf, offset, length)
        try:
            return codec.decode(buf, offset, length)
        except FrameError as error:
            raise FrameError(error.message, offset) from None

    def check_length(self, length: int, offset: int) -> None:
        if length < self.header_size:
            raise FrameError(
                f"Len {length} is smaller than the BILLMSG header ({self.header_size})", offset
            )
        if length > c.MQ_MAX_MSGSIZE:
            raise FrameError(f"Len {length} exceeds MQ_MAX_MSGSIZE ({c.MQ_MAX_MSGSIZE})", offset)

    def decode_raw(self, buf: Buffer, offset: int, length: int) -> Frame:
        v = self._raw_header.unpack_from(buf, offset)
        raw = bytes(buf[offset + self.header_size : offset + length])
        return Frame(v[1], v[2], _text(v[3]), TimeDate(v[4], v[5]), RawRec(raw), v[0])

    def is_known(self, struct_type: int) -> bool:
        """Whether a struct type is one this codec has a table for (built-in or declared custom)."""
        return struct_type in self.by_struct_type


def utf8_len(text: str) -> int:
    """Bytes a string takes in a frame: UTF-8, lone surrogates kept as the codec writes them."""
    return len(text.encode("utf-8", "surrogateescape"))


# Len and StructType: the first two WORDs of every frame, in both layouts and framings.
LEN_AND_TYPE = struct.Struct("<HH")


def peek_header(buf: Buffer, offset: int = 0) -> tuple[int, int]:
    """Len and StructType of the frame at `offset` (at least 4 bytes must be there).

    Hot loops call `LEN_AND_TYPE.unpack_from` themselves: a call less per frame.
    """
    length, struct_type = LEN_AND_TYPE.unpack_from(buf, offset)
    return length, struct_type


# Class: the DWORD after Len and StructType, at offset 4 in both layouts.
_CLASS = struct.Struct("<I")


def peek_class(buf: Buffer, offset: int = 0) -> int:
    """The header's Class of the frame at `offset` (at least 8 bytes must be there)."""
    bill_class: int = _CLASS.unpack_from(buf, offset + 4)[0]
    return bill_class


def is_custom_struct_type(struct_type: int) -> bool:
    return c.CUSTOM_STRUCT_TYPE_MIN <= struct_type <= c.CUSTOM_STRUCT_TYPE_MAX
