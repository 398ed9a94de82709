"""BillingWrite: class filtering, header filling and encoding of each record the server bills."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from simulator.wire.codec import FrameCodec
from simulator.wire.records import Record
from simulator.wire.timedate import (
    MICROSECONDS_PER_TICK,
    TICKS_PER_DAY,
    TimeDate,
    VirtualTimeStamper,
)

# (seq, frame bytes): the run's frame number travels with the frame to every sink.
SequencedFrame = tuple[int, bytes]
# Where BillingWrite hands a frame on: MQPut into MQ$BILLING (sinks read from there).
PutFrame = Callable[[SequencedFrame], None]


class BillingWriter:
    """Writes records as BILLMSG frames into MQ$BILLING (`put`), as Domino's BillingWrite does.

    The class mask is read at every write, so a BillingClass changed at run time
    applies from the next record on. The server model decides *whether* a record is
    due; this decides only whether its class is billed and what its header says.
    """

    __slots__ = (
        "_counts",
        "_day",
        "_day_end_tick",
        "_day_start_tick",
        "_encoders",
        "_stamp_call",
        "_stamp_now",
        "_stamp_value",
        "class_mask",
        "codec",
        "frames",
        "put",
        "server_name",
        "stamp",
        "tick_base_us",
        "ticks",
    )

    def __init__(
        self,
        codec: FrameCodec,
        server_name: str,
        start: datetime,
        class_mask: int,
        put: PutFrame,
    ) -> None:
        self.codec = codec
        self.server_name = server_name
        self.class_mask = class_mask
        self.put = put
        stamper = VirtualTimeStamper(start)
        self.stamp = stamper
        self.ticks = stamper.ticks
        # ticks(v) is (tick_base_us + v) // MICROSECONDS_PER_TICK, for hot paths to work out.
        self.tick_base_us = stamper.base_us
        # The bound method: calling the stamper object itself goes through its type's
        # __call__ slot, a noticeable part of a write.
        self._stamp_call = stamper.__call__
        self.frames = 0
        # struct type → action or type → frames written (see by_struct_type): one small
        # dict per type, so a write counts without making a (type, detail) key.
        self._counts: dict[int, dict[int, int]] = {}
        self._encoders = {
            python_type: (
                kind_codec.encode,
                kind_codec.kind.struct_type,
                self._counts.setdefault(kind_codec.kind.struct_type, {}),
            )
            for python_type, kind_codec in codec.by_python_type.items()
        }
        # Several records of one event share its instant: stamp it once.
        self._stamp_now = -1
        self._stamp_value = stamper(0)
        # write_values's own copy of the stamper's day (VirtualTimeStamper.__call__).
        self._day = -1
        self._day_start_tick = 0
        self._day_end_tick = 0

    def skip_encoding(self) -> None:
        """For a dry run, which checks the script's state and never looks at a frame:
        records are still filtered by class, stamped and counted, and handed on as empty
        frames (encoding them was a seventh of a dry run's time). Custom records are
        still encoded."""
        self._encoders = {
            python_type: (_no_frame, struct_type, counts)
            for python_type, (_encode, struct_type, counts) in self._encoders.items()
        }

    @property
    def by_struct_type(self) -> dict[tuple[int, int], int]:
        """(struct type, action or type) → frames written; the summary's "records by type"."""
        return {
            (struct_type, detail): count
            for struct_type, counts in self._counts.items()
            for detail, count in counts.items()
        }

    def stamp_at(self, now: int) -> TimeDate:
        """The TIMEDATE of `now`, the one the header of a record written at `now` gets (a
        record that names its own instant, as a routed message's PostedDate, shares it)."""
        if now != self._stamp_now:
            self._stamp_now = now
            self._stamp_value = self._stamp_call(now)
        return self._stamp_value

    def write(self, rec: Record, now: int, bill_class: int, detail: int = 0) -> bool:
        """Bill `rec` at virtual time `now` if its class is on; True when a frame was written."""
        if not self.class_mask & bill_class:
            return False
        encode, struct_type, counts = self._encoders[type(rec)]
        if now != self._stamp_now:
            self._stamp_now = now
            self._stamp_value = self._stamp_call(now)
        frame = encode(struct_type, bill_class, self.server_name, self._stamp_value, rec)
        frames = self.frames = self.frames + 1
        try:  # (see write_values)
            counts[detail] += 1
        except KeyError:
            counts[detail] = 1
        self.put((frames, frame))
        return True

    def write_values(
        self, kind: type[Record], values: tuple[Any, ...], now: int, bill_class: int, detail: int
    ) -> bool:
        """`write` of the `kind` record of `values` (its fields in order), without making the
        record: the session and database records of every action, whose NamedTuple's
        making and freeing cost more than a plain tuple's."""
        if not self.class_mask & bill_class:
            return False
        encode, struct_type, counts = self._encoders[kind]
        if now != self._stamp_now:
            self._stamp_now = now
            # self._stamp_call(now), inline (a call an instant): this writer's stamp is
            # always its VirtualTimeStamper's. (A FaultingWriter's, which `restamp` may
            # replace, writes through `write`, which calls it.)
            tick = (self.tick_base_us + now) // _US_PER_TICK
            if not self._day_start_tick <= tick < self._day_end_tick:
                day = self._day = tick // _TICKS_PER_DAY
                start = self._day_start_tick = day * _TICKS_PER_DAY
                self._day_end_tick = start + _TICKS_PER_DAY
            self._stamp_value = _new_tuple(TimeDate, (tick - self._day_start_tick, self._day))
        # A generated encoder only unpacks its record (and an error shows it as a tuple):
        # the plain tuple does as well.
        frame = encode(struct_type, bill_class, self.server_name, self._stamp_value, values)  # type: ignore[arg-type]
        frames = self.frames = self.frames + 1
        # A subscript in a try (free in 3.11 while nothing is raised), not `.get`, a
        # method call: once a record.
        try:
            counts[detail] += 1
        except KeyError:
            counts[detail] = 1
        self.put((frames, frame))
        return True

    def write_custom(self, struct_type: int, bill_class: int, rec: Record, now: int) -> bool:
        """A scenario-declared record type, encoded by the codec's table for `struct_type`."""
        if not self.class_mask & bill_class:
            return False
        kind_codec = self.codec.by_struct_type[struct_type]
        frame = kind_codec.encode(struct_type, bill_class, self.server_name, self.stamp(now), rec)
        self.frames += 1
        counts = self._counts.setdefault(struct_type, {})
        counts[0] = counts.get(0, 0) + 1
        self.put((self.frames, frame))
        return True


_US_PER_TICK = MICROSECONDS_PER_TICK
_TICKS_PER_DAY = TICKS_PER_DAY
_new_tuple = tuple.__new__


def _no_frame(*_: object) -> bytes:
    return b""
