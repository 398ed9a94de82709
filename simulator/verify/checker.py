"""`billsim check`: verify any frame stream against the lifecycle invariants of docs/lifecycles.md.

Pure: `Checker` takes decoded frames one at a time and collects `Violation`s;
`check_frames` runs it over an iterable of (byte offset, frame), `check_stream` over a
binary stream of frames back to back (the `.nbf` form), and `check_file` is the command
behind `billsim check` (it writes the report; the CLI only sets the exit code).

Only SESSIONREC and DBREC define sessions. A session is keyed by its server name and
SessionID (Index, SeqNo), unique per session within a run; other record types (REPLREC
carries a SessionID too) are decoded and counted, nothing more. The stream may be
filtered by BillingClass: a session whose SESSIONRECs are absent is checked only by the
database rules that do not need its START or END.

The rules (`Rule`), each named after what it guards:

- session lifecycle: one START (`duplicate-start`), then STAMPs, then one END
  (`no-start`, `after-end`); a START does not take a slot (Index) whose session is still
  open (`slot-in-use`); an Action must be one of the record's (`bad-action`); a session
  still open when the stream ends (`never-ended`: a finished run ends every session);
- time stamps never go backwards within a session, SESSIONRECs and DBRECs alike
  (`time-backwards`);
- BytesIn and BytesOut never go backwards: a step forward modulo 2^32 of less than
  2^31 is forward, so wrap-around is fine (`counter-backwards`);
- a STAMP is never closer than BillingSuppressTime to the session's previous
  SESSIONREC (`suppress-time`); under the timer policy it also falls on a boundary, a
  whole number of BillingSuppressTimes after START (`stamp-boundary`);
- a session's DBRECs lie between its START and END (`dbrec-outside-session`);
- every database a session opened gets exactly one CLOSE_END (`close-end-missing`,
  `close-end-twice`), before the session's END, and nothing of it follows its CLOSE_END
  (`dbrec-after-close-end`);
- DBOpenTime never goes backwards within a session, per database
  (`dbopentime-backwards`), and is 0 on the first OPEN (`dbopentime-first-open`);
- a database's first DBREC in a session is its OPEN; OPEN only when it is not open,
  CLOSE and DB STAMP only when it is (`db-state`);
- a DB STAMP, under the activity policy, is never closer than BillingSuppressTime to the
  database's previous DBREC (`db-suppress-time`); under the timer policy it falls on a
  boundary, a whole number of BillingSuppressTimes after the database's first OPEN in
  the session (`db-stamp-boundary`).

Times are compared in TIMEDATE ticks (hundredths of a second, GMT), exactly: virtual
time is truncated to ticks the same way for every record, so a boundary is exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import BinaryIO

from simulator.errors import EXIT_FAILED, EXIT_OK
from simulator.scenario.notes_ini import DEFAULT_SUPPRESS_MINUTES
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec, is_custom_struct_type
from simulator.wire.layout import Layout
from simulator.wire.records import BUILTIN_KINDS, CustomRec, DbRec, Frame, SessionRec
from simulator.wire.stream import read_frames
from simulator.wire.text import shown
from simulator.wire.timedate import (
    TICKS_PER_DAY,
    TICKS_PER_SECOND,
    TimeDate,
    format_timedate,
    format_timedate_id,
)

# notes.ini's default BillingSuppressTime (docs/lifecycles.md), in whole minutes.
STAMP_POLICIES: tuple[str, ...] = ("timer", "activity")
TICKS_PER_MINUTE = 60 * TICKS_PER_SECOND
_HALF_DWORD = 1 << 31

# A violation names the record: "DB STAMP" keeps it apart from a session's STAMP.
DB_ACTIONS: dict[int, str] = {**c.DB_ACTION_NAMES, c.BILL_DB_STAMP: "DB STAMP"}
_KIND_NAMES: dict[int, str] = {kind.struct_type: kind.name for kind in BUILTIN_KINDS}


class Rule(StrEnum):
    """The invariant a violation breaks (docs/lifecycles.md); the value is its short name."""

    BAD_ACTION = "bad-action"
    DUPLICATE_START = "duplicate-start"
    NO_START = "no-start"
    AFTER_END = "after-end"
    SLOT_IN_USE = "slot-in-use"
    NEVER_ENDED = "never-ended"
    TIME_BACKWARDS = "time-backwards"
    COUNTER_BACKWARDS = "counter-backwards"
    SUPPRESS_TIME = "suppress-time"
    STAMP_BOUNDARY = "stamp-boundary"
    DBREC_OUTSIDE_SESSION = "dbrec-outside-session"
    CLOSE_END_MISSING = "close-end-missing"
    CLOSE_END_TWICE = "close-end-twice"
    DBREC_AFTER_CLOSE_END = "dbrec-after-close-end"
    DBOPENTIME_BACKWARDS = "dbopentime-backwards"
    DBOPENTIME_FIRST_OPEN = "dbopentime-first-open"
    DB_STATE = "db-state"
    DB_SUPPRESS_TIME = "db-suppress-time"
    DB_STAMP_BOUNDARY = "db-stamp-boundary"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: at which frame (from 1) and byte offset, of what, and how."""

    frame: int
    offset: int | None
    rule: Rule
    subject: str
    message: str

    def __str__(self) -> str:
        return f"frame {self.frame}: {self.subject}: {self.message} [{self.rule}]"


@dataclass(slots=True)
class CheckReport:
    """What a checked stream held, and the violations in frame order."""

    frames: int = 0
    sessions: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_FAILED

    def counts(self) -> str:
        """`42 frames (SESSIONREC 12, DBREC 30), 5 sessions`."""
        kinds = ", ".join(f"{name} {count}" for name, count in sorted(self.by_type.items()))
        frames = f"{self.frames} frame{'' if self.frames == 1 else 's'}"
        sessions = f"{self.sessions} session{'' if self.sessions == 1 else 's'}"
        return f"{frames} ({kinds}), {sessions}" if kinds else f"{frames}, {sessions}"


def ticks_of(value: TimeDate) -> int:
    """Hundredths of a second since Julian day 0, GMT (Innards[0] is GMT whatever the zone)."""
    return value.julian_day * TICKS_PER_DAY + value.ticks


def format_ticks(ticks: int) -> str:
    """A duration in hundredths as people write it: `5m`, `7m30s`, `14m59.99s`, `-2s`."""
    if ticks < 0:
        return "-" + format_ticks(-ticks)
    seconds, hundredths = divmod(ticks, 100)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minute:
        parts.append(f"{minute}m")
    if hundredths:
        parts.append(f"{second}.{hundredths:02d}".rstrip("0") + "s")
    elif second or not parts:
        parts.append(f"{second}s")
    return "".join(parts)


def _counter_step(old: int, new: int) -> int:
    """The signed step from `old` to `new` of a DWORD counter that wraps modulo 2^32."""
    step = (new - old) & c.DWORD_MAX
    return step - (1 << 32) if step >= _HALF_DWORD else step


SessionKey = tuple[str, int, int]  # ServerName, SessionID.Index, SessionID.SeqNo


def _subject(key: SessionKey, username: str) -> str:
    """`session (3,1) CN=Alice/O=Acme`: the SessionID as (Index,SeqNo), and the user."""
    return f"session ({key[1]},{key[2]}) {shown(username)}"


class _Db:
    """One database as one session's DBRECs show it."""

    __slots__ = (
        "close_end_frame",
        "first_frame",
        "first_open_ticks",
        "is_open",
        "last_frame",
        "last_ticks",
        "open_frame",
        "open_time",
        "open_time_frame",
    )

    def __init__(self, frame: int, ticks: int) -> None:
        self.first_frame = frame
        self.first_open_ticks: int | None = None
        self.is_open = False
        self.open_frame = 0
        self.last_frame = frame
        self.last_ticks = ticks
        self.open_time = 0
        self.open_time_frame = frame
        self.close_end_frame: int | None = None


class _Session:
    """One session's state: its SESSIONRECs so far (if any) and its databases."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "dbs",
        "first_dbrec_frame",
        "first_dbrec_offset",
        "first_frame",
        "key",
        "last_frame",
        "last_srec_frame",
        "last_srec_ticks",
        "last_ticks",
        "start_ticks",
        "started",
        "subject",
    )

    def __init__(self, key: SessionKey, username: str, frame: int, ticks: int) -> None:
        self.key = key
        self.subject = _subject(key, username)
        self.first_frame = frame
        self.started = False  # a SESSIONREC was seen (a START, or a STAMP/END without one)
        self.start_ticks: int | None = None
        self.last_srec_ticks: int | None = None
        self.last_srec_frame = 0
        self.bytes_in: int | None = None
        self.bytes_out: int | None = None
        self.last_ticks = ticks
        self.last_frame = frame
        self.dbs: dict[TimeDate, _Db] = {}
        self.first_dbrec_frame: int | None = None
        self.first_dbrec_offset: int | None = None


class _EndedKeys:
    """The sessions that have ENDed, compactly: per slot, the run of SeqNos 1..n, plus others.

    A load test ends millions of sessions; billsim (and Domino) reuse a slot with the
    next SeqNo, so each slot's ended SeqNos are nearly always 1..n. The END's frame is
    kept for the newest of each slot only; older ones answer 0 (ended, frame not kept).
    """

    __slots__ = ("_others", "_runs")

    def __init__(self) -> None:
        self._runs: dict[tuple[str, int], tuple[int, int]] = {}
        self._others: dict[SessionKey, int] = {}

    def add(self, key: SessionKey, frame: int) -> None:
        server, index, seq = key
        slot = (server, index)
        run, _ = self._runs.get(slot, (0, 0))
        if seq != run + 1:
            self._others[key] = frame
            return
        while True:
            self._runs[slot] = (seq, frame)
            later = self._others.pop((server, index, seq + 1), None)
            if later is None:
                return
            seq, frame = seq + 1, later

    def end_frame(self, key: SessionKey) -> int | None:
        """The frame of the key's END (0 if no longer kept), or None if it has not ended."""
        server, index, seq = key
        run, frame = self._runs.get((server, index), (0, 0))
        if 1 <= seq <= run:
            return frame if seq == run else 0
        return self._others.get(key)


def _at(frame: int | None) -> str:
    return f" (frame {frame})" if frame else ""


class Checker:
    """Feed it the frames of a stream in order; `finish` adds the end-of-stream rules.

    `suppress_time` is BillingSuppressTime in whole minutes (0 means the default, 15, as
    in notes.ini); `stamp_policy` is `timer` or `activity` (docs/lifecycles.md).
    """

    def __init__(
        self, *, suppress_time: int = DEFAULT_SUPPRESS_MINUTES, stamp_policy: str = "timer"
    ) -> None:
        if suppress_time < 0:
            raise ValueError(f"BillingSuppressTime must not be negative, got {suppress_time}")
        if stamp_policy not in STAMP_POLICIES:
            raise ValueError(f"stamp policy must be timer or activity, not {stamp_policy!r}")
        self.suppress_minutes = suppress_time or DEFAULT_SUPPRESS_MINUTES
        self.suppress = self.suppress_minutes * TICKS_PER_MINUTE
        self.stamp_policy = stamp_policy
        self.timer = stamp_policy == "timer"
        self.report = CheckReport()
        self._open: dict[SessionKey, _Session] = {}
        self._ended = _EndedKeys()
        self._slots: dict[tuple[str, int], _Session] = {}  # slot -> started session open on it
        self._finished = False
        self._frame = 0
        self._offset: int | None = None

    @property
    def suppress_text(self) -> str:
        return f"BillingSuppressTime ({format_ticks(self.suppress)})"

    def _violate(
        self,
        rule: Rule,
        subject: str,
        message: str,
        frame: int | None = None,
        offset: int | None = None,
    ) -> None:
        if frame is None:
            frame, offset = self._frame, self._offset
        self.report.violations.append(Violation(frame, offset, rule, subject, message))

    # -- frames --------------------------------------------------------------------------

    def feed(self, frame: Frame, offset: int | None = None) -> None:
        """Check the next frame of the stream (numbered from 1 in the order fed)."""
        if self._finished:
            raise RuntimeError("the checker has finished")
        report = self.report
        report.frames += 1
        self._frame = report.frames
        self._offset = offset
        rec = frame.rec
        if isinstance(rec, SessionRec):
            report.by_type["SESSIONREC"] += 1
            self._session_rec(frame, rec)
        elif isinstance(rec, DbRec):
            report.by_type["DBREC"] += 1
            self._db_rec(frame, rec)
        else:
            name = _KIND_NAMES.get(frame.StructType)
            if name is None or isinstance(rec, CustomRec):
                custom = is_custom_struct_type(frame.StructType)
                name = "custom" if custom else "unknown"
            report.by_type[name] += 1

    def _new_session(self, key: SessionKey, username: str, ticks: int) -> _Session:
        session = _Session(key, username, self._frame, ticks)
        self._open[key] = session
        self.report.sessions += 1
        return session

    def _time_went_back(self, session: _Session, ticks: int, stamp: TimeDate, what: str) -> bool:
        """Whether `ticks` is earlier than the session's previous record (reported if so)."""
        if ticks >= session.last_ticks:
            return False
        self._violate(
            Rule.TIME_BACKWARDS,
            session.subject,
            f"{what} TimeStamp {format_timedate(stamp)} is"
            f" {format_ticks(session.last_ticks - ticks)} earlier than the session's previous"
            f" record (frame {session.last_frame})",
        )
        return True

    def _session_rec(self, frame: Frame, rec: SessionRec) -> None:
        key = (frame.ServerName, rec.SessionID.Index, rec.SessionID.SeqNo)
        ticks = ticks_of(frame.TimeStamp)
        action = c.SESSION_ACTION_NAMES.get(rec.Action)
        session = self._open.get(key)
        if action is None:
            subject = session.subject if session else _subject(key, rec.Username)
            self._violate(
                Rule.BAD_ACTION,
                subject,
                f"SESSIONREC Action {rec.Action} is none of START (1), STAMP (4), END (255)",
            )
            return
        if session is None:
            ended = self._ended.end_frame(key)
            if ended is not None:
                subject = _subject(key, rec.Username)
                if rec.Action == c.BILL_SESSION_START:
                    self._violate(
                        Rule.DUPLICATE_START,
                        subject,
                        f"second START of this SessionID: its session ENDed{_at(ended)}"
                        " (a reused slot takes a new SeqNo)",
                    )
                else:
                    self._violate(
                        Rule.AFTER_END, subject, f"{action} after the session's END{_at(ended)}"
                    )
                return
        if rec.Action == c.BILL_SESSION_START:
            self._start(key, frame, rec, session, ticks)
            return
        # STAMP or END
        if session is None or not session.started:
            if session is None:
                session = self._new_session(key, rec.Username, ticks)
            self._violate(Rule.NO_START, session.subject, f"{action} of a session with no START")
            session.started = True
            self._take_slot(session)
        elif not self._time_went_back(session, ticks, frame.TimeStamp, action):
            last = session.last_srec_ticks
            if rec.Action == c.BILL_SESSION_STAMP and last is not None:
                self._check_stamp_spacing(session, ticks, last)
        self._check_counters(session, rec)
        session.last_srec_ticks = ticks
        session.last_srec_frame = self._frame
        session.last_ticks = ticks
        session.last_frame = self._frame
        if rec.Action == c.BILL_SESSION_END:
            self._end(session)

    def _start(
        self,
        key: SessionKey,
        frame: Frame,
        rec: SessionRec,
        session: _Session | None,
        ticks: int,
    ) -> None:
        if session is not None and session.started:
            self._violate(
                Rule.DUPLICATE_START,
                session.subject,
                f"START of a session already open (since frame {session.first_frame})",
            )
            return
        if session is None:
            session = self._new_session(key, rec.Username, ticks)
        else:  # its DBRECs came first: they lie outside START..END
            self._violate(
                Rule.DBREC_OUTSIDE_SESSION,
                session.subject,
                f"DBREC before the session's START (frame {self._frame})",
                session.first_dbrec_frame,
                session.first_dbrec_offset,
            )
            session.subject = _subject(key, rec.Username)
        session.started = True
        session.first_frame = self._frame
        session.start_ticks = ticks
        session.last_srec_ticks = ticks
        session.last_srec_frame = self._frame
        session.bytes_in = rec.BytesIn
        session.bytes_out = rec.BytesOut
        session.last_ticks = ticks
        session.last_frame = self._frame
        self._take_slot(session)

    def _take_slot(self, session: _Session) -> None:
        server, index, _seq = session.key
        holder = self._slots.get((server, index))
        if holder is not None and holder is not session:
            self._violate(
                Rule.SLOT_IN_USE,
                session.subject,
                f"START on slot {index} while {holder.subject} is still open on it"
                f" (since frame {holder.first_frame}); a slot is reused only after its END",
            )
        self._slots[server, index] = session

    def _check_stamp_spacing(self, session: _Session, ticks: int, last: int) -> None:
        elapsed = ticks - last
        if elapsed < self.suppress:
            self._violate(
                Rule.SUPPRESS_TIME,
                session.subject,
                f"STAMP {format_ticks(elapsed)} after the previous SESSIONREC"
                f" (frame {session.last_srec_frame}), closer than {self.suppress_text}",
            )
            return
        if self.timer and session.start_ticks is not None:
            since_start = ticks - session.start_ticks
            if since_start % self.suppress:
                self._violate(
                    Rule.STAMP_BOUNDARY,
                    session.subject,
                    f"STAMP {format_ticks(since_start)} after START is not on a boundary"
                    f" (under the timer policy, stamps fall every {self.suppress_text}"
                    " after START)",
                )

    def _check_counters(self, session: _Session, rec: SessionRec) -> None:
        for name, old, new in (
            ("BytesIn", session.bytes_in, rec.BytesIn),
            ("BytesOut", session.bytes_out, rec.BytesOut),
        ):
            if old is None:
                continue
            step = _counter_step(old, new)
            if step < 0:
                self._violate(
                    Rule.COUNTER_BACKWARDS,
                    session.subject,
                    f"{name} went backwards: {new} after {old} (frame {session.last_srec_frame}),"
                    f" a step of {step} (modulo 2^32, forward steps are under 2^31)",
                )
        session.bytes_in = rec.BytesIn
        session.bytes_out = rec.BytesOut

    def _end(self, session: _Session) -> None:
        for replica, db in session.dbs.items():
            if db.close_end_frame is None:
                self._violate(
                    Rule.CLOSE_END_MISSING,
                    f"{session.subject}, database {format_timedate_id(replica)}",
                    f"END with no CLOSE_END before it (the database's first DBREC: frame"
                    f" {db.first_frame})",
                )
        self._forget(session)
        self._ended.add(session.key, self._frame)

    def _forget(self, session: _Session) -> None:
        del self._open[session.key]
        server, index, _seq = session.key
        if self._slots.get((server, index)) is session:
            del self._slots[server, index]

    # -- databases ---------------------------------------------------------------------------

    def _db_rec(self, frame: Frame, rec: DbRec) -> None:
        key = (frame.ServerName, rec.SessionID.Index, rec.SessionID.SeqNo)
        ticks = ticks_of(frame.TimeStamp)
        action = DB_ACTIONS.get(rec.Action)
        session = self._open.get(key)
        db_name = format_timedate_id(rec.ReplicaID)
        if session is None:
            ended = self._ended.end_frame(key)
            if ended is not None:
                self._violate(
                    Rule.DBREC_OUTSIDE_SESSION,
                    f"{_subject(key, rec.Username)}, database {db_name}",
                    f"{action or 'DBREC'} after the session's END{_at(ended)}",
                )
                return
        if action is None:
            subject = session.subject if session else _subject(key, rec.Username)
            self._violate(
                Rule.BAD_ACTION,
                f"{subject}, database {db_name}",
                f"DBREC Action {rec.Action} is none of OPEN (2), CLOSE (3), DB STAMP (5),"
                " CLOSE_END (6)",
            )
            return
        if session is None:
            session = self._new_session(key, rec.Username, ticks)
        if session.first_dbrec_frame is None:
            session.first_dbrec_frame = self._frame
            session.first_dbrec_offset = self._offset
        went_back = self._time_went_back(session, ticks, frame.TimeStamp, action)
        session.last_ticks = ticks
        session.last_frame = self._frame
        subject = f"{session.subject}, database {db_name}"
        db = session.dbs.get(rec.ReplicaID)
        if db is None:
            db = session.dbs[rec.ReplicaID] = _Db(self._frame, ticks)
            if rec.Action == c.BILL_DB_OPEN:
                db.first_open_ticks = ticks
                if rec.DBOpenTime != 0:
                    self._violate(
                        Rule.DBOPENTIME_FIRST_OPEN,
                        subject,
                        f"DBOpenTime is {rec.DBOpenTime} on the database's first OPEN in the"
                        " session, not 0",
                    )
            else:
                self._violate(
                    Rule.DB_STATE,
                    subject,
                    f"{action} of a database the session has not opened (no OPEN before it)",
                )
        else:
            if db.close_end_frame is not None:
                if rec.Action == c.BILL_DB_CLOSE_END:
                    self._violate(
                        Rule.CLOSE_END_TWICE,
                        subject,
                        f"second CLOSE_END (the first: frame {db.close_end_frame})",
                    )
                else:
                    self._violate(
                        Rule.DBREC_AFTER_CLOSE_END,
                        subject,
                        f"{action} after the database's CLOSE_END (frame {db.close_end_frame}),"
                        " which is written at the session's end",
                    )
                return
            if rec.DBOpenTime < db.open_time:
                self._violate(
                    Rule.DBOPENTIME_BACKWARDS,
                    subject,
                    f"DBOpenTime went backwards: {rec.DBOpenTime} after {db.open_time}"
                    f" (frame {db.open_time_frame})",
                )
            self._db_transition(db, rec.Action, subject, ticks=ticks, went_back=went_back)
        if rec.Action == c.BILL_DB_OPEN:
            db.is_open = True
            db.open_frame = self._frame
        elif rec.Action in (c.BILL_DB_CLOSE, c.BILL_DB_CLOSE_END):
            db.is_open = False
        if rec.Action == c.BILL_DB_CLOSE_END:
            db.close_end_frame = self._frame
        db.last_ticks = ticks
        db.last_frame = self._frame
        db.open_time = rec.DBOpenTime
        db.open_time_frame = self._frame

    def _db_transition(
        self, db: _Db, action_code: int, subject: str, *, ticks: int, went_back: bool
    ) -> None:
        """OPEN, CLOSE and DB STAMP of a database the session has seen before."""
        if action_code == c.BILL_DB_OPEN:
            if db.is_open:
                self._violate(
                    Rule.DB_STATE,
                    subject,
                    f"OPEN of a database already open (OPEN at frame {db.open_frame})",
                )
            elif db.first_open_ticks is None:
                db.first_open_ticks = ticks
        elif action_code == c.BILL_DB_CLOSE:
            if not db.is_open:
                self._violate(Rule.DB_STATE, subject, "CLOSE of a database that is not open")
        elif action_code == c.BILL_DB_STAMP:
            if not db.is_open:
                self._violate(Rule.DB_STATE, subject, "DB STAMP of a database that is not open")
            elif not went_back:
                self._check_db_stamp(db, subject, ticks)

    def _check_db_stamp(self, db: _Db, subject: str, ticks: int) -> None:
        if not self.timer:
            elapsed = ticks - db.last_ticks
            if elapsed < self.suppress:
                self._violate(
                    Rule.DB_SUPPRESS_TIME,
                    subject,
                    f"DB STAMP {format_ticks(elapsed)} after the database's previous DBREC"
                    f" (frame {db.last_frame}), closer than {self.suppress_text}"
                    " (activity policy)",
                )
            return
        if db.first_open_ticks is None:
            return
        since_open = ticks - db.first_open_ticks
        if since_open <= 0 or since_open % self.suppress:
            self._violate(
                Rule.DB_STAMP_BOUNDARY,
                subject,
                f"DB STAMP {format_ticks(since_open)} after the database's first OPEN is not on"
                f" a boundary (under the timer policy, DB stamps fall every {self.suppress_text}"
                " after the first OPEN)",
            )

    # -- the end ---------------------------------------------------------------------------

    def finish(self) -> CheckReport:
        """Add the end-of-stream rules (every session ENDed, every database CLOSE_ENDed).

        Returns the report, its violations in frame order (stable: detection order
        within a frame). Call it only for a stream read to its end.
        """
        if not self._finished:
            self._finished = True
            last = self.report.frames
            for session in list(self._open.values()):
                if session.started:
                    self._violate(
                        Rule.NEVER_ENDED,
                        session.subject,
                        f"no END by the end of the stream (frame {last}); a finished run"
                        " ends every session",
                        session.first_frame,
                    )
                    continue
                # Only its DBRECs are in the stream (Session class off): its databases
                # still get their CLOSE_END at its end, which a finished run reaches.
                for replica, db in session.dbs.items():
                    if db.close_end_frame is None:
                        self._violate(
                            Rule.CLOSE_END_MISSING,
                            f"{session.subject}, database {format_timedate_id(replica)}",
                            f"no CLOSE_END by the end of the stream (frame {last});"
                            " a finished run ends every session",
                            db.first_frame,
                        )
        return self.sorted_report()

    def sorted_report(self) -> CheckReport:
        """The report with its violations in frame order (also mid-stream)."""
        self.report.violations.sort(key=lambda violation: violation.frame)
        return self.report


def check_frames(
    frames: Iterable[tuple[int | None, Frame]],
    *,
    suppress_time: int = DEFAULT_SUPPRESS_MINUTES,
    stamp_policy: str = "timer",
) -> CheckReport:
    """Check (byte offset, frame) pairs in stream order, numbered from 1; the whole report."""
    checker = Checker(suppress_time=suppress_time, stamp_policy=stamp_policy)
    for offset, frame in frames:
        checker.feed(frame, offset)
    return checker.finish()


def feed_stream(
    checker: Checker, stream: BinaryIO, codec: FrameCodec, source: str, prefix: bytes = b""
) -> None:
    """Feed every frame of `stream`; FrameStreamError (exit 2) for one that cannot be read."""
    for offset, _data, frame in read_frames(stream, codec, source=source, prefix=prefix):
        checker.feed(frame, offset)


def check_stream(
    stream: BinaryIO,
    *,
    layout: Layout = Layout.LINUX_X86_64,
    suppress_time: int = DEFAULT_SUPPRESS_MINUTES,
    stamp_policy: str = "timer",
    source: str = "<stream>",
) -> CheckReport:
    """Check frames back to back (the `.nbf` form) under `layout`.

    Raises FrameStreamError (an InputError: exit code 2) naming the byte offset and
    number of the first frame that cannot be read.
    """
    checker = Checker(suppress_time=suppress_time, stamp_policy=stamp_policy)
    feed_stream(checker, stream, FrameCodec(layout), source)
    return checker.finish()
