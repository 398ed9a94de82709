"""`billsim check`: hand-made streams, one per rule of docs/lifecycles.md, through CLI and API.

The streams are built record by record with `FrameCodec.encode_record`, never by the
simulator, so the checker is tested against the rules and not against billsim's own
habits.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from samples import ALICE, BOB, HUB, ORDERS_REPLICA, REPLICA, SERVER
from typer.testing import CliRunner

from simulator import cli
from simulator.verify.checker import Checker, check_frames, check_stream
from simulator.verify.findings import Rule
from simulator.verify.ticks import ticks_of
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.layout import Framing, Layout
from simulator.wire.records import (
    DbRec,
    Frame,
    MailRec,
    Oid,
    RawRec,
    Record,
    ReplRec,
    SessionID,
    SessionRec,
    Unid,
)
from simulator.wire.stream import FrameStreamError, read_frames
from simulator.wire.timedate import TimeDate, datetime_from_timedate, timedate_from_datetime

START_TIME = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
MINUTE = 6000  # ticks

START = c.BILL_SESSION_START
STAMP = c.BILL_SESSION_STAMP
END = c.BILL_SESSION_END
OPEN = c.BILL_DB_OPEN
CLOSE = c.BILL_DB_CLOSE
DB_STAMP = c.BILL_DB_STAMP
CLOSE_END = c.BILL_DB_CLOSE_END

runner = CliRunner()


def at(minutes: float) -> TimeDate:
    """The TIMEDATE `minutes` after the stream's start."""
    return timedate_from_datetime(START_TIME + timedelta(minutes=minutes))


@dataclass
class Stream:
    """Records at given times, in stream order: encoded under a layout, or as Frames."""

    records: list[tuple[Record, TimeDate]] = field(default_factory=list)

    def session(
        self,
        minutes: float,
        action: int,
        *,
        sid: tuple[int, int] = (1, 1),
        user: str = ALICE,
        bytes_in: int = 0,
        bytes_out: int = 0,
    ) -> Stream:
        rec = SessionRec(SessionID(*sid), action, user, bytes_in, bytes_out, "10.1.2.3")
        self.records.append((rec, at(minutes)))
        return self

    def db(
        self,
        minutes: float,
        action: int,
        open_time: int = 0,
        *,
        replica: TimeDate = REPLICA,
        sid: tuple[int, int] = (1, 1),
        user: str = ALICE,
    ) -> Stream:
        self.records.append((DbRec(SessionID(*sid), action, user, open_time, replica), at(minutes)))
        return self

    def other(self, minutes: float, rec: Record) -> Stream:
        self.records.append((rec, at(minutes)))
        return self

    def encode(
        self, layout: Layout = Layout.LINUX_X86_64, framing: Framing = Framing.PAD_UNION
    ) -> bytes:
        codec = FrameCodec(layout, framing)
        return b"".join(codec.encode_record(rec, SERVER, when) for rec, when in self.records)

    def frames(self, layout: Layout = Layout.LINUX_X86_64) -> list[tuple[int, Frame]]:
        codec = FrameCodec(layout)
        return [(offset, f) for offset, _, f in read_frames(io.BytesIO(self.encode(layout)), codec)]


def replrec(sid: tuple[int, int]) -> ReplRec:
    return ReplRec(SessionID(*sid), 9000, 1200, REPLICA, HUB, SERVER, 1)


def mailrec() -> MailRec:
    oid = Oid(TimeDate(0x11, 0x85258A3B), TimeDate(0x22, 0x85258A3C), 3, at(0))
    zero = TimeDate(0, 0)
    return MailRec("Memo", oid, Unid(zero, zero), 4821, SERVER, 1, 0, 0, ALICE, 1, at(0), (BOB,))


def clean() -> Stream:
    """Two sessions (one reusing slot 1), two databases, stamps on the timer, other records."""
    s = Stream()
    s.session(0, START, bytes_in=400, bytes_out=2200)  # 1
    s.db(0, OPEN, 0)  # 2
    s.session(3, START, sid=(2, 1), user=BOB, bytes_in=10)  # 3
    s.other(5, replrec((1, 1)))  # 4: a REPLREC's SessionID is no session
    s.session(15, STAMP, bytes_in=1600, bytes_out=2500)  # 5: exactly BillingSuppressTime
    s.db(15, DB_STAMP, 15 * MINUTE)  # 6: on the database's first boundary
    s.db(20, CLOSE, 20 * MINUTE)  # 7
    s.db(20, OPEN, 0, replica=ORDERS_REPLICA)  # 8
    s.db(25, OPEN, 20 * MINUTE)  # 9: reopened, DBOpenTime unchanged while closed
    s.other(26, mailrec())  # 10
    s.session(30, STAMP, bytes_in=1700, bytes_out=3400)  # 11
    s.db(35, DB_STAMP, 15 * MINUTE, replica=ORDERS_REPLICA)  # 12: 15m after its first OPEN
    s.db(40, CLOSE_END, 35 * MINUTE)  # 13
    s.db(40, CLOSE_END, 20 * MINUTE, replica=ORDERS_REPLICA)  # 14
    s.session(40, END, bytes_in=1800, bytes_out=3500)  # 15
    s.session(41, START, sid=(1, 2))  # 16: slot 1 again, next SeqNo
    s.session(42, END, sid=(2, 1), user=BOB, bytes_in=20)  # 17
    s.session(50, END, sid=(1, 2))  # 18
    return s


# name -> (stream, CLI options, the violations as (frame, rule))
Case = tuple[Callable[[], Stream], tuple[str, ...], list[tuple[int, Rule]]]
CASES: dict[str, Case] = {
    "two STAMPs too close": (
        lambda: Stream().session(0, START).session(15, STAMP).session(20, STAMP).session(25, END),
        (),
        [(3, Rule.SUPPRESS_TIME)],
    ),
    "STAMP closer than BillingSuppressTime to START": (
        lambda: Stream().session(0, START).session(5, STAMP).session(6, END),
        ("--stamp-policy", "activity"),
        [(2, Rule.SUPPRESS_TIME)],
    ),
    "STAMP off the timer's boundaries": (
        lambda: Stream().session(0, START).session(20, STAMP).session(25, END),
        (),
        [(2, Rule.STAMP_BOUNDARY)],
    ),
    "the same STAMP is fine under the activity policy": (
        lambda: Stream().session(0, START).session(20, STAMP).session(25, END),
        ("--stamp-policy", "activity"),
        [],
    ),
    "--suppress-time changes the spacing": (
        lambda: Stream().session(0, START).session(5, STAMP).session(10, STAMP).session(12, END),
        ("--suppress-time", "5"),
        [],
    ),
    "an END may follow closely": (
        lambda: Stream().session(0, START).session(0.01, END),
        (),
        [],
    ),
    "STAMP after END": (
        lambda: Stream().session(0, START).session(10, END).session(15, STAMP),
        (),
        [(3, Rule.AFTER_END)],
    ),
    "STAMP with no START": (
        lambda: Stream().session(15, STAMP).session(20, END),
        (),
        [(1, Rule.NO_START)],
    ),
    "DBREC before START": (
        lambda: Stream().db(0, OPEN).session(0, START).db(5, CLOSE_END, 5 * MINUTE).session(5, END),
        (),
        [(1, Rule.DBREC_OUTSIDE_SESSION)],
    ),
    "missing CLOSE_END": (
        lambda: (
            Stream()
            .session(0, START)
            .db(0, OPEN)
            .db(1, OPEN, replica=ORDERS_REPLICA)
            .db(5, CLOSE_END, 5 * MINUTE, replica=ORDERS_REPLICA)
            .session(5, END)
        ),
        (),
        [(5, Rule.CLOSE_END_MISSING)],
    ),
    "two CLOSE_ENDs": (
        lambda: (
            Stream()
            .session(0, START)
            .db(0, OPEN)
            .db(5, CLOSE_END, 5 * MINUTE)
            .db(6, CLOSE_END, 5 * MINUTE)  # not the same record again: a repeat is no second
            .session(6, END)
        ),
        (),
        [(4, Rule.CLOSE_END_TWICE)],
    ),
    "CLOSE_END after END": (
        lambda: Stream().session(0, START).db(0, OPEN).session(5, END).db(5, CLOSE_END, 5 * MINUTE),
        (),
        [(3, Rule.CLOSE_END_MISSING), (4, Rule.DBREC_OUTSIDE_SESSION)],
    ),
    "DBREC after the database's CLOSE_END": (
        lambda: (
            Stream()
            .session(0, START)
            .db(0, OPEN)
            .db(5, CLOSE_END, 5 * MINUTE)
            .db(5, OPEN, 5 * MINUTE)
            .session(5, END)
        ),
        (),
        [(4, Rule.DBREC_AFTER_CLOSE_END)],
    ),
    "counter going backwards": (
        lambda: (
            Stream()
            .session(0, START, bytes_in=1000, bytes_out=5000)
            .session(15, STAMP, bytes_in=1500, bytes_out=4000)
            .session(20, END, bytes_in=1600, bytes_out=6000)
        ),
        (),
        [(2, Rule.COUNTER_BACKWARDS)],
    ),
    "counter wrapping forward is OK": (
        lambda: (
            Stream()
            .session(0, START, bytes_in=0xFFFF_FF00, bytes_out=0x8000_0000)
            .session(15, STAMP, bytes_in=0x100, bytes_out=0xFFFF_FFFF)  # +0x7FFF_FFFF: forward
            .session(20, END, bytes_in=0x200, bytes_out=5)
        ),
        (),
        [],
    ),
    "a step of exactly 2^31 is not forward": (
        lambda: Stream().session(0, START, bytes_in=5).session(20, END, bytes_in=5 + 2**31),
        (),
        [(2, Rule.COUNTER_BACKWARDS)],
    ),
    "DBOpenTime backwards": (
        lambda: (
            Stream()
            .session(0, START)
            .db(0, OPEN, 0)
            .db(15, DB_STAMP, 15 * MINUTE)
            .db(20, CLOSE, 10 * MINUTE)
            .db(20, CLOSE_END, 10 * MINUTE)
            .session(20, END)
        ),
        (),
        [(4, Rule.DBOPENTIME_BACKWARDS)],
    ),
    "DBOpenTime not 0 on the first OPEN": (
        lambda: Stream().session(0, START).db(0, OPEN, 7).db(1, CLOSE_END, 100).session(1, END),
        (),
        [(2, Rule.DBOPENTIME_FIRST_OPEN)],
    ),
    "time going backwards": (
        lambda: Stream().session(10, START).session(25, STAMP).session(9, END),
        (),
        [(3, Rule.TIME_BACKWARDS)],
    ),
    "a DBREC earlier than its session's START": (
        lambda: (
            Stream().session(10, START).db(9, OPEN).db(11, CLOSE_END, 2 * MINUTE).session(11, END)
        ),
        (),
        [(2, Rule.TIME_BACKWARDS)],
    ),
    "session never ended": (
        lambda: (
            Stream()
            .session(0, START)
            .db(0, OPEN)
            .session(1, START, sid=(2, 1), user=BOB)
            .session(2, END, sid=(2, 1), user=BOB)
        ),
        (),
        [(1, Rule.NEVER_ENDED)],
    ),
    "duplicate START": (
        lambda: Stream().session(0, START).session(1, START).session(2, END),
        (),
        [(2, Rule.DUPLICATE_START)],
    ),
    "START of an ended SessionID": (
        lambda: Stream().session(0, START).session(1, END).session(2, START).session(3, END),
        (),
        [(3, Rule.DUPLICATE_START), (4, Rule.AFTER_END)],
    ),
    "START on a slot still in use": (
        lambda: (
            Stream()
            .session(0, START)
            .session(1, START, sid=(1, 2), user=BOB)
            .session(2, END)
            .session(3, END, sid=(1, 2), user=BOB)
        ),
        (),
        [(2, Rule.SLOT_IN_USE)],
    ),
    "DB STAMP of a closed database": (
        lambda: (
            Stream()
            .session(0, START)
            .db(0, OPEN)
            .db(5, CLOSE, 5 * MINUTE)
            .db(15, DB_STAMP, 5 * MINUTE)
            .db(20, CLOSE_END, 5 * MINUTE)
            .session(20, END)
        ),
        (),
        [(4, Rule.DB_STATE)],
    ),
    "DB STAMP off the database's boundaries (timer)": (
        lambda: (
            Stream()
            .session(0, START)
            .db(1, OPEN)
            .db(15, DB_STAMP, 14 * MINUTE)
            .db(20, CLOSE_END, 19 * MINUTE)
            .session(20, END)
        ),
        (),
        [(3, Rule.DB_STAMP_BOUNDARY)],
    ),
    "DB STAMP too close to the database's previous DBREC (activity)": (
        lambda: (
            Stream()
            .session(0, START)
            .db(0, OPEN)
            .db(5, CLOSE, 5 * MINUTE)
            .db(10, OPEN, 5 * MINUTE)
            .db(20, DB_STAMP, 15 * MINUTE)
            .db(30, CLOSE_END, 25 * MINUTE)
            .session(30, END)
        ),
        ("--stamp-policy", "activity"),
        [(5, Rule.DB_SUPPRESS_TIME)],
    ),
    "an unknown Action": (
        lambda: Stream().session(0, START).session(1, 7).session(2, END),
        (),
        [(2, Rule.BAD_ACTION)],
    ),
    "Session class filtered out: database rules only": (
        lambda: (
            Stream()
            .db(0, OPEN)
            .db(5, CLOSE, 5 * MINUTE)
            .db(7, OPEN, 0, replica=ORDERS_REPLICA, sid=(2, 1), user=BOB)
            .db(9, CLOSE_END, 5 * MINUTE)
            .db(9, CLOSE_END, 2 * MINUTE, replica=ORDERS_REPLICA, sid=(2, 1), user=BOB)
        ),
        (),
        [],
    ),
    "Session class filtered out: a CLOSE_END missing at the end": (
        lambda: (
            Stream()
            .db(0, OPEN)
            .db(5, CLOSE, 5 * MINUTE)
            .db(6, OPEN, 0, replica=ORDERS_REPLICA)
            .db(7, CLOSE_END, MINUTE, replica=ORDERS_REPLICA)
        ),
        (),
        [(1, Rule.CLOSE_END_MISSING)],
    ),
    "Session class filtered out: two CLOSE_ENDs": (
        lambda: Stream().db(0, OPEN).db(5, CLOSE_END, 5 * MINUTE).db(6, CLOSE_END, 5 * MINUTE),
        (),
        [(3, Rule.CLOSE_END_TWICE)],
    ),
    "Database class filtered out": (
        lambda: Stream().session(0, START).session(15, STAMP).session(16, END),
        (),
        [],
    ),
    "other records are counted, not sessions": (
        lambda: Stream().other(0, replrec((1, 1))).other(1, replrec((1, 1))).other(2, mailrec()),
        (),
        [],
    ),
}


def write(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "frames.nbf"
    path.write_bytes(data)
    return str(path)


def check(path: str, *args: str, stdin: bytes | None = None) -> Any:
    return runner.invoke(cli.app, ["check", path, *args], input=stdin)


VIOLATION_LINE = re.compile(r"^frame (\d+): (.+) \[([a-z-]+)\]$")


def violations_of(output: str) -> list[tuple[int, Rule]]:
    found: list[tuple[int, Rule]] = []
    for line in output.splitlines():
        match = VIOLATION_LINE.match(line)
        if match:
            found.append((int(match[1]), Rule(match[3])))
    return found


def policy_of(args: tuple[str, ...]) -> dict[str, Any]:
    options = dict(zip(args[::2], args[1::2], strict=True))
    return {
        "suppress_time": int(options.get("--suppress-time", "15")),
        "stamp_policy": options.get("--stamp-policy", "timer"),
    }


def test_a_clean_stream_passes(tmp_path: Path) -> None:
    result = check(write(tmp_path, clean().encode()))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("OK: ")
    assert "18 frames" in lines[0]
    assert "SESSIONREC 8" in lines[0] and "DBREC 8" in lines[0] and "REPLREC 1" in lines[0]
    assert "3 sessions" in lines[0]  # (1,1), (2,1) and (1,2); the REPLREC's (1,1) is none


@pytest.mark.parametrize("name", list(CASES))
def test_each_rule_through_the_cli(tmp_path: Path, name: str) -> None:
    build, args, expected = CASES[name]
    result = check(write(tmp_path, build().encode()), *args)
    assert violations_of(result.output) == sorted(expected, key=lambda v: v[0]), result.output
    if expected:
        assert result.exit_code == 1, result.output
        count = len(expected)
        assert f": {count} violation{'s' if count > 1 else ''} in " in result.output
    else:
        assert result.exit_code == 0, result.output
        assert result.output.startswith("OK: ")


@pytest.mark.parametrize("name", list(CASES))
def test_each_rule_through_the_function(name: str) -> None:
    build, args, expected = CASES[name]
    report = check_frames(build().frames(), **policy_of(args))
    assert [(v.frame, v.rule) for v in report.violations] == sorted(expected, key=lambda v: v[0])
    assert report.ok == (not expected)
    assert report.exit_code == (1 if expected else 0)


def test_the_message_names_the_session_and_the_rule(tmp_path: Path) -> None:
    stream = Stream()
    stream.session(0, START, sid=(3, 1), user="CN=Alice")
    stream.session(15, STAMP, sid=(3, 1), user="CN=Alice")
    stream.session(20, STAMP, sid=(3, 1), user="CN=Alice")
    stream.session(21, END, sid=(3, 1), user="CN=Alice")
    result = check(write(tmp_path, stream.encode()))
    assert result.output.splitlines()[0] == (
        "frame 3: session (3,1) CN=Alice: STAMP 5m after the previous SESSIONREC (frame 2),"
        " closer than BillingSuppressTime (15m) [suppress-time]"
    )


def test_a_database_violation_names_the_replica_id() -> None:
    build, _args, _expected = CASES["missing CLOSE_END"]
    (violation,) = check_frames(build().frames()).violations
    assert violation.subject == f"session (1,1) {ALICE}, database 85258A3B:0052C1F0"
    assert "END with no CLOSE_END" in violation.message
    assert violation.offset == 4 * 1000  # the END's byte offset (pad-union, linux-x86_64)


def test_a_clean_stream_passes_the_function_with_or_without_offsets() -> None:
    frames = clean().frames()
    report = check_frames(frames)
    assert report.ok and report.frames == 18 and report.sessions == 3
    assert report.by_type == {"SESSIONREC": 8, "DBREC": 8, "REPLREC": 1, "MAILREC": 1}
    # Frames built by hand, no byte offsets: the frame number is the position.
    bare = check_frames((None, f) for _, f in frames)
    assert bare.ok and bare.frames == 18


def test_check_stream_reads_a_binary_stream() -> None:
    build, _args, expected = CASES["two CLOSE_ENDs"]
    report = check_stream(io.BytesIO(build().encode()))
    assert [(v.frame, v.rule) for v in report.violations] == expected
    assert report.violations[0].offset == 3 * 1000


def test_the_checker_takes_frames_one_at_a_time() -> None:
    checker = Checker(suppress_time=0, stamp_policy="activity")  # 0: the default, 15
    assert checker.suppress == 15 * MINUTE
    for offset, frame in CASES["STAMP after END"][0]().frames():
        checker.feed(frame, offset)
    report = checker.finish()
    assert [v.rule for v in report.violations] == [Rule.AFTER_END]
    with pytest.raises(RuntimeError):
        checker.feed(frame, offset)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="timer or activity"):
        Checker(stamp_policy="hourly")
    with pytest.raises(ValueError, match="negative"):
        Checker(suppress_time=-1)
    assert check("-", "--stamp-policy", "hourly", stdin=b"").exit_code == 2
    assert check("-", "--suppress-time", "-1", stdin=b"").exit_code == 2


def test_the_clean_stream_is_clean_frame_by_frame_times() -> None:
    """The helper's times are what the cases say: `at` is exact to the hundredth."""
    frames = clean().frames()
    start = ticks_of(frames[0][1].TimeStamp)
    assert ticks_of(frames[4][1].TimeStamp) - start == 15 * MINUTE
    assert datetime_from_timedate(frames[0][1].TimeStamp) == START_TIME


def test_dash_reads_stdin() -> None:
    build, args, expected = CASES["STAMP after END"]
    result = check("-", *args, stdin=build().encode())
    assert result.exit_code == 1
    assert violations_of(result.output) == expected
    assert "<stdin>: 1 violation in 3 frames" in result.output
    clean_result = check("-", stdin=clean().encode())
    assert clean_result.exit_code == 0 and clean_result.output.startswith("OK: <stdin>: 18 frames")
    empty = check("-", stdin=b"")
    assert empty.exit_code == 2 and "no frames" in empty.output


@pytest.mark.parametrize("framing", list(Framing))
def test_win32_layout(tmp_path: Path, framing: Framing) -> None:
    path = write(tmp_path, clean().encode(Layout.WIN32, framing))
    result = check(path, "--layout", "win32")
    assert result.exit_code == 0, result.output
    assert "win32" in result.output
    build, _args, expected = CASES["missing CLOSE_END"]
    path = write(tmp_path, build().encode(Layout.WIN32, framing))
    result = check(path, "--layout", "win32")
    assert result.exit_code == 1
    assert violations_of(result.output) == expected


def test_the_pure_function_reads_win32() -> None:
    report = check_frames(clean().frames(Layout.WIN32))
    assert report.ok and report.frames == 18


def test_truncated_input_exits_2_with_the_offset(tmp_path: Path) -> None:
    build, _args, _expected = CASES["two STAMPs too close"]
    data = build().encode()  # 4 frames of 1000 bytes
    result = check(write(tmp_path, data[:-10]))
    assert result.exit_code == 2
    assert "byte offset 3000 (frame 4)" in result.output
    assert "truncated frame" in result.output
    # The violations in the frames before it are listed first.
    assert violations_of(result.output) == [(3, Rule.SUPPRESS_TIME)]
    assert "never-ended" not in result.output  # the stream did not end: no end-of-stream rules
    one_byte = check("-", stdin=data[:1001])
    assert one_byte.exit_code == 2 and "byte offset 1000 (frame 2)" in one_byte.output
    with pytest.raises(FrameStreamError, match="byte offset 3000"):
        check_stream(io.BytesIO(data[:-10]))


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = check(str(tmp_path / "nope.nbf"))
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_unknown_and_custom_struct_types_are_counted(tmp_path: Path) -> None:
    codec = FrameCodec()
    raw = [
        codec.encode(Frame(st, c.BILL_CLASS_SESSION, SERVER, at(1), RawRec(b"\x01\x00\x01\x00")))
        for st in (40000, 9)
    ]
    data = clean().encode() + b"".join(raw)
    report = check_stream(io.BytesIO(data))
    assert report.ok
    assert report.by_type["custom"] == 1 and report.by_type["unknown"] == 1
    assert check(write(tmp_path, data)).exit_code == 0


def test_a_merged_stream_of_two_servers_keeps_their_sessions_apart() -> None:
    codec = FrameCodec()
    first = Stream().session(0, START).session(5, END)
    records = [
        (rec, when, server)
        for server in (SERVER, "CN=Mail02/O=Acme")
        for rec, when in first.records
    ]
    data = b"".join(codec.encode_record(rec, server, when) for rec, when, server in records)
    report = check_stream(io.BytesIO(data))
    assert report.ok and report.sessions == 2


def test_many_reuses_of_a_slot_stay_clean() -> None:
    stream = Stream()
    for seq in range(1, 200):
        stream.session(seq, START, sid=(1, seq)).session(seq + 0.5, END, sid=(1, seq))
    stream.session(300, STAMP, sid=(1, 5))
    report = check_frames(stream.frames())
    assert [(v.frame, v.rule) for v in report.violations] == [(399, Rule.AFTER_END)]
