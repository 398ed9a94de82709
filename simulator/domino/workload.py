"""A generated population of users: many sessions from a few numbers, on the one event heap.

Each generated user is an index: its next event is one heap entry, its sign-off time one
slot of an array, its random numbers one 64-bit stream of its own (purpose "session"),
so a million users cost no asyncio task and little memory, and one user's draws never
move another's. Without a calendar, users arrive over `arrival` from the start and sign
on again after each session (`relogin`). With one, each user active on a working day
signs on once that day, at a time drawn from the curve; its next day is planned when
the day's session ends, so the days repeat for as long as the run lasts without ever a
list of all users for a day (docs/workload.md).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right as _bisect
from collections.abc import Mapping, Sequence
from datetime import datetime
from heapq import heappush as _heappush
from itertools import accumulate
from math import log as _log
from typing import Any, ClassVar

from simulator.domino.calendar import WorkingDays
from simulator.domino.clock import EventHeap, Phase
from simulator.domino.domain import Domain
from simulator.domino.server import (
    Charges,
    Database,
    DatabaseInfo,
    Server,
    Session,
    derive_timedate,
)
from simulator.domino.streams import (
    STATE_MASK,
    STEP_INCREMENT,
    STEP_MULTIPLIER,
    TO_UNIT,
    UserStreams,
)
from simulator.scenario.distributions import (
    Constant,
    Discrete,
    Distribution,
    Exponential,
    Uniform,
    ZipfExponent,
)
from simulator.scenario.models import is_directory
from simulator.scenario.workload import (
    DatabasesSpec,
    Workload,
    mail_file_path,
)
from simulator.wire.constants import DWORD_MAX
from simulator.wire.timedate import TimeDate

# An enum member's attribute look-up costs ~100 ns; every generated action schedules one.
_GENERATED = Phase.GENERATED
# A session's first action takes its two byte counts from one number of the stream, split
# into two 26-bit halves; a later action takes them and its think time from one step
# (27 + 13 + 13 of its top 53 bits). One step of the stream costs more than a split.
_HALF = float(1 << 26)
_PER_HALF = 1.0 / _HALF
_PER_THINK = 2.0**-27
_BYTES_BITS = (1 << 13) - 1
_PER_BYTES = 2.0**-13
# Charged documents of a generated database: note IDs are multiples of 4 in Domino.
FIRST_CHARGED_NOTE = 0x2000
_NOTE_STEP = 4
_NO_DOCUMENTS: dict[int, Charges] = {}
# Mail files whose replica ID is remembered (~200 bytes each): a session's DBRECs of its
# mail file are minutes apart, so this many covers the sessions open at once of a large
# population; past it the IDs are derived again (a hash each).
_REPLICAS_KEPT = 65_536
# Folds remembered for a stop (Population.unfold) before those wholly past are dropped.
_AHEAD_KEPT = 65_536
# What an action of the mix is to `_fold_ahead`: plain traffic (or no database to draw),
# a close, a database action, a read or write (which may touch a charged document).
_KIND_TRAFFIC, _KIND_CLOSE, _KIND_DATABASE, _KIND_NOTE = 0, 1, 2, 3
# An idle timeout no think time passes: none.
_NO_IDLE = 1 << 63
# Two steps of a stream in one: state * M**2 + (M * I + I), modulo 2**64.
_TWO_STEPS_MULTIPLIER = STEP_MULTIPLIER * STEP_MULTIPLIER & STATE_MASK
_TWO_STEPS_INCREMENT = (STEP_MULTIPLIER * STEP_INCREMENT + STEP_INCREMENT) & STATE_MASK


def charged_note_ids(count: int) -> tuple[int, ...]:
    """The note IDs of a generated database's `documents` charged documents."""
    return tuple(FIRST_CHARGED_NOTE + _NOTE_STEP * k for k in range(count))


def generated_databases(spec: DatabasesSpec, seed: int) -> tuple[DatabaseInfo, ...]:
    """The block's `count` databases in popularity order (rank 1 first): `path` with `{n}`
    the rank, a replica ID fixed by the seed and the path, and `documents` charged documents
    each (one shared table: they all charge the same)."""
    charges = Charges(spec.charge_read, spec.charge_write)
    documents = dict.fromkeys(charged_note_ids(spec.documents), charges)
    paths = (spec.path_of(rank) for rank in range(1, spec.count + 1))
    return tuple(
        DatabaseInfo(path, derive_timedate(seed, "replica", path), documents) for path in paths
    )


def rank_weights(popularity: Distribution | ZipfExponent, count: int) -> list[float]:
    """How often each of `count` databases (rank 1 first) is picked: ranks a distribution
    gives outside 1..count count as the nearest rank."""
    if isinstance(popularity, ZipfExponent):
        popularity = popularity.over(count)
    weights = [0.0] * count
    if isinstance(popularity, Discrete):
        for value, weight in zip(popularity.values, popularity.weights, strict=True):
            weights[min(max(int(value), 1), count) - 1] += weight
    elif isinstance(popularity, Constant):
        weights[min(max(int(popularity.value), 1), count) - 1] = 1.0
    elif isinstance(popularity, Uniform):
        low = min(max(int(popularity.low), 1), count)
        high = min(max(int(popularity.high), 1), count)
        for rank in range(low, high + 1):
            weights[rank - 1] = 1.0
    else:
        # The loader refuses these (checks.check_workload): no table of ranks to draw from.
        raise ValueError(f"popularity must be zipf, table, uniform or constant: {popularity!r}")
    return weights


class MailFiles:
    """The generated users' mail files: user u's path from the `mail_file` template, its
    replica ID fixed by the seed and the path, as the first version derived them; and
    `handle`, the MailFile type of this population's sessions."""

    __slots__ = ("_name_of", "_replicas", "_seed", "_template", "handle")

    def __init__(self, template: str, workload: Workload, seed: int) -> None:
        self._template = template
        self._name_of = workload.name_of
        self._seed = seed
        self._replicas: dict[int, TimeDate] = {}
        self.handle = _handle_type(self)

    def path_of(self, user: int, name: str | None = None) -> str:
        """User u's path (`name`: its name, when the caller has it at hand)."""
        n = user + 1  # user 0 is `{n}` = 1 in the templates
        return mail_file_path(self._template, n, name or self._name_of(n))

    def replica_of(self, user: int) -> TimeDate:
        replica = self._replicas.get(user)
        if replica is None:
            if len(self._replicas) >= _REPLICAS_KEPT:
                self._replicas.clear()
            replica = derive_timedate(self._seed, "replica", self.path_of(user))
            self._replicas[user] = replica
        return replica


class MailFile(int):
    """A session's mail file as the server reads a database (server.Database): the user's
    number itself, its path and replica ID derived when asked (from `_files`, set on each
    population's own subclass, MailFiles.handle).

    An int, not an object holding one: a million sessions open at once each have one,
    and this way it costs 48 bytes, against ~260 for a DatabaseInfo with its path and
    TIMEDATE, or 80 for a slotted object and the number it holds. Only its identity
    matters to the server (a session tells its databases apart with `is`); it is true
    even for user 0.
    """

    __slots__ = ()

    _files: ClassVar[MailFiles]
    # A mail file has no charged documents, and its path is a file (a template giving a
    # directory makes a DatabaseInfo instead: see Population._connect).
    documents: ClassVar[Mapping[int, Charges]] = _NO_DOCUMENTS
    is_directory: ClassVar[bool] = False

    @property
    def path(self) -> str:
        return self._files.path_of(int(self))

    @property
    def replica_id(self) -> TimeDate:
        # MailFiles.replica_of's look-up first, inline (each DBREC of a mail file asks): a
        # MailFile hashes and compares as its number.
        files = self._files
        replica = files._replicas.get(self)
        return replica if replica is not None else files.replica_of(int(self))

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"MailFile({self.path!r})"


def _handle_type(files: MailFiles) -> type[MailFile]:
    class Handle(MailFile):
        __slots__ = ()
        _files = files

    return Handle


class _Table:
    """A weighted pick by one uniform number, leaving the rest of that number for the next
    choice: inside the picked entry's slice, where it fell is again uniform in [0, 1)."""

    __slots__ = ("cumulative", "lower", "total", "weights")

    def __init__(self, weights: Sequence[float]) -> None:
        self.weights = list(weights)
        cumulative = list(accumulate(self.weights))
        self.lower = [0.0, *cumulative[:-1]]
        self.total = cumulative[-1]
        # A number that rounds up to the total still picks the last entry.
        cumulative[-1] = float("inf")
        self.cumulative = cumulative


def _all_to_mail_file(mix: _Table, scale: float, mail_share: float) -> bool:
    """Whether `_database_drawn` sends every number of every mix entry to the mail file:
    what is left of a number in an entry's slice grows with the number, so its largest
    value in each slice is the one to test."""
    if not mail_share:
        return False
    largest = float((1 << 53) - 1) * scale  # the largest number drawn
    for index, (lower, weight) in enumerate(zip(mix.lower, mix.weights, strict=True)):
        upper = mix.cumulative[index]
        top = largest if upper > largest else math.nextafter(upper, 0.0)
        if not (top - lower) / weight < mail_share:
            return False
    return True


class Population:
    """Drives `workload.users` generated users through the server, one heap entry each."""

    # Off: every action goes through Server.continue_session at its own instant (tests that
    # watch the server's door turn `_fold_ahead` off this way).
    folds_ahead: ClassVar[bool] = True

    def __init__(
        self,
        workload: Workload,
        server: Server,
        heap: EventHeap,
        databases: Mapping[str, DatabaseInfo],
        *,
        seed: int,
        duration: int,
        start: datetime,
        domain: Domain | None = None,
    ) -> None:
        """`databases` are the scenario's declared ones; `domain`: generate only the users
        whose home is this server (all users when None)."""
        self.workload = workload
        self.server = server
        self.heap = heap
        self.duration = duration
        self.domain = domain
        self.seed = seed
        users = workload.users
        self.streams = UserStreams(seed, "session", users)
        self._uniform = self.streams.uniform
        self._states = self.streams.states
        self.days = WorkingDays(workload, start, seed=seed, duration=duration)
        self.calendar = self.days.calendar
        self.by_calendar = workload.calendar is not None
        self._never = not self.days.any_active
        self._session_lengths = workload.session_lengths
        session = workload.session
        self._idle = session.idle_timeout if session is not None else None
        self._relogin = workload.relogin

        self.actions = [a for a, w in workload.mix.items() if w > 0]
        self._mix = _Table([workload.mix[a] for a in self.actions])
        self._bytes_in = workload.bytes_in
        self._bytes_out = workload.bytes_out
        # A later action's byte counts each come from 13 bits of its number: 8192 values,
        # each worked out once here (the same expression), not with a log per action.
        self._bytes_in_of = [
            int(-_log(1.0 - bits * _PER_BYTES) * self._bytes_in) for bits in range(_BYTES_BITS + 1)
        ]
        self._bytes_out_of = [
            int(-_log(1.0 - bits * _PER_BYTES) * self._bytes_out) for bits in range(_BYTES_BITS + 1)
        ]
        think = workload.think_time
        # Exponential draws are inlined as -log(1 - u) * mean: the hot path has one per action.
        self._think_mean = think.mean if isinstance(think, Exponential) else None
        self._think = think

        spec = workload.generated_databases
        self.mail_template: str | None = None
        self._mail_files: MailFiles | None = None
        self._mail_share = 0.0
        if spec is None:
            paths = (
                workload.declared_databases
                if workload.declared_databases is not None
                else [path for path, db in databases.items() if not db.is_directory]
            )
            self.databases: list[DatabaseInfo] = [databases[p] for p in paths]
            # A read or write of a declared database picks one of its declared documents.
            notes = [tuple(sorted(db.documents)) for db in self.databases]
            shares = [1.0 if of_db else 0.0 for of_db in notes]
            weights = [1.0] * len(self.databases)
        else:
            self.databases = list(generated_databases(spec, seed))
            notes = [charged_note_ids(spec.documents)] * spec.count
            shares = [spec.charged] * spec.count
            weights = rank_weights(spec.popularity, spec.count)
            self.mail_template = spec.mail_file
            if spec.mail_file is not None:
                self._mail_share = spec.mail_share
                self._mail_files = MailFiles(spec.mail_file, workload, seed)
        self._pick = _Table(weights) if self.databases else None
        # Whether an action other than transfer names a database; and the mix table's
        # columns, read once per action.
        self._picks_db = self._pick is not None or bool(self._mail_share)
        self._mix_scale = TO_UNIT * self._mix.total
        self._mix_cumulative = self._mix.cumulative
        self._mix_lower = self._mix.lower
        self._mix_weights = self._mix.weights
        self._kinds = [
            _KIND_TRAFFIC
            if action == "transfer" or not self._picks_db
            else _KIND_CLOSE
            if action == "close"
            else _KIND_NOTE
            if action in ("read", "write")
            else _KIND_DATABASE
            for action in self.actions
        ]
        # Whether every action of the mix surely goes to the session's first database (a
        # mail file), with exponential think times: `_fold_mail` then need not draw what the
        # action is.
        self._mail_only = (
            self._think_mean is not None
            and self._picks_db
            and all(kind in (_KIND_DATABASE, _KIND_NOTE) for kind in self._kinds)
            and _all_to_mail_file(self._mix, self._mix_scale, self._mail_share)
        )
        # A read or write touches a note with probability share, then one of the notes
        # evenly: note index = int(what is left of the number * count / share). The last
        # note repeated once more takes a number that rounds up to the count.
        self._note_share = shares
        self._note_scale = [
            len(of_db) / share if share else 0.0 for of_db, share in zip(notes, shares, strict=True)
        ]
        self._notes = [of_db + of_db[-1:] for of_db in notes]

        self.logout_at = array("q", bytes(8 * users))
        # Only with a calendar: the day each user last signed on (its next is a later one).
        self.sign_on_day = array("i", bytes(4 * users)) if self.by_calendar else None
        # Only with an idle timeout: when a user idled out comes back.
        self.resume_at = array("q", bytes(8 * users)) if self._idle is not None else None
        # The open session of each user, so a generated action needs no name formatting.
        self.session_of: list[Session | None] = [None] * users
        self.sign_ons = 0
        # One bound method each, shared by every heap entry (see Server.__init__).
        self._sign_on_handler = self._sign_on
        self._next_handler = self._next
        self._idle_handler = self._idle_out
        self._continue_session = server.continue_session
        # Whether `_fold_ahead` may do a user's quiet actions early: only with boundary
        # timers (the activity policy bills an action itself) and no server idle timeout
        # (its check reads the last activity). The run turns it off where something else
        # could look at a session between two of its user's actions (see Simulation).
        self.fold = self.folds_ahead and server.timer_policy and server.idle_timeout_us is None
        # user -> (stream state, time of the first, time of the last) of the actions done
        # ahead by the last fold: what `unfold` takes back after a stop.
        self._ahead: dict[int, tuple[int, int, int]] = {}
        self._ahead_room = _AHEAD_KEPT
        # Each action schedules the next straight onto the heap (see EventHeap).
        self._heap_items = heap.items
        self._heap_counter = heap.counter

    # -- days ------------------------------------------------------------------------------

    def _plan_day(self, user: int, day: int, not_before: int) -> None:
        """Schedule the user's sign-on on its first active working day from `day` on whose
        drawn arrival is not before `not_before`; nothing once the run is over by then."""
        if self._never:
            return
        days = self.days
        every_user = days.everyone_active
        duration = self.duration
        while True:
            begins, working, _ = days.day(day)
            if begins >= duration:
                return
            if working and (every_user or days.is_active(user, day)):
                at = days.arrival(day, self._uniform(user))
                if at >= not_before:
                    if at < duration:
                        if self.sign_on_day is not None:
                            self.sign_on_day[user] = day
                        self._push(at, self._sign_on_handler, user)
                    return
            day += 1

    # -- arrivals and sign-offs ---------------------------------------------------------

    def start(self) -> None:
        """Plan every (home) user's first sign-on."""
        domain = self.domain
        for user in range(self.workload.users):
            if domain is not None and not domain.is_home(user):
                continue
            if self.by_calendar:
                self._plan_day(user, 0, 0)  # an arrival before the start is not on the run
            else:
                arrival = self.workload.arrival
                self._flat_sign_on(user, int(self._uniform(user) * arrival))

    def _flat_sign_on(self, user: int, at: int) -> None:
        """Without a calendar: sign on at `at`, or on the next day the user is active."""
        if self._never:
            return
        days = self.days
        if not days.everyone_active:
            day = self.calendar.day_of(at)
            if not days.is_active(user, day):
                self._plan_day(user, day + 1, at)
                return
        if at < self.duration:
            self._push(at, self._sign_on_handler, user)

    def _sign_on(self, user: int) -> None:
        now = self.server._now
        length = int(self._session_lengths.draw(self._uniform(user))) or 1
        self.logout_at[user] = now + length
        self.sign_ons += 1
        self._connect(user, now)

    def _sign_off(self, user: int, now: int) -> None:
        session = self.session_of[user]
        self.session_of[user] = None
        if session is not None and not session.ended:
            self.server.continue_session(session, now, "logout")
        if self.sign_on_day is not None:
            self._plan_day(user, self.sign_on_day[user] + 1, now)
        elif self._relogin:
            self._flat_sign_on(user, now + self._think_time(user))

    def _idle_out(self, user: int) -> None:
        """The server ends a session idle for `session.idle_timeout`; the user's next
        action (its think time drawn before) signs on again."""
        session = self.session_of[user]
        self.session_of[user] = None
        if session is not None and not session.ended:
            self.server.end_session(session, self.server._now)
        assert self.resume_at is not None
        at = self.resume_at[user]
        if at < self.duration:
            self._push(at, self._next_handler, user)

    # -- actions ------------------------------------------------------------------------

    def _connect(self, user: int, now: int) -> None:
        """A session's first action: open the user's mail file, else a database by
        popularity, else plain traffic; it starts the session."""
        uniform = self._uniform
        n = user + 1  # user 0 is `{n}` = 1 in the templates
        workload = self.workload
        name = workload.name_of(n)
        db: Database | None = None
        if self._mail_files is not None:
            # Made afresh for each session, not kept per user: a million users' mail files
            # would otherwise stay in memory; the replica ID depends on the path alone.
            path = self._mail_files.path_of(user, name)
            if is_directory(path):  # bills nothing (the loader's checks refuse such a template)
                db = DatabaseInfo(path, derive_timedate(self.seed, "replica", path), _NO_DOCUMENTS)
            else:
                db = self._mail_files.handle(user)
        elif self._pick is not None:
            pick = self._pick
            db = self.databases[_bisect(pick.cumulative, uniform(user) * pick.total)]
        split = uniform(user) * _HALF
        half = int(split)
        bytes_in = int(-_log(1.0 - half * _PER_HALF) * self._bytes_in)
        bytes_out = int(-_log(1.0 - (split - half)) * self._bytes_out)
        self.session_of[user] = self.server.session_action(
            now,
            name,
            workload.address_of(n),
            "transfer" if db is None else "open",
            db,
            None,
            bytes_in,
            bytes_out,
        )
        self._schedule_next(user, now)

    def _next(self, user: int) -> None:
        """One generated action of the user's open session (the hot path of a generated run:
        its table look-ups and stream steps are written out, see __init__)."""
        now = self.server._now
        end = self.logout_at[user]
        if now >= end:
            self._sign_off(user, now)
            return
        session = self.session_of[user]
        if session is None or session.ended:
            self._connect(user, now)  # the server ended it (idle timeout): sign on again
            return
        # The user's stream stepped here, twice (UserStreams.uniform's steps): this runs
        # once per generated action.
        states = self._states
        state = (
            (states[user] or self.streams.first_state(user)) * STEP_MULTIPLIER + STEP_INCREMENT
        ) & STATE_MASK
        # One number picks the action, and what is left of it the database and the note.
        u = (state >> 11) * self._mix_scale
        index = _bisect(self._mix_cumulative, u)
        action = self.actions[index]
        db: Database | None = None
        note_id = None
        kind = self._kinds[index]
        if kind:
            # _database_drawn(session, index, u), inline, both its cases: a call an action.
            mail_share = self._mail_share
            rest = (u - self._mix_lower[index]) / self._mix_weights[index]
            if mail_share and rest < mail_share:
                # The mail file (most actions of a mail user).
                dbs = session.dbs
                db = dbs[0].info if dbs else None
            else:
                pick = self._pick
                if pick is not None:
                    if mail_share:
                        rest = (rest - mail_share) / (1.0 - mail_share)
                    u = rest * pick.total
                    which = _bisect(pick.cumulative, u)
                    db = self.databases[which]
                    if kind == _KIND_NOTE:
                        share = self._note_share[which]
                        if share:
                            rest = (u - pick.lower[which]) / pick.weights[which]
                            if rest < share:
                                note_id = self._notes[which][int(rest * self._note_scale[which])]
            if kind == _KIND_CLOSE and db is not None:
                db_state = session.db_state(db)
                if db_state is None or not db_state.is_open:
                    action, db = "transfer", None
        if action == "close" and db is None:
            action = "transfer"  # nothing could be open: a drawn close is plain traffic
        # The second number gives three: its top 27 bits the think time, the next 13 and
        # 13 the byte counts (a step of the stream costs more than the split).
        state = (state * STEP_MULTIPLIER + STEP_INCREMENT) & STATE_MASK
        states[user] = state
        # Held since its start: the server need not look it up by name and address. (It
        # returns the session, still open: no generated action is a logout.)
        self._continue_session(
            session,
            now,
            action,
            db,
            note_id,
            self._bytes_in_of[(state >> 24) & _BYTES_BITS],
            self._bytes_out_of[(state >> 11) & _BYTES_BITS],
        )
        # _schedule_next(user, now), inline with the number drawn above.
        mean = self._think_mean
        if mean is not None:
            think = int(-_log(1.0 - (state >> 37) * _PER_THINK) * mean) or 1
        else:
            think = int(self._think.draw((state >> 37) * _PER_THINK)) or 1
        idle = self._idle
        if idle is not None and think > idle and now + idle < end:
            self._idle_until(user, now, think, end)
            return
        at = now + think
        if at > end:  # noqa: PLR1730 - min() is a call: this runs once per action
            at = end
        if at < end and self.fold and session.boundary_pending:
            at = self._fold_ahead(user, session, now, at, end)
        if at < self.duration:
            _heappush(
                self._heap_items,
                (at, _GENERATED, next(self._heap_counter), self._next_handler, user),
            )

    def _database_drawn(
        self, session: Session, index: int, u: float
    ) -> tuple[Database | None, int, float]:
        """The database an action of mix entry `index` goes to, from what is left of its
        number `u`: (the database, its rank among the generated ones or -1, the number
        left within that rank's share, for the note). The fold's reading; `_next` has the
        same inline (they must draw alike)."""
        rest = (u - self._mix_lower[index]) / self._mix_weights[index]
        mail_share = self._mail_share
        if rest < mail_share:
            # The session opened its mail file first (unless a scripted user of the same
            # name and address had started it: then its first database).
            dbs = session.dbs
            return (dbs[0].info if dbs else None), -1, 0.0
        pick = self._pick
        if pick is None:
            return None, -1, 0.0
        if mail_share:
            rest = (rest - mail_share) / (1.0 - mail_share)
        u = rest * pick.total
        which = _bisect(pick.cumulative, u)
        return self.databases[which], which, u

    def _fold_ahead(self, user: int, session: Session, now: int, at: int, end: int) -> int:
        """The user's actions from `at` on that bill nothing, done now instead of one event
        each; returns when the first other one is due (its draws are left to its event).

        Such an action only adds its byte counts to the session and marks it and its
        database as used, and nothing reads those before the pending boundaries (they run
        at a later instant), so doing it early writes the same records: most actions of a
        mail user are of this kind. Its draws come from the user's own stream, taken in
        the same order. See `fold` for when this is off, and `unfold` for a stop.

        The one difference: the next event's sequence number is taken now, not at the last
        action done ahead, so against another generated event of the very same microsecond
        scheduled in between it runs first where it ran second (the pinned runs and the
        bundled presets give the same frames either way)."""
        suppress = self.server.suppress_us
        started = session.started
        # The session's pending boundary: the first of its grid after now.
        bound = started + ((now - started) // suppress + 1) * suppress
        duration = self.duration
        # Not past the session's end (its event signs off) nor the run's (never done).
        if bound > end:  # noqa: PLR1730 - min() is a call: once per event
            bound = end
        if bound > duration:  # noqa: PLR1730
            bound = duration
        if at >= bound:
            return at
        if self._mail_only:
            return self._fold_mail(user, session, now, at, end, bound)
        states = self._states
        state = states[user]
        first_state, first_at = state, at
        mean = self._think_mean
        think_draw = self._think.draw
        idle = self._idle
        # An idle timeout's test, one comparison when there is none.
        idle_limit = idle if idle is not None else _NO_IDLE
        mix_scale, mix_cumulative, kinds = self._mix_scale, self._mix_cumulative, self._kinds
        mix_lower, mix_weights, mail_share = self._mix_lower, self._mix_weights, self._mail_share
        note_share = self._note_share
        bytes_in_of, bytes_out_of = self._bytes_in_of, self._bytes_out_of
        # The byte counts added up here and written once: their sum is the same modulo 2**32.
        bytes_in = bytes_out = 0
        # The last database found open with a pending boundary, and that boundary: most
        # actions go to the one database again (a mail file).
        known: Database | None = None
        known_bound = 0
        folded = False
        last = at
        while True:
            # _next's draws, as it makes them (two steps of the stream).
            drawn = (state * STEP_MULTIPLIER + STEP_INCREMENT) & STATE_MASK
            u = (drawn >> 11) * mix_scale
            index = _bisect(mix_cumulative, u)
            kind = kinds[index]
            if kind:
                if kind == _KIND_CLOSE:
                    break  # bills a CLOSE (or is traffic): its event decides
                # _database_drawn's mail-file case inline (most actions of a mail user).
                if mail_share and (u - mix_lower[index]) / mix_weights[index] < mail_share:
                    dbs = session.dbs
                    db = dbs[0].info if dbs else None
                else:
                    db, which, _ = self._database_drawn(session, index, u)
                    if which >= 0 and kind == _KIND_NOTE and note_share[which]:
                        break  # may bill a document: its event decides
                if db is known and db is not None:
                    if at >= known_bound:
                        break  # after the database's pending boundary
                elif db is not None and not db.is_directory:  # every kind here is activity
                    for db_state in session.dbs:
                        if db_state.info is db:
                            break
                    else:
                        break  # opens it: an OPEN record
                    if not db_state.is_open or not db_state.boundary_pending:
                        break
                    first_open = db_state.first_open
                    known_bound = first_open + ((now - first_open) // suppress + 1) * suppress
                    if at >= known_bound:
                        break  # after the database's pending boundary
                    db_state.dirty = True
                    known = db
            drawn = (drawn * STEP_MULTIPLIER + STEP_INCREMENT) & STATE_MASK
            if mean is not None:
                think = int(-_log(1.0 - (drawn >> 37) * _PER_THINK) * mean) or 1
            else:
                think = int(think_draw((drawn >> 37) * _PER_THINK)) or 1
            if think > idle_limit and at + idle_limit < end:
                break  # the server ends the session first: its event arms that
            bytes_in += bytes_in_of[(drawn >> 24) & _BYTES_BITS]
            bytes_out += bytes_out_of[(drawn >> 11) & _BYTES_BITS]
            state = drawn
            folded = True
            last = at
            at += think
            if at > end:  # noqa: PLR1730
                at = end
            if at >= bound:
                break
        if folded:
            self._done_ahead(
                user, session, state, bytes_in, bytes_out, (first_state, first_at, last), now
            )
        return at

    def _done_ahead(
        self,
        user: int,
        session: Session,
        state: int,
        bytes_in: int,
        bytes_out: int,
        fold: tuple[int, int, int],
        now: int,
    ) -> None:
        """A fold's actions done: their bytes and last activity on the session, the user's
        stream where they left it, and what `unfold` needs of the fold (`fold`: the
        stream's state before it, when its first and last actions were due)."""
        session.bytes_in = (session.bytes_in + bytes_in) & DWORD_MAX
        session.bytes_out = (session.bytes_out + bytes_out) & DWORD_MAX
        session.last_activity = fold[2]
        self._states[user] = state
        ahead = self._ahead
        ahead[user] = fold
        if len(ahead) > self._ahead_room:
            # Entries of folds wholly past are of no use to `unfold`: a large population
            # would otherwise keep one per user that ever folded.
            kept = self._ahead = {u: entry for u, entry in ahead.items() if entry[2] > now}
            self._ahead_room = max(_AHEAD_KEPT, 2 * len(kept))

    def _fold_mail(
        self, user: int, session: Session, now: int, at: int, end: int, bound: int
    ) -> int:
        """`_fold_ahead` where every action of the mix goes to the session's first database
        (`_mail_only`): no action's number decides anything, so each action's two steps of
        the stream are taken as one (`_TWO_STEPS`), and the database is looked at once."""
        dbs = session.dbs
        db = dbs[0].info if dbs else None
        if db is not None and not db.is_directory:
            db_state = dbs[0]  # the first of the session's states of `db`
            if not db_state.is_open or not db_state.boundary_pending:
                return at  # opens it (an OPEN record) or starts its boundary: its event
            suppress = self.server.suppress_us
            first_open = db_state.first_open
            known_bound = first_open + ((now - first_open) // suppress + 1) * suppress
            if at >= known_bound:
                return at  # after the database's pending boundary
            db_state.dirty = True
            if known_bound < bound:  # noqa: PLR1730
                bound = known_bound
        states = self._states
        state = states[user]
        first_state, first_at = state, at
        mean = self._think_mean
        assert mean is not None  # see _mail_only
        idle = self._idle
        idle_limit = idle if idle is not None else _NO_IDLE
        bytes_in_of, bytes_out_of = self._bytes_in_of, self._bytes_out_of
        multiplier, increment, mask = _TWO_STEPS_MULTIPLIER, _TWO_STEPS_INCREMENT, STATE_MASK
        per_think, bits, log = _PER_THINK, _BYTES_BITS, _log
        bytes_in = bytes_out = 0
        last = at
        while True:
            drawn = (state * multiplier + increment) & mask
            think = int(-log(1.0 - (drawn >> 37) * per_think) * mean) or 1
            if think > idle_limit and at + idle_limit < end:
                break  # the server ends the session first: its event arms that
            bytes_in += bytes_in_of[(drawn >> 24) & bits]
            bytes_out += bytes_out_of[(drawn >> 11) & bits]
            state = drawn
            last = at
            at += think
            if at >= bound:  # bound is at most end: past it only here
                if at > end:  # noqa: PLR1730
                    at = end
                break
        if at != first_at:  # any action done ahead (each moves `at` on, to at most end)
            # _done_ahead(user, session, state, bytes_in, bytes_out, (first_state,
            # first_at, last), now), inline: a call a fold, most actions of a mail user.
            session.bytes_in = (session.bytes_in + bytes_in) & DWORD_MAX
            session.bytes_out = (session.bytes_out + bytes_out) & DWORD_MAX
            session.last_activity = last
            states[user] = state
            ahead = self._ahead
            ahead[user] = (first_state, first_at, last)
            if len(ahead) > self._ahead_room:
                kept = self._ahead = {u: entry for u, entry in ahead.items() if entry[2] > now}
                self._ahead_room = max(_AHEAD_KEPT, 2 * len(kept))
        return at

    def unfold(self, now: int) -> None:
        """A run stopped at `now`: take back the byte counts of actions done ahead of it
        (see `_fold_ahead`), so the sessions end as if those had not come yet."""
        mean = self._think_mean
        for user, (first_state, first_at, last) in self._ahead.items():
            session = self.session_of[user]
            if last <= now or session is None or session.ended:
                continue
            state, at = first_state, first_at
            while at <= last:
                state = (state * STEP_MULTIPLIER + STEP_INCREMENT) & STATE_MASK
                state = (state * STEP_MULTIPLIER + STEP_INCREMENT) & STATE_MASK
                if at > now:
                    session.bytes_in = (
                        session.bytes_in - self._bytes_in_of[(state >> 24) & _BYTES_BITS]
                    ) & DWORD_MAX
                    session.bytes_out = (
                        session.bytes_out - self._bytes_out_of[(state >> 11) & _BYTES_BITS]
                    ) & DWORD_MAX
                if mean is not None:
                    think = int(-_log(1.0 - (state >> 37) * _PER_THINK) * mean) or 1
                else:
                    think = int(self._think.draw((state >> 37) * _PER_THINK)) or 1
                at += think
        self._ahead.clear()

    def _think_time(self, user: int) -> int:
        mean = self._think_mean
        if mean is not None:
            return int(-_log(1.0 - self._uniform(user)) * mean) or 1
        return int(self._think.draw(self._uniform(user))) or 1

    def _schedule_next(self, user: int, now: int) -> None:
        """The user's next action a think time on, its sign-off at the session's end, or
        the server's idle timeout first if the think time is longer."""
        mean = self._think_mean
        if mean is not None:
            think = int(-_log(1.0 - self._uniform(user)) * mean) or 1
        else:
            think = int(self._think.draw(self._uniform(user))) or 1
        end = self.logout_at[user]
        idle = self._idle
        if idle is not None and think > idle and now + idle < end:
            self._idle_until(user, now, think, end)
            return
        at = min(now + think, end)
        if at < self.duration:
            self._push(at, self._next_handler, user)

    def _idle_until(self, user: int, now: int, think: int, end: int) -> None:
        """A think time longer than the idle timeout: the server ends the session first."""
        assert self.resume_at is not None and self._idle is not None
        self.resume_at[user] = min(now + think, end)
        if now + self._idle < self.duration:
            self._push(now + self._idle, self._idle_handler, user)

    def _push(self, at: int, handler: Any, user: int) -> None:
        _heappush(self._heap_items, (at, _GENERATED, next(self._heap_counter), handler, user))
