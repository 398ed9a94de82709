"""What `billsim check` finds: the rules a stream can break (`Rule`), a `Violation` of one,
what it names without counting it a violation (`EventKind`, `Event`: docs/lifecycles.md
#what-check-names), and the `CheckReport` of a stream that holds them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from simulator.errors import EXIT_FAILED, EXIT_OK

# Events listed per kind; the rest are counted (a run with `wrap` wraps every session).
EVENTS_LISTED = 10


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
    UNREADABLE_RECORD = "unreadable-record"


class EventKind(StrEnum):
    """What a real server does that a finished run never shows: named, not a violation."""

    SERVER_RESTART = "server restart"
    COUNTER_WRAP = "counter wrap"
    CLOCK_STEP = "clock step"
    REPEATED_FRAME = "repeated frame"

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
