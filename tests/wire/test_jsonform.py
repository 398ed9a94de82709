"""The JSON form of a frame (docs/wire-format.md), and binary → JSON → binary.

The expected objects are written by hand from the JSON form's rules (docs/wire-format.md),
not produced by the code under test.
"""

from __future__ import annotations

import copy
import json
import math
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import BOB, JDN, MAIL_OID, MAIL_REC, STAMP
from samples import FRAMES as SAMPLE_FRAMES

from simulator.wire.codec import FrameCodec, FrameError
from simulator.wire.jsonform import JsonDecoder, JsonFormError, frame_from_json
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
from simulator.wire.timedate import TimeDate

NATURAL = Layout.LINUX_X86_64
PACKED = Layout.WIN32
PAD = Framing.PAD_UNION
COMPACT = Framing.COMPACT
COMBINATIONS = [(layout, framing) for layout in (NATURAL, PACKED) for framing in (PAD, COMPACT)]

_CODECS = {key: FrameCodec(*key) for key in COMBINATIONS}
_DECODERS = {key: JsonDecoder(codec) for key, codec in _CODECS.items()}

# --- One frame of each type: the values, and their JSON form written out by hand ------------

# The shared samples, but for two values pinned to edge cases of the JSON form, which the
# JSON below is written out for by hand.
FRAMES: dict[str, Frame] = {
    **SAMPLE_FRAMES,
    # A header time stamp with the DST bit and zone 5 west: rendered as an id.
    "REPLREC": SAMPLE_FRAMES["REPLREC"]._replace(TimeStamp=TimeDate(0x006CDCC0, 0x852563FC)),
    "MAILREC": SAMPLE_FRAMES["MAILREC"]._replace(
        rec=MAIL_REC._replace(
            # Zone bits: the SequenceTime in id form.
            OriginatorID=MAIL_OID._replace(SequenceTime=TimeDate(0x00000001, 0x40258EB6)),
            # A recipient not in ASCII: RecipientSize counts bytes (41), not characters.
            Recipients=(BOB, "CN=Carol Díaz/O=Acme"),
        )
    ),
}


def _header(len_: int, struct_type: int, bill_class: int, seq: int) -> dict[str, Any]:
    return {
        "Len": len_,
        "StructType": struct_type,
        "Class": bill_class,
        "ServerName": "CN=Mail01/O=Acme",
        "TimeStamp": "2026-11-21T09:15:00.00Z",
        "seq": seq,
    }


# linux-x86_64, pad-union: every frame 1000 bytes but the MAILREC (996 + 41 of recipients).
EXPECTED_JSON: dict[str, dict[str, Any]] = {
    "SESSIONREC": {
        **_header(1000, 1, 1, 1),
        "rec": {
            "SessionID": {"Index": 3, "SeqNo": 1},
            "Action": 1,
            "Username": "CN=Alice Smith/O=Acme",
            "BytesIn": 400,
            "BytesOut": 2200,
            "NetAdr": "10.1.2.3",
        },
    },
    "DBREC": {
        **_header(1000, 4001, 16, 2),
        "rec": {
            "SessionID": {"Index": 3, "SeqNo": 1},
            "Action": 3,
            "Username": "CN=Alice Smith/O=Acme",
            "DBOpenTime": 123456,
            "ReplicaID": "85258A3B:0052C1F0",
        },
    },
    "REPLREC": {
        **_header(1000, 1001, 2, 3),
        "TimeStamp": "852563FC:006CDCC0",
        "rec": {
            "SessionID": {"Index": 4, "SeqNo": 2},
            "BytesIn": 90000,
            "BytesOut": 1200,
            "ReplicaID": "85258A3B:0052C1F1",
            "Source": "CN=Hub01/O=Acme",
            "Destination": "CN=Mail01/O=Acme",
            "Priority": 1,
        },
    },
    "DOCUMENT": {
        **_header(1000, 2001, 4, 4),
        "rec": {
            "Type": 1,
            "ReplicaID": "85258A3B:0052C1F1",
            "Username": "CN=Zoë Müller/O=Acme",
            "OriginatorID": {
                "File": "85258A3B:0052C1F1",
                "Note": "00258EB6:00002306",
                "Sequence": 7,
                "SequenceTime": "2026-11-21T09:00:00.00Z",
            },
            "Charge": 0.05,
        },
    },
    "MAILREC": {
        **_header(1037, 3001, 8, 5),
        "rec": {
            "FormType": "Memo",
            "OriginatorID": {
                "File": "85258A3B:11223344",
                "Note": "0099AABB:55667788",
                "Sequence": 1,
                "SequenceTime": "40258EB6:00000001",
            },
            "OrigMessageID": "05060708010203040D0E0F10090A0B0C",
            "MessageSize": 48213,
            "HopName": "CN=Hub01/O=Acme",
            "Priority": 1,
            "RoutingState": 0,
            "Report": 1,
            "Originator": "CN=Alice Smith/O=Acme",
            "RecipientCount": 2,
            "RecipientSize": 41,
            "PostedDate": "2026-11-21T09:10:00.00Z",
            "Recipients": ["CN=Bob Jones/O=Acme", "CN=Carol Díaz/O=Acme"],
        },
    },
    "AGENTREC": {
        **_header(1000, 5001, 32, 6),
        "rec": {
            "ULen": 21,
            "TLen": 4,
            "DLen": 15,
            "ElapsedRunTime": 350,
            "Flags": 4,
            "UserName": "CN=Alice Smith/O=Acme",
            "TaskName": "AMgr",
            "DatabaseName": "apps/orders.nsf",
        },
    },
    "HTTPREQREC": {
        **_header(1000, 6001, 64, 7),
        "rec": {
            "HttpContentLength": 5120,
            "HttpReqTimeMs": 35,
            "HttpStatusCode": 200,
            "HttpTimeStampOffset": 28,
            "HttpAuthUserOffset": 0,
            "HttpPartnerOffset": 55,
            "HttpRefererOffset": 0,
            "HttpServerAddrOffset": 64,
            "HttpUserAgentOffset": 74,
            "HttpRequestLineOffset": 86,
            "HttpContentTypeOffset": 132,
            "TimeStamp": "21/Nov/2026:09:15:00 +0000",
            "AuthUser": None,
            "Partner": "10.1.2.9",
            "Referer": None,
            "ServerAddr": "127.0.0.1",
            "UserAgent": "Mozilla/5.0",
            "RequestLine": "GET /apps/orders.nsf/byDate?OpenView HTTP/1.1",
            "ContentType": "text/html",
        },
    },
}
KIND_NAMES = list(FRAMES)
SEQ = {name: index + 1 for index, name in enumerate(KIND_NAMES)}
# Len per (layout, framing): natural compact = 280 + record (+ variable data), packed 273 + ….
LEN: dict[tuple[Layout, Framing], dict[str, int]] = {
    (NATURAL, PAD): {name: obj["Len"] for name, obj in EXPECTED_JSON.items()},
    (NATURAL, COMPACT): {
        "SESSIONREC": 616,
        "DBREC": 556,
        "REPLREC": 816,
        "DOCUMENT": 592,
        "MAILREC": 1037,
        "AGENTREC": 336,
        "HTTPREQREC": 422,
    },
    (PACKED, PAD): {name: 983 for name in KIND_NAMES} | {"MAILREC": 1024},
    (PACKED, COMPACT): {
        "SESSIONREC": 608,
        "DBREC": 548,
        "REPLREC": 809,
        "DOCUMENT": 576,
        "MAILREC": 1024,
        "AGENTREC": 327,
        "HTTPREQREC": 415,
    },
}


@pytest.mark.parametrize(("layout", "framing"), COMBINATIONS, ids=str)
@pytest.mark.parametrize("name", KIND_NAMES)
def test_exact_json_form(layout: Layout, framing: Framing, name: str) -> None:
    codec = _CODECS[layout, framing]
    data = codec.encode(FRAMES[name])
    expected = {**EXPECTED_JSON[name], "Len": LEN[layout, framing][name]}
    got = _DECODERS[layout, framing](data, 0, SEQ[name])
    assert got == expected
    assert json.loads(json.dumps(got)) == expected
    # And back, from the hand-written object: the same frame, the same bytes.
    frame = frame_from_json(codec, expected)
    assert frame == FRAMES[name]._replace(Len=len(data))
    assert codec.encode(frame) == data


def test_json_text_of_a_frame() -> None:
    """What a subscriber sees with `--payload json` (ASCII-escaped or not, the same object)."""
    codec = _CODECS[NATURAL, PAD]
    got = _DECODERS[NATURAL, PAD](codec.encode(FRAMES["SESSIONREC"]), 0, 1)
    text = json.dumps(got, separators=(",", ":"))
    assert text == (
        '{"Len":1000,"StructType":1,"Class":1,"ServerName":"CN=Mail01/O=Acme",'
        '"TimeStamp":"2026-11-21T09:15:00.00Z","rec":{"SessionID":{"Index":3,"SeqNo":1},'
        '"Action":1,"Username":"CN=Alice Smith/O=Acme","BytesIn":400,"BytesOut":2200,'
        '"NetAdr":"10.1.2.3"},"seq":1}'
    )


def test_seq_is_optional() -> None:
    codec = _CODECS[NATURAL, PAD]
    got = _DECODERS[NATURAL, PAD](codec.encode(FRAMES["DBREC"]))
    assert "seq" not in got
    assert frame_from_json(codec, got) == FRAMES["DBREC"]._replace(Len=1000)


def test_json_decoder_at_an_offset_and_errors() -> None:
    codec = _CODECS[PACKED, COMPACT]
    data = codec.encode(FRAMES["MAILREC"])
    decoder = _DECODERS[PACKED, COMPACT]
    assert decoder(b"\0" * 3 + data, 3, 5) == {**EXPECTED_JSON["MAILREC"], "Len": 1024}
    with pytest.raises(FrameError, match="truncated") as info:
        decoder(b"\0" * 3 + data[:-1], 3)
    assert info.value.offset == 3
    bad = bytearray(data)
    bad[273 + 700] += 1  # RecipientSize one past Len
    with pytest.raises(FrameError, match="RecipientSize") as info:
        decoder(b"\0" * 3 + bytes(bad), 3)
    assert info.value.offset == 3


def test_unknown_struct_type_is_header_plus_raw() -> None:
    codec = _CODECS[NATURAL, COMPACT]
    data = bytearray(codec.encode(FRAMES["AGENTREC"]))
    data[2:4] = (40000).to_bytes(2, "little")
    got = _DECODERS[NATURAL, COMPACT](bytes(data), 0, 9)
    assert got == {
        "Len": 336,
        "StructType": 40000,
        "Class": 32,
        "ServerName": "CN=Mail01/O=Acme",
        "TimeStamp": "2026-11-21T09:15:00.00Z",
        "rec": {"raw": bytes(data[276:]).hex()},
        "seq": 9,
    }
    assert got["rec"]["raw"].startswith("00000000" + "1500" + "0400" + "0f00")
    frame = frame_from_json(codec, got)
    assert frame.rec == RawRec(bytes(data[276:]))
    assert codec.encode(frame) == bytes(data)


def test_a_type_without_a_table_given_by_field_name_is_an_error_or_its_header_alone() -> None:
    codec = _CODECS[NATURAL, COMPACT]
    obj = {
        "StructType": 32001,
        "Class": 2,
        "ServerName": "CN=Mail01/O=Acme",
        "TimeStamp": "2026-11-21T09:15:00.00Z",
        "rec": {"Username": "CN=Alice Smith/O=Acme", "dbNoteID": 8442},
    }
    with pytest.raises(JsonFormError, match=r"has fields by name.*--scenario"):
        frame_from_json(codec, obj)
    # For a reader of headers (check): the header, and a record it does not read.
    frame = frame_from_json(codec, obj, unknown_fields_unread=True)
    assert frame[:4] == (32001, 2, "CN=Mail01/O=Acme", STAMP)
    assert frame.rec == RawRec(b"")


# --- Errors name the key --------------------------------------------------------------------


def _json_of(name: str) -> dict[str, Any]:
    return copy.deepcopy(EXPECTED_JSON[name])


def _without(obj: dict[str, Any], *path: str) -> dict[str, Any]:
    target = obj
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return obj


def _with(obj: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return obj


BAD_JSON: list[tuple[str, dict[str, Any], str]] = [
    ("no StructType", _without(_json_of("SESSIONREC"), "StructType"), "StructType"),
    ("bool StructType", _with(_json_of("SESSIONREC"), True, "StructType"), "StructType"),
    ("string Class", _with(_json_of("SESSIONREC"), "1", "Class"), "Class"),
    ("no ServerName", _without(_json_of("SESSIONREC"), "ServerName"), "ServerName"),
    ("bad TimeStamp", _with(_json_of("SESSIONREC"), "yesterday", "TimeStamp"), "TimeStamp"),
    ("float Len", _with(_json_of("SESSIONREC"), 1000.0, "Len"), "Len"),
    ("no rec", _without(_json_of("SESSIONREC"), "rec"), "rec"),
    ("no Username", _without(_json_of("SESSIONREC"), "rec", "Username"), "Username"),
    ("int NetAdr", _with(_json_of("SESSIONREC"), 10, "rec", "NetAdr"), "NetAdr"),
    ("bad SessionID", _without(_json_of("SESSIONREC"), "rec", "SessionID", "SeqNo"), "SessionID"),
    (
        "bad ReplicaID",
        _with(_json_of("DBREC"), "85258A3B-0052C1F0", "rec", "ReplicaID"),
        "ReplicaID",
    ),
    ("float DBOpenTime", _with(_json_of("DBREC"), 1.5, "rec", "DBOpenTime"), "DBOpenTime"),
    (
        "bad OID",
        _with(_json_of("DOCUMENT"), "7", "rec", "OriginatorID", "Sequence"),
        "OriginatorID",
    ),
    ("string Charge", _with(_json_of("DOCUMENT"), "0.05", "rec", "Charge"), "Charge"),
    ("short UNID", _with(_json_of("MAILREC"), "0" * 31, "rec", "OrigMessageID"), "OrigMessageID"),
    ("bad PostedDate", _with(_json_of("MAILREC"), "2026-11-21", "rec", "PostedDate"), "PostedDate"),
    ("Recipients str", _with(_json_of("MAILREC"), "a,b", "rec", "Recipients"), "Recipients"),
    ("Recipients ints", _with(_json_of("MAILREC"), [1, 2], "rec", "Recipients"), "Recipients"),
    ("RecipientSize", _with(_json_of("MAILREC"), 40, "rec", "RecipientSize"), "RecipientSize"),
    (
        "RecipientSize, no list",
        _without(_json_of("MAILREC"), "rec", "Recipients"),
        "RecipientSize",
    ),
    ("ULen", _with(_json_of("AGENTREC"), 22, "rec", "ULen"), "ULen"),
    ("TLen", _with(_json_of("AGENTREC"), 0, "rec", "TLen"), "TLen"),
    ("DLen", _with(_json_of("AGENTREC"), 14, "rec", "DLen"), "DLen"),
    ("ULen of multibyte", _with(_json_of("AGENTREC"), "Zoë", "rec", "UserName"), "ULen"),
    ("no TaskName", _without(_json_of("AGENTREC"), "rec", "TaskName"), "TaskName"),
    ("null DatabaseName", _with(_json_of("AGENTREC"), None, "rec", "DatabaseName"), "DatabaseName"),
    ("int UserAgent", _with(_json_of("HTTPREQREC"), 5, "rec", "UserAgent"), "UserAgent"),
    (
        "offset disagrees",
        _with(_json_of("HTTPREQREC"), 56, "rec", "HttpPartnerOffset"),
        "HttpPartnerOffset",
    ),
    (
        "absent but offset",
        _with(_json_of("HTTPREQREC"), 200, "rec", "HttpAuthUserOffset"),
        "HttpAuthUserOffset",
    ),
    (
        "string changed, offsets not",
        _with(_json_of("HTTPREQREC"), "10.1.2.10", "rec", "Partner"),
        "HttpServerAddrOffset",
    ),
    ("raw not hex", {**_json_of("SESSIONREC"), "StructType": 40000, "rec": {"raw": "zz"}}, "rec"),
]


@pytest.mark.parametrize(("case", "obj", "key"), BAD_JSON, ids=[case for case, _, _ in BAD_JSON])
def test_frame_from_json_errors_name_the_key(case: str, obj: dict[str, Any], key: str) -> None:
    with pytest.raises(JsonFormError) as info:
        frame_from_json(_CODECS[NATURAL, PAD], obj)
    assert key in str(info.value), case
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("bits", "text"),
    [
        (0x7FF8_0000_0000_0000, "nan"),  # float("nan"): the canonical quiet NaN
        (0x7FF8_0000_0000_0001, "nan:0x7ff8000000000001"),  # a payload
        (0xFFF8_0000_0000_0000, "nan:0xfff8000000000000"),  # the sign bit
        (0x7FF0_0000_0000_0001, "nan:0x7ff0000000000001"),  # signalling
        (0x7FF0_0000_0000_0000, "inf"),
        (0xFFF0_0000_0000_0000, "-inf"),
    ],
)
def test_non_finite_charge_round_trips_bit_for_bit(bits: int, text: str) -> None:
    codec = _CODECS[NATURAL, PAD]
    doc = FRAMES["DOCUMENT"]
    assert isinstance(doc.rec, DocumentRec)
    frame = doc._replace(rec=doc.rec._replace(Charge=_double(bits)))
    data = codec.encode(frame)
    assert struct.pack("<Q", bits) in data
    obj = JsonDecoder(codec)(data)
    assert obj["rec"]["Charge"] == text
    back = frame_from_json(codec, json.loads(json.dumps(obj, allow_nan=False)))
    assert codec.encode(back) == data


@pytest.mark.parametrize(
    "text",
    [
        "nan:0x0000000000000000",
        "nan:0x7ff0000000000000",
        "nan:0x7ff8",
        "nan:7ff8000000000001",
        "NaN",
    ],
)
def test_a_nan_spelling_that_is_not_a_nan_is_refused(text: str) -> None:
    obj = _with(_json_of("DOCUMENT"), text, "rec", "Charge")
    with pytest.raises(JsonFormError, match="Charge"):
        frame_from_json(_CODECS[NATURAL, PAD], obj)


def test_derived_fields_may_be_left_out() -> None:
    """The codec computes lengths and offsets; a JSON without them is complete."""
    codec = _CODECS[PACKED, PAD]
    for name in ("MAILREC", "AGENTREC", "HTTPREQREC"):
        obj = _json_of(name)
        for key in list(obj["rec"]):
            if key in ("RecipientSize", "ULen", "TLen", "DLen") or key.endswith("Offset"):
                del obj["rec"][key]
        assert codec.encode(frame_from_json(codec, obj)) == codec.encode(FRAMES[name])


# --- Binary → JSON → binary, over generated values -----------------------------------------

DWORD_MAX = 2**32 - 1
WORD_MAX = 2**16 - 1

words = st.one_of(st.sampled_from([0, 1, WORD_MAX]), st.integers(0, WORD_MAX))
dwords = st.one_of(st.sampled_from([0, 1, DWORD_MAX]), st.integers(0, DWORD_MAX))


def _double(bits: int) -> float:
    value: float = struct.unpack("<d", struct.pack("<Q", bits))[0]
    return value


# Every NaN: either sign, quiet or signalling, any payload (a mantissa that is not 0).
nans = st.builds(
    lambda sign, mantissa: _double(sign << 63 | 0x7FF << 52 | mantissa),
    st.integers(0, 1),
    st.one_of(
        st.sampled_from([1, 1 << 51, (1 << 51) | 1, (1 << 52) - 1]), st.integers(1, 2**52 - 1)
    ),
)
numbers = st.one_of(
    st.sampled_from([0.0, -0.0, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324, 0.05]),
    st.sampled_from([math.inf, -math.inf, math.nan]),
    st.floats(allow_nan=False, allow_infinity=False),
    nans,
)


def _bits(value: Any) -> Any:
    """`value` with each float as its bytes: equal when bit for bit equal, NaNs included."""
    if isinstance(value, float):
        return struct.pack("<d", value)
    if isinstance(value, tuple):
        return (type(value), *map(_bits, value))
    return value


timedates = st.one_of(
    st.builds(TimeDate, st.integers(0, 8_639_999), st.integers(1_721_426, 5_373_484)),
    st.builds(TimeDate, dwords, dwords),
    st.sampled_from(
        [
            TimeDate(0, 0),  # day 0
            TimeDate(8_640_000, JDN),  # ticks past the day
            TimeDate(DWORD_MAX, JDN),
            TimeDate(0x006CDCC0, 0x852563FC),  # DST, zone 5 west
            TimeDate(0, JDN | 0x4000_0000),  # east, zone 0
            TimeDate(0, JDN | 0x3000_0000),  # quarter hours only
            TimeDate(8_639_999, 5_373_484),  # 9999-12-31T23:59:59.99Z
            TimeDate(0, 1_721_426),  # 0001-01-01
            TimeDate(0, 1_721_425),  # the day before
        ]
    ),
)


def _clip(text: str, max_bytes: int) -> str:
    """At most max_bytes of UTF-8, cut at a character boundary."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")


def utf8_text(max_bytes: int, exclude: str = "\0") -> st.SearchStrategy[str]:
    """Text within a byte limit: empty, exactly full (1- to 4-byte characters), or random."""
    alphabet = st.characters(codec="utf-8", exclude_characters=exclude)
    fill = [
        "",
        "a" * max_bytes,
        "é" * (max_bytes // 2) + "a" * (max_bytes % 2),
        "€" * (max_bytes // 3) + "a" * (max_bytes % 3),
        "😀" * (max_bytes // 4) + "a" * (max_bytes % 4),
        "a" + "😀" * ((max_bytes - 1) // 4),
    ]
    return st.one_of(
        st.sampled_from([_clip(text, max_bytes) for text in fill]),
        st.text(alphabet, max_size=max_bytes).map(lambda text: _clip(text, max_bytes)),
    )


names = utf8_text(256)
session_ids = st.builds(SessionID, words, words)
oids = st.builds(Oid, timedates, timedates, dwords, timedates)
unids = st.builds(Unid, timedates, timedates)
http_strings = st.one_of(st.none(), utf8_text(300))

RECORDS: dict[str, st.SearchStrategy[Record]] = {
    "SESSIONREC": st.builds(SessionRec, session_ids, words, names, dwords, dwords, utf8_text(63)),
    "DBREC": st.builds(DbRec, session_ids, words, names, dwords, timedates),
    "REPLREC": st.builds(ReplRec, session_ids, dwords, dwords, timedates, names, names, words),
    "DOCUMENT": st.builds(DocumentRec, words, timedates, names, oids, numbers),
    "MAILREC": st.builds(
        MailRec,
        utf8_text(129),
        oids,
        unids,
        dwords,
        names,
        words,
        words,
        words,
        names,
        words,
        timedates,
        st.lists(utf8_text(256, exclude="\0,"), max_size=12).map(tuple),
    ),
    "AGENTREC": st.builds(
        AgentRec,
        dwords,
        dwords,
        # Not NUL-terminated: any character goes, NUL and comma included.
        utf8_text(400, exclude=""),
        utf8_text(400, exclude=""),
        utf8_text(400, exclude=""),
    ),
    "HTTPREQREC": st.builds(HttpReqRec, dwords, dwords, dwords, *(http_strings for _ in range(8))),
}
STRUCT_TYPES = {
    "SESSIONREC": 1,
    "REPLREC": 1001,
    "DOCUMENT": 2001,
    "MAILREC": 3001,
    "DBREC": 4001,
    "AGENTREC": 5001,
    "HTTPREQREC": 6001,
}


def _round_trip(layout: Layout, framing: Framing, frame: Frame, seq: int) -> None:
    codec = _CODECS[layout, framing]
    data = codec.encode(frame)
    obj = _DECODERS[layout, framing](data, 0, seq)
    assert obj["Len"] == len(data)
    assert obj["seq"] == seq
    # Strict JSON (no NaN tokens), ASCII-escaped: multibyte text travels as \u escapes.
    text = json.dumps(obj, allow_nan=False)
    back = frame_from_json(codec, json.loads(text))
    assert codec.encode(back) == data
    utf8_text_form = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    assert codec.encode(frame_from_json(codec, json.loads(utf8_text_form))) == data
    # The values survive too (Recipients [""] is the one spelling with no bytes of its own).
    if not (isinstance(frame.rec, MailRec) and frame.rec.Recipients == ("",)):
        assert _bits(back) == _bits(frame._replace(Len=len(data)))


@pytest.mark.parametrize("name", KIND_NAMES)
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_binary_json_binary(name: str, data: st.DataObject) -> None:
    layout, framing = data.draw(st.sampled_from(COMBINATIONS), label="layout, framing")
    frame = Frame(
        STRUCT_TYPES[name],
        data.draw(dwords, label="Class"),
        data.draw(names, label="ServerName"),
        data.draw(timedates, label="TimeStamp"),
        data.draw(RECORDS[name], label="rec"),
    )
    _round_trip(layout, framing, frame, data.draw(st.integers(1, 2**53), label="seq"))


@pytest.mark.parametrize(("layout", "framing"), COMBINATIONS, ids=str)
def test_binary_json_binary_at_the_limits(layout: Layout, framing: Framing) -> None:
    """The largest frame MQ$BILLING takes, and every string at its maximum, survive JSON."""
    full = "€" * 85 + "é"  # 257 bytes: one too many for char[257]
    rec = MailRec(
        _clip(full, 129),
        Oid(TimeDate(DWORD_MAX, DWORD_MAX), TimeDate(0, 0), DWORD_MAX, TimeDate(DWORD_MAX, 0)),
        Unid(TimeDate(DWORD_MAX, 0), TimeDate(0, DWORD_MAX)),
        DWORD_MAX,
        _clip(full, 256),
        WORD_MAX,
        WORD_MAX,
        WORD_MAX,
        _clip(full, 256),
        WORD_MAX,
        TimeDate(8_640_000, 0xFFFF_FFFF),
        (),
    )
    codec = _CODECS[layout, framing]
    room = 65342 - {NATURAL: 280 + 716, PACKED: 273 + 710}[layout]
    recipients = ("ü" * 100,) * (room // 201)
    recipients += ("x" * (room - len(",".join(recipients).encode()) - 1),)
    frame = Frame(
        3001, DWORD_MAX, _clip(full, 256), TimeDate(0, 0), rec._replace(Recipients=recipients)
    )
    assert len(codec.encode(frame)) == 65342
    _round_trip(layout, framing, frame, 1)
