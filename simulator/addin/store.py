"""What the add-in hands a store, and what every store does with it (the store port).

The add-in decodes each received message to its binary frame (a JSON payload is encoded
back to the frame it stands for) and gives the store a `Received`, or a `Rejected` for a
message that is no frame. A store buffers them and makes a batch durable in `commit`;
only then does the add-in acknowledge the batch's messages to the broker, so a store
never loses a frame the broker thinks delivered (at least once). `(server, run, seq)`
identifies a frame: a redelivered one is counted as a duplicate, never stored twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


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


@dataclass(frozen=True, slots=True)
class Committed:
    """What one commit made durable: new frames stored, duplicates ignored, rejects kept,
    and the frames stored by class (`session`, …, `custom`), duplicates left out."""

    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    # Not part of equality: the totals are what a commit is compared by.
    stored_by_class: tuple[tuple[str, int], ...] = field(default=(), compare=False)


class Store(Protocol):
    """A place the add-in writes to (`sqlite:///…`, `postgresql://…`, `nbf:…`)."""

    url: str

    def add(self, item: Received | Rejected) -> None:
        """Buffer one item for the next commit."""

    def commit(self) -> Committed:
        """Make every buffered item durable (one transaction), then forget them."""

    def close(self) -> None:
        """Release the store (nothing buffered is lost: commit first)."""
