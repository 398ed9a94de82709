"""Rewriting frames in place (simulator/wire/rewrite.py): every time of every record type
moved, SeqNo and message ids renumbered, the server renamed — and no other byte touched.

The oracle lists each record type's times by hand (docs/wire-format.md), independently
of the field-table walk the rewriter does; the expected frame is encoded by the codec, so
`rewritten == encode(expected)` says that nothing else changed.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from samples import (
    DB_REC,
    DOC_REC,
    FRAMES,
    HTTP_REC,
    HUB,
    KIND_NAMES,
    MAIL_REC,
    REPL_REC,
    SERVER,
    SESSION_REC,
    STAMP,
)

from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.layout import DWORD, TIMEDATE, Framing, Layout, char
from simulator.wire.records import (
    CustomRec,
    DocumentRec,
    Frame,
    HttpReqRec,
    MailRec,
    Oid,
    Record,
    SessionID,
    custom_kind,
)
from simulator.wire.rewrite import FrameEdit, FrameRewriter, RewriteError
from simulator.wire.timedate import (
    LAST_DATETIME_JDN,
    TICKS_PER_DAY,
    TimeDate,
    shift_timedate,
)

SHIFT = 41 * TICKS_PER_DAY + 3 * 3600 * 100 + 57  # 41 days, 3 hours and 0.57 s
CODECS = [FrameCodec(layout, framing) for layout in Layout for framing in Framing]


def _moved_oid(oid: Oid, shift: int) -> Oid:
    return oid._replace(SequenceTime=shift_timedate(oid.SequenceTime, shift))


def moved(frame: Frame, shift: int) -> Frame:
    """The frame with every time docs/wire-format.md names moved by `shift` hundredths."""
    rec: Record = frame.rec
    if isinstance(rec, MailRec):
        rec = rec._replace(
            PostedDate=shift_timedate(rec.PostedDate, shift),
            OriginatorID=_moved_oid(rec.OriginatorID, shift),
        )
    elif isinstance(rec, DocumentRec):
        rec = rec._replace(OriginatorID=_moved_oid(rec.OriginatorID, shift))
    elif isinstance(rec, HttpReqRec):
        assert rec.TimeStamp == "21/Nov/2026:09:15:00 +0000"
        rec = rec._replace(TimeStamp="01/Jan/2027:12:15:00 +0000")
    return frame._replace(TimeStamp=shift_timedate(frame.TimeStamp, shift), rec=rec)


def frame_of(rec: Record) -> Frame:
    return next(frame for frame in FRAMES.values() if frame.rec is rec)


@pytest.mark.parametrize("codec", CODECS, ids=lambda codec: f"{codec.layout}-{codec.framing}")
@pytest.mark.parametrize("name", KIND_NAMES)
def test_every_time_of_every_record_type_moves_and_nothing_else(
    codec: FrameCodec, name: str
) -> None:
    frame = FRAMES[name]
    rewritten = FrameRewriter(codec).rewrite(codec.encode(frame), FrameEdit(shift_ticks=SHIFT))
    assert codec.decode(rewritten)._replace(Len=0) == moved(frame, SHIFT)
    assert rewritten == codec.encode(moved(frame, SHIFT))


def test_a_custom_types_timedate_fields_move_with_its_declaration() -> None:
    kind = custom_kind(
        "STAMPED",
        32002,
        c.BILL_CLASS_DATABASE,
        (("When", TIMEDATE), ("Count", DWORD), ("Who", char(20))),
    )
    codec = FrameCodec(custom_kinds=[kind])
    frame = Frame(32002, c.BILL_CLASS_DATABASE, SERVER, STAMP, CustomRec((STAMP, 7, "x")))
    rewritten = FrameRewriter(codec).rewrite(codec.encode(frame), FrameEdit(shift_ticks=SHIFT))
    later = shift_timedate(STAMP, SHIFT)
    assert codec.decode(rewritten).rec == CustomRec((later, 7, "x"))
    # Undeclared, the same frame is a header and raw bytes: only the header moves.
    plain = FrameCodec()
    rewritten = FrameRewriter(plain).rewrite(codec.encode(frame), FrameEdit(shift_ticks=SHIFT))
    assert plain.decode(rewritten).TimeStamp == later
    assert rewritten[plain.header_size :] == codec.encode(frame)[plain.header_size :]


def test_a_rename_follows_the_server_into_the_fields_that_named_it() -> None:
    codec = FrameCodec()
    rewriter = FrameRewriter(codec)
    new = "CN=Mail02/O=Acme"
    edit = FrameEdit(server_name=new)
    repl = codec.decode(rewriter.rewrite(codec.encode(frame_of(REPL_REC)), edit))
    # A pull from the hub: Source stays the hub, Destination (the writer) is renamed.
    assert REPL_REC.Source == HUB
    assert repl == frame_of(REPL_REC)._replace(
        ServerName=new, rec=REPL_REC._replace(Destination=new), Len=repl.Len
    )
    mail = frame_of(MAIL_REC)
    assert MAIL_REC.HopName == HUB
    out = codec.decode(rewriter.rewrite(codec.encode(mail), edit))
    assert out == mail._replace(ServerName=new, Len=out.Len)
    local = mail._replace(rec=MAIL_REC._replace(HopName=SERVER))
    out = codec.decode(rewriter.rewrite(codec.encode(local), edit))
    assert out == local._replace(ServerName=new, rec=MAIL_REC._replace(HopName=new), Len=out.Len)


def test_seqno_and_message_ids_are_renumbered_by_the_maps_given() -> None:
    codec = FrameCodec()
    rewriter = FrameRewriter(codec)
    seen: list[tuple[str, int, int]] = []

    def seqno(server: str, index: int, number: int) -> int:
        seen.append((server, index, number))
        return number + 10

    edit = FrameEdit(
        seqno=seqno,
        message_id=lambda file, note: (TimeDate(1, file.day_zone), TimeDate(2, note.day_zone)),
    )
    for rec in (SESSION_REC, DB_REC, REPL_REC):
        out = codec.decode(rewriter.rewrite(codec.encode(frame_of(rec)), edit))
        sid = rec.SessionID
        renumbered = rec._replace(SessionID=SessionID(sid.Index, sid.SeqNo + 10))
        assert out == frame_of(rec)._replace(rec=renumbered, Len=out.Len)
    assert seen == [(SERVER, 3, 1), (SERVER, 3, 1), (SERVER, 4, 2)]
    out = codec.decode(rewriter.rewrite(codec.encode(frame_of(MAIL_REC)), edit))
    before = MAIL_REC.OriginatorID
    new_id = before._replace(
        File=TimeDate(1, before.File.day_zone), Note=TimeDate(2, before.Note.day_zone)
    )
    assert out == frame_of(MAIL_REC)._replace(
        rec=MAIL_REC._replace(OriginatorID=new_id), Len=out.Len
    )
    # A document's OID names the document, which a replay does not make anew.
    doc = codec.encode(frame_of(DOC_REC))
    assert rewriter.rewrite(doc, edit) == doc


def test_no_time_a_broken_time_and_a_cut_frame_are_left_alone() -> None:
    codec = FrameCodec()
    rewriter = FrameRewriter(codec)
    edit = FrameEdit(shift_ticks=SHIFT)
    mail = frame_of(MAIL_REC)
    for kept in (TimeDate(0, 0), TimeDate(0xFFFFFFFF, 7)):  # no time, and none a clock wrote
        odd = mail._replace(rec=MAIL_REC._replace(PostedDate=kept))
        out = codec.decode(rewriter.rewrite(codec.encode(odd), edit))
        assert isinstance(out.rec, MailRec) and out.rec.PostedDate == kept
        assert out.TimeStamp == shift_timedate(STAMP, SHIFT)
    # Cut inside its record: only the header is rewritten; shorter than that, nothing.
    data = codec.encode(FRAMES["SESSIONREC"])
    cut = data[: codec.header_size + 10]
    out_cut = rewriter.rewrite(cut, edit)
    stamp_at = codec.geometry.header.offsets["TimeStamp"]
    assert TimeDate(*struct.unpack_from("<II", out_cut, stamp_at)) == shift_timedate(STAMP, SHIFT)
    assert out_cut[stamp_at + 8 :] == cut[stamp_at + 8 :]
    assert rewriter.rewrite(data[:100], edit) == data[:100]


def test_an_http_string_that_is_no_time_is_kept() -> None:
    codec = FrameCodec()
    odd = frame_of(HTTP_REC)._replace(rec=HTTP_REC._replace(TimeStamp="yesterday"))
    out = codec.decode(
        FrameRewriter(codec).rewrite(codec.encode(odd), FrameEdit(shift_ticks=SHIFT))
    )
    assert isinstance(out.rec, HttpReqRec) and out.rec.TimeStamp == "yesterday"


def test_a_shift_out_of_timedate_range_names_the_field() -> None:
    codec = FrameCodec()
    with pytest.raises(RewriteError, match=r"^TimeStamp 2026-11-21T09:15:00.00Z moved by -.* s: "):
        FrameRewriter(codec).rewrite(
            codec.encode(FRAMES["SESSIONREC"]),
            FrameEdit(shift_ticks=-(STAMP.julian_day + 1) * TICKS_PER_DAY),
        )


def test_a_shift_past_the_year_9999_names_the_field_and_the_limit() -> None:
    # TIMEDATE holds days to 2^24, but report, check and the stores read none past 9999.
    codec = FrameCodec()
    to_10000 = (LAST_DATETIME_JDN + 1 - STAMP.julian_day) * TICKS_PER_DAY
    with pytest.raises(
        RewriteError,
        match=r"^TimeStamp 2026-11-21T09:15:00.00Z moved by \+[0-9,]+ s: after the end of "
        "the year 9999, which no billsim tool reads back$",
    ):
        FrameRewriter(codec).rewrite(
            codec.encode(FRAMES["SESSIONREC"]), FrameEdit(shift_ticks=to_10000)
        )


def test_a_time_already_past_the_year_9999_is_moved_as_it_is() -> None:
    codec = FrameCodec()
    late = TimeDate(STAMP.ticks, LAST_DATETIME_JDN + 10)
    data = codec.encode(FRAMES["SESSIONREC"]._replace(TimeStamp=late))
    out = FrameRewriter(codec).rewrite(data, FrameEdit(shift_ticks=TICKS_PER_DAY))
    assert codec.decode(out).TimeStamp == shift_timedate(late, TICKS_PER_DAY)


def test_the_reader_helpers() -> None:
    codec = FrameCodec()
    rewriter = FrameRewriter(codec)
    data = codec.encode(FRAMES["REPLREC"])
    assert rewriter.server_name(data) == SERVER
    assert rewriter.time_stamp(data) == STAMP
    assert rewriter.session_ids(data) == [(4, 2)]
    assert rewriter.session_ids(codec.encode(FRAMES["MAILREC"])) == []
    assert (
        rewriter.server_name(b"\x00" * 8),
        rewriter.time_stamp(b""),
        rewriter.session_ids(b""),
    ) == (
        None,
        None,
        [],
    )


def test_the_server_name_is_read_right_whatever_the_frames_before_it() -> None:
    """Names are kept by their field's bytes (a few a stream): the same bytes give the
    same name, other bytes (after the NUL too) their own, and past the names it keeps it
    forgets them and reads on."""
    codec = FrameCodec()
    rewriter = FrameRewriter(codec)
    at = codec.geometry.header.offsets["ServerName"]

    def named(name: bytes, tail: bytes = b"") -> bytes:
        data = bytearray(codec.encode(FRAMES["SESSIONREC"]))
        data[at : at + c.MAXUSERNAME + 1] = (name + b"\0" + tail).ljust(c.MAXUSERNAME + 1, b"\0")
        return bytes(data)

    for round_ in range(2):  # the second round reads them from what was kept, or anew
        for n in range(300):
            assert (
                rewriter.server_name(named(f"CN=Mail{n}/O=Acme".encode())) == f"CN=Mail{n}/O=Acme"
            )
        assert rewriter.server_name(named(b"CN=Mail1/O=Acme", b"junk")) == "CN=Mail1/O=Acme", round_
    assert rewriter.server_name(named(b"CN=\xff/O=Acme")) == "CN=\udcff/O=Acme"


def test_an_edit_that_changes_nothing_says_so_and_gives_the_frame_back() -> None:
    codec = FrameCodec()
    frame = codec.encode(FRAMES["MAILREC"])
    assert FrameEdit().changes_nothing
    assert FrameRewriter(codec).rewrite(frame, FrameEdit()) == frame
    for edit in (
        FrameEdit(shift_ticks=1),
        FrameEdit(server_name="CN=Other/O=Acme"),
        FrameEdit(seqno=lambda _server, _index, seqno: seqno),
        FrameEdit(message_id=lambda file, note: (file, note)),
    ):
        assert not edit.changes_nothing, edit


@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_any_mutation_of_a_frame_is_rewritten_to_as_many_bytes_or_refused_by_name(
    data: st.DataObject,
) -> None:
    codec = data.draw(st.sampled_from(CODECS))
    frame = bytearray(codec.encode(FRAMES[data.draw(st.sampled_from(KIND_NAMES))]))
    for _ in range(data.draw(st.integers(0, 12))):
        at = data.draw(st.integers(0, len(frame) - 1))
        frame[at] = data.draw(st.integers(0, 255))
    frame = frame[: data.draw(st.integers(0, len(frame)))]
    edit = FrameEdit(
        shift_ticks=data.draw(st.integers(-(10**9), 10**9)),
        server_name=data.draw(st.sampled_from([None, "CN=Mail02/O=Acme"])),
        seqno=lambda _server, _index, number: number % 65535 + 1,
        message_id=lambda file, note: (note, file),
    )
    try:
        out = FrameRewriter(codec).rewrite(bytes(frame), edit)
    except RewriteError as error:
        assert "moved by" in str(error)
    else:
        assert len(out) == len(frame)
