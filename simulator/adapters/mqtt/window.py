"""The in-flight window of the drain: which frames are published and unacknowledged,
which wait to be (re)published, and what an acknowledgement releases.

Sans-IO: no sockets, no asyncio, no gmqtt. The drain asks how much ``room`` there is,
records each PUBLISH with ``published(packet_id, …)`` (new frames of one write together:
``published_new``), passes each PUBACK to ``ack`` (those of one socket read that took
their message together: ``acked``) and a lost connection to ``lose``; this class keeps
the order and the counts.

Order is what it guards: frames wait in the order they were taken from the queue; a lost
connection puts every unacknowledged frame back in front of them, in publish order, so
after a reconnect the same frames (same seq) go out again, first and in order, before any
new frame, each with the time of its first publish (the ``sent`` property), which the
window keeps with it. Acks may come in any order: each releases its own frame, and the
rest keep their publish order.

Stalls: ``watch(now, after)``, called now and then with a monotonic clock, says when
frames have waited ``after`` seconds without a single PUBACK (``Stalled``, once per
stall) and when acks come again (``Resumed``). It counts acks, so a PUBACK costs
nothing more.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Final, NamedTuple, cast

from simulator.domino.billing import SequencedFrame

REFUSED_FROM: Final = 0x80
"""PUBACK reason codes from here up say the broker did not accept the message."""

_SENT: Final = itemgetter(1)  # of a published frame's (item, sent)


class Waiting(NamedTuple):
    """A frame taken from the queue and not yet (re)published. ``sent``: None until its
    first publish, then the wall-clock time of that publish (microseconds since the Unix
    epoch), which a resend after a lost connection carries again. (A tuple: the drain
    makes one per frame.)"""

    item: SequencedFrame
    sent: int | None = None


class Ack(NamedTuple):
    """What a PUBACK released: the frame, the reason code (whether the broker took it) and
    the frame's first publish time (µs since the Unix epoch), from which the drain measures
    publish-to-ack. (A tuple: one is made per acknowledged frame.)"""

    item: SequencedFrame
    reason: int
    sent: int

    @property
    def delivered(self) -> bool:
        return self.reason < REFUSED_FROM


class Stalled(NamedTuple):
    """Delivery stopped: ``in_flight`` frames wait (published or not) and no PUBACK came
    for ``quiet_for`` seconds."""

    in_flight: int
    quiet_for: float


class Resumed(NamedTuple):
    """Acks came again after a stall of ``stalled_for`` seconds without any (counted from
    the last ack before it); ``in_flight`` frames still wait."""

    stalled_for: float
    in_flight: int


class InFlightWindow:
    """At most ``size`` frames published and unacknowledged; the others wait, in order.

    Counters: ``first_publishes`` (frames published the first time), ``delivered`` and
    ``refused`` (acks by reason code), ``resent`` (frames published again after a lost
    connection).
    """

    def __init__(self, requested: int) -> None:
        if requested < 1:
            raise ValueError(f"a window of at least 1 frame, not {requested}")
        self.requested = requested
        self.size = 1  # until a connection says how many packet ids the broker allows
        # packet id -> the frame and its first publish time, in publish order
        self._published: dict[int, tuple[SequencedFrame, int]] = {}
        self._waiting: deque[Waiting] = deque()
        self.first_publishes = 0
        self.delivered = 0
        self.refused = 0
        self.resent = 0
        # watch(): acks counted at the last look, when they last moved (or nothing
        # waited), and whether a stall has been reported
        self._acks_seen = 0
        self._moved_at: float | None = None
        self._stalled = False

    def open(self, packet_ids: int) -> int:
        """Size the window for a new connection on which ``packet_ids`` ids may be in use
        at once (the broker's Receive Maximum, as the client library counts it). One id
        is kept for status messages, the control subscription and replies; the window
        is never below one frame. Returns the size."""
        self.size = min(self.requested, max(1, packet_ids - 1))
        return self.size

    # -- state ---------------------------------------------------------------------------

    @property
    def unacknowledged(self) -> int:
        """Frames published on the current connection and not yet acknowledged."""
        return len(self._published)

    @property
    def waiting(self) -> int:
        """Frames taken from the queue that wait to be (re)published."""
        return len(self._waiting)

    @property
    def in_flight(self) -> int:
        """Frames taken from the queue and not yet acknowledged, published or not."""
        return len(self._published) + len(self._waiting)

    def room(self, free_packet_ids: int) -> int:
        """How many frames may be published now: what the window has left, within the
        packet ids the client has free."""
        return max(0, min(self.size - len(self._published), free_packet_ids))

    def published_seqs(self) -> list[int]:
        """The seq of each unacknowledged frame, in publish order."""
        return [seq for (seq, _frame), _sent in self._published.values()]

    # -- frames out ----------------------------------------------------------------------

    def wait(self, item: SequencedFrame) -> None:
        """A frame taken from the queue that cannot be published yet: after the others."""
        self._waiting.append(Waiting(item))

    def next_waiting(self, count: int) -> list[Waiting]:
        """Take up to ``count`` waiting frames, the oldest first."""
        take = min(count, len(self._waiting))
        return [self._waiting.popleft() for _ in range(take)]

    def put_back(self, entries: Iterable[Waiting]) -> None:
        """Frames taken (by ``next_waiting`` or from the queue) but not written: they
        go back in front, in their order."""
        self._waiting.extendleft(reversed(list(entries)))

    def published(self, packet_id: int, entry: Waiting, sent: int) -> None:
        """A frame was written with this packet id, stamped ``sent`` (``entry.sent`` if it
        went out before); it counts against the window until its PUBACK."""
        if packet_id in self._published:
            raise ValueError(f"packet id {packet_id} is already in flight")
        self._published[packet_id] = (entry.item, sent)
        if entry.sent is None:
            self.first_publishes += 1
        else:
            self.resent += 1

    def published_new(
        self, packet_ids: Sequence[int], items: Sequence[SequencedFrame], sent: int
    ) -> None:
        """Frames taken from the queue were written the first time, all stamped ``sent``,
        the n-th with the n-th packet id: ``published`` for each, in one call."""
        if len(packet_ids) != len(items):
            raise ValueError(f"{len(packet_ids)} packet ids for {len(items)} frames")
        in_flight = self._published
        if not in_flight.keys().isdisjoint(packet_ids):
            raise ValueError(f"a packet id of {list(packet_ids)} is already in flight")
        in_flight.update(zip(packet_ids, zip(items, repeat(sent), strict=False), strict=True))
        self.first_publishes += len(items)

    # -- what comes back -----------------------------------------------------------------

    def ack(self, packet_id: int, reason: int = 0) -> Ack | None:
        """A PUBACK: the frame it releases (delivered below reason 0x80, else refused), or
        None for a packet id that is not a frame in flight (a status message, a duplicate,
        an ack from before a reconnect)."""
        in_flight = self._published.pop(packet_id, None)
        if in_flight is None:
            return None
        if reason < REFUSED_FROM:
            self.delivered += 1
        else:
            self.refused += 1
        return Ack(in_flight[0], reason, in_flight[1])

    def acked(
        self, packet_ids: Iterable[int], sent: list[int] | None = None
    ) -> tuple[int, list[int]]:
        """PUBACKs that took their message (reason code below 0x80), as ``ack`` would take
        them one by one: how many frames they release (each counted delivered, its first
        publish time appended to ``sent`` when given), and the packet ids that are not a
        frame in flight, in the order given."""
        in_flight = self._published
        ids = packet_ids if isinstance(packet_ids, list) else list(packet_ids)
        before = len(in_flight)
        # The pops in one C loop (map), not a bytecode loop an ack: when the dict lost as
        # many entries as there are ids, each id released a frame (the usual case).
        popped = list(map(in_flight.pop, ids, repeat(None)))
        released = before - len(in_flight)
        others: list[int] = []
        if released != len(ids):
            others = [packet_id for packet_id, got in zip(ids, popped, strict=True) if got is None]
            popped = [got for got in popped if got is not None]
        if sent is not None:
            sent.extend(map(_SENT, cast(list[tuple[SequencedFrame, int]], popped)))
        self.delivered += released
        return released, others

    def lose(self) -> int:
        """The connection is gone: every unacknowledged frame goes back in front of the
        waiting ones, in publish order, to be published again. Returns how many."""
        lost = len(self._published)
        if lost:
            self.put_back(Waiting(item, sent) for item, sent in self._published.values())
            self._published.clear()
        return lost

    # -- stalls ---------------------------------------------------------------------------

    def watch(self, now: float, after: float) -> Stalled | Resumed | None:
        """Look at delivery at ``now`` (seconds, a monotonic clock): ``Stalled`` the first
        time frames have waited ``after`` seconds or more since the last ack (or since
        they began to wait), ``Resumed`` at the first look that finds acks after a stall,
        None otherwise. Look every second or so: a stall is seen within that of
        ``after``."""
        acks = self.delivered + self.refused
        if self._moved_at is None or acks != self._acks_seen or not self.in_flight:
            last, self._moved_at, self._acks_seen = self._moved_at, now, acks
            if self._stalled and last is not None:
                self._stalled = False
                return Resumed(now - last, self.in_flight)
            return None
        if not self._stalled and now - self._moved_at >= after:
            self._stalled = True
            return Stalled(self.in_flight, now - self._moved_at)
        return None
