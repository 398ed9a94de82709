"""Local sinks for frames leaving MQ$BILLING: a `.nbf` file, JSON lines, text lines, or nowhere."""

from __future__ import annotations

from operator import itemgetter
from typing import BinaryIO, Protocol, TextIO

from simulator.domino.billing import SequencedFrame
from simulator.domino.mq import MessageQueue, MQQuittingError
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder, dumps_frame, json_or_raw
from simulator.wire.text import TextView

_BATCH = 4096
_second = itemgetter(1)  # a sequenced frame's bytes


class FrameSink(Protocol):
    def write_batch(self, batch: list[SequencedFrame]) -> None: ...

    def close(self) -> None: ...


class BinaryFileSink:
    """Frames back to back, exactly as the server wrote them (the `.nbf` form)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def write_batch(self, batch: list[SequencedFrame]) -> None:
        self.stream.write(b"".join(frame for _, frame in batch))

    def close(self) -> None:
        self.stream.flush()


class JsonLinesSink:
    """The JSON form of each frame, one a line, with its run sequence number."""

    def __init__(self, stream: TextIO, codec: FrameCodec) -> None:
        self.stream = stream
        self.to_json = JsonDecoder(codec)

    def write_batch(self, batch: list[SequencedFrame]) -> None:
        to_json = self.to_json
        self.stream.write(
            "".join(dumps_frame(json_or_raw(to_json, frame, seq)) + "\n" for seq, frame in batch)
        )

    def close(self) -> None:
        self.stream.flush()


class TextLinesSink:
    """`tail`'s one-line view of each frame (and a line when the day changes)."""

    def __init__(self, stream: TextIO, codec: FrameCodec) -> None:
        self.stream = stream
        self.to_json = JsonDecoder(codec)
        self.view = TextView()

    def write_batch(self, batch: list[SequencedFrame]) -> None:
        lines: list[str] = []
        for seq, frame in batch:
            date_line, line = self.view.lines(json_or_raw(self.to_json, frame, seq))
            if date_line is not None:
                lines.append(date_line)
            lines.append(line)
        self.stream.write("\n".join(lines) + "\n")

    def close(self) -> None:
        self.stream.flush()


class NullSink:
    """Counts frames and drops them: for benchmarks of the engine alone."""

    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0

    def write_batch(self, batch: list[SequencedFrame]) -> None:
        self.frames += len(batch)
        # C loops, not a generator's frame per frame: the engine benchmark's sink.
        self.bytes += sum(map(len, map(_second, batch)))

    def close(self) -> None:
        return None


async def drain_to_sink(queue: MessageQueue[SequencedFrame], sink: FrameSink) -> int:
    """Move frames from the queue to a local sink until the queue quits and is empty.

    A local write cannot fail the way a broker can, so frames are not held for an
    acknowledgement: each batch frees its quota slots as it is taken.
    """
    written = 0
    while True:
        batch = queue.get_many_nowait(_BATCH, hold=False)
        if not batch:
            try:
                batch = [await queue.get(hold=False)]
            except MQQuittingError:
                break
        sink.write_batch(batch)
        written += len(batch)
    sink.close()
    return written
