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

What real servers do and a finished run never shows (server restarts, counter wraps,
clock steps) is named (`Event`), not counted as a violation: how each is told is in
`events.py` (docs/lifecycles.md#what-check-names). Besides: `findings.py` holds the rules
and the report, `sessions.py` the state kept per session, `ticks.py` the measure of time.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable
from functools import partial
from typing import BinaryIO

from simulator.errors import printable
from simulator.scenario.notes_ini import DEFAULT_SUPPRESS_MINUTES
from simulator.verify.events import (
    Held,
    Restart,
    ServerTimeline,
    SessionKey,
    Timed,
    Witness,
    counter_step,
    wrap_text,
)
from simulator.verify.findings import EVENTS_LISTED, CheckReport, Event, EventKind, Rule, Violation
from simulator.verify.sessions import DbState, EndedKeys, SessionState, session_subject
from simulator.verify.ticks import TICKS_PER_MINUTE, format_ticks, ticks_of
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec, FrameError, is_custom_struct_type
from simulator.wire.layout import Layout
from simulator.wire.records import BUILTIN_KINDS, CustomRec, DbRec, Frame, SessionID, SessionRec
from simulator.wire.stream import iter_frame_buffers
from simulator.wire.timedate import TimeDate, format_timedate, format_timedate_id

# How STAMPs are spaced (docs/lifecycles.md).
STAMP_POLICIES: tuple[str, ...] = ("timer", "activity")

# A violation names the record: "DB STAMP" keeps it apart from a session's STAMP.
DB_ACTIONS: dict[int, str] = {**c.DB_ACTION_NAMES, c.BILL_DB_STAMP: "DB STAMP"}
_KIND_NAMES: dict[int, str] = {kind.struct_type: kind.name for kind in BUILTIN_KINDS}


# How far back a repeated frame is recognised, in frames: a broker redelivers what was
# in flight when the connection dropped, up to the in-flight window (1,000 by default).
REPEAT_WINDOW = 4096


def _at(frame: int | None) -> str:
    return f" (frame {frame})" if frame else ""


class Checker:
    """Feed it the frames of a stream in order; `finish` adds the end-of-stream rules.

    `suppress_time` is BillingSuppressTime in whole minutes (0 means the default, 15, as
    in notes.ini); `stamp_policy` is `timer` or `activity` (docs/lifecycles.md).

    A record that may be a clock step back is judged when its server's next record comes
    (or at `finish`): the violations and events of a frame can come a frame late.
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
        self._open: dict[SessionKey, SessionState] = {}
        self._ended = EndedKeys()
        self._slots: dict[tuple[str, int], SessionState] = {}  # slot -> started session open on it
        self._servers: dict[str, ServerTimeline] = {}
        self._restarts: list[Restart] = []
        self._events: list[Event] = []  # wraps and clock steps, up to EVENTS_LISTED a kind
        self._event_counts: Counter[EventKind] = Counter()
        self._finished = False
        self._frame = 0
        self._offset: int | None = None
        # The last REPEAT_WINDOW frames, each with its number: one seen again is a
        # redelivery, not a second record.
        self._recent: dict[Frame, int] = {}
        self._recent_order: deque[Frame] = deque()

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
        self.report.violations.append(self._violation(rule, subject, message, frame, offset))

    def _violation(
        self,
        rule: Rule,
        subject: str,
        message: str,
        frame: int | None = None,
        offset: int | None = None,
    ) -> Violation:
        if frame is None:
            frame, offset = self._frame, self._offset
        return Violation(frame, offset, rule, subject, message)

    def _violate_timed(
        self,
        server: ServerTimeline,
        rule: Rule,
        subject: str,
        message: str,
        *,
        since: int,
        reanchor: Callable[[], None] | None = None,
    ) -> None:
        """A violation of a time rule, measured from frame `since`: kept, should a clock
        step between them come to light (_clock_stepped)."""
        violation = self._violation(rule, subject, message)
        self.report.violations.append(violation)
        server.timed.append(Timed(violation, since, reanchor))

    def _name(self, kind: EventKind, text: str, frame: int | None = None) -> None:
        """Name an event of the current frame, or `frame` (listed while its kind has room)."""
        self._event_counts[kind] += 1
        if self._event_counts[kind] <= EVENTS_LISTED:
            self._events.append(Event(self._frame if frame is None else frame, kind, text))

    # -- frames --------------------------------------------------------------------------

    def feed(self, frame: Frame, offset: int | None = None, unreadable: str | None = None) -> None:
        """Check the next frame of the stream (numbered from 1 in the order fed).

        `unreadable`: why the frame's record could not be read, though its Len framed it (a
        cut or damaged frame, fed as its header): a violation, and the record unjudged."""
        if self._finished:
            raise RuntimeError("the checker has finished")
        report = self.report
        report.frames += 1
        number = report.frames
        rec = frame.rec
        if isinstance(rec, SessionRec):
            report.by_type["SESSIONREC"] += 1
        elif isinstance(rec, DbRec):
            report.by_type["DBREC"] += 1
        else:
            name = _KIND_NAMES.get(frame.StructType)
            if name is None or isinstance(rec, CustomRec):
                custom = is_custom_struct_type(frame.StructType)
                name = "custom" if custom else "unknown"
            report.by_type[name] += 1
        if unreadable is not None:
            self._violate(
                Rule.UNREADABLE_RECORD,
                f"{_KIND_NAMES.get(frame.StructType, 'custom')} frame of "
                f"{printable(frame.ServerName)}",
                f"{unreadable}: a cut or damaged frame, its record not judged",
                number,
                offset,
            )
            return
        if self._repeated(frame, number):
            return
        server = self._servers.get(frame.ServerName)
        if server is None:
            server = self._servers[frame.ServerName] = ServerTimeline(frame.ServerName)
        ticks = ticks_of(frame.TimeStamp)
        held = server.held
        if held is not None:
            server.held = None
            self._settle(server, held, stepped=ticks < held.latest)
        if server.hold(frame, offset, number, ticks):
            return
        self._judge(server, frame, offset, number, ticks)

    def _repeated(self, frame: Frame, number: int) -> bool:
        """Whether `frame` is one of the last REPEAT_WINDOW frames again, the same record in
        every field: a delivery's duplicate (QoS 1 redelivers, a `duplicate` fault), named
        and not judged again. No server writes one record twice: two records equal to the
        hundredth of a second, counters and all, are one delivered twice."""
        first = self._recent.get(frame)
        if first is not None:
            self._name(
                EventKind.REPEATED_FRAME,
                f"at frame {number}: the record of frame {first} again, delivered twice"
                " (not judged again)",
                number,
            )
            return True
        recent = self._recent
        recent[frame] = number
        order = self._recent_order
        order.append(frame)
        if len(order) > REPEAT_WINDOW:
            del recent[order.popleft()]
        return False

    def _settle(self, server: ServerTimeline, held: Held, *, stepped: bool) -> None:
        """Judge a held record: a clock step back if the server's records stayed back."""
        if stepped:
            text = server.stepped_back(held)
            self._frame, self._offset = held.number, held.offset
            self._name(EventKind.CLOCK_STEP, text)
        # Otherwise one record out of order: the server's clock is where it was.
        self._judge(server, held.frame, held.offset, held.number, held.ticks)

    def _judge(
        self, server: ServerTimeline, frame: Frame, offset: int | None, number: int, ticks: int
    ) -> None:
        self._frame = number
        self._offset = offset
        server.judged(number, ticks, frame.TimeStamp)
        rec = frame.rec
        if isinstance(rec, SessionRec):
            self._session_rec(server, frame, rec, ticks)
        elif isinstance(rec, DbRec):
            self._db_rec(server, frame, rec, ticks)

    def _new_session(
        self, server: ServerTimeline, key: SessionKey, username: str, ticks: int
    ) -> SessionState:
        session = SessionState(server, key, username, self._frame, ticks)
        self._open[key] = session
        self.report.sessions += 1
        return session

    def _heard(self, session: SessionState) -> None:
        """A session wrote (not a START): one open before its server's silence spoke after it."""
        session.server.heard_from(session.first_frame)

    def _time_went_back(
        self, session: SessionState, ticks: int, stamp: TimeDate, what: str
    ) -> bool:
        """Whether `ticks` is earlier than the session's previous record (reported if so)."""
        if ticks >= session.last_ticks or session.server.step_frame > session.last_frame:
            return False  # (a clock step between them: their times do not compare)
        self._violate_timed(
            session.server,
            Rule.TIME_BACKWARDS,
            session.subject,
            f"{what} TimeStamp {format_timedate(stamp)} is"
            f" {format_ticks(session.last_ticks - ticks)} earlier than the session's previous"
            f" record (frame {session.last_frame})",
            since=session.last_frame,
        )
        return True

    def _session_rec(
        self, server: ServerTimeline, frame: Frame, rec: SessionRec, ticks: int
    ) -> None:
        key = server.key(rec.SessionID)
        action = c.SESSION_ACTION_NAMES.get(rec.Action)
        session = self._open.get(key)
        if action is None:
            subject = session.subject if session else session_subject(key, rec.Username)
            self._violate(
                Rule.BAD_ACTION,
                subject,
                f"SESSIONREC Action {rec.Action} is none of START (1), STAMP (4), END (255)",
            )
            return
        if rec.Action == c.BILL_SESSION_START:
            conflict = self._start_conflict(key, session, rec.Username)
            if conflict is not None and self._restart(server, conflict):
                key = server.key(rec.SessionID)
                session = self._open.get(key)
                conflict = self._start_conflict(key, session, rec.Username)
            if conflict is not None:
                self.report.violations.append(conflict)
                if conflict.rule is Rule.DUPLICATE_START:
                    return
            self._start(key, frame, rec, session, ticks)
            return
        # STAMP or END
        if session is None:
            ended = self._ended.end_frame(key)
            if ended is not None:
                subject = session_subject(key, rec.Username)
                self._violate(
                    Rule.AFTER_END, subject, f"{action} after the session's END{_at(ended)}"
                )
                return
            session = self._revive(server, key)
        if session is None or not session.started:
            if session is None:
                session = self._new_session(server, key, rec.Username, ticks)
            self._violate(Rule.NO_START, session.subject, f"{action} of a session with no START")
            session.started = True
            self._take_slot(session)
        else:
            self._heard(session)
            if not self._time_went_back(session, ticks, frame.TimeStamp, action):
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

    def _start_conflict(
        self, key: SessionKey, session: SessionState | None, username: str
    ) -> Violation | None:
        """What a START of `key` breaks, if anything: its SessionID or slot is taken."""
        if session is not None and session.started:
            return self._violation(
                Rule.DUPLICATE_START,
                session.subject,
                f"START of a session already open (since frame {session.first_frame})",
            )
        if session is None:
            ended = self._ended.end_frame(key)
            if ended is not None:
                return self._violation(
                    Rule.DUPLICATE_START,
                    session_subject(key, username),
                    f"second START of this SessionID: its session ENDed{_at(ended)}"
                    " (a reused slot takes a new SeqNo)",
                )
        holder = self._slots.get((key[0], key[1]))
        if holder is not None and holder is not session:
            return self._violation(
                Rule.SLOT_IN_USE,
                session_subject(key, username),
                f"START on slot {key[1]} while {holder.subject} is still open on it"
                f" (since frame {holder.first_frame}); a slot is reused only after its END",
            )
        return None

    def _restart(self, server: ServerTimeline, conflict: Violation) -> bool:
        """Begin the server's next life at its latest silence, if a restart explains `conflict`.

        The sessions open before the silence are cut (kept under the old life's keys, in
        case one writes again); those begun since move to the new life.
        """
        old_life = server.life_key
        restart = server.restart(conflict)
        if restart is None:
            return False
        silence = restart.silence
        self._restarts.append(restart)
        for key, session in list(self._open.items()):
            if key[0] != old_life:
                continue
            if session.first_frame < silence.resume_frame:
                session.cut_by = restart
                restart.cut += 1
                continue
            self._move(session, server.key(SessionID(key[1], key[2])))
        return True

    def _move(self, session: SessionState, key: SessionKey) -> None:
        """Re-key an open session (into another life of its server), with its slot if free."""
        old_server, index, _seq = session.key
        del self._open[session.key]
        if self._slots.get((old_server, index)) is session:
            del self._slots[old_server, index]
        session.key = key
        self._open[key] = session
        if session.started and (key[0], index) not in self._slots:
            self._slots[key[0], index] = session

    def _revive(self, server: ServerTimeline, key: SessionKey) -> SessionState | None:
        """A session cut by a restart that writes again: there was no restart after all.

        Reports the START that the restart excused, and brings the session into the
        server's current life, where it goes on being judged.
        """
        for life in range(server.life - 1, -1, -1):
            session = self._open.get((server.life_key_of(life), key[1], key[2]))
            if session is None or session.cut_by is None:
                continue
            restart = session.cut_by
            if not restart.refuted:
                restart.refuted = True
                self.report.violations.append(restart.conflict)
            session.cut_by = None
            self._move(session, key)
            return session
        return None

    def _start(
        self,
        key: SessionKey,
        frame: Frame,
        rec: SessionRec,
        session: SessionState | None,
        ticks: int,
    ) -> None:
        if session is None:
            server = self._servers[frame.ServerName]
            session = self._new_session(server, key, rec.Username, ticks)
        else:  # its DBRECs came first: they lie outside START..END
            self._violate(
                Rule.DBREC_OUTSIDE_SESSION,
                session.subject,
                f"DBREC before the session's START (frame {self._frame})",
                session.first_dbrec_frame,
                session.first_dbrec_offset,
            )
            session.subject = session_subject(key, rec.Username)
        session.started = True
        session.first_frame = self._frame
        session.start_ticks = ticks
        session.last_srec_ticks = ticks
        session.last_srec_frame = self._frame
        session.bytes_in = rec.BytesIn
        session.bytes_out = rec.BytesOut
        session.last_ticks = ticks
        session.last_frame = self._frame
        self._slots[key[0], key[1]] = session  # (a slot still held was reported by the caller)

    def _take_slot(self, session: SessionState) -> None:
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

    def _check_stamp_spacing(self, session: SessionState, ticks: int, last: int) -> None:
        if session.server.step_frame > session.last_srec_frame:
            # A clock step since its last SESSIONREC: its boundaries run from here on.
            session.start_ticks = ticks
            return
        elapsed = ticks - last
        reanchor = partial(session.boundaries_from, ticks)
        if elapsed < self.suppress:
            self._violate_timed(
                session.server,
                Rule.SUPPRESS_TIME,
                session.subject,
                f"STAMP {format_ticks(elapsed)} after the previous SESSIONREC"
                f" (frame {session.last_srec_frame}), closer than {self.suppress_text}",
                since=session.last_srec_frame,
                reanchor=reanchor,
            )
            return
        if self.timer and session.start_ticks is not None:
            since_start = ticks - session.start_ticks
            if since_start % self.suppress:
                self._violate_timed(
                    session.server,
                    Rule.STAMP_BOUNDARY,
                    session.subject,
                    f"STAMP {format_ticks(since_start)} after START is not on a boundary"
                    f" (under the timer policy, stamps fall every {self.suppress_text}"
                    " after START)",
                    since=session.last_srec_frame,
                    reanchor=reanchor,
                )

    def _check_counters(self, session: SessionState, rec: SessionRec) -> None:
        for name, old, new in (
            ("BytesIn", session.bytes_in, rec.BytesIn),
            ("BytesOut", session.bytes_out, rec.BytesOut),
        ):
            if old is None:
                continue
            step = counter_step(old, new)
            if step < 0:
                self._violate(
                    Rule.COUNTER_BACKWARDS,
                    session.subject,
                    f"{name} went backwards: {new} after {old} (frame {session.last_srec_frame}),"
                    f" a step of {step} (modulo 2^32, forward steps are under 2^31)",
                )
            elif new < old:
                self._name_wrap(session.subject, name, old, new, session.last_srec_frame)
        session.bytes_in = rec.BytesIn
        session.bytes_out = rec.BytesOut

    def _name_wrap(self, subject: str, name: str, old: int, new: int, old_frame: int) -> None:
        self._name(
            EventKind.COUNTER_WRAP, wrap_text(self._frame, subject, name, old, new, old_frame)
        )

    def _end(self, session: SessionState) -> None:
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

    def _forget(self, session: SessionState) -> None:
        del self._open[session.key]
        server, index, _seq = session.key
        if self._slots.get((server, index)) is session:
            del self._slots[server, index]

    # -- databases ---------------------------------------------------------------------------

    def _db_rec(self, server: ServerTimeline, frame: Frame, rec: DbRec, ticks: int) -> None:
        key = server.key(rec.SessionID)
        action = DB_ACTIONS.get(rec.Action)
        session = self._open.get(key)
        db_name = format_timedate_id(rec.ReplicaID)
        if session is None:
            ended = self._ended.end_frame(key)
            if ended is not None:
                self._violate(
                    Rule.DBREC_OUTSIDE_SESSION,
                    f"{session_subject(key, rec.Username)}, database {db_name}",
                    f"{action or 'DBREC'} after the session's END{_at(ended)}",
                )
                return
        if action is None:
            subject = session.subject if session else session_subject(key, rec.Username)
            self._violate(
                Rule.BAD_ACTION,
                f"{subject}, database {db_name}",
                f"DBREC Action {rec.Action} is none of OPEN (2), CLOSE (3), DB STAMP (5),"
                " CLOSE_END (6)",
            )
            return
        if session is None:
            session = self._revive(server, key)
        if session is None:
            session = self._new_session(server, key, rec.Username, ticks)
        else:
            self._heard(session)
        if session.first_dbrec_frame is None:
            session.first_dbrec_frame = self._frame
            session.first_dbrec_offset = self._offset
        db = session.dbs.get(rec.ReplicaID)
        if (
            db is not None
            and db.is_open
            and db.close_end_frame is None
            and rec.Action != c.BILL_DB_OPEN
            and server.step_frame <= db.last_frame
        ):
            stepped = server.compare_open_time(
                session,
                db.last_ticks,
                db.last_frame,
                db.open_time,
                rec.DBOpenTime,
                ticks,
                self._frame,
            )
            if stepped is not None:
                self._clock_stepped(server, *stepped)
        went_back = self._time_went_back(session, ticks, frame.TimeStamp, action)
        session.last_ticks = ticks
        session.last_frame = self._frame
        subject = f"{session.subject}, database {db_name}"
        if db is None:
            db = session.dbs[rec.ReplicaID] = DbState(self._frame, ticks)
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
                if counter_step(db.open_time, rec.DBOpenTime) < 0:
                    self._violate(
                        Rule.DBOPENTIME_BACKWARDS,
                        subject,
                        f"DBOpenTime went backwards: {rec.DBOpenTime} after {db.open_time}"
                        f" (frame {db.open_time_frame})",
                    )
                else:
                    self._name_wrap(
                        subject, "DBOpenTime", db.open_time, rec.DBOpenTime, db.open_time_frame
                    )
            self._db_transition(server, db, rec.Action, subject, ticks=ticks, went_back=went_back)
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

    def _clock_stepped(self, server: ServerTimeline, first: Witness, second: Witness) -> None:
        """Two databases show the same clock step: name it, judge no time across it."""
        frame, text = server.clock_stepped(first, second, self.report.violations)
        self._name(EventKind.CLOCK_STEP, text, frame)

    def _db_transition(
        self,
        server: ServerTimeline,
        db: DbState,
        action_code: int,
        subject: str,
        *,
        ticks: int,
        went_back: bool,
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
                db.grid_frame = self._frame
        elif action_code == c.BILL_DB_CLOSE:
            if not db.is_open:
                self._violate(Rule.DB_STATE, subject, "CLOSE of a database that is not open")
        elif action_code == c.BILL_DB_STAMP:
            if not db.is_open:
                self._violate(Rule.DB_STATE, subject, "DB STAMP of a database that is not open")
            elif not went_back:
                self._check_db_stamp(server, db, subject, ticks)
            db.grid_frame = self._frame

    def _check_db_stamp(
        self, server: ServerTimeline, db: DbState, subject: str, ticks: int
    ) -> None:
        if not self.timer:
            if server.step_frame > db.last_frame:
                return  # a clock step since its previous DBREC: the times do not compare
            elapsed = ticks - db.last_ticks
            if elapsed < self.suppress:
                self._violate_timed(
                    server,
                    Rule.DB_SUPPRESS_TIME,
                    subject,
                    f"DB STAMP {format_ticks(elapsed)} after the database's previous DBREC"
                    f" (frame {db.last_frame}), closer than {self.suppress_text}"
                    " (activity policy)",
                    since=db.last_frame,
                )
            return
        if db.first_open_ticks is None:
            return
        if server.step_frame > db.grid_frame:
            db.boundaries_from(ticks)  # a clock step since: its boundaries run from here on
            return
        since_open = ticks - db.first_open_ticks
        if since_open <= 0 or since_open % self.suppress:
            self._violate_timed(
                server,
                Rule.DB_STAMP_BOUNDARY,
                subject,
                f"DB STAMP {format_ticks(since_open)} after the database's first OPEN is not on"
                f" a boundary (under the timer policy, DB stamps fall every {self.suppress_text}"
                " after the first OPEN)",
                since=db.grid_frame,
                reanchor=partial(db.boundaries_from, ticks),
            )

    # -- the end ---------------------------------------------------------------------------

    def finish(self) -> CheckReport:
        """Add the end-of-stream rules (every session ENDed, every database CLOSE_ENDed).

        Returns the report, its violations and events in frame order (stable: detection
        order within a frame). Call it only for a stream read to its end.
        """
        if not self._finished:
            self._finished = True
            for server in self._servers.values():
                held = server.held
                if held is not None:  # the stream ended: nothing shows the clock stayed back
                    server.held = None
                    self._settle(server, held, stepped=False)
            last = self.report.frames
            for session in list(self._open.values()):
                if session.cut_by is not None and not session.cut_by.refuted:
                    continue  # its server crashed: counted with the restart
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

    def restart_intervals(self) -> list[tuple[int, int]]:
        """Each server restart named (and not refuted), as the silence it ended in ticks: from
        the server's last record before it to its first after — where the server was down,
        as `billsim timeline` draws it. Complete once the stream is `finish`ed."""
        intervals = []
        for restart in self._restarts:
            if not restart.refuted:
                resumed = ticks_of(restart.silence.resume_stamp)
                intervals.append((resumed - restart.silence.gap, resumed))
        return sorted(intervals)

    def sorted_report(self) -> CheckReport:
        """The report with its violations and events in frame order (also mid-stream)."""
        report = self.report
        report.violations.sort(key=lambda violation: violation.frame)
        events = list(self._events)
        counts = Counter(self._event_counts)
        for restart in self._restarts:
            if not restart.refuted:
                counts[EventKind.SERVER_RESTART] += 1
                if counts[EventKind.SERVER_RESTART] <= EVENTS_LISTED:
                    events.append(restart.event())
        report.events = sorted(events, key=lambda event: event.frame)
        report.event_counts = counts
        return report


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
    """Feed every frame of `stream`. A frame its Len frames but whose record cannot be read
    (cut or damaged on the way) is fed as its header, named unreadable; FrameStreamError
    (exit 2) when the framing itself breaks (a Len out of range, a stream cut inside a
    frame)."""
    decode = codec.decode
    for buffer, start, length, offset, _seq in iter_frame_buffers(
        stream, codec, source=source, prefix=prefix
    ):
        data = bytes(buffer[start : start + length])
        try:
            frame = decode(data)
        except FrameError as error:
            checker.feed(codec.decode_raw(data, 0, length), offset, error.message)
        else:
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
