"""verify/timeline.py: hand-built streams of Frames in, the lanes, bars and intervals out.

The frames are made here record by record, never by the simulator, so the model is held
to what docs/timeline.md says a picture shows and not to billsim's own habits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import pytest
from samples import (
    ALICE,
    BOB,
    CAROL,
    DOC_OID,
    HUB,
    ORDERS_REPLICA,
    REPLICA,
    SERVER,
    STRUCT_TYPE_OF,
)

from simulator.verify.ticks import ticks_of
from simulator.verify.timeline import (
    DEFAULT_BUSIEST,
    Lane,
    MarkKind,
    SessionBar,
    Timeline,
    TimelineBuilder,
    open_database_steps,
)
from simulator.wire import constants as c
from simulator.wire.records import (
    AgentRec,
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
)
from simulator.wire.timedate import TimeDate, timedate_from_datetime

START_TIME = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
MINUTE = 6000  # ticks
T0 = ticks_of(timedate_from_datetime(START_TIME))
OTHER = "CN=Mail02/O=Acme"


def build_timeline(
    frames: Iterable[Frame],
    *,
    suppress_minutes: int,
    origin: int | None = None,
    database_names: Mapping[TimeDate, str] | None = None,
    busiest: int = DEFAULT_BUSIEST,
    crashes: Iterable[tuple[int, int]] = (),
) -> Timeline:
    """`TimelineBuilder` fed `frames` and finished, as `billsim timeline` drives it."""
    builder = TimelineBuilder(
        suppress_minutes=suppress_minutes, origin=origin, database_names=database_names
    )
    for frame in frames:
        builder.feed(frame)
    return builder.finish(busiest=busiest, crashes=crashes)


def at(minutes: float) -> TimeDate:
    return timedate_from_datetime(START_TIME + timedelta(minutes=minutes))


def t(minutes: float) -> int:
    """The ticks of `minutes` after the stream's start, as the model counts them."""
    return T0 + round(minutes * MINUTE)


def frame(minutes: float, rec: Record, server: str = SERVER) -> Frame:
    struct_type, bill_class = STRUCT_TYPE_OF[type(rec)]
    return Frame(struct_type, bill_class, server, at(minutes), rec)


def session(minutes: float, action: int, sid: tuple[int, int] = (1, 1), user: str = ALICE) -> Frame:
    return frame(minutes, SessionRec(SessionID(*sid), action, user, 0, 0, "10.1.2.3"))


def db(
    minutes: float,
    action: int,
    replica: TimeDate = REPLICA,
    sid: tuple[int, int] = (1, 1),
    user: str = ALICE,
) -> Frame:
    return frame(minutes, DbRec(SessionID(*sid), action, user, 0, replica))


def charge(minutes: float, user: str = ALICE, replica: TimeDate = ORDERS_REPLICA) -> Frame:
    return frame(minutes, DocumentRec(c.BILLCHARGEREAD, replica, user, DOC_OID, 0.05))


def mail(minutes: float, state: int = 0) -> Frame:
    zero = TimeDate(0, 0)
    oid = Oid(zero, zero, 1, zero)
    rec = MailRec("Memo", oid, Unid(zero, zero), 4821, SERVER, 1, state, 0, ALICE, 1, at(0), (BOB,))
    return frame(minutes, rec)


def http(minutes: float, status: int) -> Frame:
    rec = HttpReqRec(512, 35, status, None, None, None, None, None, None, "GET / HTTP/1.1", None)
    return frame(minutes, rec)


START = c.BILL_SESSION_START
STAMP = c.BILL_SESSION_STAMP
END = c.BILL_SESSION_END
OPEN = c.BILL_DB_OPEN
CLOSE = c.BILL_DB_CLOSE
DB_STAMP = c.BILL_DB_STAMP
CLOSE_END = c.BILL_DB_CLOSE_END
NAMES = {REPLICA: "mail/alice.nsf", ORDERS_REPLICA: "apps/orders.nsf"}


def demo_stream() -> list[Frame]:
    """Alice's lifecycle-demo day with every kind of task record, and Bob, who never ENDs."""
    return [
        session(0, START),
        db(0, OPEN),
        session(3, START, sid=(2, 1), user=BOB),
        frame(5, ReplRec(SessionID(1, 1), 9000, 1200, REPLICA, HUB, SERVER, 1)),
        session(15, STAMP),
        db(15, DB_STAMP),
        db(20, OPEN, ORDERS_REPLICA),
        charge(20),  # Alice has orders open: on its row
        charge(21, user=CAROL),  # Carol has no session: on the documents lane
        mail(26),
        mail(27, c.MAIL_ROUTING_STATE["dead"]),
        frame(30, AgentRec(350, c.BILL_AGENT_WARNINGS, ALICE, "AMgr", "apps/orders.nsf")),
        session(30, STAMP),
        http(35, 200),
        http(36, 500),
        db(40, CLOSE),
        db(60, CLOSE_END),
        db(60, CLOSE_END, ORDERS_REPLICA),
        session(60, END),
    ]


def test_a_session_is_a_bar_from_start_to_end_with_its_stamps() -> None:
    timeline = build_timeline(demo_stream(), suppress_minutes=15, database_names=NAMES)

    alice, bob = timeline.sessions
    assert (alice.user, alice.sid, alice.server) == (ALICE, "1.1", SERVER)
    assert (alice.start, alice.end) == (t(0), t(60))
    assert alice.stamps == (t(15), t(30))
    assert alice.started and alice.session_records
    assert alice.address == "10.1.2.3"
    assert (bob.user, bob.sid, bob.start) == (BOB, "2.1", t(3))


def test_a_session_without_end_is_open_ended_and_says_where_it_was_seen_last() -> None:
    timeline = build_timeline(demo_stream(), suppress_minutes=15)

    bob = timeline.sessions[1]
    assert bob.end is None
    assert bob.last == t(3)
    assert tuple(bar for bar in timeline.sessions if bar.end is None) == (bob,)


def test_databases_are_rows_under_their_session_with_their_open_intervals() -> None:
    timeline = build_timeline(demo_stream(), suppress_minutes=15, database_names=NAMES)

    mail_file, orders = timeline.sessions[0].databases  # in the order first opened
    assert mail_file.name == "mail/alice.nsf"
    assert [(i.start, i.end, i.closed_by, i.stamps) for i in mail_file.intervals] == [
        (t(0), t(40), "CLOSE", (t(15),))
    ]
    assert mail_file.close_end == t(60)  # long after its CLOSE, at the session's end
    assert orders.name == "apps/orders.nsf"
    assert [(i.start, i.end, i.closed_by) for i in orders.intervals] == [
        (t(20), t(60), "CLOSE_END")
    ]
    assert orders.close_end == t(60)


def test_a_charge_lies_on_the_database_its_user_has_open_else_on_the_documents_lane() -> None:
    timeline = build_timeline(demo_stream(), suppress_minutes=15)

    orders = timeline.sessions[0].databases[1]
    assert [(m.at, m.kind, m.label) for m in orders.charges] == [
        (t(20), MarkKind.CHARGE, "read 0.05")
    ]
    assert [(m.at, m.kind) for m in timeline.lane(Lane.DOCUMENT)] == [(t(21), MarkKind.CHARGE)]


def test_server_task_records_are_marks_on_their_own_lanes_in_a_fixed_order() -> None:
    timeline = build_timeline(demo_stream(), suppress_minutes=15)

    assert [lane for lane, _ in timeline.lanes] == [
        Lane.MAIL,
        Lane.REPLICATION,
        Lane.AGENT,
        Lane.HTTP,
        Lane.DOCUMENT,
    ]
    assert [(m.at, m.kind) for m in timeline.lane(Lane.MAIL)] == [
        (t(26), MarkKind.MAIL),
        (t(27), MarkKind.MAIL_DEAD),
    ]
    (repl,) = timeline.lane(Lane.REPLICATION)
    assert (repl.at, repl.label) == (t(5), f"{HUB} → {SERVER}")
    (agent,) = timeline.lane(Lane.AGENT)
    assert (agent.at, agent.kind, agent.span) == (t(30), MarkKind.AGENT_WARNINGS, 350)
    assert [(m.at, m.kind) for m in timeline.lane(Lane.HTTP)] == [
        (t(35), MarkKind.HTTP),
        (t(36), MarkKind.HTTP_ERROR),
    ]
    # A REPLREC carries a SessionID, but it is no session's record.
    assert len(timeline.sessions) == 2


def test_the_stream_span_grid_and_counts() -> None:
    frames = demo_stream()
    timeline = build_timeline(frames, suppress_minutes=15)

    assert (timeline.first, timeline.last) == (t(0), t(60))
    assert timeline.frames == len(frames)
    assert timeline.total_sessions == 2 and timeline.hidden == 0
    assert timeline.suppress == 15 * MINUTE and timeline.suppress_minutes == 15
    assert timeline.grid_origin == t(0)  # no run start given: the first record
    assert timeline.zone == timedelta(0)
    assert timeline.servers == (SERVER,)


def test_the_grid_starts_at_the_run_start_when_given_and_zero_minutes_means_fifteen() -> None:
    timeline = build_timeline([session(5, START)], suppress_minutes=0, origin=t(-5))

    assert timeline.grid_origin == t(-5)
    assert timeline.suppress == 15 * MINUTE


def test_beyond_busiest_the_sessions_with_most_records_are_kept_in_start_order() -> None:
    frames = []
    # Five sessions; session n writes n STAMPs (and its START and END).
    for n in range(1, 6):
        sid = (n, 1)
        frames.append(session(n, START, sid=sid))
        frames += [session(n + 15 * k, STAMP, sid=sid) for k in range(1, n + 1)]
        frames.append(session(n + 15 * n + 1, END, sid=sid))
    frames.sort(key=lambda f: ticks_of(f.TimeStamp))

    timeline = build_timeline(frames, suppress_minutes=15, busiest=2)

    assert [bar.sid for bar in timeline.sessions] == ["4.1", "5.1"]
    assert timeline.total_sessions == 5 and timeline.hidden == 3
    with pytest.raises(ValueError, match="at least 1"):
        TimelineBuilder(suppress_minutes=15).finish(busiest=0)


def test_a_reused_slot_and_a_second_server_give_sessions_of_their_own() -> None:
    frames = [
        session(0, START),
        session(5, END),
        session(6, START, sid=(1, 2)),  # slot 1 again, next SeqNo
        frame(7, SessionRec(SessionID(1, 1), START, BOB, 0, 0, "10.1.2.4"), server=OTHER),
        session(9, END, sid=(1, 2)),
    ]
    timeline = build_timeline(frames, suppress_minutes=15)

    assert [(b.server, b.sid, b.end) for b in timeline.sessions] == [
        (SERVER, "1.1", t(5)),
        (SERVER, "1.2", t(9)),
        (OTHER, "1.1", None),
    ]
    assert timeline.servers == (SERVER, OTHER)


def test_a_session_known_only_by_its_dbrecs_spans_them() -> None:
    frames = [db(1, OPEN), db(4, CLOSE), db(8, OPEN), db(12, CLOSE_END)]
    (bar,) = build_timeline(frames, suppress_minutes=15).sessions

    assert not bar.started and not bar.session_records
    assert (bar.start, bar.end) == (t(1), t(12))
    assert [(i.start, i.end, i.closed_by) for i in bar.databases[0].intervals] == [
        (t(1), t(4), "CLOSE"),
        (t(8), t(12), "CLOSE_END"),
    ]


def test_a_session_whose_start_the_stream_lacks_begins_at_its_first_record() -> None:
    (bar,) = build_timeline([session(15, STAMP), session(20, END)], suppress_minutes=15).sessions

    assert not bar.started and bar.session_records
    assert (bar.start, bar.end, bar.stamps) == (t(15), t(20), (t(15),))


def test_a_database_still_open_at_the_end_of_the_stream_has_an_open_interval() -> None:
    (bar,) = build_timeline([session(0, START), db(1, OPEN)], suppress_minutes=15).sessions

    (interval,) = bar.databases[0].intervals
    assert (interval.start, interval.end, interval.closed_by) == (t(1), None, None)


def test_the_zone_is_the_one_the_first_timedate_carries_dst_adding_an_hour() -> None:
    gmt = at(0)
    east_one_hour_dst = TimeDate(gmt.ticks, gmt.day_zone | (1 << 24) | (1 << 30) | (1 << 31))
    rec = SessionRec(SessionID(1, 1), START, ALICE, 0, 0, "")
    timeline = build_timeline(
        [Frame(c.BILL_SESSIONREC, c.BILL_CLASS_SESSION, SERVER, east_one_hour_dst, rec)],
        suppress_minutes=15,
    )

    assert timeline.zone == timedelta(hours=2)


def test_crash_intervals_are_kept_in_time_order() -> None:
    timeline = build_timeline(
        [session(0, START)], suppress_minutes=15, crashes=[(t(30), t(35)), (t(10), t(12))]
    )

    assert timeline.crashes == ((t(10), t(12)), (t(30), t(35)))


def test_open_database_steps_count_the_databases_open_over_time() -> None:
    frames = [
        session(0, START),
        db(0, OPEN),
        db(5, OPEN, ORDERS_REPLICA),
        db(10, CLOSE),
        db(20, CLOSE_END, ORDERS_REPLICA),
    ]
    bar: SessionBar = build_timeline(frames, suppress_minutes=15).sessions[0]

    assert open_database_steps(bar, until=t(30)) == [
        (t(0), 1),
        (t(5), 2),
        (t(10), 1),
        (t(20), 0),
    ]


def test_without_dbrecs_a_charge_lies_on_its_users_one_session() -> None:
    frames = [session(0, START), charge(2), session(3, START, sid=(2, 1), user=BOB)]
    frames += [charge(4, user=BOB), session(5, START, sid=(3, 1), user=BOB), charge(6, user=BOB)]
    timeline = build_timeline(frames, suppress_minutes=15)

    alice, bob_first, _bob_second = timeline.sessions
    assert [m.at for m in alice.charges] == [t(2)]
    assert [m.at for m in bob_first.charges] == [t(4)]  # Bob's only session then
    # With two sessions open, which one charged is not known: the documents lane.
    assert [m.at for m in timeline.lane(Lane.DOCUMENT)] == [t(6)]


def test_a_session_without_end_before_a_crash_was_cut_by_it() -> None:
    frames = [
        session(0, START),
        session(2, START, sid=(2, 1), user=BOB),
        session(15, STAMP),
        session(30, START, sid=(1, 2), user=CAROL),  # the server back
        session(40, STAMP, sid=(1, 2), user=CAROL),  # and still open when the stream ends
    ]
    timeline = build_timeline(frames, suppress_minutes=15, crashes=[(t(15), t(30))])

    alice, bob, carol = timeline.sessions
    assert (alice.end, alice.cut_at) == (None, t(15))
    assert (bob.end, bob.cut_at) == (None, t(15))
    assert (carol.end, carol.cut_at) == (None, None)  # no crash after its last record
