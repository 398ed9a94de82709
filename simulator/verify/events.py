"""What real servers do and a finished run never shows, told from a stream: server restarts,
counter wraps and clock steps (docs/lifecycles.md#what-check-names). `check` names them
(`findings.Event`), it does not count them as violations.

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
    step). The record waits for the server's next one to be judged (`Held`).
  - from databases (back or forward): a database open from one DBREC to its next was
    open exactly as long as their TimeStamps are apart; when two sessions' databases
    disagree with their TimeStamps by the same amount over overlapping frames, the clock
    stepped by that amount in between. The time violations already reported across it
    are withdrawn (`Timed`).
  Times are not compared across a step: each session's and database's first record
  after it starts its times (and timer boundaries) afresh.

`ServerTimeline` is one server as the checker follows it: its lives, silences and clock
steps. The checker asks it, and keeps the sessions (`sessions.py`) and the rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from simulator.errors import printable
from simulator.verify.findings import Event, EventKind, Rule, Violation
from simulator.verify.ticks import TICKS_PER_MINUTE, format_ticks
from simulator.wire import constants as c
from simulator.wire.records import Frame, SessionID
from simulator.wire.timedate import (
    TICKS_PER_SECOND,
    TimeDate,
    format_timedate,
    timedate_from_ticks,
)

_HALF_DWORD = c.DWORD_WRAP // 2
# A restart needs the server to have written nothing for longer than this: no Domino
# server comes back faster, and a START that reuses a slot within a busy stream's pauses
# is the simulator's mistake, not a restart.
RESTART_SILENCE = TICKS_PER_MINUTE
# A database open from one DBREC to the next was open exactly as long as their TimeStamps
# are apart: a clock step between them is the difference. Smaller ones are taken for a
# server's rounding, and two sessions' databases must agree to within this.
DB_CLOCK_SKEW = TICKS_PER_SECOND
# Databases that disagree with their TimeStamps, kept per server until another session's
# database agrees.
_WITNESSES_KEPT = 64

# The rules about time that only a clock step back can explain: a step forward makes
# records later, never earlier or closer (it moves STAMPs off their boundaries).
_EXPLAINED_BY_A_STEP_BACK_ONLY = frozenset(
    (Rule.TIME_BACKWARDS, Rule.SUPPRESS_TIME, Rule.DB_SUPPRESS_TIME)
)

# ServerName — tagged with the server's life after a restart (ServerTimeline.life_key) —
# SessionID.Index, SessionID.SeqNo.
SessionKey = tuple[str, int, int]


def counter_step(old: int, new: int) -> int:
    """The signed step from `old` to `new` of a DWORD counter that wraps modulo 2^32."""
    step = (new - old) & c.DWORD_MAX
    return step - c.DWORD_WRAP if step >= _HALF_DWORD else step


def wrap_text(frame: int, subject: str, name: str, old: int, new: int, old_frame: int) -> str:
    """A counter wrap's line: `new` after `old`, a step forward past 2^32."""
    return (
        f"at frame {frame}: {subject}: {name} {new} after {old} (frame {old_frame}),"
        f" a step of +{counter_step(old, new)} past 2^32"
    )


def _sessions(count: int) -> str:
    return f"{count} session{'' if count == 1 else 's'}"


@dataclass(slots=True)
class Silence:
    """The latest time a server wrote nothing for longer than RESTART_SILENCE."""

    from_frame: int  # the server's last record before it
    gap: int  # ticks
    resume_frame: int  # the first record after it
    resume_stamp: TimeDate
    old_spoke: bool = False  # a session open before it has written since


@dataclass(slots=True)
class Restart:
    """A restart recognised at a conflicting START; `refuted` once a cut session writes."""

    server: str
    silence: Silence
    conflict: Violation  # what the START is, should there have been no restart
    cut: int = 0  # sessions open before the silence: cut by the crash
    refuted: bool = False

    def event(self) -> Event:
        silence = self.silence
        return Event(
            silence.resume_frame,
            EventKind.SERVER_RESTART,
            f"at {format_timedate(silence.resume_stamp)} (frame {silence.resume_frame},"
            f" {printable(self.server)}): {_sessions(self.cut)} without END; nothing written for"
            f" {format_ticks(silence.gap)} before it (since frame {silence.from_frame})",
        )


@dataclass(slots=True)
class Held:
    """A record earlier than its server's two before it, waiting for the server's next one."""

    frame: Frame
    offset: int | None
    number: int
    ticks: int
    latest: int  # the server's latest record before it
    latest_frame: int


@dataclass(slots=True)
class Witness:
    """A database open across two DBRECs whose TimeStamps are `skew` further apart than
    its DBOpenTime grew: a clock step of `skew` between frames `after` and `by`."""

    session: object  # the session it is open in (compared by identity)
    skew: int
    after: int
    after_ticks: int
    by: int


@dataclass(slots=True)
class Timed:
    """A violation of a rule about time, which a clock step after `since` would explain.

    `since` is the frame of the record it was measured from; `reanchor` starts the
    session's or database's boundaries afresh at the violating record.
    """

    violation: Violation
    since: int
    reanchor: Callable[[], None] | None


class ServerTimeline:
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
        self.held: Held | None = None
        # The frame of its latest clock step (0: none); a time before it is not compared
        # with one after it.
        self.step_frame = 0
        # Clock steps the DBOpenTime of databases showed: (skew, after frame, by frame).
        self.steps: list[tuple[int, int, int]] = []
        self.witnesses: list[Witness] = []
        self.timed: list[Timed] = []  # violations a clock step found later could explain
        # The last record judged, for silences.
        self.last_ticks: int | None = None
        self.last_frame = 0
        self.silence: Silence | None = None

    def key(self, sid: SessionID) -> SessionKey:
        return (self.life_key, sid.Index, sid.SeqNo)

    def life_key_of(self, life: int) -> str:
        # A NUL cannot be in a ServerName (the field is NUL-terminated).
        return self.name if life == 0 else f"{self.name}\0{life}"

    def new_life(self) -> None:
        self.life += 1
        self.life_key = self.life_key_of(self.life)

    # -- restarts ------------------------------------------------------------------------

    def judged(self, number: int, ticks: int, stamp: TimeDate) -> None:
        """A record of the server is judged: a silence before it longer than
        RESTART_SILENCE is remembered (the latest one)."""
        last = self.last_ticks
        if last is not None and ticks - last > RESTART_SILENCE:
            self.silence = Silence(self.last_frame, ticks - last, number, stamp)
        self.last_ticks = ticks
        self.last_frame = number

    def heard_from(self, first_frame: int) -> None:
        """A session first seen at `first_frame` wrote (not a START): if that was before
        the server's silence, a session open before the silence spoke after it."""
        silence = self.silence
        if silence is not None and first_frame < silence.resume_frame:
            silence.old_spoke = True

    def restart(self, conflict: Violation) -> Restart | None:
        """Begin the server's next life at its latest silence, if a restart explains
        `conflict` (no session open before the silence has written since); else None."""
        silence = self.silence
        if silence is None or silence.old_spoke:
            return None
        self.new_life()
        self.silence = None
        return Restart(self.name, silence, conflict)

    # -- clock steps seen from the server's records -------------------------------------

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

    def hold(self, frame: Frame, offset: int | None, number: int, ticks: int) -> bool:
        """Whether the record waits (`held`) for the server's next one to be judged: it is
        earlier than both of the server's two records before it. Otherwise the server saw it."""
        if self.latest is not None and self.steps_back(ticks):
            self.held = Held(frame, offset, number, ticks, self.latest, self.latest_frame)
            return True
        self.saw(ticks, number)
        return False

    def stepped_back(self, held: Held) -> str:
        """The server's records stayed back after `held`: its clock stepped back there.
        The clock runs on from the held record; returns the clock step's line."""
        # The two records before it are history.
        self.before_latest = None
        self.latest = held.ticks
        self.latest_frame = held.number
        self.step_frame = held.number
        return (
            f"at {format_timedate(held.frame.TimeStamp)} (frame {held.number},"
            f" {printable(self.name)}): TimeStamps went back "
            f"{format_ticks(held.latest - held.ticks)}"
            f" from the record before (frame {held.latest_frame}) and carry on from there"
        )

    # -- clock steps seen from databases ------------------------------------------------

    def compare_open_time(
        self,
        session: object,
        last_ticks: int,
        last_frame: int,
        last_open_time: int,
        open_time: int,
        ticks: int,
        frame: int,
    ) -> tuple[Witness, Witness] | None:
        """A database open since its previous DBREC (`last_…`) was open exactly as long as
        their TimeStamps are apart; if not, the server's clock stepped in between.

        Returns two witnesses, of two sessions' databases, that agree on the step (and on
        when): a clock step to name (`clock_stepped`). None otherwise: the witness is kept
        for another session's database to agree with, or the step was named already.
        """
        skew = (ticks - last_ticks) - counter_step(last_open_time, open_time)
        if abs(skew) < DB_CLOCK_SKEW:
            return None
        witness = Witness(session, skew, last_frame, last_ticks, frame)
        for step_skew, after, by in self.steps:
            if abs(step_skew - skew) <= DB_CLOCK_SKEW and max(after, witness.after) < min(
                by, witness.by
            ):
                return None  # one more database across a step already named
        for other in self.witnesses:
            if (
                other.session is not session
                and abs(other.skew - skew) <= DB_CLOCK_SKEW
                and max(other.after, witness.after) < min(other.by, witness.by)
            ):
                self.witnesses.remove(other)
                return other, witness
        self.witnesses.append(witness)
        if len(self.witnesses) > _WITNESSES_KEPT:
            del self.witnesses[0]
        return None

    def clock_stepped(
        self, first: Witness, second: Witness, violations: list[Violation]
    ) -> tuple[int, str]:
        """Two databases show the same clock step: judge no time across it.

        The time violations of `violations` measured across it are withdrawn (and their
        boundaries start afresh). Returns the frame to name the step at and its line.
        """
        latest = first if first.after >= second.after else second
        after, by, skew = latest.after, min(first.by, second.by), first.skew
        self.steps.append((skew, after, by))
        self.step_frame = max(self.step_frame, after + 1)
        back = skew < 0
        kept: list[Timed] = []
        for timed in self.timed:
            violation = timed.violation
            explained = back or violation.rule not in _EXPLAINED_BY_A_STEP_BACK_ONLY
            if explained and timed.since <= after < violation.frame:
                violations.remove(violation)
                if timed.reanchor is not None:
                    timed.reanchor()
            else:
                kept.append(timed)
        self.timed = kept
        amount = format_ticks(abs(skew))
        return after + 1, (
            f"between frames {after} and {by} ({printable(self.name)}): TimeStamps went"
            f" {'back' if back else 'forward'} {amount} after"
            f" {format_timedate(timedate_from_ticks(latest.after_ticks))} (the DBOpenTime of"
            f" databases open across it, in two sessions, grew {amount}"
            f" {'more' if back else 'less'} than their TimeStamps)"
        )
