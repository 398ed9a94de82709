"""The local sinks of a run (`--out`, `--stdout` in JSON or text) and the drain that feeds them."""

from __future__ import annotations

import asyncio
import io
import json

from samples import DB_REC, SERVER, SESSION_REC, STAMP

from simulator.adapters.sinks import (
    BinaryFileSink,
    FrameSink,
    JsonLinesSink,
    NullSink,
    TextLinesSink,
    drain_to_sink,
)
from simulator.domino.billing import SequencedFrame
from simulator.domino.mq import MessageQueue
from simulator.wire.codec import FrameCodec
from simulator.wire.stream import read_frames

CODEC = FrameCodec()
SESSION = CODEC.encode_record(SESSION_REC, SERVER, STAMP)
DATABASE = CODEC.encode_record(DB_REC, SERVER, STAMP)
BATCH: list[SequencedFrame] = [(7, SESSION), (8, DATABASE)]


def test_the_binary_sink_writes_the_frames_back_to_back_as_written() -> None:
    stream = io.BytesIO()
    sink = BinaryFileSink(stream)
    sink.write_batch(BATCH)
    sink.write_batch([(9, SESSION)])
    sink.close()
    data = stream.getvalue()
    assert data == SESSION + DATABASE + SESSION
    assert [frame for _, frame, _ in read_frames(io.BytesIO(data), CODEC)] == [
        SESSION,
        DATABASE,
        SESSION,
    ]


def test_the_json_sink_writes_one_object_a_line_with_its_seq() -> None:
    stream = io.StringIO()
    JsonLinesSink(stream, CODEC).write_batch(BATCH)
    lines = stream.getvalue().splitlines()
    objects = [json.loads(line) for line in lines]
    assert [(o["StructType"], o["seq"]) for o in objects] == [(1, 7), (4001, 8)]
    assert objects[0]["rec"]["Username"] == SESSION_REC.Username
    assert objects[1]["rec"]["DBOpenTime"] == DB_REC.DBOpenTime


def test_the_text_sink_writes_a_date_line_once_a_day_then_a_line_a_frame() -> None:
    stream = io.StringIO()
    sink = TextLinesSink(stream, CODEC)
    sink.write_batch(BATCH)
    sink.write_batch([(9, SESSION)])
    lines = stream.getvalue().splitlines()
    assert lines[0] == "-- 2026-11-21"
    assert len(lines) == 4, lines  # one date line: all three frames are of the same day
    assert [line.rsplit(" ", 1)[-1] for line in lines[1:]] == ["#7", "#8", "#9"]
    assert "session     START" in lines[1] and "database    CLOSE" in lines[2]


def test_the_null_sink_counts_frames_and_bytes() -> None:
    sink = NullSink()
    sink.write_batch(BATCH)
    sink.write_batch([(9, SESSION)])
    assert (sink.frames, sink.bytes) == (3, 2 * len(SESSION) + len(DATABASE))


class _Recording:
    def __init__(self) -> None:
        self.batches: list[list[SequencedFrame]] = []
        self.closed = False

    def write_batch(self, batch: list[SequencedFrame]) -> None:
        assert not self.closed
        self.batches.append(batch)

    def close(self) -> None:
        self.closed = True


async def test_drain_to_sink_moves_every_frame_in_order_then_closes_the_sink() -> None:
    queue: MessageQueue[SequencedFrame] = MessageQueue("MQ$BILLING")
    sink = _Recording()
    checked: FrameSink = sink
    drained = asyncio.create_task(drain_to_sink(queue, checked))
    frames: list[SequencedFrame] = [(seq, SESSION) for seq in range(1, 10_001)]
    for frame in frames:
        queue.put_nowait(frame)
    await asyncio.sleep(0)
    queue.put_nowait((10_001, DATABASE))
    queue.quit()
    assert await asyncio.wait_for(drained, 10) == 10_001
    assert sink.closed
    assert [seq for batch in sink.batches for seq, _ in batch] == list(range(1, 10_002))
    assert len(sink.batches) > 1, "a backlog goes in batches, not one frame at a time"
    assert queue.stats().depth == 0 and queue.held == 0, "a local write holds no quota slot"
