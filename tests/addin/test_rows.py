"""Frames -> rows: the tables of each record type, custom types, and what becomes a reject."""

from __future__ import annotations

from samples import DOC_OID, FRAMES, HTTP_REC, SERVER, SERVER_CN, SESSION_REC, STAMP

from simulator.addin.rows import (
    RAW_CUSTOM,
    REJECTS,
    ColumnType,
    RowMaker,
    kind_table,
    rows_by_table,
)
from simulator.addin.store import Received, Rejected
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder
from simulator.wire.layout import DWORD, NUMBER, OID, Layout
from simulator.wire.records import BUILTIN_KINDS, CustomRec, Frame, custom_kind


def received(frame: bytes, seq: int = 1) -> Received:
    return Received(SERVER_CN, "r", seq, "t", frame, 1_000_000, 2_000_000)


def test_a_table_per_record_type_with_the_c_field_names() -> None:
    tables = [kind_table(kind) for kind in BUILTIN_KINDS]
    by_name = {table.name: dict(table.columns) for table in tables}
    assert sorted(by_name) == sorted(
        ["sessionrec", "dbrec", "replrec", "document", "mailrec", "agentrec", "httpreqrec"]
    )
    session = by_name["sessionrec"]
    assert list(session)[:6] == ["server", "run", "seq", "time_stamp", "received_at", "sent"]
    assert session["time_stamp"] is ColumnType.TIMESTAMP
    assert session["SessionID_Index"] is ColumnType.INTEGER
    assert by_name["document"]["Charge"] is ColumnType.REAL
    assert by_name["document"]["OriginatorID_SequenceTime"] is ColumnType.TEXT
    assert by_name["mailrec"]["Recipients"] is ColumnType.TEXT
    assert {"UserName", "TaskName", "DatabaseName"} <= set(by_name["agentrec"])
    assert {"AuthUser", "RequestLine", "HttpAuthUserOffset"} <= set(by_name["httpreqrec"])


def test_the_layout_of_the_codec_reads_the_frame() -> None:
    packed = FrameCodec(Layout.WIN32)
    frame = packed.encode(FRAMES["DBREC"])
    table, row = RowMaker(JsonDecoder(packed)).row(received(frame))
    values = dict(zip(table.column_names, row, strict=True))
    assert (values["Len"], values["DBOpenTime"]) == (983, 123_456)


def test_a_declared_custom_type_gets_its_own_table_unless_a_name_clashes() -> None:
    fields = (("Amount", NUMBER), ("Ref", OID), ("Count", DWORD))
    kind = custom_kind("BILLX", 32010, c.BILL_CLASS_SESSION, fields)
    clash = custom_kind("CLASH", 32011, c.BILL_CLASS_SESSION, (("Seq", DWORD),))
    codec = FrameCodec(custom_kinds=[kind, clash])
    maker = RowMaker(JsonDecoder(codec))
    frame = codec.encode(
        Frame(32010, c.BILL_CLASS_SESSION, SERVER, STAMP, CustomRec((1.5, DOC_OID, 9)))
    )
    table, row = maker.row(received(frame))
    assert table.name == "custom_billx"
    values = dict(zip(table.column_names, row, strict=True))
    assert (values["Amount"], values["Ref_Sequence"], values["Count"]) == (1.5, 7, 9)
    # "Seq" would be the column "seq" to SQL, which ignores case: kept raw instead.
    frame = codec.encode(Frame(32011, c.BILL_CLASS_SESSION, SERVER, STAMP, CustomRec((4,))))
    assert maker.row(received(frame))[0] is RAW_CUSTOM


def test_what_does_not_decode_becomes_a_reject_with_the_reason() -> None:
    maker = RowMaker(JsonDecoder(FrameCodec()))
    good = FrameCodec().encode(FRAMES["SESSIONREC"])
    refused = Rejected(SERVER_CN, None, None, "t", b"{", "not JSON", 3)
    by_table, rejects = rows_by_table(maker, [received(good), received(good[:100], 2), refused])
    assert rejects == {SERVER_CN: 2}
    first, second = by_table[REJECTS]
    assert first[2] == 2 and first[4] == good[:100] and first[5].startswith("does not decode")
    assert second[:6] == (SERVER_CN, None, None, "t", b"{", "not JSON")
    assert [table.name for table in by_table] == ["sessionrec", "rejects"]


def test_a_name_byte_that_is_not_utf8_is_stored_as_the_json_forms_escape() -> None:
    """A text column holds what `decode` shows (`\\udcff`), which any store can encode."""
    codec = FrameCodec()
    name = b"CN=\xffnn/O=Acme".decode("utf-8", "surrogateescape")
    frame = codec.encode(Frame(1, 1, SERVER, STAMP, SESSION_REC._replace(Username=name)))
    row = RowMaker(codec).read(frame)
    assert "CN=\\udcffnn/O=Acme" in row.values
    http = HTTP_REC._replace(UserAgent=name)
    http_row = RowMaker(codec).read(codec.encode(Frame(6001, 0x40, SERVER, STAMP, http)))
    assert "CN=\\udcffnn/O=Acme" in http_row.values
    for value in (*row.values, *http_row.values):
        if isinstance(value, str):
            value.encode("utf-8")  # strict


def test_a_frame_kept_raw_shows_its_server_name_as_the_json_form_does() -> None:
    """Found by the fuzzer (bench/fuzz.py frames): a frame of an undeclared custom type is
    stored raw, and its ServerName with a byte that is not UTF-8 could not be encoded."""
    codec = FrameCodec()
    frame = bytearray(codec.encode(FRAMES["SESSIONREC"]))
    frame[2:4] = (32002).to_bytes(2, "little")  # a custom struct type nobody declared
    frame[8 + 3] = 0xFF  # in ServerName, after "CN="
    row = RowMaker(codec).read(bytes(frame))
    assert row.values[3] == "CN=\\udcffail01/O=Acme"
    row.values[3].encode("utf-8")
