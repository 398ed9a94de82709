"""A frame read into its row by one unpack (`RowMaker.read`) gives what the JSON form gives.

The oracle is how rows were made before: the frame's JSON form (`JsonDecoder`, itself
pinned by tests/wire/test_jsonform.py), each value taken from it as docs/addin.md says,
the header TimeStamp parsed back from its JSON text. Generated frames of every kind, in
both layouts and framings, with the edge cases of each C type, must give the same row,
float bits included; a frame that does not decode must be refused with the codec's words.
"""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import DOC_OID, FRAMES, JDN, SERVER, SERVER_CN, STAMP

from simulator.addin.rows import RAW_CUSTOM, RowMaker, Table, kind_table
from simulator.addin.store import Received
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec, FrameError
from simulator.wire.jsonform import JsonDecoder, JsonObject, value_from_json
from simulator.wire.layout import DBID, DWORD, NUMBER, OID, TIMEDATE, UNID, Framing, Layout, char
from simulator.wire.records import (
    AGENT_STRING_NAMES,
    HTTP_STRING_NAMES,
    AgentRec,
    CustomRec,
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
    custom_kind,
)
from simulator.wire.timedate import TimeDate, datetime_from_timedate, parse_timedate

COMBINATIONS = [(layout, framing) for layout in Layout for framing in Framing]
CUSTOM = custom_kind(
    "BILLX",
    32010,
    c.BILL_CLASS_SESSION,
    (("Amount", NUMBER), ("Ref", OID), ("When", TIMEDATE), ("Db", DBID), ("Doc", UNID),
     ("Name", char(33)), ("Count", DWORD)),
)  # fmt: skip
CODECS = {
    (layout, framing): FrameCodec(layout, framing, [CUSTOM]) for layout, framing in COMBINATIONS
}
SENT_US = 1_795_000_000_123_456
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def reference_row(codec: FrameCodec, item: Received) -> tuple[Table, tuple[Any, ...]]:
    """The row as it was made from the JSON form."""
    obj = JsonDecoder(codec)(item.frame)
    meta = (
        item.server,
        item.run,
        item.seq,
        datetime_from_timedate(parse_timedate(obj["TimeStamp"])),
        EPOCH + timedelta(microseconds=item.received_us),
        None if item.sent_us is None else EPOCH + timedelta(microseconds=item.sent_us),
        obj["Len"],
        obj["StructType"],
        obj["Class"],
        obj["ServerName"],
    )
    kind_codec = codec.by_struct_type.get(obj["StructType"])
    if kind_codec is None:
        return RAW_CUSTOM, (*meta, bytes.fromhex(obj["rec"]["raw"]))
    kind, rec = kind_codec.kind, obj["rec"]
    values: list[Any] = []
    for name, ctype in kind.fields:
        value = rec[name]
        if ctype.kind == "sessionid":
            values += (value["Index"], value["SeqNo"])
        elif ctype.kind == "oid":
            values += (value["File"], value["Note"], value["Sequence"], value["SequenceTime"])
        elif ctype.kind == "float":
            values.append(value_from_json(NUMBER, value))
        else:
            values.append(value)
    values += _variable(kind.python_type, rec)
    return kind_table(kind), (*meta, *values)


def _variable(python_type: type, rec: JsonObject) -> list[Any]:
    if python_type is MailRec:
        return [",".join(rec["Recipients"])]
    if python_type is AgentRec:
        return [rec[name] for name in AGENT_STRING_NAMES]
    if python_type is HttpReqRec:
        return [rec[name] for name in HTTP_STRING_NAMES]
    return []


def _bits(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Floats as their bytes: equal when bit for bit equal, NaNs included."""
    return tuple(struct.pack("<d", v) if isinstance(v, float) else v for v in values)


def assert_reads_as_the_json_form(codec: FrameCodec, frame: bytes, seq: int = 1) -> None:
    item = Received(SERVER_CN, "run-1", seq, "t", frame, SENT_US, SENT_US + 2_500)
    expected_table, expected = reference_row(codec, item)
    maker = RowMaker(codec)
    table, row = maker.row(item)
    assert table == expected_table
    assert _bits(row) == _bits(expected)
    # The same through a FrameRow the intake made, and from a maker given a JsonDecoder.
    read = Received(
        SERVER_CN, "run-1", seq, "t", frame, SENT_US, SENT_US + 2_500, maker.read(frame)
    )
    assert _bits(maker.row(read)[1]) == _bits(expected)
    assert _bits(RowMaker(JsonDecoder(codec)).row(item)[1]) == _bits(expected)


# --- generated values: the edge cases of each C type ----------------------------------------

WORD_MAX, DWORD_MAX = 2**16 - 1, 2**32 - 1
words = st.one_of(st.sampled_from([0, 1, WORD_MAX]), st.integers(0, WORD_MAX))
dwords = st.one_of(st.sampled_from([0, 1, DWORD_MAX]), st.integers(0, DWORD_MAX))


def _double(bits: int) -> float:
    value: float = struct.unpack("<d", struct.pack("<Q", bits))[0]
    return value


numbers = st.one_of(
    st.sampled_from([0.0, -0.0, 5e-324, 0.05, math.inf, -math.inf, math.nan]),
    st.floats(allow_nan=False, allow_infinity=False),
    # Any NaN: sign, signalling, payload.
    st.builds(lambda sign, m: _double(sign << 63 | 0x7FF << 52 | m), st.integers(0, 1),
              st.integers(1, 2**52 - 1)),
)  # fmt: skip
timedates = st.one_of(
    st.builds(TimeDate, st.integers(0, 8_639_999), st.integers(1_721_426, 5_373_484)),
    st.builds(TimeDate, dwords, dwords),
    st.sampled_from(
        [
            TimeDate(0, 0),
            TimeDate(8_640_000, JDN),  # ticks past the day
            TimeDate(0x006CDCC0, 0x852563FC),  # DST, zone 5 west
            TimeDate(0, JDN | 0x4000_0000),  # east, zone 0
            TimeDate(8_639_999, 5_373_484),  # 9999-12-31T23:59:59.99Z
            TimeDate(0, 1_721_426),  # 0001-01-01
            TimeDate(0, 1_721_425),  # the day before
        ]
    ),
)
# Header time stamps a datetime can hold (any other makes no row: tested below).
stamps = st.one_of(
    st.builds(TimeDate, st.integers(0, 8_639_999), st.integers(1_721_426, 5_373_484)),
    st.builds(
        TimeDate,
        st.integers(0, 8_639_999),
        st.integers(1_721_426, 5_373_484).map(lambda day: day | 0xC500_0000),  # zone bits
    ),
)


def text(max_bytes: int, exclude: str = "\0") -> st.SearchStrategy[str]:
    alphabet = st.characters(codec="utf-8", exclude_characters=exclude)
    clipped = st.text(alphabet, max_size=max_bytes).map(
        lambda s: s.encode()[:max_bytes].decode("utf-8", "ignore")
    )
    return st.one_of(st.sampled_from(["", "a" * max_bytes, "€" * (max_bytes // 3)]), clipped)


names = text(256)
oids = st.builds(Oid, timedates, timedates, dwords, timedates)
RECORDS: dict[str, st.SearchStrategy[Record]] = {
    "SESSIONREC": st.builds(
        SessionRec, st.builds(SessionID, words, words), words, names, dwords, dwords, text(63)
    ),
    "DBREC": st.builds(DbRec, st.builds(SessionID, words, words), words, names, dwords, timedates),
    "REPLREC": st.builds(
        ReplRec, st.builds(SessionID, words, words), dwords, dwords, timedates, names, names, words
    ),
    "DOCUMENT": st.builds(DocumentRec, words, timedates, names, oids, numbers),
    "MAILREC": st.builds(
        MailRec,
        text(129),
        oids,
        st.builds(Unid, timedates, timedates),
        dwords,
        names,
        words,
        words,
        words,
        names,
        words,
        timedates,
        st.lists(text(256, exclude="\0,"), max_size=6).map(tuple),
    ),
    "AGENTREC": st.builds(AgentRec, dwords, dwords, text(400, ""), text(400, ""), text(400, "")),
    "HTTPREQREC": st.builds(
        HttpReqRec, dwords, dwords, dwords, *(st.one_of(st.none(), text(300)) for _ in range(8))
    ),
    "BILLX": st.builds(
        lambda *values: CustomRec(values),
        numbers,
        oids,
        timedates,
        timedates,
        st.builds(Unid, timedates, timedates),
        text(32),
        dwords,
    ),
}
STRUCT_TYPES = {
    "SESSIONREC": 1,
    "REPLREC": 1001,
    "DOCUMENT": 2001,
    "MAILREC": 3001,
    "DBREC": 4001,
    "AGENTREC": 5001,
    "HTTPREQREC": 6001,
    "BILLX": CUSTOM.struct_type,
}


@pytest.mark.parametrize("name", list(RECORDS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_kind_reads_as_its_json_form(name: str, data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(COMBINATIONS), label="layout, framing")
    frame = Frame(
        STRUCT_TYPES[name],
        data.draw(dwords, label="Class"),
        data.draw(names, label="ServerName"),
        data.draw(stamps, label="TimeStamp"),
        data.draw(RECORDS[name], label="rec"),
    )
    assert_reads_as_the_json_form(CODECS[key], CODECS[key].encode(frame))


@pytest.mark.parametrize("key", COMBINATIONS, ids=str)
def test_the_sample_frames_and_a_custom_type_no_table_describes(
    key: tuple[Layout, Framing],
) -> None:
    codec = CODECS[key]
    for frame in FRAMES.values():
        assert_reads_as_the_json_form(codec, codec.encode(frame))
    other = custom_kind("OTHER", 32020, 1, (("n", DWORD),))
    undeclared = FrameCodec(*key, [other]).encode(Frame(32020, 1, SERVER, STAMP, CustomRec((7,))))
    assert_reads_as_the_json_form(codec, undeclared)
    assert RowMaker(codec).read(undeclared).table is RAW_CUSTOM


def test_a_declared_type_whose_names_clash_is_read_raw_after_it_decodes() -> None:
    clash = custom_kind("CLASH", 32011, c.BILL_CLASS_SESSION, (("Seq", DWORD), ("Ref", OID)))
    codec = FrameCodec(custom_kinds=[clash])
    frame = codec.encode(Frame(32011, 1, SERVER, STAMP, CustomRec((4, DOC_OID))))
    read = RowMaker(codec).read(frame)
    assert read.table is RAW_CUSTOM
    assert read.values == (len(frame), 32011, 1, SERVER, frame[codec.header_size :])
    short = bytearray(frame)
    short[0:2] = (codec.by_struct_type[32011].fixed_size - 4).to_bytes(2, "little")
    with pytest.raises(FrameError, match="smaller than a CLASH frame"):
        RowMaker(codec).read(bytes(short))


def _with_word(codec: FrameCodec, name: str, field: str, value: int) -> bytes:
    """The sample frame `name` with its WORD `field` set to `value`."""
    kind_codec = codec.by_struct_type[FRAMES[name].StructType]
    at = kind_codec.rec_offset + kind_codec.record.offsets[field]
    frame = bytearray(codec.encode(FRAMES[name]))
    frame[at : at + 2] = value.to_bytes(2, "little")
    return bytes(frame)


def _broken_frames(codec: FrameCodec) -> list[bytes]:
    session = bytearray(codec.encode(FRAMES["SESSIONREC"]))
    cases = [b"", b"\x01", bytes(session[:100]), bytes(session[:-1])]
    cases += [
        _with_word(codec, "MAILREC", "RecipientSize", 60_000),
        _with_word(codec, "AGENTREC", "ULen", 60_000),
        _with_word(codec, "HTTPREQREC", "HttpAuthUserOffset", 60_000),  # past the end
    ]
    too_long = bytearray(session)
    too_long[0:2] = (c.MQ_MAX_MSGSIZE + 1).to_bytes(2, "little")
    too_short = bytearray(session)
    too_short[0:2] = (30).to_bytes(2, "little")
    return [*cases, bytes(too_long), bytes(too_short)]


@pytest.mark.parametrize("key", COMBINATIONS, ids=str)
def test_a_frame_that_does_not_decode_is_refused_as_the_codec_refuses_it(
    key: tuple[Layout, Framing],
) -> None:
    codec = CODECS[key]
    maker = RowMaker(codec)
    for frame in _broken_frames(codec):
        with pytest.raises(FrameError) as expected:
            codec.decode(frame)
        with pytest.raises(FrameError) as got:
            maker.read(frame)
        assert (got.value.message, str(got.value)) == (
            expected.value.message,
            str(expected.value),
        ), frame[:8]


def test_a_time_stamp_that_names_no_time_is_a_value_error_as_before() -> None:
    codec = FrameCodec()
    maker = RowMaker(codec)
    for stamp in (TimeDate(8_640_000, JDN), TimeDate(0, 1_721_425), TimeDate(0, 0xFFFFFF)):
        frame = codec.encode(FRAMES["DBREC"]._replace(TimeStamp=stamp))
        with pytest.raises(ValueError) as expected:
            datetime_from_timedate(stamp)
        with pytest.raises(ValueError) as got:
            maker.read(frame)
        assert not isinstance(got.value, FrameError)
        assert str(got.value) == str(expected.value)
