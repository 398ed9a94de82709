"""What the add-in hands a store, and what every store does with it (the store port).

The add-in decodes each received message to its binary frame (a JSON payload is encoded
back to the frame it stands for) and gives the store a `Received`, or a `Rejected` for a
message that is no frame. A store buffers them and makes a batch durable in `commit`;
only then does the add-in acknowledge the batch's messages to the broker, so a store
never loses a frame the broker thinks delivered (at least once). `(server, run, seq)`
identifies a frame: a redelivered one is counted as a duplicate, never stored twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol


# Received and its Message (intake.py) are made once per frame: not frozen, as a frozen
# dataclass's __init__ costs five times as much; nobody changes one once made.
@dataclass(slots=True)
class Received:
    """One frame as it arrived: the server's common name, the run id and seq (MQTT 5 user
    properties; None when the broker carried none), the topic, the frame's bytes,
    the `sent` property (µs since the epoch, None if absent) and when it arrived (µs);
    `frame_row`: the frame as the intake read it (a `simulator.addin.rows.FrameRow`), so
    that a store need not read it again; None: a store reads `frame` itself."""

    server: str
    run: str | None
    seq: int | None
    topic: str
    frame: bytes
    sent_us: int | None
    received_us: int
    # Not part of equality: it says nothing the frame does not.
    frame_row: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that is no frame the add-in can read: kept with the reason, never dropped."""

    server: str | None
    run: str | None
    seq: int | None
    topic: str
    payload: bytes
    reason: str
    received_us: int


# A reject's server when its topic named none (Prometheus reads an empty label as none).
NO_SERVER: Final = ""


@dataclass(frozen=True, slots=True)
class Committed:
    """What one commit made durable: new frames stored, duplicates ignored, rejects kept;
    and the same by server (the topic's common name): frames stored by server and class
    (`session`, …, `custom`; duplicates left out), duplicates by server, rejects by server
    (`NO_SERVER` for a message whose topic named none). `tallied` makes one from counts."""

    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    # Not part of equality: the totals are what a commit is compared by.
    stored_by: tuple[tuple[tuple[str, str], int], ...] = field(default=(), compare=False)
    duplicates_by: tuple[tuple[str, int], ...] = field(default=(), compare=False)
    rejected_by: tuple[tuple[str, int], ...] = field(default=(), compare=False)

    @classmethod
    def tallied(
        cls,
        stored: Mapping[tuple[str, str], int],
        duplicates: Mapping[str, int] | None = None,
        rejected: Mapping[str, int] | None = None,
    ) -> Committed:
        """A commit's counts from what it stored by (server, class), its duplicates and
        rejects by server; counts of 0 are left out."""
        duplicates = duplicates or {}
        rejected = rejected or {}
        return cls(
            sum(stored.values()),
            sum(duplicates.values()),
            sum(rejected.values()),
            tuple(sorted((key, n) for key, n in stored.items() if n)),
            tuple(sorted((key, n) for key, n in duplicates.items() if n)),
            tuple(sorted((key, n) for key, n in rejected.items() if n)),
        )

    @property
    def stored_by_class(self) -> tuple[tuple[str, int], ...]:
        """Frames stored by class, every server's together."""
        by_class: dict[str, int] = {}
        for (_server, name), count in self.stored_by:
            by_class[name] = by_class.get(name, 0) + count
        return tuple(sorted(by_class.items()))


class Store(Protocol):
    """A place the add-in writes to (`sqlite:///…`, `postgresql://…`, `nbf:…`)."""

    url: str

    def add(self, item: Received | Rejected) -> None:
        """Buffer one item for the next commit."""

    def commit(self) -> Committed:
        """Make every buffered item durable (one transaction), then forget them."""

    def close(self) -> None:
        """Release the store (nothing buffered is lost: commit first)."""
