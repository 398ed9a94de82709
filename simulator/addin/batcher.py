"""Batches of received messages, each committed before any of its messages is acknowledged.

The add-in acknowledges a frame (its PUBACK) only once the store transaction holding it
has committed, so a crash at any instant leaves every unacknowledged frame at the broker,
to be delivered again. The `Batcher` commits by group commit: a batch is handed out as
soon as the store is free, holding whatever arrived since the last one was handed out
(at most `max_items` stored items; more waits for the batch after). While one batch
commits, the next gathers: on an idle stream a frame is committed at once, on its own;
under load each commit takes what arrived during the one before, so batches grow with
the rate and the time a commit takes, up to `max_items`, and a frame waits at most for
the commit ahead of it. No batch waits out a timer: a timer would cost every frame its
wait on a quiet stream, and cap the add-in's rate at a batch a timer's length where the
broker lets a client hold few messages unacknowledged (mosquitto's default: 20).

A batch is never handed out before the previous one has committed, and the
acknowledgements come back in the order the messages were received (MQTT requires
PUBACKs in receive order). A message that is stored nowhere (a status or stats message on
a subscribed topic) still waits its turn for its acknowledgement. Sans-IO: the caller
supplies the acknowledgement tokens, and does the committing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from simulator.addin.store import Received, Rejected

# Half the QoS 1 messages a broker has in flight to one client (queue/mosquitto.conf's
# max_inflight_messages, 1,000): the add-in holds every message of a batch unacknowledged
# until it commits, so a batch of the whole window would stop the broker sending until the
# commit ends, and the receiving and the committing would take turns. With half, the next
# batch arrives while one commits.
MAX_BATCH_ITEMS: Final = 500
# What the add-in holds unacknowledged at most (it stops reading past that): one batch
# committing, the next gathering.
MAX_UNACKNOWLEDGED: Final = 2 * MAX_BATCH_ITEMS

Ack = TypeVar("Ack")


@dataclass
class Batch(Generic[Ack]):
    """Items to store in one transaction, and the acknowledgements, in receive order, of
    every message received while it was open (stored or not)."""

    items: list[Received | Rejected] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)


class Batcher(Generic[Ack]):
    def __init__(self, max_items: int = MAX_BATCH_ITEMS) -> None:
        if max_items < 1:
            raise ValueError(f"a batch needs max_items >= 1, not {max_items}")
        self.max_items = max_items
        self._full: deque[Batch[Ack]] = deque()
        self._open: Batch[Ack] | None = None
        self._committing: Batch[Ack] | None = None

    def add(self, item: Received | Rejected | None, ack: Ack) -> bool:
        """One message received: `item` to store (None: nothing to store), and the token
        that acknowledges it. True when it opened a batch where none was waiting: a
        committer idle for want of one looks again."""
        batch = self._open
        opened = batch is None and not self._full
        if batch is None:
            batch = self._open = Batch()
        if item is not None:
            batch.items.append(item)
        batch.acks.append(ack)
        if len(batch.items) >= self.max_items:
            self._full.append(batch)
            self._open = None
        return opened

    def add_all(self, items: Sequence[Received | Rejected | None], acks: Sequence[Ack]) -> bool:
        """`add` of each message, in order: ``items[i]`` acknowledged by ``acks[i]``."""
        if not acks:
            return False
        batch = self._open
        opened = batch is None and not self._full
        if batch is None:
            batch = self._open = Batch()
        stored, waiting, most = batch.items, batch.acks, self.max_items
        for item, ack in zip(items, acks, strict=True):
            waiting.append(ack)
            if item is not None:
                stored.append(item)
                if len(stored) >= most:
                    self._full.append(batch)
                    batch = self._open = Batch()
                    stored, waiting = batch.items, batch.acks
        if not waiting:
            self._open = None
        return opened

    @property
    def waiting(self) -> int:
        """Messages received and not yet acknowledged (in batches not yet committed)."""
        batches = [*self._full, self._open, self._committing]
        return sum(len(batch.acks) for batch in batches if batch is not None)

    @property
    def committing(self) -> bool:
        return self._committing is not None

    def take(self) -> Batch[Ack] | None:
        """The next batch to commit: the oldest full one, else whatever is open; None while
        a batch is being committed or when nothing waits. Hand it back to `committed`
        once every store has committed it."""
        if self._committing is not None:
            return None
        if self._full:
            batch = self._full.popleft()
        elif self._open is not None:
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
