"""Every size and offset docs/wire-format.md states, asserted against the compiled field tables.

The expected numbers are literals copied from docs/wire-format.md (or, for win32, the sums its
"fields follow one another with no padding" implies): the document is the oracle.
"""

from __future__ import annotations

import struct

import pytest

from simulator.wire.codec import frame_geometry
from simulator.wire.layout import (
    DBID,
    DWORD,
    NOTEID,
    NUMBER,
    OID,
    SESSIONID,
    TIMEDATE,
    UNID,
    WORD,
    CType,
    Layout,
    char,
    compile_fields,
    parse_ctype,
)
from simulator.wire.records import (
    AGENTREC,
    BUILTIN_KINDS,
    DBREC,
    DOCUMENT,
    HEADER_FIELDS,
    HTTPREQREC,
    MAILREC,
    REPLREC,
    SESSIONREC,
    RecordKind,
)

NATURAL = Layout.LINUX_X86_64
PACKED = Layout.WIN32

# docs/wire-format.md, "Record sizes and offsets (natural alignment), relative to `rec`".
NATURAL_RECORDS: dict[str, tuple[int, dict[str, int]]] = {
    "SESSIONREC": (
        336,
        {
            "SessionID": 0,
            "Action": 4,
            "Username": 6,
            "BytesIn": 264,
            "BytesOut": 268,
            "NetAdr": 272,
        },
    ),
    "DBREC": (
        276,
        {"SessionID": 0, "Action": 4, "Username": 6, "DBOpenTime": 264, "ReplicaID": 268},
    ),
    "REPLREC": (
        536,
        {
            "SessionID": 0,
            "BytesIn": 4,
            "BytesOut": 8,
            "ReplicaID": 12,
            "Source": 20,
            "Destination": 277,
            "Priority": 534,
        },
    ),
    "DOCUMENT": (
        312,
        {"Type": 0, "ReplicaID": 4, "Username": 12, "OriginatorID": 272, "Charge": 304},
    ),
    "MAILREC": (
        716,
        {
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
    ),
    "AGENTREC": (16, {"ULen": 0, "TLen": 2, "DLen": 4, "ElapsedRunTime": 8, "Flags": 12}),
    "HTTPREQREC": (
        28,
        {
            "HttpContentLength": 0,
            "HttpReqTimeMs": 4,
            "HttpStatusCode": 8,
            "HttpTimeStampOffset": 12,
            "HttpAuthUserOffset": 14,
            "HttpPartnerOffset": 16,
            "HttpRefererOffset": 18,
            "HttpServerAddrOffset": 20,
            "HttpUserAgentOffset": 22,
            "HttpRequestLineOffset": 24,
            "HttpContentTypeOffset": 26,
        },
    ),
}

# docs/wire-format.md: "`win32` (packed) record sizes: SESSIONREC 335, DBREC 275, REPLREC 536,
# DOCUMENT 303, MAILREC 710, AGENTREC 14, HTTPREQREC 28; fields follow one another with no
# padding." The offsets are the running sums of the field sizes (WORD 2, DWORD 4, TIMEDATE 8,
# SESSIONID 4, OID 28, UNID 16, NUMBER 8, char[257], char[64], char[130]).
PACKED_RECORDS: dict[str, tuple[int, dict[str, int]]] = {
    "SESSIONREC": (
        335,
        {
            "SessionID": 0,
            "Action": 4,
            "Username": 6,
            "BytesIn": 263,
            "BytesOut": 267,
            "NetAdr": 271,
        },
    ),
    "DBREC": (
        275,
        {"SessionID": 0, "Action": 4, "Username": 6, "DBOpenTime": 263, "ReplicaID": 267},
    ),
    "REPLREC": (
        536,
        {
            "SessionID": 0,
            "BytesIn": 4,
            "BytesOut": 8,
            "ReplicaID": 12,
            "Source": 20,
            "Destination": 277,
            "Priority": 534,
        },
    ),
    "DOCUMENT": (
        303,
        {"Type": 0, "ReplicaID": 2, "Username": 10, "OriginatorID": 267, "Charge": 295},
    ),
    "MAILREC": (
        710,
        {
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
    ),
    "AGENTREC": (14, {"ULen": 0, "TLen": 2, "DLen": 4, "ElapsedRunTime": 6, "Flags": 10}),
    "HTTPREQREC": (
        28,
        {
            "HttpContentLength": 0,
            "HttpReqTimeMs": 4,
            "HttpStatusCode": 8,
            "HttpTimeStampOffset": 12,
            "HttpAuthUserOffset": 14,
            "HttpPartnerOffset": 16,
            "HttpRefererOffset": 18,
            "HttpServerAddrOffset": 20,
            "HttpUserAgentOffset": 22,
            "HttpRequestLineOffset": 24,
            "HttpContentTypeOffset": 26,
        },
    ),
}

EXPECTED = {NATURAL: NATURAL_RECORDS, PACKED: PACKED_RECORDS}
KINDS: dict[str, RecordKind] = {
    "SESSIONREC": SESSIONREC,
    "DBREC": DBREC,
    "REPLREC": REPLREC,
    "DOCUMENT": DOCUMENT,
    "MAILREC": MAILREC,
    "AGENTREC": AGENTREC,
    "HTTPREQREC": HTTPREQREC,
}
LAYOUTS = pytest.mark.parametrize("layout", [NATURAL, PACKED], ids=str)


def test_every_builtin_kind_is_listed() -> None:
    assert {kind.name for kind in BUILTIN_KINDS} == set(KINDS)
    assert all(KINDS[name].name == name for name in KINDS)


def test_primitive_sizes() -> None:
    # docs/wire-format.md "Types".
    sizes = {
        WORD: (2, 2),
        DWORD: (4, 4),
        NOTEID: (4, 4),
        NUMBER: (8, 8),
        TIMEDATE: (8, 4),
        DBID: (8, 4),
        SESSIONID: (4, 2),
        UNID: (16, 4),
        OID: (28, 4),
    }
    for ctype, (size, align) in sizes.items():
        assert (ctype.size, ctype.align) == (size, align), ctype.name
        assert struct.calcsize("<" + ctype.codes) == size, ctype.name
    assert char(257).size == 257
    assert char(257).align == 1


def test_natural_header() -> None:
    geometry = frame_geometry(NATURAL)
    assert geometry.header.offsets == {
        "Len": 0,
        "StructType": 2,
        "Class": 4,
        "ServerName": 8,
        "TimeStamp": 268,
    }
    # TimeStamp ends at 276; 4 pad bytes put rec at 280.
    assert geometry.header.size == 276
    assert geometry.rec_offset == 280
    assert geometry.billmsg_size == 1000


def test_packed_header() -> None:
    geometry = frame_geometry(PACKED)
    assert geometry.header.offsets == {
        "Len": 0,
        "StructType": 2,
        "Class": 4,
        "ServerName": 8,
        "TimeStamp": 265,
    }
    assert geometry.header.size == 273
    assert geometry.rec_offset == 273
    assert geometry.billmsg_size == 983


def test_header_compiles_directly() -> None:
    assert compile_fields(HEADER_FIELDS, NATURAL).offsets["TimeStamp"] == 268
    assert compile_fields(HEADER_FIELDS, PACKED).size == 273


@LAYOUTS
@pytest.mark.parametrize("name", list(NATURAL_RECORDS))
def test_record_size_and_offsets(layout: Layout, name: str) -> None:
    size, offsets = EXPECTED[layout][name]
    compiled = compile_fields(KINDS[name].fields, layout)
    assert compiled.size == size
    assert compiled.offsets == offsets
    assert list(compiled.offsets) == [field for field, _ in KINDS[name].fields]
    assert struct.calcsize("<" + compiled.format) == size


@LAYOUTS
@pytest.mark.parametrize("name", list(NATURAL_RECORDS))
def test_record_compiled_at_rec_offset_is_the_same(layout: Layout, name: str) -> None:
    """Laid out from `rec` inside the frame, a record keeps its offsets (rec is 8-aligned)."""
    geometry = frame_geometry(layout)
    inside = compile_fields(KINDS[name].fields, layout, start=geometry.rec_offset)
    assert inside.size == EXPECTED[layout][name][0]
    assert inside.offsets == EXPECTED[layout][name][1]


@pytest.mark.parametrize("name", list(PACKED_RECORDS))
def test_packed_fields_are_contiguous(name: str) -> None:
    compiled = compile_fields(KINDS[name].fields, PACKED)
    position = 0
    for field, ctype in KINDS[name].fields:
        assert compiled.offsets[field] == position, field
        position += ctype.size
    assert position == compiled.size
    assert "x" not in compiled.format


def test_billmsg_is_rec_plus_largest_record() -> None:
    # sizeof(BILLMSG): natural 280 + 720 (MAILREC 716 rounded to the union's 8), packed 273 + 710.
    assert frame_geometry(NATURAL).billmsg_size == 280 + 720
    assert frame_geometry(PACKED).billmsg_size == 273 + 710


def test_natural_alignment_pads_with_explicit_x() -> None:
    # DOCUMENT: Type (2) + 2 pad, Username ends at 269 + 3 pad, OID ends at 300 + 4 pad.
    compiled = compile_fields(DOCUMENT.fields, NATURAL)
    assert compiled.format == "H2xII257s3xIIIIIII4xd"
    assert struct.calcsize("<" + compiled.format) == 312
    assert compiled.align == 8
    assert compile_fields(DOCUMENT.fields, PACKED).align == 1


def test_trailing_padding_to_struct_alignment() -> None:
    fields: tuple[tuple[str, CType], ...] = (("a", DWORD), ("b", char(1)))
    assert compile_fields(fields, NATURAL).size == 8
    assert compile_fields(fields, PACKED).size == 5
    with_number: tuple[tuple[str, CType], ...] = (("a", WORD), ("n", NUMBER), ("c", char(3)))
    natural = compile_fields(with_number, NATURAL)
    assert natural.offsets == {"a": 0, "n": 8, "c": 16}
    assert natural.size == 24
    assert compile_fields(with_number, PACKED).offsets == {"a": 0, "n": 2, "c": 10}


def test_start_shifts_alignment() -> None:
    """Fields laid out from an odd byte of the enclosing struct align on the absolute offset."""
    fields: tuple[tuple[str, CType], ...] = (("a", char(1)), ("b", DWORD))
    assert compile_fields(fields, NATURAL, start=0).offsets == {"a": 0, "b": 4}
    assert compile_fields(fields, NATURAL, start=1).offsets == {"a": 0, "b": 3}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("WORD", WORD),
        ("DWORD", DWORD),
        ("NUMBER", NUMBER),
        ("NOTEID", NOTEID),
        ("TIMEDATE", TIMEDATE),
        ("DBID", DBID),
        ("UNID", UNID),
        ("OID", OID),
        (" DWORD ", DWORD),
        ("char[257]", char(257)),
        ("char [ 64 ]", char(64)),
        ("char[1]", char(1)),
    ],
)
def test_parse_ctype(text: str, expected: CType) -> None:
    assert parse_ctype(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "word", "INT", "char", "char[]", "char[0]", "char[-1]", "char[x]", "char(4)", "SESSIONID"],
)
def test_parse_ctype_errors(text: str) -> None:
    with pytest.raises(ValueError, match="unknown C type") as info:
        parse_ctype(text)
    assert repr(text) in str(info.value)


def test_char_needs_a_byte() -> None:
    with pytest.raises(ValueError, match="at least one byte"):
        char(0)
