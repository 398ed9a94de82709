"""A replay's plan (simulator/domino/replay.py): what each pass changes, and the run and
seq each frame goes out with."""

from __future__ import annotations

from datetime import UTC, datetime

from samples import DB_REC, MAIL_REC, REPL_REC, SERVER, SESSION_REC, STAMP

from simulator.domino.replay import ReplayPlan, ReplayScan, SourceFrame
from simulator.domino.server import derive_timedate
from simulator.wire.codec import FrameCodec
from simulator.wire.records import Record, SessionID
from simulator.wire.rewrite import FrameRewriter
from simulator.wire.timedate import TICKS_PER_DAY, TimeDate, absolute_ticks, format_timedate_id

CODEC = FrameCodec()


def source(
    rec: Record,
    seq: int,
    *,
    at: float | None = None,
    minutes: int = 0,
    run: str | None = None,
    server: str | None = None,
) -> SourceFrame:
    stamp = TimeDate(STAMP.ticks + minutes * 6000, STAMP.day_zone)
    frame = CODEC.encode_record(rec, SERVER, stamp)
    return SourceFrame(at, server, run, seq, frame)


def scan_of(*items: SourceFrame) -> ReplayScan:
    scan = ReplayScan(FrameRewriter(CODEC))
    for item in items:
        scan.add(item)
    return scan


def test_the_scan_keeps_first_time_span_slots_and_seqs() -> None:
    items = [
        source(SESSION_REC, 1, minutes=5),
        source(DB_REC._replace(SessionID=SessionID(3, 4)), 2, minutes=2),
        source(REPL_REC, 3, minutes=9),
        source(MAIL_REC, 3, minutes=1),  # the same seq again: a redelivery in the capture
    ]
    scan = scan_of(*items)
    first = STAMP.julian_day * TICKS_PER_DAY + STAMP.ticks
    assert scan.first_stamp == first + 5 * 6000
    assert scan.span_ticks == 8 * 6000  # latest (9 min) minus earliest (1 min)
    assert scan.max_seqno == {(SERVER, 3): 4, (SERVER, 4): 2}
    assert scan.seqs == {("Mail01", None): {1, 2, 3}}
    assert (scan.frames, scan.timed, scan.server_names) == (4, False, {SERVER})
    assert (scan.min_stamp, scan.max_stamp) == (first + 6000, first + 9 * 6000)


def test_a_scan_for_one_pass_looks_for_no_session_ids_and_keeps_the_rest() -> None:
    items = [source(SESSION_REC, 1, minutes=5), source(REPL_REC, 2, minutes=9)]
    both, one_pass = scan_of(*items), ReplayScan(FrameRewriter(CODEC), seqnos=False)
    for item in items:
        one_pass.add(item)
    assert both.max_seqno and one_pass.max_seqno == {}
    kept = ("first_stamp", "min_stamp", "max_stamp", "seqs", "servers", "server_names", "frames")
    assert [getattr(one_pass, name) for name in kept] == [getattr(both, name) for name in kept]


def test_seq_is_the_recorded_one_when_complete_else_its_rank_and_passes_follow_on() -> None:
    complete = scan_of(*(source(SESSION_REC, seq, run="r1", server="Mail01") for seq in (1, 3, 2)))
    plan = ReplayPlan(complete, new_run="new")
    item = source(SESSION_REC, 3, run="r1", server="Mail01")
    assert [plan.seq(item, p) for p in range(3)] == [3, 6, 9]
    assert plan.group(item) == ("Mail01", "r1")
    gaps = scan_of(*(source(SESSION_REC, seq, run="r1", server="Mail01") for seq in (4, 9, 9, 17)))
    plan = ReplayPlan(gaps, new_run="new")
    ranks = [plan.seq(source(SESSION_REC, seq, run="r1", server="Mail01"), 1) for seq in (4, 9, 17)]
    assert ranks == [4, 5, 6]  # 1, 2, 3 of the pass, after the 3 seqs of the first pass
    nbf = ReplayPlan(scan_of(source(SESSION_REC, 1)), new_run="abc")
    assert nbf.groups() == [("Mail01", "abc")]


def test_each_pass_moves_on_by_the_span_renumbers_seqno_and_makes_messages_anew() -> None:
    scan = scan_of(source(SESSION_REC, 1), source(REPL_REC, 2, minutes=30))
    rebase = datetime(2027, 1, 1, tzinfo=UTC)
    plan = ReplayPlan(scan, new_run="x", rebase=rebase, server_name="CN=Mail09/O=Acme")
    offset = absolute_ticks(rebase) - scan.first_stamp  # type: ignore[operator]
    assert [plan.shift_ticks(p) for p in range(3)] == [offset, offset + 180_000, offset + 360_000]
    first, third = plan.edit(0), plan.edit(2)
    assert (first.seqno, first.message_id, first.server_name) == (None, None, "CN=Mail09/O=Acme")
    assert third.seqno is not None and third.message_id is not None
    # Slot 3 went up to SeqNo 1 in the capture, slot 4 to 2: pass 3 is 2 and 4 uses on.
    assert [third.seqno(SERVER, 3, 1), third.seqno(SERVER, 4, 1), third.seqno(SERVER, 4, 2)] == [
        3,
        5,
        6,
    ]
    assert third.seqno(SERVER, 9, 1) == 1  # a slot the capture never used is left alone
    assert plan.group(source(SESSION_REC, 1)) == ("Mail09", "x")
    file, note = MAIL_REC.OriginatorID.File, MAIL_REC.OriginatorID.Note
    key = f"{format_timedate_id(file)}|{format_timedate_id(note)}"
    assert third.message_id(file, note) == (
        derive_timedate(2, "replay-mail-file", key),
        derive_timedate(2, "replay-mail-note", key),
    )
    assert third.message_id(file, note) != plan.edit(1).message_id(file, note)  # type: ignore[misc]


def test_seqno_starts_at_1_again_past_65535() -> None:
    scan = scan_of(source(SESSION_REC._replace(SessionID=SessionID(3, 40_000)), 1))
    seqno = ReplayPlan(scan, new_run="x").edit(2).seqno
    assert seqno is not None and seqno(SERVER, 3, 40_000) == (40_000 + 80_000 - 1) % 65535 + 1


def test_pacing_goes_by_receive_times_else_by_time_stamps() -> None:
    captured = ReplayPlan(
        scan_of(source(SESSION_REC, 1, at=0.0), source(DB_REC, 2, at=2.5, minutes=10)), new_run="x"
    )
    assert captured.pass_seconds == 2.5
    assert captured.pass_offset(source(DB_REC, 2, at=2.5, minutes=10)) == 2.5
    nbf = ReplayPlan(scan_of(source(SESSION_REC, 1), source(DB_REC, 2, minutes=10)), new_run="x")
    assert nbf.pass_seconds == 600
    assert nbf.pass_offset(source(DB_REC, 2, minutes=10)) == 600
    assert nbf.pass_offset(SourceFrame(None, "Mail01", None, 3, b"\x10\x00")) is None
