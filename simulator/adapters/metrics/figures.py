"""What the metrics endpoint shows, as plain data: a server's figures, the add-in's, and
a flat form of a server's figures in 64-bit slots, shared between processes.

Figures are immutable snapshots, made on the event loop's thread (where the counters
change) and read by the endpoint's thread at a scrape: handing over a whole new object
is atomic, so a scrape never sees a half-updated server. A domain run's child processes
post their servers' figures into shared slots (`FiguresLayout`) that the parent, which
serves the one endpoint of the domain, reads back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from simulator.adapters.metrics.histogram import (
    LATENCY_BOUNDS_US,
    MICROSECONDS_PER_SECOND,
    HistogramSnapshot,
)

_US_PER_S: Final = 1_000_000


@dataclass(frozen=True)
class DrainFigures:
    """One server's MQTT drain: frames published (first time), delivered (acknowledged, at
    QoS 0 written), resent after a lost connection, refused by the broker, in flight (taken
    from MQ$BILLING, not yet acknowledged), and the publish-to-ack latency."""

    published: int
    delivered: int
    resent: int
    refused: int
    in_flight: int
    ack_latency: HistogramSnapshot


@dataclass(frozen=True)
class ServerFigures:
    """One emulated server: its records by class, MQ$BILLING's depth and drops, the virtual
    time (Unix seconds), and its drain (None: frames go to a file, or none yet)."""

    server: str  # the common name, as in the MQTT topics
    records: Mapping[str, int]
    queue_depth: int
    dropped: int
    virtual_time: float
    drain: DrainFigures | None = None


@dataclass(frozen=True)
class AddinServerFigures:
    """What the add-in committed of one server (the common name of its topics; `""` for
    the rejects whose topic named none): frames stored by class (duplicates left out),
    frames committed (deliveries, duplicates included), duplicates, rejects, and the
    end-to-end (publish-to-commit) latency of its frames."""

    server: str
    stored: Mapping[str, int]
    committed: int
    duplicates: int
    rejects: int
    latency: HistogramSnapshot


@dataclass(frozen=True)
class AddinFigures:
    """The add-in: each server's figures (in the order first seen), the messages received
    and not yet acknowledged, and commit batch sizes (the last two are the add-in's own:
    a batch mixes servers)."""

    servers: tuple[AddinServerFigures, ...]
    unacknowledged: int
    batch_frames: HistogramSnapshot


class Slots(Protocol):
    """64-bit integers by index: an `array('q')`, or a shared `RawArray('q', n)`."""

    def __getitem__(self, index: int, /) -> int: ...

    def __setitem__(self, index: int, value: int, /) -> None: ...


class FiguresLayout:
    """Where each figure of a server sits in a run of slots, for a fixed list of record
    classes (a domain's servers share one scenario, so they share the list).

    Per server: a flag (posted yet), one slot per class, queue depth, drops, virtual µs,
    a flag (has a drain), published, delivered, resent, refused, in flight, then the
    latency histogram's bucket counts and its sum in µs. Each slot is written whole (an
    aligned 64-bit store), so a reader in another process sees every counter rise, never
    a torn value; figures of one server may be a moment apart, which a scrape tolerates.
    """

    _HEAD = 1  # posted
    _QUEUE = 3  # depth, dropped, virtual µs
    _DRAIN = 6  # has a drain, published, delivered, resent, refused, in flight

    def __init__(self, classes: Sequence[str]) -> None:
        self.classes = tuple(classes)
        self._buckets = len(LATENCY_BOUNDS_US) + 1
        self.size = self._HEAD + len(self.classes) + self._QUEUE + self._DRAIN + self._buckets + 1

    def slots_for(self, servers: int) -> int:
        return self.size * servers

    def write(self, slots: Slots, index: int, figures: ServerFigures) -> None:
        """Post a server's figures at its place; a class not in the layout is left out."""
        at = index * self.size + self._HEAD
        records = figures.records
        for name in self.classes:
            slots[at] = records.get(name, 0)
            at += 1
        slots[at] = figures.queue_depth
        slots[at + 1] = figures.dropped
        slots[at + 2] = round(figures.virtual_time * _US_PER_S)
        at += self._QUEUE
        drain = figures.drain
        if drain is not None:
            slots[at + 1] = drain.published
            slots[at + 2] = drain.delivered
            slots[at + 3] = drain.resent
            slots[at + 4] = drain.refused
            slots[at + 5] = drain.in_flight
            latency = drain.ack_latency
            at_buckets = at + self._DRAIN
            for offset, count in enumerate(latency.counts):
                slots[at_buckets + offset] = count
            slots[at_buckets + self._buckets] = round(latency.sum * MICROSECONDS_PER_SECOND)
            slots[at] = 1
        slots[index * self.size] = 1

    def read(self, slots: Slots, index: int, server: str) -> ServerFigures | None:
        """A server's figures as last posted; None before its first post."""
        base = index * self.size
        if not slots[base]:
            return None
        at = base + self._HEAD
        records = {}
        for name in self.classes:
            count = slots[at]
            if count:
                records[name] = count
            at += 1
        depth, dropped, virtual_us = slots[at], slots[at + 1], slots[at + 2]
        at += self._QUEUE
        drain = None
        if slots[at]:
            at_buckets = at + self._DRAIN
            counts = tuple(slots[at_buckets + offset] for offset in range(self._buckets))
            latency = HistogramSnapshot(
                tuple(bound / MICROSECONDS_PER_SECOND for bound in LATENCY_BOUNDS_US),
                counts,
                slots[at_buckets + self._buckets] / MICROSECONDS_PER_SECOND,
            )
            drain = DrainFigures(
                published=slots[at + 1],
                delivered=slots[at + 2],
                resent=slots[at + 3],
                refused=slots[at + 4],
                in_flight=slots[at + 5],
                ack_latency=latency,
            )
        return ServerFigures(server, records, depth, dropped, virtual_us / _US_PER_S, drain)
