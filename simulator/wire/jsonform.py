"""The JSON form of a frame (docs/wire-format.md), and back: binary → JSON → binary, same bytes.

NUMBER (a C double) is a JSON number when finite. JSON has none for the rest, so they are
strings: `"inf"`, `"-inf"`, `"nan"` for the canonical quiet NaN (bits 0x7ff8000000000000,
Python's float("nan")), and any other NaN (sign bit, signalling, a payload) as its IEEE
754 bits in hex, `"nan:0x7ff8000000000001"`, so those too come back bit for bit.
"""

from __future__ import annotations

import functools
import json
import math
import re
import struct
from collections.abc import Callable, Mapping
from typing import Any

from simulator.errors import printable, quoted
from simulator.wire import constants as c
from simulator.wire.codec import LEN_AND_TYPE, FrameCodec, FrameError, KindCodec, utf8_len
from simulator.wire.layout import CType
from simulator.wire.records import (
    AGENT_LENGTH_NAMES,
    AGENT_STRING_NAMES,
    HEADER_FIELDS,
    HTTP_OFFSET_NAMES,
    HTTP_STRING_NAMES,
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
from simulator.wire.timedate import (
    TimeDate,
    format_innards,
    format_timedate,
    parse_timedate,
    parse_timedate_id,
)

JsonObject = dict[str, Any]
Buffer = bytes | bytearray | memoryview
_MAX_LEN = c.MQ_MAX_MSGSIZE
_len_and_type = LEN_AND_TYPE.unpack_from

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps_frame(obj: object) -> str:
    """The one text of a frame's JSON form as a line (without the newline).

    Used by `run --stdout`, `decode`, `tail` and MQTT JSON payloads, so a frame reads the
    same everywhere. No spaces; UTF-8 as it is (JSON is UTF-8, and names read as written);
    only a lone surrogate, a byte that was not UTF-8 in the frame (decoded with
    surrogateescape), is written as a \\u escape, so the line stays encodable and
    `json.loads` gives the same string back.
    """
    return printable(_dumps(obj))


class JsonFormError(ValueError):
    """A JSON object that is not the JSON form of a frame; names the key."""


_DOUBLE = struct.Struct("<d")
_BITS = struct.Struct("<Q")
_CANONICAL_NAN = 0x7FF8_0000_0000_0000
_EXPONENT = 0x7FF0_0000_0000_0000
_NAN_BITS = re.compile(r"nan:0x([0-9a-fA-F]{16})")


def _number(value: float) -> float | str:
    # JSON has no NaN or infinities: strings name them (see the module's docstring).
    if math.isfinite(value):
        return value
    if not math.isnan(value):
        return repr(value)  # inf, -inf
    bits: int = _BITS.unpack(_DOUBLE.pack(value))[0]
    return "nan" if bits == _CANONICAL_NAN else f"nan:0x{bits:016x}"


def _nan_from_bits(text: str) -> float:
    match = _NAN_BITS.fullmatch(text)
    bits = int(match[1], 16) if match else 0
    if bits & _EXPONENT != _EXPONENT or not bits & ~(_EXPONENT | 1 << 63):
        raise ValueError(f"expected nan:0x and the 16 hex digits of a NaN, got {quoted(text)}")
    value: float = _DOUBLE.unpack(_BITS.pack(bits))[0]
    return value


def _unid_value(text: str) -> Unid:
    if len(text) != 32:
        raise ValueError(f"a UNID is 32 hex digits, not {quoted(text)}")
    words = [int(text[i : i + 8], 16) for i in range(0, 32, 8)]
    return Unid(TimeDate(words[1], words[0]), TimeDate(words[3], words[2]))


def _oid_value(obj: Mapping[str, Any]) -> Oid:
    return Oid(
        parse_timedate_id(obj["File"]),
        parse_timedate_id(obj["Note"]),
        _int(obj["Sequence"]),
        parse_timedate(obj["SequenceTime"]),
    )


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {quoted(value)}")
    return value


def _float(value: object) -> float:
    if isinstance(value, str):
        if value in ("nan", "inf", "-inf"):
            return float(value)
        if value.startswith("nan:"):
            return _nan_from_bits(value)
        raise ValueError(f"expected a number, got {quoted(value)}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {quoted(value)}")
    return float(value)


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {quoted(value)}")
    if not value.isascii():
        try:
            value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as error:
            # Only \udc80-\udcff stand for bytes (those that are not UTF-8); another lone
            # surrogate stands for nothing a frame can hold.
            bad = printable(value[error.start : error.end])
            raise ValueError(f"{bad} is no text a frame can hold") from None
    return value


_FROM_JSON: dict[str, Callable[[Any], Any]] = {
    "int": _int,
    "float": _float,
    "str": _str,
    "time": lambda v: parse_timedate(_str(v)),
    "id": lambda v: parse_timedate_id(_str(v)),
    "sessionid": lambda v: SessionID(_int(v["Index"]), _int(v["SeqNo"])),
    "unid": lambda v: _unid_value(_str(v)),
    "oid": _oid_value,
}


def value_from_json(ctype: CType, value: Any) -> Any:
    return _FROM_JSON[ctype.kind](value)


def _json_expr(ctype: CType, index: int) -> tuple[str, int]:
    """Source building a field's JSON value from the unpacked values, named `v0`, `v1`, …

    Hex is formatted with `%`, which is faster than f-string format specs; same text.
    """
    kind = ctype.kind
    i = index
    if kind == "int":
        return f"v{i}", 1
    if kind == "float":
        return f"_number(v{i})", 1
    if kind == "str":
        return f"v{i}.partition(b'\\0')[0].decode('utf-8', 'surrogateescape')", 1
    if kind == "time":
        return f"_time(v{i}, v{i + 1})", 2
    if kind == "id":
        return f"'%08X:%08X' % (v{i + 1}, v{i})", 2
    if kind == "sessionid":
        return f"{{'Index': v{i}, 'SeqNo': v{i + 1}}}", 2
    if kind == "unid":
        return f"'%08X%08X%08X%08X' % (v{i + 1}, v{i}, v{i + 3}, v{i + 2})", 4
    assert kind == "oid"
    return (
        f"{{'File': '%08X:%08X' % (v{i + 1}, v{i}), 'Note': '%08X:%08X' % (v{i + 3}, v{i + 2}), "
        f"'Sequence': v{i + 4}, 'SequenceTime': _time(v{i + 5}, v{i + 6})}}",
        7,
    )


# Kind codecs are made once per process (codec.kind_codec_for), so are their JSON decoders.
@functools.lru_cache(maxsize=256)
def _compile_json_decoder(kind_codec: KindCodec) -> Callable[[Buffer, int, int], JsonObject]:
    """A function from a frame's bytes to its JSON form (without `seq`), for one record kind.

    The kind codec's own binary decoder runs first for kinds with variable data, so the
    checks on lengths and offsets live in one place.
    """
    kind = kind_codec.kind
    index = 0
    header: list[str] = []
    for name, ctype in HEADER_FIELDS:
        expr, used = _json_expr(ctype, index)
        header.append(f"{name!r}: {expr}")
        index += used
    record: list[str] = []
    for name, ctype in kind.fields:
        expr, used = _json_expr(ctype, index)
        record.append(f"{name!r}: {expr}")
        index += used
    # Unpacked into locals, not a tuple: indexing a tuple costs more than a local.
    names = "".join(f"v{i}, " for i in range(index))
    lines = ["def to_json(buf, offset, length):", f"    {names}= unpack_from(buf, offset)"]
    lines.append(f"    rec = {{{', '.join(record)}}}")
    if kind.python_type in (MailRec, AgentRec, HttpReqRec):
        lines.append("    rec.update(_variable(decode(buf, offset, length).rec))")
    lines.append(f"    return {{{', '.join(header)}, 'rec': rec}}")
    namespace: dict[str, object] = {
        "unpack_from": kind_codec.struct.unpack_from,
        "decode": kind_codec.decode,
        "_number": _number,
        "_time": format_innards,
        "_variable": _variable_json,
    }
    exec("\n".join(lines), namespace)
    return namespace["to_json"]  # type: ignore[return-value]


def _variable_json(rec: Record) -> JsonObject:
    if isinstance(rec, MailRec):
        return {"Recipients": list(rec.Recipients)}
    if isinstance(rec, AgentRec):
        return {name: getattr(rec, name) for name in AGENT_STRING_NAMES}
    assert isinstance(rec, HttpReqRec)
    return {name: getattr(rec, name) for name in HTTP_STRING_NAMES}


class JsonDecoder:
    """Frame bytes to JSON form, for every kind a codec knows; unknown kinds as header + raw."""

    def __init__(self, codec: FrameCodec) -> None:
        self.codec = codec
        self._by_struct_type = {
            struct_type: _compile_json_decoder(kind_codec)
            for struct_type, kind_codec in codec.by_struct_type.items()
        }
        # Struct type -> (the smallest Len its frames can have, its decoder), for the fast path.
        self._fast = {
            struct_type: (kind_codec.fixed_size, self._by_struct_type[struct_type])
            for struct_type, kind_codec in codec.by_struct_type.items()
        }

    def __call__(self, buf: Buffer, offset: int = 0, seq: int | None = None) -> JsonObject:
        """The JSON form of the frame at `offset`; FrameError as `FrameCodec.decode` raises it."""
        # Fast path: a known struct type whose Len passes every check of `FrameCodec.locate`
        # (its fixed size is at least the header's); anything else goes through `locate`.
        end = len(buf)
        if end - offset >= 4:
            length, struct_type = _len_and_type(buf, offset)
            fast = self._fast.get(struct_type)
            if fast is not None and fast[0] <= length <= _MAX_LEN and offset + length <= end:
                try:
                    out = fast[1](buf, offset, length)
                except FrameError as error:
                    raise FrameError(error.message, offset) from None
                if seq is not None:
                    out["seq"] = seq
                return out
        length, kind_codec = self.codec.locate(buf, offset)
        if kind_codec is None:
            out = _raw_json(self.codec.decode_raw(buf, offset, length))
        else:
            try:
                out = self._by_struct_type[kind_codec.kind.struct_type](buf, offset, length)
            except FrameError as error:
                raise FrameError(error.message, offset) from None
        if seq is not None:
            out["seq"] = seq
        return out


def _raw_json(frame: Frame) -> JsonObject:
    assert isinstance(frame.rec, RawRec)
    return {
        "Len": frame.Len,
        "StructType": frame.StructType,
        "Class": frame.Class,
        "ServerName": frame.ServerName,
        "TimeStamp": format_timedate(frame.TimeStamp),
        "rec": {"raw": frame.rec.raw.hex()},
    }


def raw_frame_json(
    codec: FrameCodec, buf: Buffer, offset: int, length: int, seq: int | None = None
) -> JsonObject:
    """The JSON form of the `length` bytes at `offset` as header + `rec.raw`, whatever its
    struct type: how a cut or damaged frame is shown (docs/faults.md)."""
    out = _raw_json(codec.decode_raw(buf, offset, length))
    if seq is not None:
        out["seq"] = seq
    return out


def json_or_raw(decoder: JsonDecoder, frame: Buffer, seq: int | None = None) -> JsonObject:
    """The JSON form of one whole frame; for a frame its struct type's table cannot read (a
    cut or damaged frame, docs/faults.md), its header and the bytes after it as `rec.raw`,
    from which the JSON reader makes the same bytes again. FrameError only for a frame
    without a whole header."""
    try:
        return decoder(frame, 0, seq)
    except FrameError:
        return raw_frame_json(decoder.codec, frame, 0, len(frame), seq)


def frame_from_json(
    codec: FrameCodec, obj: Mapping[str, Any], *, unknown_fields_unread: bool = False
) -> Frame:
    """A Frame from its JSON form; JsonFormError names the key that is wrong.

    A record of a struct type no table here describes, given field by field, cannot be
    laid out: an error, unless `unknown_fields_unread`, when it is an empty RawRec — for
    a reader of headers only (`check`), as it reads the bytes of such a type in binary
    frames without knowing their fields."""
    key = "?"
    try:
        key = "StructType"
        struct_type = _int(obj["StructType"])
        key = "Class"
        bill_class = _int(obj["Class"])
        key = "ServerName"
        server = _str(obj["ServerName"])
        key = "TimeStamp"
        timestamp = parse_timedate(_str(obj["TimeStamp"]))
        key = "Len"
        length = _int(obj.get("Len", 0))
        key = "rec"
        rec_obj = obj["rec"]
        kind_codec = codec.kind_codec(struct_type)
        if kind_codec is None and "raw" not in rec_obj and unknown_fields_unread:
            if not isinstance(rec_obj, Mapping):
                raise TypeError(f"expected an object of fields, not {type(rec_obj).__name__}")
            return Frame(struct_type, bill_class, server, timestamp, RawRec(b""), length)
        if kind_codec is None and "raw" not in rec_obj:
            raise JsonFormError(
                f"struct type {struct_type} has fields by name, but no table here "
                "describes it: declare its type (--scenario) or give rec.raw"
            )
        if "raw" in rec_obj or kind_codec is None:
            rec: Any = RawRec(bytes.fromhex(_str(rec_obj["raw"])))
        else:
            rec = _record_from_json(kind_codec.kind, rec_obj)
    except (KeyError, TypeError, ValueError) as error:
        detail = f"missing {error}" if isinstance(error, KeyError) else str(error)
        raise JsonFormError(f"{key}: {detail}") from None
    return Frame(struct_type, bill_class, server, timestamp, rec, length)


def _record_from_json(kind: RecordKind, obj: Mapping[str, Any]) -> Any:
    values: dict[str, Any] = {}
    for name, ctype in kind.fields:
        if name in kind.derived:
            continue
        try:
            values[name] = value_from_json(ctype, obj[name])
        except (KeyError, TypeError, ValueError) as error:
            detail = "missing" if isinstance(error, KeyError) else str(error)
            raise ValueError(f"{name}: {detail}") from None
    if kind.python_type is CustomRec:
        return CustomRec(tuple(values.values()))
    if kind.python_type is MailRec:
        recipients = obj.get("Recipients", [])
        if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
            raise ValueError("Recipients: expected a list of strings")
        _check_derived(obj, "RecipientSize", utf8_len(",".join(recipients)))
        return MailRec(**values, Recipients=tuple(recipients))
    if kind.python_type is AgentRec:
        for length, string in zip(AGENT_LENGTH_NAMES, AGENT_STRING_NAMES, strict=True):
            value = obj.get(string)
            if not isinstance(value, str):
                raise ValueError(f"{string}: expected a string, got {quoted(value)}")
            values[string] = value
            _check_derived(obj, length, utf8_len(value))
        return AgentRec(**values)
    if kind.python_type is HttpReqRec:
        # Offsets count from the first byte of HTTPREQREC, whose fields need no padding
        # in any layout: the strings start right after its 28 bytes.
        position = sum(ctype.size for _, ctype in kind.fields)
        for string, offset_name in zip(HTTP_STRING_NAMES, HTTP_OFFSET_NAMES, strict=True):
            value = obj.get(string)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{string}: expected a string or null")
            values[string] = value
            _check_derived(obj, offset_name, 0 if value is None else position, "offset")
            if value is not None:
                position += utf8_len(value) + 1
        return HttpReqRec(**values)
    return kind.python_type(**values)


def _check_derived(obj: Mapping[str, Any], name: str, actual: int, what: str = "bytes") -> None:
    """A length or offset the codec derives must agree with the JSON if the JSON gives it."""
    if name in obj and obj[name] != actual:
        unit = f"{actual} bytes" if what == "bytes" else f"{what} {actual}"
        raise ValueError(f"{name}: {obj[name]} disagrees with the data it describes ({unit})")
