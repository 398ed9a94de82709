"""Custom record types (docs/wire-format.md, docs/scenario.md): golden bytes, JSON, round trips.

The golden bytes are built by hand at the offsets of BILLMNGR's NOTECREATEREC (worked out
from C's rules, as in tests/commands/test_header.py), not with the codec's tables. The property
round trips draw a field table of every C type a custom field may have, and values at and
inside their limits, in both layouts and both framings.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import GOLDEN_TRACES
from samples import ALICE, ORDERS_REPLICA, SERVER, STAMP
from typer.testing import CliRunner

from simulator import cli
from simulator.commands.run import RunRequest, run
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec, frame_geometry
from simulator.wire.jsonform import JsonDecoder, frame_from_json
from simulator.wire.layout import (
    DBID,
    DWORD,
    NOTEID,
    NUMBER,
    OID,
    TIMEDATE,
    UNID,
    WORD,
    Framing,
    Layout,
    char,
    compile_fields,
)
from simulator.wire.records import CustomRec, Frame, Oid, RecordKind, Unid, custom_kind
from simulator.wire.timedate import TimeDate

NATURAL, PACKED = Layout.LINUX_X86_64, Layout.WIN32
COMBINATIONS = [(layout, framing) for layout in Layout for framing in Framing]
NOTECREATEREC = custom_kind(
    "NOTECREATEREC",
    32001,
    c.BILL_CLASS_DATABASE,
    (("Username", char(257)), ("dbNoteID", NOTEID), ("ReplicaID", DBID)),
)
runner = CliRunner()

# --- golden bytes ------------------------------------------------------------------------------

# (offset of TimeStamp, of rec, sizeof(BILLMSG), of dbNoteID, of ReplicaID, sizeof(NOTECREATEREC))
NOTECREATE_AT = {NATURAL: (268, 280, 1000, 260, 264, 272), PACKED: (265, 273, 983, 257, 261, 269)}


def hand_notecreate(layout: Layout, framing: Framing, user: str, note: int, rid: TimeDate) -> bytes:
    stamp_at, rec_at, billmsg, note_at, rid_at, size = NOTECREATE_AT[layout]
    length = rec_at + size if framing is Framing.COMPACT else max(rec_at + size, billmsg)
    buf = bytearray(length)
    struct.pack_into("<HHI", buf, 0, length, 32001, 0x10)
    buf[8 : 8 + len(SERVER)] = SERVER.encode()
    struct.pack_into("<II", buf, stamp_at, STAMP.ticks, STAMP.day_zone)
    data = user.encode()
    buf[rec_at : rec_at + len(data)] = data
    struct.pack_into("<I", buf, rec_at + note_at, note)
    struct.pack_into("<II", buf, rec_at + rid_at, rid.ticks, rid.day_zone)
    return bytes(buf)


@pytest.mark.parametrize(("layout", "framing"), COMBINATIONS, ids=str)
@pytest.mark.parametrize(
    ("user", "note", "rid"),
    [
        (ALICE, 0x20FA, ORDERS_REPLICA),
        ("", 0, TimeDate(0, 0)),
        ("é" * 128, 0xFFFF_FFFF, TimeDate(0xFFFF_FFFF, 0xFFFF_FFFF)),
    ],
)
def test_notecreaterec_golden_bytes(
    layout: Layout, framing: Framing, user: str, note: int, rid: TimeDate
) -> None:
    codec = FrameCodec(layout, framing, [NOTECREATEREC])
    frame = Frame(32001, c.BILL_CLASS_DATABASE, SERVER, STAMP, CustomRec((user, note, rid)))
    expected = hand_notecreate(layout, framing, user, note, rid)
    assert codec.encode(frame) == expected
    assert codec.decode(expected) == frame._replace(Len=len(expected))
    # Compact: the header and the record (280 + 272, 273 + 269); pad-union: sizeof(BILLMSG).
    assert (
        len(expected)
        == {
            (NATURAL, Framing.COMPACT): 552,
            (PACKED, Framing.COMPACT): 542,
            (NATURAL, Framing.PAD_UNION): 1000,
            (PACKED, Framing.PAD_UNION): 983,
        }[layout, framing]
    )


def test_notecreaterec_json_form() -> None:
    codec = FrameCodec(NATURAL, Framing.PAD_UNION, [NOTECREATEREC])
    data = hand_notecreate(NATURAL, Framing.PAD_UNION, ALICE, 0x20FA, ORDERS_REPLICA)
    assert JsonDecoder(codec)(data, 0, 3) == {
        "Len": 1000,
        "StructType": 32001,
        "Class": 16,
        "ServerName": SERVER,
        "TimeStamp": "2026-11-21T09:15:00.00Z",
        "rec": {
            "Username": ALICE,
            "dbNoteID": 8442,
            "ReplicaID": "85258A3B:0052C1F1",
        },
        "seq": 3,
    }
    # Without the declaration: the header and the hex of every byte after it.
    raw = JsonDecoder(FrameCodec(NATURAL))(data, 0)
    assert raw["rec"] == {"raw": data[276:].hex()}


# --- binary -> JSON -> binary, over drawn field tables and values ---------------------------------

DWORD_MAX = 0xFFFF_FFFF
dwords = st.one_of(st.sampled_from([0, 1, DWORD_MAX]), st.integers(0, DWORD_MAX))
timedates = st.one_of(
    st.builds(TimeDate, st.integers(0, 8_639_999), st.integers(1_721_426, 5_373_484)),
    st.builds(TimeDate, dwords, dwords),
)
ctypes = st.one_of(
    st.sampled_from([WORD, DWORD, NOTEID, NUMBER, TIMEDATE, DBID, UNID, OID]),
    st.integers(1, 300).map(char),
)


def _double(bits: int) -> float:
    value: float = struct.unpack("<d", struct.pack("<Q", bits))[0]
    return value


# NaNs with any sign and payload, quiet or signalling: JSON must give back their bits.
nans = st.builds(
    lambda sign, mantissa: _double(sign << 63 | 0x7FF << 52 | mantissa),
    st.integers(0, 1),
    st.integers(1, 2**52 - 1),
)


def _bits(value: Any) -> Any:
    """`value` with each float as its bytes: equal when bit for bit equal, NaNs included."""
    if isinstance(value, float):
        return struct.pack("<d", value)
    if isinstance(value, tuple):
        return (type(value), *map(_bits, value))
    return value


def utf8_within(max_bytes: int) -> st.SearchStrategy[str]:
    alphabet = st.characters(codec="utf-8", exclude_characters="\0")
    text = st.text(alphabet, max_size=max_bytes)
    full = st.sampled_from(["", "a" * max_bytes, "é" * (max_bytes // 2), "😀" * (max_bytes // 4)])
    return st.one_of(full, text).map(lambda s: s.encode()[:max_bytes].decode("utf-8", "ignore"))


def values_for(ctype_name: str, size: int) -> st.SearchStrategy[object]:
    if ctype_name == "WORD":
        return st.integers(0, 0xFFFF)
    if ctype_name in ("DWORD", "NOTEID"):
        return dwords
    if ctype_name == "NUMBER":
        return st.one_of(st.floats(), nans)
    if ctype_name in ("TIMEDATE", "DBID"):
        return timedates
    if ctype_name == "UNID":
        return st.builds(Unid, timedates, timedates)
    if ctype_name == "OID":
        return st.builds(Oid, timedates, timedates, dwords, timedates)
    return utf8_within(size - 1)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_custom_records_round_trip_through_json(data: st.DataObject) -> None:
    layout, framing = data.draw(st.sampled_from(COMBINATIONS), label="layout, framing")
    types = data.draw(st.lists(ctypes, min_size=1, max_size=8), label="fields")
    fields = tuple((f"f{i}", ctype) for i, ctype in enumerate(types))
    struct_type = data.draw(st.integers(c.CUSTOM_STRUCT_TYPE_MIN, c.CUSTOM_STRUCT_TYPE_MAX))
    kind: RecordKind = custom_kind("X", struct_type, c.BILL_CLASS_MAIL, fields)
    values = tuple(data.draw(values_for(t.name, t.size), label=name) for name, t in fields)
    frame = Frame(
        struct_type,
        data.draw(dwords, label="Class"),
        data.draw(utf8_within(256), label="ServerName"),
        data.draw(timedates, label="TimeStamp"),
        CustomRec(values),
    )
    codec = FrameCodec(layout, framing, [kind])
    encoded = codec.encode(frame)
    geometry = frame_geometry(layout)
    length = geometry.rec_offset + compile_fields(fields, layout).size
    if framing is Framing.PAD_UNION:
        length = max(length, geometry.billmsg_size)
    assert len(encoded) == length
    assert _bits(codec.decode(encoded)) == _bits(frame._replace(Len=length))
    obj = JsonDecoder(codec)(encoded, 0, 1)
    assert list(obj["rec"]) == [name for name, _ in fields]
    back = frame_from_json(codec, json.loads(json.dumps(obj, allow_nan=False)))
    assert codec.encode(back) == encoded
    assert _bits(back) == _bits(frame._replace(Len=length))
    # And as the header plus raw bytes, for a reader that does not know the type.
    plain = FrameCodec(layout, framing)
    raw_obj = JsonDecoder(plain)(encoded, 0)
    assert plain.encode(frame_from_json(plain, json.loads(json.dumps(raw_obj)))) == encoded


# --- decode --scenario ------------------------------------------------------------------------


@pytest.mark.parametrize("layout", list(Layout), ids=[layout.value for layout in Layout])
def test_decode_names_custom_types_with_scenario(tmp_path: Path, layout: Layout) -> None:
    out = tmp_path / "notecreate.nbf"
    request = RunRequest(scenario="notecreate", out=out, layout=layout)
    assert run(request, stdout=io.StringIO(), stderr=io.StringIO()) == 0
    named = runner.invoke(
        cli.app, ["decode", str(out), "--layout", layout.value, "--scenario", "notecreate"]
    )
    assert named.exit_code == 0, named.stderr
    objs = [json.loads(line) for line in named.stdout.splitlines()]
    golden = [
        json.loads(line) for line in (GOLDEN_TRACES / "notecreate.jsonl").read_text().splitlines()
    ]
    rec_len = {NATURAL: 1000, PACKED: 983}[layout]
    assert objs == [{**obj, "Len": rec_len} for obj in golden]
    plain = runner.invoke(cli.app, ["decode", str(out), "--layout", layout.value])
    assert plain.exit_code == 0, plain.stderr
    raw = [json.loads(line) for line in plain.stdout.splitlines()]
    assert sum("raw" in obj["rec"] for obj in raw) == 3
    header = {NATURAL: 276, PACKED: 273}[layout]
    data = out.read_bytes()
    offset = 0
    for obj in raw:
        if obj["StructType"] == 32001:
            assert obj["rec"]["raw"] == data[offset + header : offset + obj["Len"]].hex()
        offset += obj["Len"]


def test_decode_scenario_that_is_not_there_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "x.nbf"
    out.write_bytes(b"")
    result = runner.invoke(cli.app, ["decode", str(out), "--scenario", str(tmp_path / "no.yaml")])
    assert result.exit_code == 2
    assert "no such file, nor a bundled scenario" in result.stderr
