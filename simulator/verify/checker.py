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

What real servers do and a finished run never shows is named (`Event`), not counted as a
violation (docs/lifecycles.md#what-check-names):

- a server restart: a START that would take a slot still held, or reuse a SessionID,
  after the server wrote nothing for longer than RESTART_SILENCE, when no session open
  before that silence has written since. The sessions open before the silence were cut
  by a crash (no END, no CLOSE_END: not `never-ended`), and the server's sessions are
  judged afresh from the first record after the silence (a new *life* of the server:
  SessionIDs of the old life are free again). Should a cut session write again, there
  was no restart after all: the START's conflict is reported as the violation it is.
- a counter wrap: BytesIn, BytesOut or DBOpenTime lower than before by a step forward
  modulo 2^32 (of less than 2^31): a DWORD past 2^32.
- a clock step, seen either way:
  - from the server's timeline (a step back): a record earlier than both of its server's
    two records before it, followed by a record of that server that is still earlier
    than the latest of them (the clock stayed back; a lone record out of order is no
    step). The record waits for the server's next one to be judged (`_Held`).
  - from databases (back or forward): a database open from one DBREC to its next was
    open exactly as long as their TimeStamps are apart; when two sessions' databases
    disagree with their TimeStamps by the same amount over overlapping frames, the clock
    stepped by that amount in between. The time violations already reported across it
    are withdrawn (`_Timed`).
  Times are not compared across a step: each session's and database's first record
  after it starts its times (and timer boundaries) afresh.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import BinaryIO

from simulator.errors import EXIT_FAILED, EXIT_OK
from simulator.scenario.notes_ini import DEFAULT_SUPPRESS_MINUTES
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec, is_custom_struct_type
from simulator.wire.layout import Layout
from simulator.wire.records import BUILTIN_KINDS, CustomRec, DbRec, Frame, SessionID, SessionRec
from simulator.wire.stream import read_frames
from simulator.wire.text import shown
from simulator.wire.timedate import (
    TICKS_PER_DAY,
    TICKS_PER_SECOND,
    TimeDate,
    format_timedate,
    format_timedate_id,
    timedate_from_ticks,
)

# notes.ini's default BillingSuppressTime (docs/lifecycles.md), in whole minutes.
STAMP_POLICIES: tuple[str, ...] = ("timer", "activity")
TICKS_PER_MINUTE = 60 * TICKS_PER_SECOND
_HALF_DWORD = c.DWORD_WRAP // 2
# A restart needs the server to have written nothing for longer than this: no Domino
# server comes back faster, and a START that reuses a slot within a busy stream's pauses
# is the simulator's mistake, not a restart.
RESTART_SILENCE = TICKS_PER_MINUTE
# Events listed per kind; the rest are counted (a run with `wrap` wraps every session).
EVENTS_LISTED = 10
# A database open from one DBREC to the next was open exactly as long as their TimeStamps
# are apart: a clock step between them is the difference. Smaller ones are taken for a
# server's rounding, and two sessions' databases must agree to within this.
DB_CLOCK_SKEW = TICKS_PER_SECOND
# Databases that disagree with their TimeStamps, kept per server until another session's
# database agrees.
_WITNESSES_KEPT = 64

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


# The rules about time that only a clock step back can explain: a step forward makes
# records later, never earlier or closer (it moves STAMPs off their boundaries).
_EXPLAINED_BY_A_STEP_BACK_ONLY = frozenset(
    (Rule.TIME_BACKWARDS, Rule.SUPPRESS_TIME, Rule.DB_SUPPRESS_TIME)
)


class EventKind(StrEnum):
    """What a real server does that a finished run never shows: named, not a violation."""

    SERVER_RESTART = "server restart"
    COUNTER_WRAP = "counter wrap"
    CLOCK_STEP = "clock step"

    def noun(self, count: int) -> str:
        """`server restart`, or `server restarts` for a count other than 1."""
        return str(self) if count == 1 else f"{self}s"

    def counted(self, count: int) -> str:
        """`1 server restart`, `3 counter wraps`."""
        return f"{count:,} {self.noun(count)}"


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


@dataclass(frozen=True, slots=True)
class Event:
    """One thing named: at which frame (from 1), what, and the rest of its line (`at …`)."""

    frame: int
    kind: EventKind
    text: str

    def __str__(self) -> str:
        return f"{self.kind} {self.text}"


@dataclass(slots=True)
class CheckReport:
    """What a checked stream held, its violations in frame order and the events it named.

    `events` lists up to EVENTS_LISTED of each kind, in frame order; `event_counts`
    counts them all.
    """

    frames: int = 0
    sessions: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    event_counts: Counter[EventKind] = field(default_factory=Counter)

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

    def named(self) -> str:
        """`1 server restart, 2 counter wraps` in EventKind order; empty if none."""
        return ", ".join(
            kind.counted(self.event_counts[kind]) for kind in EventKind if self.event_counts[kind]
        )

    def unlisted(self) -> list[tuple[EventKind, int]]:
        """Per kind, how many of its events `events` leaves out."""
        listed = Counter(event.kind for event in self.events)
        return [
            (kind, self.event_counts[kind] - listed[kind])
            for kind in EventKind
            if self.event_counts[kind] > listed[kind]
        ]


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
    return step - c.DWORD_WRAP if step >= _HALF_DWORD else step


# ServerName — tagged with the server's life after a restart (_Server.life_key) —
# SessionID.Index, SessionID.SeqNo.
SessionKey = tuple[str, int, int]


def _subject(key: SessionKey, username: str) -> str:
    """`session (3,1) CN=Alice/O=Acme`: the SessionID as (Index,SeqNo), and the user."""
    return f"session ({key[1]},{key[2]}) {shown(username)}"


def _sessions(count: int) -> str:
    return f"{count} session{'' if count == 1 else 's'}"


@dataclass(slots=True)
class _Silence:
    """The latest time a server wrote nothing for longer than RESTART_SILENCE."""

    from_frame: int  # the server's last record before it
    gap: int  # ticks
    resume_frame: int  # the first record after it
    resume_stamp: TimeDate
    old_spoke: bool = False  # a session open before it has written since


@dataclass(slots=True)
class _Restart:
    """A restart recognised at a conflicting START; `refuted` once a cut session writes."""

    server: str
    silence: _Silence
    conflict: Violation  # what the START is, should there have been no restart
    cut: int = 0  # sessions open before the silence: cut by the crash
    refuted: bool = False

    def event(self) -> Event:
        silence = self.silence
        return Event(
            silence.resume_frame,
            EventKind.SERVER_RESTART,
            f"at {format_timedate(silence.resume_stamp)} (frame {silence.resume_frame},"
            f" {self.server}): {_sessions(self.cut)} without END; nothing written for"
            f" {format_ticks(silence.gap)} before it (since frame {silence.from_frame})",
        )


@dataclass(slots=True)
class _Held:
    """A record earlier than its server's two before it, waiting for the server's next one."""

    frame: Frame
    offset: int | None
    number: int
    ticks: int
    latest: int  # the server's latest record before it
    latest_frame: int


@dataclass(slots=True)
class _Witness:
    """A database open across two DBRECs whose TimeStamps are `skew` further apart than
    its DBOpenTime grew: a clock step of `skew` between frames `after` and `by`."""

    session: _Session
    skew: int
    after: int
    after_ticks: int
    by: int


@dataclass(slots=True)
class _Timed:
    """A violation of a rule about time, which a clock step after `since` would explain.

    `since` is the frame of the record it was measured from; `reanchor` starts the
    session's or database's boundaries afresh at the violating record.
    """

    violation: Violation
    since: int
    reanchor: Callable[[], None] | None


class _Server:
    """One server's timeline: its lives (one per restart), clock steps and silences."""

    __slots__ = (
        "before_latest",
        "held",
        "last_frame",
        "last_ticks",
        "latest",
        "latest_frame",
        "life",
        "life_key",
        "name",
        "silence",
        "step_frame",
        "steps",
        "timed",
        "witnesses",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.life = 0
        self.life_key = name
        # The raw TimeStamps of its last two records, for telling a clock step back.
        self.latest: int | None = None
        self.latest_frame = 0
        self.before_latest: int | None = None
        self.held: _Held | None = None
        # The frame of its latest clock step (0: none); a time before it is not compared
        # with one after it.
        self.step_frame = 0
        # Clock steps the DBOpenTime of databases showed: (skew, after frame, by frame).
        self.steps: list[tuple[int, int, int]] = []
        self.witnesses: list[_Witness] = []
        self.timed: list[_Timed] = []  # violations a clock step found later could explain
        # The last record judged, for silences.
        self.last_ticks: int | None = None
        self.last_frame = 0
        self.silence: _Silence | None = None

    def key(self, sid: SessionID) -> SessionKey:
        return (self.life_key, sid.Index, sid.SeqNo)

    def life_key_of(self, life: int) -> str:
        # A NUL cannot be in a ServerName (the field is NUL-terminated).
        return self.name if life == 0 else f"{self.name}\0{life}"

    def new_life(self) -> None:
        self.life += 1
        self.life_key = self.life_key_of(self.life)

    def steps_back(self, ticks: int) -> bool:
        """Whether a record at `ticks` is earlier than both of the server's two before it."""
        return (
            self.before_latest is not None
            and self.latest is not None
            and ticks < self.latest
            and ticks < self.before_latest
        )

    def saw(self, ticks: int, number: int) -> None:
        self.before_latest = self.latest
        self.latest = ticks
        self.latest_frame = number


class _Db:
    """One database as one session's DBRECs show it."""

    __slots__ = (
        "close_end_frame",
        "first_frame",
        "first_open_ticks",
        "grid_frame",
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
        self.grid_frame = frame  # its first OPEN or latest DB STAMP: where its boundaries run from
        self.is_open = False
        self.open_frame = 0
        self.last_frame = frame
        self.last_ticks = ticks
        self.open_time = 0
        self.open_time_frame = frame
        self.close_end_frame: int | None = None

    def boundaries_from(self, ticks: int) -> None:
        """After a clock step: its DB STAMPs fall on boundaries counted from `ticks`."""
        self.first_open_ticks = ticks


class _Session:
    """One session's state: its SESSIONRECs so far (if any) and its databases."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "cut_by",
        "dbs",
        "first_dbrec_frame",
        "first_dbrec_offset",
        "first_frame",
        "key",
        "last_frame",
        "last_srec_frame",
        "last_srec_ticks",
        "last_ticks",
        "server",
        "start_ticks",
        "started",
        "subject",
    )

    def __init__(
        self, server: _Server, key: SessionKey, username: str, frame: int, ticks: int
    ) -> None:
        self.server = server
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
        self.cut_by: _Restart | None = None

    def boundaries_from(self, ticks: int) -> None:
        """After a clock step: its STAMPs fall on boundaries counted from `ticks`."""
        self.start_ticks = ticks


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
        self._open: dict[SessionKey, _Session] = {}
        self._ended = _EndedKeys()
        self._slots: dict[tuple[str, int], _Session] = {}  # slot -> started session open on it
        self._servers: dict[str, _Server] = {}
        self._restarts: list[_Restart] = []
        self._events: list[Event] = []  # wraps and clock steps, up to EVENTS_LISTED a kind
        self._event_counts: Counter[EventKind] = Counter()
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
        server: _Server,
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
        server.timed.append(_Timed(violation, since, reanchor))

    def _name(self, kind: EventKind, text: str, frame: int | None = None) -> None:
        """Name an event of the current frame, or `frame` (listed while its kind has room)."""
        self._event_counts[kind] += 1
        if self._event_counts[kind] <= EVENTS_LISTED:
            self._events.append(Event(self._frame if frame is None else frame, kind, text))

    # -- frames --------------------------------------------------------------------------

    def feed(self, frame: Frame, offset: int | None = None) -> None:
        """Check the next frame of the stream (numbered from 1 in the order fed)."""
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
        server = self._servers.get(frame.ServerName)
        if server is None:
            server = self._servers[frame.ServerName] = _Server(frame.ServerName)
        ticks = ticks_of(frame.TimeStamp)
        held = server.held
        if held is not None:
            server.held = None
            self._settle(server, held, stepped=ticks < held.latest)
        if server.latest is not None and server.steps_back(ticks):
            server.held = _Held(frame, offset, number, ticks, server.latest, server.latest_frame)
            return
        server.saw(ticks, number)
        self._judge(server, frame, offset, number, ticks)

    def _settle(self, server: _Server, held: _Held, *, stepped: bool) -> None:
        """Judge a held record: a clock step back if the server's records stayed back."""
        if stepped:
            # The clock runs on from the held record: the two before it are history.
            server.before_latest = None
            server.latest = held.ticks
            server.latest_frame = held.number
            server.step_frame = held.number
            self._frame, self._offset = held.number, held.offset
            self._name(
                EventKind.CLOCK_STEP,
                f"at {format_timedate(held.frame.TimeStamp)} (frame {held.number},"
                f" {server.name}): TimeStamps went back {format_ticks(held.latest - held.ticks)}"
                f" from the record before (frame {held.latest_frame}) and carry on from there",
            )
        # Otherwise one record out of order: the server's clock is where it was.
        self._judge(server, held.frame, held.offset, held.number, held.ticks)

    def _judge(
        self, server: _Server, frame: Frame, offset: int | None, number: int, ticks: int
    ) -> None:
        self._frame = number
        self._offset = offset
        last = server.last_ticks
        if last is not None and ticks - last > RESTART_SILENCE:
            server.silence = _Silence(server.last_frame, ticks - last, number, frame.TimeStamp)
        server.last_ticks = ticks
        server.last_frame = number
        rec = frame.rec
        if isinstance(rec, SessionRec):
            self._session_rec(server, frame, rec, ticks)
        elif isinstance(rec, DbRec):
            self._db_rec(server, frame, rec, ticks)

    def _new_session(self, server: _Server, key: SessionKey, username: str, ticks: int) -> _Session:
        session = _Session(server, key, username, self._frame, ticks)
        self._open[key] = session
        self.report.sessions += 1
        return session

    def _heard(self, session: _Session) -> None:
        """A session wrote (not a START): one open before its server's silence spoke after it."""
        silence = session.server.silence
        if silence is not None and session.first_frame < silence.resume_frame:
            silence.old_spoke = True

    def _time_went_back(self, session: _Session, ticks: int, stamp: TimeDate, what: str) -> bool:
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

    def _session_rec(self, server: _Server, frame: Frame, rec: SessionRec, ticks: int) -> None:
        key = server.key(rec.SessionID)
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
                subject = _subject(key, rec.Username)
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
        self, key: SessionKey, session: _Session | None, username: str
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
                    _subject(key, username),
                    f"second START of this SessionID: its session ENDed{_at(ended)}"
                    " (a reused slot takes a new SeqNo)",
                )
        holder = self._slots.get((key[0], key[1]))
        if holder is not None and holder is not session:
            return self._violation(
                Rule.SLOT_IN_USE,
                _subject(key, username),
                f"START on slot {key[1]} while {holder.subject} is still open on it"
                f" (since frame {holder.first_frame}); a slot is reused only after its END",
            )
        return None

    def _restart(self, server: _Server, conflict: Violation) -> bool:
        """Begin the server's next life at its latest silence, if a restart explains `conflict`.

        The sessions open before the silence are cut (kept under the old life's keys, in
        case one writes again); those begun since move to the new life.
        """
        silence = server.silence
        if silence is None or silence.old_spoke:
            return False
        old_life = server.life_key
        server.new_life()
        server.silence = None
        restart = _Restart(server.name, silence, conflict)
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

    def _move(self, session: _Session, key: SessionKey) -> None:
        """Re-key an open session (into another life of its server), with its slot if free."""
        old_server, index, _seq = session.key
        del self._open[session.key]
        if self._slots.get((old_server, index)) is session:
            del self._slots[old_server, index]
        session.key = key
        self._open[key] = session
        if session.started and (key[0], index) not in self._slots:
            self._slots[key[0], index] = session

    def _revive(self, server: _Server, key: SessionKey) -> _Session | None:
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
        session: _Session | None,
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
        self._slots[key[0], key[1]] = session  # (a slot still held was reported by the caller)

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
            elif new < old:
                self._name_wrap(session.subject, name, old, new, session.last_srec_frame)
        session.bytes_in = rec.BytesIn
        session.bytes_out = rec.BytesOut

    def _name_wrap(self, subject: str, name: str, old: int, new: int, old_frame: int) -> None:
        self._name(
            EventKind.COUNTER_WRAP,
            f"at frame {self._frame}: {subject}: {name} {new} after {old} (frame {old_frame}),"
            f" a step of +{_counter_step(old, new)} past 2^32",
        )

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

    def _db_rec(self, server: _Server, frame: Frame, rec: DbRec, ticks: int) -> None:
        key = server.key(rec.SessionID)
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
            self._compare_open_time(server, session, db, rec.DBOpenTime, ticks)
        went_back = self._time_went_back(session, ticks, frame.TimeStamp, action)
        session.last_ticks = ticks
        session.last_frame = self._frame
        subject = f"{session.subject}, database {db_name}"
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
                if _counter_step(db.open_time, rec.DBOpenTime) < 0:
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

    def _compare_open_time(
        self, server: _Server, session: _Session, db: _Db, open_time: int, ticks: int
    ) -> None:
        """A database open since its previous DBREC was open exactly as long as their
        TimeStamps are apart; if not, their server's clock stepped in between.

        Two sessions' databases agreeing on the step (and on when) make it a clock step:
        named, and the time violations measured across it are withdrawn.
        """
        skew = (ticks - db.last_ticks) - _counter_step(db.open_time, open_time)
        if abs(skew) < DB_CLOCK_SKEW:
            return
        witness = _Witness(session, skew, db.last_frame, db.last_ticks, self._frame)
        for step_skew, after, by in server.steps:
            if abs(step_skew - skew) <= DB_CLOCK_SKEW and max(after, witness.after) < min(
                by, witness.by
            ):
                return  # one more database across a step already named
        for other in server.witnesses:
            if (
                other.session is not session
                and abs(other.skew - skew) <= DB_CLOCK_SKEW
                and max(other.after, witness.after) < min(other.by, witness.by)
            ):
                server.witnesses.remove(other)
                self._clock_stepped(server, other, witness)
                return
        server.witnesses.append(witness)
        if len(server.witnesses) > _WITNESSES_KEPT:
            del server.witnesses[0]

    def _clock_stepped(self, server: _Server, first: _Witness, second: _Witness) -> None:
        """Two databases show the same clock step: name it, judge no time across it."""
        latest = first if first.after >= second.after else second
        after, by, skew = latest.after, min(first.by, second.by), first.skew
        server.steps.append((skew, after, by))
        server.step_frame = max(server.step_frame, after + 1)
        back = skew < 0
        kept: list[_Timed] = []
        for timed in server.timed:
            violation = timed.violation
            explained = back or violation.rule not in _EXPLAINED_BY_A_STEP_BACK_ONLY
            if explained and timed.since <= after < violation.frame:
                self.report.violations.remove(violation)
                if timed.reanchor is not None:
                    timed.reanchor()
            else:
                kept.append(timed)
        server.timed = kept
        amount = format_ticks(abs(skew))
        self._name(
            EventKind.CLOCK_STEP,
            f"between frames {after} and {by} ({server.name}): TimeStamps went"
            f" {'back' if back else 'forward'} {amount} after"
            f" {format_timedate(timedate_from_ticks(latest.after_ticks))} (the DBOpenTime of"
            f" databases open across it, in two sessions, grew {amount}"
            f" {'more' if back else 'less'} than their TimeStamps)",
            after + 1,
        )

    def _db_transition(
        self,
        server: _Server,
        db: _Db,
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

    def _check_db_stamp(self, server: _Server, db: _Db, subject: str, ticks: int) -> None:
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
