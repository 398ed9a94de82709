"""C field tables compiled once to `struct.Struct`, under the natural or the packed layout."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from enum import StrEnum

from simulator.errors import quoted


class Layout(StrEnum):
    """How a C compiler lays the structs out on the platform a consumer runs on."""

    LINUX_X86_64 = "linux-x86_64"  # natural alignment; also Win64
    WIN32 = "win32"  # #pragma pack(1)

    @property
    def packed(self) -> bool:
        return self is Layout.WIN32


class Framing(StrEnum):
    PAD_UNION = "pad-union"  # at least sizeof(BILLMSG), as BILLMNGR writes it
    COMPACT = "compact"


@dataclass(frozen=True, slots=True)
class CType:
    """A C type as the wire sees it: its struct codes, size and natural alignment.

    `kind` says how a value of this type looks in Python and in JSON; two types can
    share bytes and differ in kind (TIMEDATE is a time, DBID is the same bytes as an id).
    """

    name: str
    codes: str
    size: int
    align: int
    kind: str


WORD = CType("WORD", "H", 2, 2, "int")
DWORD = CType("DWORD", "I", 4, 4, "int")
NOTEID = CType("NOTEID", "I", 4, 4, "int")
NUMBER = CType("NUMBER", "d", 8, 8, "float")
TIMEDATE = CType("TIMEDATE", "II", 8, 4, "time")
DBID = CType("DBID", "II", 8, 4, "id")
SESSIONID = CType("SESSIONID", "HH", 4, 2, "sessionid")
UNID = CType("UNID", "IIII", 16, 4, "unid")
OID = CType("OID", "IIIIIII", 28, 4, "oid")

SCALAR_TYPES: dict[str, CType] = {
    t.name: t for t in (WORD, DWORD, NOTEID, NUMBER, TIMEDATE, DBID, UNID, OID)
}
_CHAR_ARRAY = re.compile(r"^char\[(\d+)\]$")


def char(length: int) -> CType:
    """`char[length]`: a NUL-terminated string, so it holds at most length - 1 bytes."""
    if length < 1:
        raise ValueError("a char array needs at least one byte")
    return CType(f"char[{length}]", f"{length}s", length, 1, "str")


def parse_ctype(text: str) -> CType:
    """A custom type's field type as a scenario spells it (`DWORD`, `char[257]`, …)."""
    spelled = text.strip()
    if spelled in SCALAR_TYPES:
        return SCALAR_TYPES[spelled]
    match = _CHAR_ARRAY.match(spelled.replace(" ", ""))
    if match and int(match[1]) >= 1:
        return char(int(match[1]))
    known = ", ".join([*SCALAR_TYPES, "char[N]"])
    raise ValueError(f"unknown C type {quoted(text)} (one of {known})")


Field = tuple[str, CType]


@dataclass(frozen=True, slots=True)
class CompiledStruct:
    """A field table laid out: the struct format, each field's offset, sizeof and alignment."""

    fields: tuple[Field, ...]
    format: str
    offsets: dict[str, int]
    size: int
    align: int


def _round_up(value: int, align: int) -> int:
    return -(-value // align) * align


def compile_fields(fields: tuple[Field, ...], layout: Layout, *, start: int = 0) -> CompiledStruct:
    """Lay a field table out as the C compiler would, from byte `start` of the enclosing struct.

    The format has explicit `x` padding and no byte-order alignment of its own (`<`),
    so the same table gives both layouts.
    """
    codes: list[str] = []
    offsets: dict[str, int] = {}
    position = 0
    struct_align = 1
    for name, ctype in fields:
        align = 1 if layout.packed else ctype.align
        struct_align = max(struct_align, align)
        aligned = _round_up(start + position, align) - start
        if aligned > position:
            codes.append(f"{aligned - position}x")
        offsets[name] = aligned
        codes.append(ctype.codes)
        position = aligned + ctype.size
    size = _round_up(position, struct_align)
    if size > position:
        codes.append(f"{size - position}x")
    fmt = "".join(codes)
    assert struct.calcsize("<" + fmt) == size, (fields, layout)
    return CompiledStruct(fields, fmt, offsets, size, struct_align)
