"""The emulated server's session, database and document lifecycles (docs/lifecycles.md): pure state.

Each method takes the virtual time of the event it handles and bills through a
BillingWriter; nothing here knows of sockets, MQTT or wall time.
"""

from __future__ import annotations

import hashlib
import heapq
from array import array
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from heapq import heappush as _heappush
from typing import Any, Protocol

from simulator.domino.billing import BillingWriter
from simulator.domino.clock import EventHeap, Phase
from simulator.scenario.models import is_directory
from simulator.wire import constants as c
from simulator.wire.constants import DWORD_MAX  # a module name: every counter update masks
from simulator.wire.records import DbRec, DocumentRec, Oid, SessionID, SessionRec
from simulator.wire.timedate import MICROSECONDS_PER_TICK, TICKS_PER_DAY, TimeDate

_US_PER_TICK = MICROSECONDS_PER_TICK
# Read once per action or record: module names are cheaper than `c.X` and, for an enum
# member such as Phase.COMPLETION, far cheaper than the class attribute (~100 ns a look-up).
_CLASS_SESSION = c.BILL_CLASS_SESSION
_CLASS_DATABASE = c.BILL_CLASS_DATABASE
_CLASS_DOCUMENT = c.BILL_CLASS_DOCUMENT
_SESSION_START = c.BILL_SESSION_START
_SESSION_STAMP = c.BILL_SESSION_STAMP
_SESSION_END = c.BILL_SESSION_END
_DB_OPEN = c.BILL_DB_OPEN
_DB_STAMP = c.BILL_DB_STAMP
_DB_CLOSE = c.BILL_DB_CLOSE
_DB_CLOSE_END = c.BILL_DB_CLOSE_END
_SESSION_BOUNDARY = Phase.SESSION_BOUNDARY
_DATABASE_BOUNDARY = Phase.DATABASE_BOUNDARY
_COMPLETION = Phase.COMPLETION
DATABASE_ACTIVITY = frozenset({"open", "read", "write", "edit"})
# Derived identifiers are plain GMT TIMEDATEs of DERIVED_DAYS days from 2000-01-01 (JDN
# 2451545) on.
DERIVED_FIRST_DAY = 2_451_545
DERIVED_DAYS = 9_000
_MAX_INDEX = c.WORD_MAX
# Every WORD as one shared int object. A SessionID's Index and SeqNo are taken from here:
# computed afresh, each Index past 256 would be a new 32-byte int held by its session
# (30 MB with a million sessions open).
_WORDS: tuple[int, ...] = tuple(range(_MAX_INDEX + 1))


class ScenarioStateError(Exception):
    """A scripted action the server's state cannot take (logout with no session, …)."""


def derive_timedate(seed: int, kind: str, key: str) -> TimeDate:
    """A TIMEDATE fixed by the seed and an object's identity, never by the order of draws."""
    digest = hashlib.sha256(f"{seed}|{kind}|{key}".encode()).digest()
    day = DERIVED_FIRST_DAY + int.from_bytes(digest[:4], "little") % DERIVED_DAYS
    ticks = int.from_bytes(digest[4:8], "little") % TICKS_PER_DAY
    return TimeDate(ticks, day)


@dataclass(frozen=True, slots=True)
class Charges:
    read: float = 0.0
    write: float = 0.0


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    path: str
    replica_id: TimeDate
    documents: dict[int, Charges] = field(default_factory=dict)
    # Worked out once: every database action asks.
    is_directory: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_directory", is_directory(self.path))


class Database(Protocol):
    """What the server reads of a database a session uses: a DatabaseInfo, or a generated
    user's mail file that works its path and replica ID out when asked
    (simulator.domino.workload.MailFile). A session tells its databases apart by identity."""

    @property
    def path(self) -> str: ...

    @property
    def replica_id(self) -> TimeDate: ...

    @property
    def documents(self) -> Mapping[int, Charges]: ...

    @property
    def is_directory(self) -> bool: ...


BILL_FIELDS: tuple[str, ...] = (
    "sessions",
    "bytes_in",
    "bytes_out",
    "db_open_time",
    "charges",
    "documents",
    "mail",
    "mail_bytes",
    "replication_bytes_in",
    "replication_bytes_out",
    "agents",
    "agent_time",
    "web",
    "web_bytes",
)
"""The bill's fields per user, in its order (docs/verification.md): what the summary's
``users`` holds and ``billsim verify`` compares."""

ANONYMOUS_WEB_USER = "Anonymous"
"""Whom the ledger bills an HTTP request without an AuthUser to (Domino's own name for
an unauthenticated web user)."""


class UserLedger:
    """Ground truth per user name, from the records written (what a consumer can bill).

    Kept as columns (one array per total, a row per user) rather than an object per
    user: a million-user run would otherwise spend ~300 bytes a user on its summary.
    """

    __slots__ = ("_columns", "_rows")

    def __init__(self) -> None:
        self._rows: dict[str, int] = {}
        # A column exists from its first non-zero amount on (most runs use a few).
        self._columns: dict[str, array[Any]] = {}

    def add(self, user: str, total: str, amount: float) -> None:
        row = self._rows.get(user)
        if row is None:
            row = self._new_row(user)
        column = self._columns.get(total)
        if column is None:
            column = self._new_column(total)
        column[row] += amount

    def add_pair(
        self, user: str, total: str, amount: float, second: str, second_amount: float
    ) -> None:
        """`add` of two totals of one user: most records bill two (a message and its bytes).

        Subscripts in a try (free in 3.11 while nothing is raised), not `.get`, a method
        call each: this runs for most messages and every session's end."""
        try:
            row = self._rows[user]
        except KeyError:
            row = self._new_row(user)
        columns = self._columns
        try:
            column = columns[total]
        except KeyError:
            column = self._new_column(total)
        column[row] += amount
        try:
            column = columns[second]
        except KeyError:
            column = self._new_column(second)
        column[row] += second_amount

    def _new_row(self, user: str) -> int:
        row = self._rows[user] = len(self._rows)
        for existing in self._columns.values():
            existing.append(0)
        return row

    def _new_column(self, total: str) -> array[Any]:
        column = self._columns[total] = array("d" if total == "charges" else "q")
        column.frombytes(bytes(column.itemsize * len(self._rows)))
        return column

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, user: str) -> dict[str, float | int] | None:
        row = self._rows.get(user)
        if row is None:
            return None
        return self._row(row)

    def _row(self, row: int) -> dict[str, float | int]:
        columns = self._columns
        out: dict[str, float | int] = {}
        for name in BILL_FIELDS:
            column = columns.get(name)
            out[name] = column[row] if column is not None else (0.0 if name == "charges" else 0)
        return out

    def as_dict(self) -> dict[str, dict[str, float | int]]:
        """Every user's totals, by name in sorted order."""
        return {user: self._row(row) for user, row in sorted(self._rows.items())}


class SlotAllocator:
    """SessionID slots: the lowest free slot (from 1); SeqNo = times its Index was handed out.

    Index is a WORD, so a server with more than 65535 sessions open at once (a load
    test) maps slots onto Index values 1..65535 round robin. SeqNo counts uses per
    Index, not per slot, so (Index, SeqNo) still names one session of the run until an
    Index has been used 65535 times.
    """

    __slots__ = ("_free", "_next", "_uses")

    def __init__(self) -> None:
        self._free: list[int] = []
        self._next = 1
        self._uses = [0] * (_MAX_INDEX + 1)

    def take(self) -> tuple[int, SessionID]:
        if self._free:
            slot = heapq.heappop(self._free)
        else:
            slot = self._next
            self._next += 1
        index = _WORDS[(slot - 1) % _MAX_INDEX + 1]
        uses = self._uses[index] = self._uses[index] + 1
        return slot, SessionID(index, _WORDS[uses & _MAX_INDEX])

    def give_back(self, slot: int) -> None:
        heapq.heappush(self._free, slot)

    def free_all(self) -> None:
        """Every slot free again, as after a server restart; each Index keeps counting its
        uses, so a slot reused after the restart has a new SeqNo."""
        self._free = []
        self._next = 1


class DbState:
    """One database as one session uses it."""

    __slots__ = (
        "boundary_pending",
        "boundary_sequence",
        "classes",
        "closed_ticks",
        "dirty",
        "first_open",
        "info",
        "is_open",
        "last_record",
        "opened_at",
        "session",
    )

    def __init__(self, session: Session, info: Database, now: int, classes: int) -> None:
        self.session = session
        self.info = info
        self.first_open = now
        self.classes = classes
        self.is_open = False
        # When it was last opened, in µs: the event's own time object, shared with
        # `last_record` (its ticks are worked out when a record needs them, not kept: a
        # million open sessions would hold a million more ints).
        self.opened_at = 0
        self.closed_ticks = 0
        self.last_record = now
        self.dirty = False
        self.boundary_pending = False
        # The sequence its boundary keeps when it shares its session's event (see
        # Server._pair_boundary); set when that is scheduled.
        self.boundary_sequence = 0


class Session:
    """A user name at a network address, from START to END."""

    __slots__ = (
        "address",
        "boundary_pending",
        "bytes_in",
        "bytes_out",
        "classes",
        "dbs",
        "dirty",
        "ended",
        "idle_pending",
        "idle_sequence",
        "last_activity",
        "last_record",
        "name",
        "session_id",
        "slot",
        "started",
    )

    def __init__(
        self, name: str, address: str, slot: int, session_id: SessionID, now: int, classes: int
    ) -> None:
        self.slot = slot
        self.started = now
        self.boundary_pending = False
        self.name = name
        self.address = address
        self.session_id = session_id
        self.classes = classes
        self.bytes_in = 0
        self.bytes_out = 0
        self.last_record = now
        self.last_activity = now
        self.dirty = False
        self.ended = False
        self.idle_pending = False
        self.idle_sequence = 0
        # In first-open order. A tuple, grown by copying, not a list or a dict: a session
        # uses a handful of databases, and a million sessions pay for every byte.
        self.dbs: tuple[DbState, ...] = ()

    def db_state(self, info: Database) -> DbState | None:
        for state in self.dbs:
            if state.info is info:
                return state
        return None


class DocumentState:
    """A charged document's identity; its OID's sequence moves on with each write."""

    __slots__ = ("_oid", "file", "note", "sequence", "sequence_time")

    def __init__(self, seed: int, path: str, note_id: int) -> None:
        self.file = derive_timedate(seed, "document-file", f"{path}|{note_id:#x}")
        self.note = derive_timedate(seed, "document-note", f"{path}|{note_id:#x}")
        self.sequence = 1
        self.sequence_time = self.file
        self._oid = Oid(self.file, self.note, 1, self.file)

    def written(self, when: TimeDate) -> None:
        """A write: the OID's sequence moves on."""
        self.sequence = (self.sequence + 1) & DWORD_MAX
        self.sequence_time = when
        self._oid = Oid(self.file, self.note, self.sequence, when)

    def oid(self) -> Oid:
        # Kept between writes: most charges are reads, which bill the same OID again.
        return self._oid


class Server:
    """Sessions, databases and documents of one emulated Domino server."""

    def __init__(
        self,
        writer: BillingWriter,
        heap: EventHeap,
        *,
        suppress_us: int,
        stamp_policy: str = "timer",
        idle_timeout_us: int | None = None,
        seed: int = 0,
    ) -> None:
        if stamp_policy not in ("timer", "activity"):
            raise ValueError(f"stamp policy must be timer or activity, not {stamp_policy!r}")
        self.writer = writer
        self.heap = heap
        # Stamp boundaries are pushed straight onto the heap (see EventHeap): the timer
        # policy schedules one for most actions.
        self._heap_items = heap.items
        self._heap_counter = heap.counter
        self._ticks = writer.ticks
        # writer.ticks(v) is (this + v) // _US_PER_TICK: a DBREC's open time works it out
        # twice without calling it.
        self._tick_base = writer.tick_base_us
        self.suppress_us = suppress_us
        self.timer_policy = stamp_policy == "timer"
        self.idle_timeout_us = idle_timeout_us
        self.seed = seed
        self.sessions: dict[tuple[str, str], Session] = {}
        # The classes a session and its databases bill, of those the writer bills. A dry
        # run, which checks the script's state and never looks at a record, sets it to 0:
        # building the records was a third of its time.
        self.session_classes = -1
        self.slots = SlotAllocator()
        self.documents: dict[tuple[str, int], DocumentState] = {}
        self.ledger = UserLedger()
        self.sessions_started = 0
        self._shutdown_order: deque[Session] | None = None
        self._shutdown_room = 0  # how many sessions the dict had room for when last copied
        # Bound once: each `self.method` access makes a new object, and every heap entry
        # would hold its own (a million sessions, a million copies).
        self._session_boundary_handler = self._session_boundary
        self._db_boundary_handler = self._db_boundary
        self._pair_boundary_handler = self._pair_boundary
        self._idle_check_handler = self._idle_check
        self.peak_sessions = 0
        # Called with each session as it ends, so a workload can forget it.
        self.on_session_end: Callable[[Session], None] | None = None

    # -- records --------------------------------------------------------------------------

    def _session_record(self, session: Session, action: int, now: int) -> None:
        session.last_record = now
        session.dirty = False
        if not session.classes & _CLASS_SESSION:
            return
        values = (
            session.session_id,
            action,
            session.name,
            session.bytes_in,
            session.bytes_out,
            session.address,
        )
        written = self.writer.write_values(SessionRec, values, now, _CLASS_SESSION, action)
        # Per-user totals are kept from the END on: a million open sessions then carry none.
        if written and action == _SESSION_END:
            self.ledger.add_pair(
                session.name, "bytes_in", session.bytes_in, "bytes_out", session.bytes_out
            )

    def _db_open_time(self, db: DbState, now: int) -> int:
        if not db.is_open:
            return db.closed_ticks
        ticks = self._ticks
        return db.closed_ticks + ticks(now) - ticks(db.opened_at)

    def _db_record(self, session: Session, db: DbState, action: int, now: int) -> None:
        db.last_record = now
        db.dirty = False
        if not db.classes & _CLASS_DATABASE:
            return
        if db.is_open:
            base = self._tick_base
            open_time = (
                db.closed_ticks
                + (base + now) // _US_PER_TICK
                - (base + db.opened_at) // _US_PER_TICK
            )
        else:
            open_time = db.closed_ticks
        values = (
            session.session_id,
            action,
            session.name,
            open_time & DWORD_MAX,
            db.info.replica_id,
        )
        written = self.writer.write_values(DbRec, values, now, _CLASS_DATABASE, action)
        if written and action == _DB_CLOSE_END:
            self.ledger.add(session.name, "db_open_time", open_time)

    def _document_record(
        self, session: Session, info: Database, note_id: int, write: bool, now: int
    ) -> None:
        charges = info.documents.get(note_id)
        if charges is None:
            return
        amount = charges.write if write else charges.read
        if not amount:
            return
        writer = self.writer
        billed = writer.class_mask & _CLASS_DOCUMENT
        if not billed and not write:
            return  # a read without the class changes nothing: not even its document made
        document = self.documents.get((info.path, note_id))
        if document is None:
            document = self.documents[info.path, note_id] = DocumentState(
                self.seed, info.path, note_id
            )
        if write:
            document.written(writer.stamp(now))  # its OID moves on, billed or not
        if not billed:
            return
        kind = c.BILLCHARGEWRITE if write else c.BILLCHARGEREAD
        values = (kind, info.replica_id, session.name, document.oid(), amount)
        if writer.write_values(DocumentRec, values, now, _CLASS_DOCUMENT, kind):
            self.ledger.add_pair(session.name, "charges", amount, "documents", 1)

    # -- session actions ------------------------------------------------------------------

    def session_action(
        self,
        now: int,
        name: str,
        address: str,
        action: str,
        db: Database | None = None,
        note_id: int | None = None,
        bytes_in: int = 0,
        bytes_out: int = 0,
    ) -> Session | None:
        """One scripted or generated session action at `now`; returns the session if it goes on."""
        session = self.sessions.get((name, address))
        if session is not None:
            return self.continue_session(session, now, action, db, note_id, bytes_in, bytes_out)
        if self.down:
            return None  # a crashed server takes no session until it restarts
        if action == "logout":
            raise ScenarioStateError(f"logout of {name} at {address}, who has no open session")
        if action == "close":
            raise ScenarioStateError(
                f"close of {db.path if db else '?'} by {name}, who has no open session"
            )
        session = self._start(name, address, now, bytes_in, bytes_out)
        self._activity(session, now, action, db, note_id)
        return session

    def continue_session(
        self,
        session: Session,
        now: int,
        action: str,
        db: Database | None = None,
        note_id: int | None = None,
        bytes_in: int = 0,
        bytes_out: int = 0,
    ) -> Session | None:
        """`session_action` for an open session the caller holds (no look-up by name).

        `_activity` and `_use_db`'s path for a database already open are written out
        here: a generated workload calls this once per action, and most actions only
        mark the session and its database as used since their last record.
        """
        session.bytes_in = (session.bytes_in + bytes_in) & DWORD_MAX
        session.bytes_out = (session.bytes_out + bytes_out) & DWORD_MAX
        if action == "logout":
            self.end_session(session, now)
            return None
        timer_policy = self.timer_policy
        # The session's boundary to schedule (its sequence taken here, where it always
        # was): pushed below, alone or with its database's when that falls at its instant.
        if timer_policy:
            session.dirty = True
            session_sequence = -1
            if not session.boundary_pending:
                session.boundary_pending = True
                session_sequence = next(self._heap_counter)
        elif now - session.last_record >= self.suppress_us:
            # _session_record(session, _SESSION_STAMP, now), inline: an activity-policy
            # action writes it and its database's STAMP.
            session.last_record = now
            session.dirty = False
            if session.classes & _CLASS_SESSION:
                self.writer.write_values(
                    SessionRec,
                    (
                        session.session_id,
                        _SESSION_STAMP,
                        session.name,
                        session.bytes_in,
                        session.bytes_out,
                        session.address,
                    ),
                    now,
                    _CLASS_SESSION,
                    _SESSION_STAMP,
                )
        else:
            session.dirty = True
        # _activity(session, now, action, db, note_id), inline, and _rearm_idle in it.
        session.last_activity = now
        idle_timeout = self.idle_timeout_us
        if idle_timeout is not None:
            sequence = session.idle_sequence = next(self._heap_counter)
            if not session.idle_pending:
                session.idle_pending = True
                _heappush(
                    self._heap_items,
                    (now + idle_timeout, _COMPLETION, sequence, self._idle_check_handler, session),
                )
        if (
            timer_policy
            and session_sequence >= 0  # (set where timer_policy is)
            and self._schedule_boundaries(session, session_sequence, now, action, db)
        ):
            # The database's boundary went with the session's: all that is left is a document.
            if note_id is not None and (action == "read" or action == "write"):  # noqa: PLR1714
                self._document_record(session, db, note_id, action == "write", now)  # type: ignore[arg-type]
            return session
        if db is None or db.is_directory:
            return session
        if action == "close":
            self._close_db(session, db, now)
            return session
        if action not in DATABASE_ACTIVITY:
            return session
        for state in session.dbs:  # Session.db_state, inline
            if state.info is db:
                break
        else:
            state = None
        if state is None or not state.is_open:
            self._use_db(session, db, now)  # opens it: its OPEN record
        elif timer_policy:
            state.dirty = True
            if not state.boundary_pending:
                state.boundary_pending = True
                _heappush(
                    self._heap_items,
                    (
                        self._next_boundary(state.first_open, now),
                        _DATABASE_BOUNDARY,
                        next(self._heap_counter),
                        self._db_boundary_handler,
                        state,
                    ),
                )
        elif now - state.last_record >= self.suppress_us:
            # _db_record(session, state, _DB_STAMP, now), inline, of a database open.
            state.last_record = now
            state.dirty = False
            if state.classes & _CLASS_DATABASE:
                base = self._tick_base
                self.writer.write_values(
                    DbRec,
                    (
                        session.session_id,
                        _DB_STAMP,
                        session.name,
                        (
                            state.closed_ticks
                            + (base + now) // _US_PER_TICK
                            - (base + state.opened_at) // _US_PER_TICK
                        )
                        & DWORD_MAX,
                        state.info.replica_id,
                    ),
                    now,
                    _CLASS_DATABASE,
                    _DB_STAMP,
                )
        else:
            state.dirty = True
        if note_id is not None and (
            action == "write"
            # A read bills nothing and changes nothing without the Document class
            # (_document_record's own early return): no call for it.
            or (action == "read" and self.writer.class_mask & _CLASS_DOCUMENT)
        ):
            self._document_record(session, db, note_id, action == "write", now)
        return session

    def _activity(
        self, session: Session, now: int, action: str, db: Database | None, note_id: int | None
    ) -> None:
        """What every action but logout does after its SESSIONREC: activity, then its database."""
        session.last_activity = now
        if self.idle_timeout_us is not None:
            self._rearm_idle(session, now)
        if db is None or db.is_directory:
            return
        if action == "close":
            self._close_db(session, db, now)
        elif action in DATABASE_ACTIVITY:
            self._use_db(session, db, now)
            if note_id is not None and action in ("read", "write"):
                self._document_record(session, db, note_id, action == "write", now)

    def _start(self, name: str, address: str, now: int, bytes_in: int, bytes_out: int) -> Session:
        slot, session_id = self.slots.take()
        classes = self.writer.class_mask & self.session_classes
        session = Session(name, address, slot, session_id, now, classes)
        session.bytes_in = bytes_in & DWORD_MAX
        session.bytes_out = bytes_out & DWORD_MAX
        self.sessions[name, address] = session
        self.sessions_started += 1
        self.peak_sessions = max(self.peak_sessions, len(self.sessions))
        self._session_record(session, _SESSION_START, now)
        return session

    def _next_boundary(self, origin: int, now: int) -> int:
        """The first boundary after `now` of the grid every BillingSuppressTime from `origin`.

        Strictly after: a boundary at `now` has already run (boundaries come first), so
        activity at a boundary instant counts toward the next one.
        """
        step = self.suppress_us
        return origin + ((now - origin) // step + 1) * step

    def _schedule_boundaries(
        self, session: Session, sequence: int, now: int, action: str, db: Database | None
    ) -> bool:
        """The session's boundary, due since this action, with `sequence`; True when the
        action's open database's boundary, due too, falls at the same instant and was
        scheduled with it (one event: `_pair_boundary`), as `continue_session` would.

        Its own method, not in `continue_session`: that one's frame stays small for the
        actions that schedule nothing."""
        step = self.suppress_us
        started = session.started
        at = started + ((now - started) // step + 1) * step  # _next_boundary, inline
        if db is not None and action in DATABASE_ACTIVITY and not db.is_directory:
            for state in session.dbs:  # Session.db_state, inline
                if state.info is db:
                    break
            else:
                state = None
            if state is not None and state.is_open and not state.boundary_pending:
                first_open = state.first_open
                if first_open + ((now - first_open) // step + 1) * step == at:
                    # A session and the database it opened as it started: the database's
                    # sequence taken here, where continue_session takes it, and kept.
                    state.dirty = True
                    state.boundary_pending = True
                    state.boundary_sequence = next(self._heap_counter)
                    _heappush(
                        self._heap_items,
                        (at, _SESSION_BOUNDARY, sequence, self._pair_boundary_handler, state),
                    )
                    return True
        _heappush(
            self._heap_items,
            (at, _SESSION_BOUNDARY, sequence, self._session_boundary_handler, session),
        )
        return False

    def _rearm_idle(self, session: Session, now: int) -> None:
        assert self.idle_timeout_us is not None
        # Reserve the place in line now: an idle timeout runs among completions in the
        # order it was (re)armed, i.e. by its session's last activity.
        sequence = session.idle_sequence = next(self._heap_counter)
        if not session.idle_pending:
            session.idle_pending = True
            _heappush(
                self._heap_items,
                (
                    now + self.idle_timeout_us,
                    _COMPLETION,
                    sequence,
                    self._idle_check_handler,
                    session,
                ),
            )

    def _use_db(self, session: Session, info: Database, now: int) -> None:
        for db in session.dbs:  # Session.db_state, inline: this runs for most actions
            if db.info is info:
                break
        else:
            db = DbState(session, info, now, self.writer.class_mask & self.session_classes)
            session.dbs += (db,)
            db.is_open = True
            db.opened_at = now
            self._db_record(session, db, _DB_OPEN, now)
            return
        if not db.is_open:
            db.is_open = True
            db.opened_at = now
            self._db_record(session, db, _DB_OPEN, now)
        elif not self.timer_policy:
            if now - db.last_record >= self.suppress_us:
                self._db_record(session, db, _DB_STAMP, now)
            else:
                db.dirty = True
        else:
            db.dirty = True
            if not db.boundary_pending:
                db.boundary_pending = True
                _heappush(
                    self._heap_items,
                    (
                        self._next_boundary(db.first_open, now),
                        _DATABASE_BOUNDARY,
                        next(self._heap_counter),
                        self._db_boundary_handler,
                        db,
                    ),
                )

    def _close_db(self, session: Session, info: Database, now: int) -> None:
        db = session.db_state(info)
        if db is None or not db.is_open:
            raise ScenarioStateError(
                f"close of {info.path} by {session.name}, who does not have it open"
            )
        db.closed_ticks = self._db_open_time(db, now)
        db.is_open = False
        self._db_record(session, db, _DB_CLOSE, now)

    # -- timers ---------------------------------------------------------------------------

    def _session_boundary(self, session: Session) -> None:
        session.boundary_pending = False
        if not session.ended and session.dirty:
            self._session_record(session, _SESSION_STAMP, self._now)

    def _pair_boundary(self, db: DbState) -> None:
        """`_session_boundary` of `db`'s session, then `_db_boundary` of `db`: their two
        events of one instant as one. The database's runs in its own place in line
        instead when another boundary of this instant is due between them (another
        session's, or a database's before it)."""
        session = db.session
        session.boundary_pending = False
        now = self._now
        if not session.ended and session.dirty:
            self._session_record(session, _SESSION_STAMP, now)
        items = self._heap_items
        if items:
            first = items[0]
            if first[0] == now and first[1] <= _DATABASE_BOUNDARY:
                _heappush(
                    items,
                    (now, _DATABASE_BOUNDARY, db.boundary_sequence, self._db_boundary_handler, db),
                )
                db.boundary_sequence = 0  # not an int of its own per idle database
                return
        db.boundary_sequence = 0
        self._db_boundary(db)

    def _db_boundary(self, db: DbState) -> None:
        db.boundary_pending = False
        if not db.session.ended and db.is_open and db.dirty:
            self._db_record(db.session, db, _DB_STAMP, self._now)

    def _idle_check(self, session: Session) -> None:
        if session.ended:
            return
        assert self.idle_timeout_us is not None
        due = session.last_activity + self.idle_timeout_us
        if due > self._now:
            self.heap.schedule(
                due,
                _COMPLETION,
                self._idle_check_handler,
                session,
                sequence=session.idle_sequence,
            )
            return
        session.idle_pending = False
        self.end_session(session, self._now)

    # The engine sets this before running each event: handlers read the time from here.
    _now: int = 0
    # Between a crash and its restart (simulator.domino.faults): no session starts.
    down: bool = False

    def set_now(self, now: int) -> None:
        self._now = now

    # -- endings --------------------------------------------------------------------------

    def end_session(self, session: Session, now: int) -> None:
        """CLOSE_END for every database the session opened, in first-open order, then END."""
        for db in session.dbs:
            self._db_record(session, db, _DB_CLOSE_END, now)
            db.is_open = False
        self._session_record(session, _SESSION_END, now)
        if session.classes & c.BILL_CLASS_SESSION:  # its START was written
            self.ledger.add(session.name, "sessions", 1)
        session.ended = True
        del self.sessions[session.name, session.address]
        self.slots.give_back(session.slot)
        if self.on_session_end is not None:
            self.on_session_end(session)

    def shutdown(self, now: int, limit: int | None = None) -> int:
        """End open sessions in the order they started, as a server shutdown does.

        With `limit`, ends at most that many and returns how many are still open, so a
        caller can let the queue drain between batches instead of holding every record
        of a million-session shutdown in memory at once.
        """
        if self._shutdown_order is None:
            # A snapshot: taking the dict's first entry again and again would rescan the
            # deleted ones each time, quadratic in the number of sessions.
            self._shutdown_order = deque(self.sessions.values())
            self._shutdown_room = len(self.sessions)
        order = self._shutdown_order
        ended = 0
        while order and (limit is None or ended < limit):
            session = order.popleft()
            if not session.ended:
                self.end_session(session, now)
                ended += 1
        if len(self.sessions) * 4 < self._shutdown_room:
            # A dict keeps its table when emptied (~40 MB for a million sessions) while the
            # ledger grows a row for each session ended: copied to one of its size instead.
            self.sessions = dict(self.sessions)
            self._shutdown_room = len(self.sessions)
        return len(self.sessions)

    # -- a crash (simulator.domino.faults) ------------------------------------------------

    def crash(self) -> list[Session]:
        """The server dies: every open session is gone without a record (no CLOSE_END, no
        END), its slot free. Returns those sessions in the order they started; the server
        is `down`, taking no session, until `restart`."""
        cut = list(self.sessions.values())
        for session in cut:
            session.ended = True  # its timers and its user's next action see it gone
        self.sessions.clear()
        self._shutdown_order = None
        self.slots.free_all()
        self.down = True
        return cut

    def restart(self) -> None:
        """Up again after a crash: sessions start afresh from slot 1, each with a new SeqNo."""
        self.slots.free_all()  # slots a task took while the server was down are free too
        self.down = False
