"""BillingWrite: class filtering, header filling and encoding of each record the server bills."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from simulator.codec import FrameCodec
from simulator.records import Record
from simulator.timedate import VirtualTimeStamper

# (seq, frame bytes): the run's frame number travels with the frame to every sink.
SequencedFrame = tuple[int, bytes]
FrameSink = Callable[[SequencedFrame], None]


class BillingWriter:
    """Writes records as BILLMSG frames to a sink, as Domino's BillingWrite does.

    The class mask is read at every write, so a BillingClass changed at run time
    applies from the next record on. The server model decides *whether* a record is
    due; this decides only whether its class is billed and what its header says.
    """

    __slots__ = (
        "by_struct_type",
        "class_mask",
        "codec",
        "frames",
        "server_name",
        "sink",
        "stamp",
        "ticks",
    )

    def __init__(
        self,
        codec: FrameCodec,
        server_name: str,
        start: datetime,
        class_mask: int,
        sink: FrameSink,
    ) -> None:
        self.codec = codec
        self.server_name = server_name
        self.class_mask = class_mask
        self.sink = sink
        stamper = VirtualTimeStamper(start)
        self.stamp = stamper
        self.ticks = stamper.ticks
        self.frames = 0
        # (struct type, action or type) → frames written; the summary's "records by type".
        self.by_struct_type: Counter[tuple[int, int]] = Counter()

    def write(self, rec: Record, now: int, *, bill_class: int, detail: int = 0) -> bool:
        """Bill `rec` at virtual time `now` if its class is on; True when a frame was written."""
        if not self.class_mask & bill_class:
            return False
        kind_codec = self.codec.by_python_type[type(rec)]
        kind = kind_codec.kind
        frame = kind_codec.encode(kind.struct_type, bill_class, self.server_name, self.stamp(now), rec)
        self.frames += 1
        self.by_struct_type[kind.struct_type, detail] += 1
        self.sink((self.frames, frame))
        return True

    def write_custom(self, struct_type: int, bill_class: int, rec: Record, now: int) -> bool:
        """A scenario-declared record type, encoded by the codec's table for `struct_type`."""
        if not self.class_mask & bill_class:
            return False
        kind_codec = self.codec.by_struct_type[struct_type]
        frame = kind_codec.encode(struct_type, bill_class, self.server_name, self.stamp(now), rec)
        self.frames += 1
        self.by_struct_type[struct_type, 0] += 1
        self.sink((self.frames, frame))
        return True
