"""`billsim check` names what real servers do — a crash and restart, a counter wrap, a clock
step — instead of reporting it as violations, and still finds a real violation beside it.

The streams are built record by record, as the `crash`, `wrap` and `clock_step` faults leave
them: a crash cuts the open sessions without END or CLOSE_END, loses what was still queued,
and after `restart_after` new sessions take the slots again (SeqNo counting on, or from 1);
`wrap` starts byte counters near 2^32; a clock step moves every TimeStamp after it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from bundled_runs import BundledOut
from samples import ALICE, BOB, CAROL, ORDERS_REPLICA, SERVER
from test_checker import (
    CLOSE,
    CLOSE_END,
    DB_STAMP,
    END,
    MINUTE,
    OPEN,
    STAMP,
    START,
    Stream,
    at,
    check,
    clean,
    mailrec,
    violations_of,
    write,
)

from simulator.scenario.bundled import bundled_scenarios, resolve_scenario
from simulator.scenario.loader import load_scenario
from simulator.verify.checker import REPEAT_WINDOW, Checker, check_frames, check_stream
from simulator.verify.events import ServerTimeline, Timed, counter_step, wrap_text
from simulator.verify.findings import EVENTS_LISTED, EventKind, Rule, Violation
from simulator.verify.ticks import ticks_of
from simulator.wire.codec import FrameCodec
from simulator.wire.layout import Layout
from simulator.wire.records import DbRec, SessionID, SessionRec
from simulator.wire.timedate import TimeDate

DAN = "CN=Dan Ode/O=Acme"
ERIN = "CN=Erin Park/O=Acme"
FRANK = "CN=Frank Ito/O=Acme"
GRACE = "CN=Grace Hu/O=Acme"
ERIN_REPLICA = TimeDate(0x0052C1F2, 0x85258A3B)
MAIL02 = "CN=Mail02/O=Acme"


def events_of(output: str) -> list[str]:
    """The lines naming an event, as printed."""
    return [line for line in output.splitlines() if line.startswith(tuple(EventKind))]


# -- a crash and a restart -----------------------------------------------------------------


def before_the_crash() -> Stream:
    """Three sessions open when the server dies at 09:20 (one has ENDed, its slot reused)."""
    s = Stream()
    s.session(0, START, sid=(1, 1), user=ALICE, bytes_in=400, bytes_out=2200)  # 1
    s.db(0, OPEN, 0, sid=(1, 1), user=ALICE)  # 2
    s.session(2, START, sid=(2, 1), user=BOB, bytes_in=300, bytes_out=1000)  # 3
    s.session(4, START, sid=(3, 1), user=CAROL, bytes_in=100, bytes_out=100)  # 4
    s.session(9, END, sid=(3, 1), user=CAROL, bytes_in=900, bytes_out=5000)  # 5
    s.session(12, START, sid=(3, 2), user=DAN, bytes_in=50, bytes_out=60)  # 6: slot 3 again
    s.session(15, STAMP, sid=(1, 1), user=ALICE, bytes_in=1600, bytes_out=2500)  # 7
    s.db(15, DB_STAMP, 15 * MINUTE, sid=(1, 1), user=ALICE)  # 8
    s.session(17, STAMP, sid=(2, 1), user=BOB, bytes_in=800, bytes_out=4000)  # 9
    s.db(18, OPEN, 0, replica=ORDERS_REPLICA, sid=(2, 1), user=BOB)  # 10
    # 09:19 a MAILREC was queued, and lost with MQ$BILLING at the crash (09:20)
    return s


def after_the_restart(s: Stream, seq: Callable[[int, int], int]) -> Stream:
    """The server back at 09:25: new sessions from slot 1; `seq(index, old)` their SeqNo."""
    s.session(26, START, sid=(1, seq(1, 1)), user=ERIN, bytes_in=200, bytes_out=300)  # 11
    s.db(26, OPEN, 0, replica=ERIN_REPLICA, sid=(1, seq(1, 1)), user=ERIN)  # 12
    s.session(27, START, sid=(2, seq(2, 1)), user=FRANK, bytes_in=100, bytes_out=100)  # 13
    s.other(28, mailrec())  # 14: the router, back too
    s.session(41, STAMP, sid=(1, seq(1, 1)), user=ERIN, bytes_in=5000, bytes_out=9000)  # 15
    s.db(41, DB_STAMP, 15 * MINUTE, replica=ERIN_REPLICA, sid=(1, seq(1, 1)), user=ERIN)  # 16
    s.session(42, STAMP, sid=(2, seq(2, 1)), user=FRANK, bytes_in=200, bytes_out=300)  # 17
    s.session(44, START, sid=(3, seq(3, 2)), user=GRACE)  # 18
    s.db(50, CLOSE_END, 24 * MINUTE, replica=ERIN_REPLICA, sid=(1, seq(1, 1)), user=ERIN)  # 19
    s.session(50, END, sid=(1, seq(1, 1)), user=ERIN, bytes_in=6000, bytes_out=9900)  # 20
    s.session(52, END, sid=(2, seq(2, 1)), user=FRANK, bytes_in=300, bytes_out=400)  # 21
    s.session(55, END, sid=(3, seq(3, 2)), user=GRACE)  # 22
    return s


SEQNO: dict[str, Callable[[int, int], int]] = {
    "SeqNo counts on": lambda _index, old: old + 1,
    "SeqNo starts again from 1": lambda _index, _old: 1,
}

RESTART_LINE = (
    f"server restart at 2026-11-21T09:26:00.00Z (frame 11, {SERVER}): 3 sessions without"
    " END; nothing written for 8m before it (since frame 10)"
)


@pytest.mark.parametrize("seqno", list(SEQNO))
def test_a_crash_and_restart_is_named_and_exits_0(tmp_path: Path, seqno: str) -> None:
    stream = after_the_restart(before_the_crash(), SEQNO[seqno])
    result = check(write(tmp_path, stream.encode()))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("OK: ")
    assert lines[0].endswith(
        "22 frames (DBREC 6, MAILREC 1, SESSIONREC 15), 7 sessions, no violations,"
        " 1 server restart (linux-x86_64, BillingSuppressTime 15m, timer policy)"
    )
    assert lines[1:] == [RESTART_LINE]


@pytest.mark.parametrize("seqno", list(SEQNO))
def test_a_restart_is_the_silence_it_ended_for_a_picture(seqno: str) -> None:
    stream = after_the_restart(before_the_crash(), SEQNO[seqno])
    checker = Checker()
    for offset, frame in stream.frames():
        checker.feed(frame, offset)
    checker.finish()

    # From the last record before the crash (09:18) to the first after it (09:26).
    assert checker.restart_intervals() == [(ticks_of(at(18)), ticks_of(at(26)))]


def test_no_restart_no_interval() -> None:
    checker = Checker()
    for offset, frame in before_the_crash().frames():
        checker.feed(frame, offset)
    checker.finish()

    assert checker.restart_intervals() == []


@pytest.mark.parametrize("seqno", list(SEQNO))
def test_a_restart_beside_a_real_violation_exits_1_with_the_violation(
    tmp_path: Path, seqno: str
) -> None:
    stream = after_the_restart(before_the_crash(), SEQNO[seqno])
    # Frank's second STAMP (frame 17) reports fewer bytes in than his START: a regression.
    frank = stream.records[16][0]
    assert isinstance(frank, SessionRec) and frank.Username == FRANK
    stream.records[16] = (frank._replace(BytesIn=50), stream.records[16][1])
    result = check(write(tmp_path, stream.encode()))
    assert result.exit_code == 1, result.output
    assert violations_of(result.output) == [(17, Rule.COUNTER_BACKWARDS)]
    assert ": 1 violation in 22 frames" in result.output
    assert ", 1 server restart (" in result.output
    assert events_of(result.output) == [RESTART_LINE]


def test_the_first_start_after_the_restart_may_find_its_slot_free(tmp_path: Path) -> None:
    """Slot 1 was free at the crash, so Erin's START conflicts with nothing; Frank's on slot
    2 does. The restart is still placed where the server came back, and Erin is judged
    afresh with the rest of the new sessions."""
    s = Stream()
    s.session(0, START, sid=(1, 1), user=ALICE)  # 1
    s.session(2, START, sid=(2, 1), user=BOB)  # 2
    s.session(5, END, sid=(1, 1), user=ALICE)  # 3
    s.session(6, START, sid=(3, 1), user=CAROL)  # 4
    s.session(17, STAMP, sid=(2, 1), user=BOB, bytes_in=10)  # 5
    # crash at 09:20, back at 09:30
    s.session(31, START, sid=(1, 2), user=ERIN)  # 6
    s.session(32, START, sid=(2, 2), user=FRANK)  # 7: Bob's slot, Bob never ENDed
    s.session(46, STAMP, sid=(1, 2), user=ERIN)  # 8
    s.session(50, END, sid=(1, 2), user=ERIN)  # 9
    s.session(51, END, sid=(2, 2), user=FRANK)  # 10
    result = check(write(tmp_path, s.encode()))
    assert result.exit_code == 0, result.output
    assert events_of(result.output) == [
        f"server restart at 2026-11-21T09:31:00.00Z (frame 6, {SERVER}): 2 sessions without"
        " END; nothing written for 14m before it (since frame 5)"
    ]


def test_a_cut_session_that_writes_again_means_there_was_no_restart(tmp_path: Path) -> None:
    stream = after_the_restart(before_the_crash(), SEQNO["SeqNo counts on"])
    # Bob, said to be cut by the crash, stamps at 09:32 (frame 15): he was alive all along.
    bob = Stream().session(32, STAMP, sid=(2, 1), user=BOB, bytes_in=900, bytes_out=4100)
    stream.records.insert(14, bob.records[0])
    result = check(write(tmp_path, stream.encode()))
    assert result.exit_code == 1, result.output
    assert events_of(result.output) == []
    # Erin's START took Alice's slot while Alice was open; none of the three ever ENDs.
    assert violations_of(result.output) == [
        (1, Rule.NEVER_ENDED),
        (3, Rule.NEVER_ENDED),
        (6, Rule.NEVER_ENDED),
        (11, Rule.SLOT_IN_USE),
    ]


@pytest.mark.parametrize("back_after", [0.5, 1.0])
def test_no_server_restarts_within_a_minute(tmp_path: Path, back_after: float) -> None:
    """A START on a held slot after a pause of a minute or less is the simulator's mistake."""
    stream = before_the_crash()
    stream.session(18 + back_after, START, sid=(1, 2), user=ERIN)  # 11
    stream.session(25, END, sid=(1, 2), user=ERIN)  # 12
    result = check(write(tmp_path, stream.encode()))
    assert result.exit_code == 1
    assert events_of(result.output) == []
    assert (11, Rule.SLOT_IN_USE) in violations_of(result.output)


def test_two_crashes_in_one_stream_and_a_server_that_did_not_crash() -> None:
    """Each restart begins a new life of its server only; another server's sessions and
    slots are its own."""
    codec = FrameCodec()
    records: list[tuple[SessionRec, TimeDate, str]] = []

    def session(minutes: float, action: int, sid: tuple[int, int], server: str = SERVER) -> None:
        records.append((SessionRec(SessionID(*sid), action, ALICE, 0, 0, ""), at(minutes), server))

    session(0, START, (1, 1))
    session(0, START, (1, 1), MAIL02)
    session(0.5, START, (1, 1))  # 3: conflicts, but after 30s only: a violation
    session(20, START, (1, 2))  # 4: after 19m30s of silence: the first restart
    session(21, START, (2, 1), MAIL02)
    session(40, START, (1, 1))  # 6: after 19m: the second restart (SeqNo from 1)
    session(41, END, (1, 1))
    session(42, END, (1, 1), MAIL02)
    session(43, END, (2, 1), MAIL02)
    data = b"".join(codec.encode_record(rec, server, when) for rec, when, server in records)
    report = check_stream(io.BytesIO(data))
    assert [(v.frame, v.rule) for v in report.violations] == [(3, Rule.DUPLICATE_START)]
    assert report.event_counts == {EventKind.SERVER_RESTART: 2}
    assert [(e.frame, e.kind) for e in report.events] == [
        (4, EventKind.SERVER_RESTART),
        (6, EventKind.SERVER_RESTART),
    ]
    assert "1 session without END" in str(report.events[0])


# -- counter wraps -------------------------------------------------------------------------

NEAR = 2**32


def wrapping() -> Stream:
    """Two sessions whose byte counters start near 2^32 (`wrap: true`) and pass it."""
    s = Stream()
    s.session(0, START, sid=(1, 1), user=ALICE, bytes_in=NEAR - 1296, bytes_out=NEAR - 7296)
    s.session(1, START, sid=(2, 1), user=BOB, bytes_in=NEAR - 296, bytes_out=NEAR - 96)
    s.session(15, STAMP, sid=(1, 1), user=ALICE, bytes_in=NEAR - 296, bytes_out=1704)  # 3
    s.session(16, STAMP, sid=(2, 1), user=BOB, bytes_in=2704, bytes_out=5000)  # 4
    s.session(20, END, sid=(1, 1), user=ALICE, bytes_in=900, bytes_out=3000)  # 5
    s.session(21, END, sid=(2, 1), user=BOB, bytes_in=3000, bytes_out=6000)  # 6
    return s


def test_counter_wraps_are_named_and_exit_0(tmp_path: Path) -> None:
    result = check(write(tmp_path, wrapping().encode()))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("OK: ") and ", no violations, 4 counter wraps (" in lines[0]
    assert lines[1:] == [
        f"counter wrap at frame 3: session (1,1) {ALICE}: BytesOut 1704 after 4294960000"
        " (frame 1), a step of +9000 past 2^32",
        f"counter wrap at frame 4: session (2,1) {BOB}: BytesIn 2704 after 4294967000"
        " (frame 2), a step of +3000 past 2^32",
        f"counter wrap at frame 4: session (2,1) {BOB}: BytesOut 5000 after 4294967200"
        " (frame 2), a step of +5096 past 2^32",
        f"counter wrap at frame 5: session (1,1) {ALICE}: BytesIn 900 after 4294967000"
        " (frame 3), a step of +1196 past 2^32",
    ]


def test_a_wrap_beside_a_counter_that_really_went_back_exits_1(tmp_path: Path) -> None:
    stream = wrapping()
    bob_end, when = stream.records[5]
    assert isinstance(bob_end, SessionRec)
    stream.records[5] = (bob_end._replace(BytesIn=2000), when)  # 2704 before it, no wrap
    result = check(write(tmp_path, stream.encode()))
    assert result.exit_code == 1, result.output
    assert violations_of(result.output) == [(6, Rule.COUNTER_BACKWARDS)]
    assert "BytesIn went backwards: 2000 after 2704" in result.output
    assert ", 4 counter wraps (" in result.output
    assert len(events_of(result.output)) == 4


def test_dbopentime_wraps_too() -> None:
    """DBOpenTime is a DWORD of hundredths: past 2^32 after 497 days open."""
    s = Stream().session(0, START).db(0, OPEN, 0)
    s.db(15, DB_STAMP, NEAR - 100).db(20, CLOSE_END, 29_900).session(20, END)
    report = check_frames(s.frames())
    assert report.ok
    (event,) = report.events
    assert event.kind is EventKind.COUNTER_WRAP and event.frame == 4
    assert "DBOpenTime 29900 after 4294967196 (frame 3), a step of +30000" in str(event)
    back = Stream().session(0, START).db(0, OPEN, 0).db(15, DB_STAMP, 90_000)
    back.db(20, CLOSE_END, 60_000).session(20, END)
    report = check_frames(back.frames())
    assert [v.rule for v in report.violations] == [Rule.DBOPENTIME_BACKWARDS]
    assert report.events == []


def test_a_run_of_wraps_lists_the_first_and_counts_the_rest(tmp_path: Path) -> None:
    s = Stream()
    sessions = EVENTS_LISTED + 3
    for index in range(1, sessions + 1):
        s.session(index, START, sid=(index, 1), bytes_in=NEAR - 10)
    for index in range(1, sessions + 1):
        s.session(30 + index, END, sid=(index, 1), bytes_in=10)
    result = check(write(tmp_path, s.encode()))
    assert result.exit_code == 0, result.output
    assert f"no violations, {sessions} counter wraps (" in result.output
    assert len(events_of(result.output)) == EVENTS_LISTED
    assert result.output.splitlines()[-1] == "and 3 more counter wraps, not listed"


# -- clock steps ---------------------------------------------------------------------------

STEP_AT = 33  # virtual minutes; from then on every TimeStamp is an hour early
STEP_BY = -60


def stepped(minutes: float) -> float:
    """The TimeStamp (in minutes) the server writes at virtual time `minutes`."""
    return minutes + STEP_BY if minutes >= STEP_AT else minutes


def clock_step_stream(*, bob_out_of_order: bool = False) -> Stream:
    """Three sessions stamping on the timer, a database stamping too; at 09:33 the clock
    goes back an hour (a fourth session starts and ends after it).

    `bob_out_of_order`: Bob opens a database at 09:17:30 and his STAMP after it says
    09:17 — out of order within his session, with no clock step (the server's next record
    is later again). Frames from 7 on move one down, and Bob's CLOSE_END precedes his END.
    """
    s = Stream()
    t = stepped
    s.session(t(0), START, sid=(1, 1), user=ALICE)  # 1
    s.db(t(1), OPEN, 0, sid=(1, 1), user=ALICE)  # 2
    s.session(t(2), START, sid=(2, 1), user=BOB)  # 3
    s.session(t(4), START, sid=(3, 1), user=CAROL)  # 4
    s.session(t(15), STAMP, sid=(1, 1), user=ALICE)  # 5
    s.db(t(16), DB_STAMP, 15 * MINUTE, sid=(1, 1), user=ALICE)  # 6
    if bob_out_of_order:
        s.db(t(17.5), OPEN, 0, replica=ORDERS_REPLICA, sid=(2, 1), user=BOB)
    s.session(t(17), STAMP, sid=(2, 1), user=BOB)  # 7
    s.session(t(19), STAMP, sid=(3, 1), user=CAROL)  # 8
    s.session(t(30), STAMP, sid=(1, 1), user=ALICE)  # 9
    s.db(t(31), DB_STAMP, 30 * MINUTE, sid=(1, 1), user=ALICE)  # 10
    s.session(t(32), STAMP, sid=(2, 1), user=BOB)  # 11
    s.session(t(34), STAMP, sid=(3, 1), user=CAROL)  # 12: the first record after the step
    s.session(t(40), START, sid=(4, 1), user=DAN)  # 13
    s.session(t(45), STAMP, sid=(1, 1), user=ALICE)  # 14
    s.db(t(46), DB_STAMP, 45 * MINUTE, sid=(1, 1), user=ALICE)  # 15
    s.session(t(47), STAMP, sid=(2, 1), user=BOB)  # 16
    s.session(t(50), END, sid=(4, 1), user=DAN)  # 17
    s.session(t(60), STAMP, sid=(1, 1), user=ALICE)  # 18: on the boundary it always had
    s.db(t(61), CLOSE_END, 60 * MINUTE, sid=(1, 1), user=ALICE)  # 19
    s.session(t(61), END, sid=(1, 1), user=ALICE)  # 20
    if bob_out_of_order:
        s.db(t(62), CLOSE_END, 0, replica=ORDERS_REPLICA, sid=(2, 1), user=BOB)
    s.session(t(62), END, sid=(2, 1), user=BOB)  # 21
    s.session(t(63), END, sid=(3, 1), user=CAROL)  # 22
    return s


def step_line(frame: int) -> str:
    return (
        f"clock step at 2026-11-21T08:34:00.00Z (frame {frame}, {SERVER}): TimeStamps went"
        f" back 58m from the record before (frame {frame - 1}) and carry on from there"
    )


@pytest.mark.parametrize("policy", ["timer", "activity"])
def test_a_clock_step_back_is_named_and_exits_0(tmp_path: Path, policy: str) -> None:
    result = check(write(tmp_path, clock_step_stream().encode()), "--stamp-policy", policy)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("OK: ") and ", no violations, 1 clock step (" in lines[0]
    assert lines[1:] == [step_line(12)]


def test_the_step_ends_in_a_stream_that_stops_there_as_a_record_out_of_order() -> None:
    """Nothing after it shows the clock stayed back: the record is judged as one late."""
    checker = Checker()
    for offset, frame in clock_step_stream().frames()[:12]:
        checker.feed(frame, offset)
    report = checker.finish()
    assert report.events == []
    assert [(v.frame, v.rule) for v in report.violations if v.rule is not Rule.NEVER_ENDED] == [
        (12, Rule.TIME_BACKWARDS)
    ]


def test_a_clock_step_beside_a_stamp_out_of_order_exits_1(tmp_path: Path) -> None:
    stream = clock_step_stream(bob_out_of_order=True)
    result = check(write(tmp_path, stream.encode()))
    assert result.exit_code == 1, result.output
    assert violations_of(result.output) == [(8, Rule.TIME_BACKWARDS)]
    assert "STAMP TimeStamp 2026-11-21T09:17:00.00Z is 30s earlier" in result.output
    assert events_of(result.output) == [step_line(13)]


def test_a_record_out_of_order_is_no_clock_step() -> None:
    """One record late, or one early: the server's next record goes on from the old time."""
    late = Stream().session(0, START).session(15, STAMP).session(30, STAMP)
    late.session(10, START, sid=(2, 1), user=BOB).session(31, END).session(32, END, sid=(2, 1))
    report = check_frames(late.frames())
    assert report.events == [] and report.ok  # Bob's START was late: no rule needs its time
    early = Stream().session(0, START).session(15, STAMP).session(40, START, sid=(2, 1))
    early.session(30, STAMP).session(31, END).session(41, END, sid=(2, 1))
    report = check_frames(early.frames())
    assert report.events == [] and report.ok


def test_a_clock_step_on_one_server_leaves_another_alone() -> None:
    codec = FrameCodec()
    steps = [(rec, when, SERVER) for rec, when in clock_step_stream().records]
    assert len(steps) == 22
    other = [
        (SessionRec(SessionID(1, 1), action, BOB, 0, 0, ""), at(minutes), MAIL02)
        for minutes, action in ((0, START), (15, STAMP), (30, STAMP), (45, STAMP), (50, END))
    ]
    # Mail02's records interleaved by their place in Mail01's stream, Mail02's clock right.
    merged = steps[:3] + other[:1] + steps[3:7] + other[1:2] + steps[7:12] + other[2:]
    merged += steps[12:]
    data = b"".join(codec.encode_record(rec, server, when) for rec, when, server in merged)
    report = check_stream(io.BytesIO(data))
    assert report.ok, report.violations
    (event,) = report.events
    assert event.kind is EventKind.CLOCK_STEP and SERVER in event.text and MAIL02 not in event.text


def test_a_clock_step_forward_without_databases_reads_as_an_idle_spell() -> None:
    """An hour forward under the timer policy (or any step forward under the activity
    policy) keeps every rule, and with no database open across it nothing shows it: the
    stream reads like an idle hour (docs/lifecycles.md#what-check-names)."""
    s = Stream().session(0, START).session(15, STAMP).session(30 + 60, STAMP).session(95, END)
    report = check_frames(s.frames())
    assert report.ok and report.events == []


def databases_across_a_step(
    by: float, *, dan_too_early: bool = False, bob_closes_first: bool = False
) -> Stream:
    """Three sessions on the timer, two of them with a database open across a clock step of
    `by` minutes at 09:33; Dan starts after it. `dan_too_early`: Dan's STAMP comes 10m
    after his START, a real violation (frame 21). `bob_closes_first`: Bob closes his
    database at 09:32 (frame 14, CLOSE), so only Alice's is open across the step (and the
    frames from 19 on move one up)."""

    def t(minutes: float) -> float:
        return minutes + by if minutes >= STEP_AT else minutes

    s = Stream()
    s.session(t(0), START, sid=(1, 1), user=ALICE)  # 1
    s.db(t(0), OPEN, 0, sid=(1, 1), user=ALICE)  # 2
    s.session(t(2), START, sid=(2, 1), user=BOB)  # 3
    s.db(t(2), OPEN, 0, replica=ORDERS_REPLICA, sid=(2, 1), user=BOB)  # 4
    s.session(t(4), START, sid=(3, 1), user=CAROL)  # 5: no database
    s.session(t(15), STAMP, sid=(1, 1), user=ALICE)  # 6
    s.db(t(15), DB_STAMP, 15 * MINUTE, sid=(1, 1), user=ALICE)  # 7
    s.session(t(17), STAMP, sid=(2, 1), user=BOB)  # 8
    s.db(t(17), DB_STAMP, 15 * MINUTE, replica=ORDERS_REPLICA, sid=(2, 1), user=BOB)  # 9
    s.session(t(19), STAMP, sid=(3, 1), user=CAROL)  # 10
    s.session(t(30), STAMP, sid=(1, 1), user=ALICE)  # 11
    s.db(t(30), DB_STAMP, 30 * MINUTE, sid=(1, 1), user=ALICE)  # 12
    s.session(t(32), STAMP, sid=(2, 1), user=BOB)  # 13
    bob_at_32 = CLOSE if bob_closes_first else DB_STAMP
    s.db(t(32), bob_at_32, 30 * MINUTE, replica=ORDERS_REPLICA, sid=(2, 1), user=BOB)  # 14
    # the step: Carol's, Alice's and Bob's next records are off their boundaries
    s.session(t(34), STAMP, sid=(3, 1), user=CAROL)  # 15
    s.session(t(45), STAMP, sid=(1, 1), user=ALICE)  # 16
    s.db(t(45), DB_STAMP, 45 * MINUTE, sid=(1, 1), user=ALICE)  # 17: one database says so
    s.session(t(47), STAMP, sid=(2, 1), user=BOB)  # 18
    if not bob_closes_first:
        s.db(t(47), DB_STAMP, 45 * MINUTE, replica=ORDERS_REPLICA, sid=(2, 1), user=BOB)  # 19
    s.session(t(50), START, sid=(4, 1), user=DAN)  # 20
    s.session(t(60 if dan_too_early else 65), STAMP, sid=(4, 1), user=DAN)  # 21
    s.session(t(60), STAMP, sid=(1, 1), user=ALICE)  # 22: on its boundaries since the step
    s.db(t(60), DB_STAMP, 60 * MINUTE, sid=(1, 1), user=ALICE)  # 23
    s.session(t(62), STAMP, sid=(2, 1), user=BOB)  # 24
    s.session(t(64), STAMP, sid=(3, 1), user=CAROL)  # 25
    s.session(t(66), END, sid=(4, 1), user=DAN)  # 26
    s.db(t(70), CLOSE_END, 70 * MINUTE, sid=(1, 1), user=ALICE)  # 27
    s.session(t(70), END, sid=(1, 1), user=ALICE)  # 28
    bob_open_time = (30 if bob_closes_first else 69) * MINUTE
    s.db(t(71), CLOSE_END, bob_open_time, replica=ORDERS_REPLICA, sid=(2, 1), user=BOB)  # 29
    s.session(t(71), END, sid=(2, 1), user=BOB)  # 30
    s.session(t(72), END, sid=(3, 1), user=CAROL)  # 31
    return s


def db_step_line(went: str, amount: str, grew: str) -> str:
    return (
        f"clock step between frames 14 and 17 ({SERVER}): TimeStamps went {went} {amount}"
        " after 2026-11-21T09:32:00.00Z (the DBOpenTime of databases open across it, in two"
        f" sessions, grew {amount} {grew} than their TimeStamps)"
    )


@pytest.mark.parametrize("policy", ["timer", "activity"])
def test_databases_open_across_a_clock_step_forward_show_it(tmp_path: Path, policy: str) -> None:
    """7 minutes forward: under the timer policy every session's next STAMP (and DB STAMP)
    is off its boundary — Carol's and Alice's judged before the databases told, Bob's
    after. Alice's and Bob's databases were open 7m less than their TimeStamps say."""
    stream = databases_across_a_step(7)
    result = check(write(tmp_path, stream.encode()), "--stamp-policy", policy)
    assert result.exit_code == 0, result.output
    assert ", no violations, 1 clock step (" in result.output
    assert events_of(result.output) == [db_step_line("forward", "7m", "less")]


@pytest.mark.parametrize("policy", ["timer", "activity"])
def test_databases_show_a_step_back_too_small_for_the_timeline(tmp_path: Path, policy: str) -> None:
    """30 seconds back, less than the gap between records: each STAMP across it comes
    early (closer than BillingSuppressTime) until two databases tell."""
    stream = databases_across_a_step(-0.5)
    result = check(write(tmp_path, stream.encode()), "--stamp-policy", policy)
    assert result.exit_code == 0, result.output
    assert events_of(result.output) == [db_step_line("back", "30s", "more")]


def test_a_clock_step_shown_by_databases_beside_a_real_violation_exits_1(tmp_path: Path) -> None:
    stream = databases_across_a_step(7, dan_too_early=True)
    result = check(write(tmp_path, stream.encode()))
    assert result.exit_code == 1, result.output
    assert violations_of(result.output) == [(21, Rule.SUPPRESS_TIME)]  # Dan began after it
    assert events_of(result.output) == [db_step_line("forward", "7m", "less")]


def test_one_database_or_two_that_disagree_are_no_clock_step() -> None:
    """It takes two sessions' databases agreeing on the step and on when."""
    alone = databases_across_a_step(7, bob_closes_first=True)
    report = check_frames(alone.frames())
    assert report.events == []
    assert {v.rule for v in report.violations} == {Rule.STAMP_BOUNDARY, Rule.DB_STAMP_BOUNDARY}
    disagree = databases_across_a_step(7)
    bob_stamp, when = disagree.records[18]
    assert isinstance(bob_stamp, DbRec)
    disagree.records[18] = (bob_stamp._replace(DBOpenTime=44 * MINUTE), when)  # 8m short
    report = check_frames(disagree.frames())
    assert report.events == [] and not report.ok


# -- the event lines, and clean runs ---------------------------------------------------------


def test_events_come_with_the_violations_of_a_stream_cut_short(tmp_path: Path) -> None:
    data = wrapping().encode()
    result = check(write(tmp_path, data[:-10]))
    assert result.exit_code == 2
    assert len(events_of(result.output)) == 4


SCENARIOS = sorted(bundled_scenarios())


# What the bundled scenarios do on purpose; the rest must name nothing.
NAMED_ON_PURPOSE = {
    "slot-reuse": [
        "counter wrap at frame 10: session (2,2) CN=Dave Lee/O=Acme: BytesOut 704 after"
        " 4294967000 (frame 5), a step of +1000 past 2^32"
    ]
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_bundled_run_names_only_what_it_does(bundled_out: BundledOut, name: str) -> None:
    """No bundled run restarts or steps its clock; slot-reuse wraps a counter on purpose.
    Anything else named would be a false event."""
    out = bundled_out(name, Layout.LINUX_X86_64)
    scenario = load_scenario(resolve_scenario(name))
    with out.open("rb") as stream:
        report = check_stream(
            stream,
            suppress_time=scenario.settings_with().billing_suppress_time,
            stamp_policy=scenario.stamp_policy,
        )
    assert report.ok, report.violations[:3]
    assert [str(event) for event in report.events] == NAMED_ON_PURPOSE.get(name, [])


# -- the pieces, one server's timeline at a time ---------------------------------------------

A_CONFLICT = Violation(9, None, Rule.SLOT_IN_USE, "session (3,2) CN=Bob/O=Acme", "START on slot 3")


def test_a_counter_steps_forward_modulo_2_32() -> None:
    assert counter_step(10, 15) == 5
    assert counter_step(0xFFFF_FFF0, 0x10) == 0x20  # a wrap: forward past 2^32
    assert counter_step(15, 10) == -5  # backwards
    assert wrap_text(9, "session (1,1) A", "BytesIn", 0xFFFF_FFF0, 0x10, 4) == (
        "at frame 9: session (1,1) A: BytesIn 16 after 4294967280 (frame 4),"
        " a step of +32 past 2^32"
    )


def test_a_record_before_the_servers_last_two_is_held_for_the_next() -> None:
    server = ServerTimeline(SERVER)
    frame = Stream().session(0, START).frames()[0][1]
    assert not server.hold(frame, None, 1, 100)
    assert not server.hold(frame, None, 2, 200)
    assert not server.hold(frame, None, 3, 150)  # before one of the two only
    assert server.held is None
    assert server.hold(frame, None, 4, 120)  # before both 150 and 200
    held = server.held
    assert held is not None and (held.latest, held.latest_frame) == (150, 3)
    line = server.stepped_back(held)
    assert line.endswith(
        f"(frame 4, {SERVER}): TimeStamps went back 0.3s from the record before (frame 3)"
        " and carry on from there"
    )
    assert (server.latest, server.step_frame, server.before_latest) == (120, 4, None)


def test_a_silence_then_a_conflict_is_a_new_life_unless_an_old_session_spoke() -> None:
    server = ServerTimeline(SERVER)
    server.judged(1, 0, at(0))
    server.judged(2, 2 * MINUTE, at(2))  # silent for 2 minutes: longer than RESTART_SILENCE
    assert server.silence is not None and server.silence.gap == 2 * MINUTE
    server.heard_from(1)  # a session first seen before the silence wrote after it
    assert server.restart(A_CONFLICT) is None and server.life == 0
    server.judged(3, 5 * MINUTE, at(5))  # another silence, nobody from before heard since
    server.heard_from(3)
    restart = server.restart(A_CONFLICT)
    assert restart is not None and restart.silence.resume_frame == 3
    assert server.life == 1 and server.silence is None
    assert server.key(SessionID(3, 1)) == (f"{SERVER}\0{1}", 3, 1)


def test_two_sessions_databases_agreeing_on_a_skew_make_a_clock_step() -> None:
    server = ServerTimeline(SERVER)
    alice, bob = object(), object()
    # Open 10 s by their TimeStamps while DBOpenTime grew 70 s: the clock went back a minute.
    assert server.compare_open_time(alice, 0, 1, 0, 7000, 1000, 5) is None
    assert server.compare_open_time(alice, 0, 2, 0, 7000, 1000, 6) is None  # the same session
    pair = server.compare_open_time(bob, 0, 3, 0, 7000, 1000, 7)
    assert pair is not None
    withdrawn = Violation(4, None, Rule.TIME_BACKWARDS, "s", "m")
    kept = Violation(9, None, Rule.TIME_BACKWARDS, "s", "m")
    server.timed = [Timed(withdrawn, 2, None), Timed(kept, 8, None)]
    violations = [withdrawn, kept]
    frame, line = server.clock_stepped(*pair, violations)
    assert violations == [kept] and frame == 4
    assert line.startswith(f"between frames 3 and 5 ({SERVER}): TimeStamps went back 1m after")
    assert server.step_frame == 4
    # Within a second of its TimeStamps a database shows nothing.
    assert server.compare_open_time(bob, 0, 8, 0, 1000, 1050, 9) is None


# -- a frame delivered twice ---------------------------------------------------------------


def _with_repeats(stream: Stream, repeats: dict[int, int]) -> Stream:
    """`stream` with the record at each key (from 0) written again after the record at its
    value: what a redelivery, or the `duplicate` fault, leaves in a stream."""
    records = list(stream.records)
    out = Stream()
    for index, record in enumerate(records):
        out.records.append(record)
        out.records.extend(records[again] for again, after in repeats.items() if after == index)
    return out


def test_a_frame_delivered_twice_is_named_not_judged_and_exits_0(tmp_path: Path) -> None:
    # The clean stream with its first START again right after it, a DB STAMP again after
    # the CLOSE that follows it, and its last END again: none of them judged a second time.
    stream = _with_repeats(clean(), {0: 0, 5: 6, 17: 17})
    result = check(write(tmp_path, stream.encode()))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "21 frames (DBREC 9, MAILREC 1, REPLREC 1, SESSIONREC 10), 3 sessions" in lines[0]
    assert ", no violations, 3 repeated frames (" in lines[0], lines[0]
    assert lines[1:] == [
        f"repeated frame at frame {again}: the record of frame {first} again, delivered twice"
        " (not judged again)"
        for again, first in ((2, 1), (9, 7), (21, 20))
    ]


def test_a_start_delivered_twice_after_a_silence_is_no_restart(tmp_path: Path) -> None:
    """A quiet night, then a START and its redelivery: before repeats were told, the second
    START took a slot still held after a long silence, which read as a server restart."""
    s = Stream()
    s.session(0, START)
    s.session(5, END)
    s.session(8 * 60, START, sid=(2, 1), user=BOB)
    s.session(8 * 60 + 15, STAMP, sid=(2, 1), user=BOB)
    s.session(8 * 60 + 20, END, sid=(2, 1), user=BOB)
    result = check(write(tmp_path, _with_repeats(s, {2: 2}).encode()))
    assert result.exit_code == 0, result.output
    assert "server restart" not in result.output
    assert events_of(result.output) == [
        "repeated frame at frame 4: the record of frame 3 again, delivered twice (not judged again)"
    ]


def test_a_record_repeated_beyond_the_window_is_judged_as_a_second_record() -> None:
    """Past REPEAT_WINDOW frames a repeat is no longer told from a second record: its START
    is judged (`duplicate-start`), as before repeats were told; within it, it is named."""
    for distance, repeated in ((REPEAT_WINDOW, True), (REPEAT_WINDOW + 1, False)):
        s = Stream()
        s.session(0, START)
        for n in range(distance - 1):  # other records, each its own
            s.other(0, mailrec()._replace(MessageSize=n))
        s.records.append(s.records[0])
        s.session(30, END)
        report = check_frames(s.frames())
        again = distance + 1
        named = [event.frame for event in report.events if event.kind is EventKind.REPEATED_FRAME]
        judged = {v.frame for v in report.violations}
        if repeated:
            assert (named, judged) == ([again], set()), distance
        else:
            assert named == [] and again in judged, distance
