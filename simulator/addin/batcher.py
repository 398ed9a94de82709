"""Batches of received messages, each committed before any of its messages is acknowledged.

The add-in acknowledges a frame (its PUBACK) only once the store transaction holding it
has committed, so a crash at any instant leaves every unacknowledged frame at the broker,
to be delivered again. The `Batcher` commits by group commit: one batch commits at a
time, and while it does the next one gathers what arrives; once the stores are free, that
batch is handed out as soon as it holds `max_items` stored items or its first message is
`max_wait` seconds old. So on a quiet stream a frame waits `max_wait` (10 ms) for company
before its commit; under load each commit takes what arrived during the one before, and
batches grow with the rate and the time a commit takes, up to `max_items` (more waits for
the batch after). The short wait halves the commits at a few thousand frames a second
against committing whatever is there the moment the stores are free: each commit costs
the add-in a fixed ~0.3 ms of CPU (SQLite's fsync of its WAL alone), the same for one
frame as for a hundred.

A batch is never handed out before the previous one has committed, and the
acknowledgements come back in the order the messages were received (MQTT requires
PUBACKs in receive order). A message that is stored nowhere (a status or stats message on
a subscribed topic) still waits its turn for its acknowledgement, but not for company.
Sans-IO: the caller supplies the time and the acknowledgement tokens, and does the
committing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from simulator.addin.store import Received, Rejected

MAX_BATCH_ITEMS: Final = 1_000
MAX_BATCH_WAIT: Final = 0.01  # seconds a batch gathers while the stores are free

Ack = TypeVar("Ack")


@dataclass
class Batch(Generic[Ack]):
    """Items to store in one transaction, and the acknowledgements, in receive order, of
    every message received while it was open (stored or not)."""

    opened: float
    items: list[Received | Rejected] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)


class Batcher(Generic[Ack]):
    def __init__(self, max_items: int = MAX_BATCH_ITEMS, max_wait: float = MAX_BATCH_WAIT) -> None:
        if max_items < 1 or max_wait < 0:
            raise ValueError(
                f"a batch needs max_items >= 1 and max_wait >= 0, not {max_items}, {max_wait}"
            )
        self.max_items = max_items
        self.max_wait = max_wait
        self._full: deque[Batch[Ack]] = deque()
        self._open: Batch[Ack] | None = None
        self._committing: Batch[Ack] | None = None

    def add(self, item: Received | Rejected | None, ack: Ack, now: float) -> bool:
        """One message received at `now`: `item` to store (None: nothing to store), and
        the token that acknowledges it. True when `due_at` moved (a batch opened or
        filled): a caller waiting for it looks again."""
        batch = self._open
        opened = batch is None
        if batch is None:
            batch = self._open = Batch(opened=now)
        if item is not None:
            batch.items.append(item)
        batch.acks.append(ack)
        if len(batch.items) >= self.max_items:
            self._full.append(batch)
            self._open = None
            return True
        return opened

    @property
    def waiting(self) -> int:
        """Messages received and not yet acknowledged (in batches not yet committed)."""
        batches = [*self._full, self._open, self._committing]
        return sum(len(batch.acks) for batch in batches if batch is not None)

    @property
    def committing(self) -> bool:
        return self._committing is not None

    def due_at(self) -> float | None:
        """When the next batch may be handed out, the stores being free (None: no batch
        waits): a full one at once, the open one `max_wait` after its first message, or at
        once if it has nothing to store (only acknowledgements wait in it)."""
        if self._full:
            return self._full[0].opened
        if self._open is None:
            return None
        return self._open.opened + self.max_wait if self._open.items else self._open.opened

    def take(self, now: float, *, flush: bool = False) -> Batch[Ack] | None:
        """The next batch to commit, if one is due at `now` (or, with `flush`, whatever is
        open) and no batch is being committed; None otherwise. Hand it back to
        `committed` once every store has committed it."""
        if self._committing is not None:
            return None
        if self._full:
            batch = self._full.popleft()
        elif self._open is not None:
            due = self.due_at()
            if not flush and (due is None or now < due):
                return None
            batch, self._open = self._open, None
        else:
            return None
        self._committing = batch
        return batch

    def committed(self, batch: Batch[Ack]) -> list[Ack]:
        """The batch is durable in every store: its acknowledgements, in receive order."""
        if batch is not self._committing:
            raise ValueError("not the batch being committed")
        self._committing = None
        return batch.acks
