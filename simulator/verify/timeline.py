"""The lifecycles of a frame stream as a picture's data: bars, intervals and marks, no drawing.

`TimelineBuilder` takes decoded frames one at a time, in stream order, and `finish()` gives
a `Timeline`: a `SessionBar` per session from START to END with its STAMPs, under it a
`DatabaseRow` per database the session opened with the `OpenInterval`s from each OPEN to
its CLOSE or CLOSE_END (DB STAMPs as ticks), document charges on the row of the database
they were charged in (on the session's bar when the stream has no DBRECs), and the server
tasks' records (mail, replication, agents, HTTP) as
`Mark`s on a lane each. adapters/pictures.py draws it; this module knows nothing of
matplotlib, so the same model can be tested by hand and drawn by anything.

Times are TIMEDATE ticks: hundredths of a second since Julian day 0, GMT (`ticks_of`), as
the checker counts them, so a STAMP on a BillingSuppressTime boundary is exactly on the
grid. A session is keyed as the checker keys it, by server and SessionID (Index, SeqNo);
a session with no END by the end of the stream (a crash, a capture cut short) has
`end=None` and is drawn open-ended; one whose START the stream lacks has `started=False`.
A session whose SESSIONRECs are not in the stream at all (BillingClass without Session) is
built from its DBRECs: `session_records=False`, its bar spanning them.

Beyond `busiest` sessions, the ones with the most records are kept (ties: the earlier
START) and `Timeline.hidden` says how many were left out, so a picture of a day of
thousands of users still has rows a person can read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from simulator.scenario.notes_ini import DEFAULT_SUPPRESS_MINUTES
from simulator.verify.ticks import TICKS_PER_MINUTE, ticks_of
from simulator.wire import constants as c
from simulator.wire.records import (
    AgentRec,
    CustomRec,
    DbRec,
    DocumentRec,
    Frame,
    HttpReqRec,
    MailRec,
    RawRec,
    ReplRec,
    SessionRec,
)
from simulator.wire.timedate import TimeDate, format_timedate_id

# How many sessions a picture shows unless told otherwise: 200 rows still read at a glance.
DEFAULT_BUSIEST = 200
_HTTP_ERROR_STATUS = 400
_ONE_HOUR = timedelta(hours=1)


class Lane(StrEnum):
    """A row of marks for records that belong to no session; the value is its label."""

    MAIL = "mail"
    REPLICATION = "replication"
    AGENT = "agents"
    HTTP = "HTTP"
    DOCUMENT = "documents"  # charges with no session of their user holding the database open
    CUSTOM = "custom"


# The order lanes are drawn in, top to bottom.
LANE_ORDER: tuple[Lane, ...] = tuple(Lane)


class MarkKind(StrEnum):
    """What a mark stands for, so a drawing can give each its own symbol or colour."""

    MAIL = "mail"
    MAIL_DEAD = "mail-dead"  # RoutingState DEAD
    MAIL_HOLD = "mail-hold"  # RoutingState HOLD
    REPLICATION = "replication"
    AGENT = "agent"
    AGENT_WARNINGS = "agent-warnings"
    HTTP = "http"
    HTTP_ERROR = "http-error"  # status 400 and up
    CHARGE = "charge"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class Mark:
    """One record at one time; `span` ticks before `at` when it reports a run (an agent's)."""

    at: int
    kind: MarkKind
    label: str = ""
    span: int = 0


@dataclass(frozen=True, slots=True)
class OpenInterval:
    """A database open in a session: OPEN to CLOSE or CLOSE_END (`end` None: still open when
    the stream ends), with the DB STAMPs written meanwhile."""

    start: int
    end: int | None
    closed_by: str | None  # "CLOSE", "CLOSE_END", or None while open
    stamps: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class DatabaseRow:
    """One database of one session: its open intervals in order and its charged documents."""

    replica: TimeDate
    name: str  # the path when known (a scenario's databases), else the replica ID
    intervals: tuple[OpenInterval, ...]
    charges: tuple[Mark, ...] = ()
    close_end: int | None = None  # the CLOSE_END, which may come long after a CLOSE


@dataclass(frozen=True, slots=True)
class SessionBar:
    """One session: START to END (`end` None: no END by the end of the stream)."""

    server: str
    index: int
    seqno: int
    user: str
    start: int
    end: int | None
    stamps: tuple[int, ...] = ()
    databases: tuple[DatabaseRow, ...] = ()
    records: int = 1
    started: bool = True  # False: no START in the stream; the bar begins at its first record
    address: str = ""
    session_records: bool = True  # False: only its DBRECs are in the stream
    last: int | None = None  # its last record (of an open-ended session: where it was seen last)
    charges: tuple[Mark, ...] = ()  # charged documents when the stream has no DBRECs
    cut_at: int | None = None  # no END: the crash after its last record, where it was cut

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.server, self.index, self.seqno)

    @property
    def sid(self) -> str:
        """The SessionID as tail shows it: `3.1`."""
        return f"{self.index}.{self.seqno}"


@dataclass(frozen=True, slots=True)
class Timeline:
    """What a picture of a stream shows. Times in ticks; `first`..`last` is the stream's span."""

    sessions: tuple[SessionBar, ...]  # those shown, by START
    lanes: tuple[tuple[Lane, tuple[Mark, ...]], ...]  # the lanes with marks, in LANE_ORDER
    first: int
    last: int
    frames: int
    total_sessions: int
    suppress: int  # BillingSuppressTime in ticks: the grid's step
    grid_origin: int  # where the grid starts: the run's start, else the first record
    zone: timedelta  # the zone of the stream's TIMEDATEs (+1 h with DST): 0 for GMT
    crashes: tuple[tuple[int, int], ...] = ()  # (start, end) of each crash, in ticks
    servers: tuple[str, ...] = ()

    @property
    def hidden(self) -> int:
        """Sessions left out of the picture (beyond the busiest)."""
        return self.total_sessions - len(self.sessions)

    @property
    def suppress_minutes(self) -> int:
        return self.suppress // TICKS_PER_MINUTE

    def lane(self, lane: Lane) -> tuple[Mark, ...]:
        return dict(self.lanes).get(lane, ())


# -- building --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Db:
    replica: TimeDate
    intervals: list[OpenInterval] = field(default_factory=list)
    open_since: int | None = None
    stamps: list[int] = field(default_factory=list)
    charges: list[Mark] = field(default_factory=list)
    close_end: int | None = None

    def open(self, ticks: int) -> None:
        if self.open_since is None:
            self.open_since = ticks
            self.stamps = []

    def close(self, ticks: int, how: str) -> None:
        # A CLOSE_END of a database already closed ends nothing: its interval ended at CLOSE.
        if self.open_since is not None:
            self.intervals.append(OpenInterval(self.open_since, ticks, how, tuple(self.stamps)))
            self.open_since = None

    def rows_intervals(self) -> tuple[OpenInterval, ...]:
        if self.open_since is None:
            return tuple(self.intervals)
        still = OpenInterval(self.open_since, None, None, tuple(self.stamps))
        return (*self.intervals, still)


@dataclass(slots=True)
class _Session:
    key: tuple[str, int, int]
    user: str
    start: int
    started: bool  # its START is in the stream
    last: int
    address: str = ""
    session_recs: bool = False  # any SESSIONREC of it is in the stream
    end: int | None = None
    stamps: list[int] = field(default_factory=list)
    dbs: dict[TimeDate, _Db] = field(default_factory=dict)
    charges: list[Mark] = field(default_factory=list)
    records: int = 0


class TimelineBuilder:
    """Frames in, a `Timeline` out. Pure and streaming: memory grows with sessions and
    marks, never with the frames themselves.

    `suppress_minutes`: BillingSuppressTime (the grid); `origin`: where the grid starts, in
    ticks (a run's start; None: the first record); `database_names`: replica ID → path, for
    row labels.
    """

    def __init__(
        self,
        *,
        suppress_minutes: int,
        origin: int | None = None,
        database_names: Mapping[TimeDate, str] | None = None,
    ) -> None:
        # 0 means the default, as in notes.ini.
        self.suppress = (suppress_minutes or DEFAULT_SUPPRESS_MINUTES) * TICKS_PER_MINUTE
        self.origin = origin
        self.names = dict(database_names or {})
        self.frames = 0
        self.first: int | None = None
        self.last: int | None = None
        self.zone: timedelta | None = None
        self._open: dict[tuple[str, int, int], _Session] = {}
        self._done: list[_Session] = []
        # Open sessions by (server, user name): where a document charge belongs.
        self._by_user: dict[tuple[str, str], list[_Session]] = {}
        self._marks: dict[Lane, list[Mark]] = {}
        self._servers: dict[str, None] = {}

    def feed(self, frame: Frame) -> None:
        """Take the next frame of the stream."""
        ticks = ticks_of(frame.TimeStamp)
        self.frames += 1
        if self.first is None:
            self.first = ticks
            self.zone = _zone_of(frame.TimeStamp)
        self.first = min(self.first, ticks)
        self.last = ticks if self.last is None else max(self.last, ticks)
        self._servers.setdefault(frame.ServerName)
        rec = frame.rec
        if isinstance(rec, SessionRec):
            self._session_rec(frame.ServerName, rec, ticks)
        elif isinstance(rec, DbRec):
            self._db_rec(frame.ServerName, rec, ticks)
        elif isinstance(rec, DocumentRec):
            self._charge(frame.ServerName, rec, ticks)
        elif isinstance(rec, MailRec):
            kind = {
                c.MAIL_ROUTING_STATE["dead"]: MarkKind.MAIL_DEAD,
                c.MAIL_ROUTING_STATE["hold"]: MarkKind.MAIL_HOLD,
            }.get(rec.RoutingState, MarkKind.MAIL)
            self._mark(Lane.MAIL, Mark(ticks, kind, f"{rec.Originator}: {rec.FormType}"))
        elif isinstance(rec, ReplRec):
            label = f"{rec.Source} → {rec.Destination}"
            self._mark(Lane.REPLICATION, Mark(ticks, MarkKind.REPLICATION, label))
        elif isinstance(rec, AgentRec):
            warned = rec.Flags & c.BILL_AGENT_WARNINGS
            kind = MarkKind.AGENT_WARNINGS if warned else MarkKind.AGENT
            label = f"{rec.TaskName} in {rec.DatabaseName}"
            self._mark(Lane.AGENT, Mark(ticks, kind, label, span=rec.ElapsedRunTime))
        elif isinstance(rec, HttpReqRec):
            error = rec.HttpStatusCode >= _HTTP_ERROR_STATUS
            kind = MarkKind.HTTP_ERROR if error else MarkKind.HTTP
            label = f"{rec.HttpStatusCode} {rec.RequestLine or ''}".rstrip()
            self._mark(Lane.HTTP, Mark(ticks, kind, label))
        elif isinstance(rec, CustomRec | RawRec):
            self._mark(Lane.CUSTOM, Mark(ticks, MarkKind.CUSTOM, f"type {frame.StructType}"))

    # -- sessions -------------------------------------------------------------------------

    def _session(
        self, server: str, index: int, seqno: int, user: str, ticks: int, *, started: bool
    ) -> _Session:
        key = (server, index, seqno)
        session = self._open.get(key)
        if session is None:
            session = self._open[key] = _Session(key, user, ticks, started, ticks)
            self._by_user.setdefault((server, user), []).append(session)
        return session

    def _session_rec(self, server: str, rec: SessionRec, ticks: int) -> None:
        sid = rec.SessionID
        is_start = rec.Action == c.BILL_SESSION_START
        session = self._session(server, sid.Index, sid.SeqNo, rec.Username, ticks, started=is_start)
        # A START after the session's DBRECs (a stream out of order) is still where it
        # begins; a second START of a session already open ends nothing.
        if is_start and not session.started:
            session.started = True
            session.start = min(session.start, ticks)
        session.session_recs = True
        session.records += 1
        session.last = max(session.last, ticks)
        session.address = rec.NetAdr
        if rec.Action == c.BILL_SESSION_STAMP:
            session.stamps.append(ticks)
        elif rec.Action == c.BILL_SESSION_END:
            session.end = ticks
            self._close(session)

    def _close(self, session: _Session) -> None:
        del self._open[session.key]
        self._by_user[session.key[0], session.user].remove(session)
        self._done.append(session)

    def _db_rec(self, server: str, rec: DbRec, ticks: int) -> None:
        sid = rec.SessionID
        key = (server, sid.Index, sid.SeqNo)
        session = self._open.get(key) or self._session(
            server, sid.Index, sid.SeqNo, rec.Username, ticks, started=False
        )
        session.records += 1
        session.last = max(session.last, ticks)
        db = session.dbs.get(rec.ReplicaID)
        if db is None:
            db = session.dbs[rec.ReplicaID] = _Db(rec.ReplicaID)
        action = rec.Action
        if action == c.BILL_DB_OPEN:
            db.open(ticks)
        elif action == c.BILL_DB_STAMP:
            db.open(ticks)  # a STAMP of a database whose OPEN the stream lacks: open from here
            db.stamps.append(ticks)
        elif action == c.BILL_DB_CLOSE:
            db.close(ticks, "CLOSE")
        elif action == c.BILL_DB_CLOSE_END:
            db.close(ticks, "CLOSE_END")
            db.close_end = ticks

    def _charge(self, server: str, rec: DocumentRec, ticks: int) -> None:
        verb = c.CHARGE_TYPE_NAMES.get(rec.Type, str(rec.Type)).lower()
        mark = Mark(ticks, MarkKind.CHARGE, f"{verb} {rec.Charge:.2f}")
        sessions = self._by_user.get((server, rec.Username), ())
        for session in sessions:
            db = session.dbs.get(rec.ReplicaID)
            if db is not None and db.open_since is not None:
                db.charges.append(mark)
                session.records += 1
                return
        if len(sessions) == 1 and not sessions[0].dbs:
            # No DBRECs in the stream (BillingClass without Database): the user's one
            # session is still where the charge was made.
            sessions[0].charges.append(mark)
            sessions[0].records += 1
            return
        self._mark(Lane.DOCUMENT, mark)

    def _mark(self, lane: Lane, mark: Mark) -> None:
        self._marks.setdefault(lane, []).append(mark)

    # -- the end --------------------------------------------------------------------------

    def finish(
        self,
        *,
        busiest: int = DEFAULT_BUSIEST,
        crashes: Iterable[tuple[int, int]] = (),
    ) -> Timeline:
        """The timeline of the frames fed: at most `busiest` sessions, by START.

        `crashes`: (start, end) tick intervals in which the server was down, drawn as
        bands (from the run's faults, or where the checker found a restart:
        `Checker.restart_intervals`); a session with no END and a crash after its last
        record was cut by it (`SessionBar.cut_at`).
        """
        if busiest < 1:
            raise ValueError(f"busiest must be at least 1, not {busiest}")
        sessions = self._done + list(self._open.values())
        total = len(sessions)
        if total > busiest:
            sessions.sort(key=lambda s: (-s.records, s.start, s.key))
            sessions = sessions[:busiest]
        sessions.sort(key=lambda s: (s.start, s.key))
        crashes = tuple(sorted(crashes))
        first = self.first if self.first is not None else 0
        last = self.last if self.last is not None else first
        lanes = tuple(
            (lane, tuple(self._marks[lane])) for lane in LANE_ORDER if self._marks.get(lane)
        )
        return Timeline(
            sessions=tuple(self._bar(session, crashes) for session in sessions),
            lanes=lanes,
            first=first,
            last=last,
            frames=self.frames,
            total_sessions=total,
            suppress=self.suppress,
            grid_origin=self.origin if self.origin is not None else first,
            zone=self.zone or timedelta(0),
            crashes=crashes,
            servers=tuple(self._servers),
        )

    def _bar(self, session: _Session, crashes: tuple[tuple[int, int], ...]) -> SessionBar:
        server, index, seqno = session.key
        rows = tuple(
            DatabaseRow(
                db.replica,
                self.names.get(db.replica, format_timedate_id(db.replica)),
                db.rows_intervals(),
                tuple(db.charges),
                db.close_end,
            )
            for db in sorted(session.dbs.values(), key=_first_open)
        )
        # With no SESSIONRECs (BillingClass without Session) the session is known only by
        # its DBRECs: it ended by its last one if every database was closed, else it is open.
        end = session.end
        if not session.session_recs and all(db.open_since is None for db in session.dbs.values()):
            end = session.last
        # A session that never ENDed and a crash after its last record: the crash cut it.
        cut_at = None
        if end is None:
            cut_at = next((start for start, _ in crashes if start >= session.last), None)
        return SessionBar(
            server=server,
            index=index,
            seqno=seqno,
            user=session.user,
            start=session.start,
            end=end,
            stamps=tuple(session.stamps),
            databases=rows,
            records=session.records,
            started=session.started,
            address=session.address,
            session_records=session.session_recs,
            last=session.last,
            charges=tuple(session.charges),
            cut_at=cut_at,
        )


def open_database_steps(bar: SessionBar, until: int) -> list[tuple[int, int]]:
    """How many of the session's databases are open, as (time, count) steps from its first
    OPEN; an interval still open counts until `until`. For a picture with too many
    databases for a row each: the count drawn as a strip under the session's bar."""
    changes: dict[int, int] = {}
    for row in bar.databases:
        for interval in row.intervals:
            changes[interval.start] = changes.get(interval.start, 0) + 1
            end = interval.end if interval.end is not None else until
            changes[end] = changes.get(end, 0) - 1
    steps: list[tuple[int, int]] = []
    count = 0
    for at in sorted(changes):
        count += changes[at]
        steps.append((at, count))
    return steps


def _first_open(db: _Db) -> int:
    if db.intervals:
        return db.intervals[0].start
    return db.open_since if db.open_since is not None else 0


def _zone_of(value: TimeDate) -> timedelta:
    """The offset from GMT a TIMEDATE's zone and DST bits name (DST adds an hour)."""
    return value.zone_offset + (_ONE_HOUR if value.dst else timedelta(0))
