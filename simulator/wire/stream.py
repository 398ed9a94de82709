"""Frames back to back (the `.nbf` form) to JSON lines: the logic behind `billsim decode`.

The stream is read in chunks, never whole, so a live pipe decodes as it arrives. A frame
that cannot be read stops the decoding with an `InputError` naming its byte offset; the
frames before it have been written by then. A frame of an unknown struct type (neither
built-in nor in the custom range) is written as its header plus `raw`, reported, and
the decoding goes on: its `Len` says where the next frame starts.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

from simulator.errors import InputError
from simulator.wire.codec import FrameCodec, FrameError, is_custom_struct_type
from simulator.wire.jsonform import JsonDecoder, JsonObject, dumps_frame
from simulator.wire.layout import Layout
from simulator.wire.records import RecordKind

STDIN_NAME = "-"
CHUNK_SIZE = 1 << 16


# The text of one JSON line (without the newline), under its older name (bench/encode.py).
encode_json_line = dumps_frame


class FrameStreamError(InputError):
    """A frame of a stream that cannot be read: where it starts, and which frame it is."""

    def __init__(self, message: str, *, source: str, offset: int, seq: int) -> None:
        super().__init__(f"byte offset {offset} (frame {seq}): {message}", file=source)
        self.offset = offset
        self.seq = seq


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """One frame of a stream: its byte offset, its number (from 1) and its JSON form."""

    offset: int
    seq: int
    obj: JsonObject

    @property
    def struct_type(self) -> int:
        return int(self.obj["StructType"])


@dataclass(slots=True)
class DecodeReport:
    """What a decoded stream held: how many frames, and the unknown ones (offset, seq, type)."""

    frames: int = 0
    unknown: list[tuple[int, int, int]] = field(default_factory=list)


def is_unknown_struct_type(codec: FrameCodec, struct_type: int) -> bool:
    """Neither a type the codec has a table for nor one of the custom range (DESIGN §8)."""
    return not codec.is_known(struct_type) and not is_custom_struct_type(struct_type)


def source_name(path: str) -> str:
    return "<stdin>" if path == STDIN_NAME else path


@contextmanager
def open_input(path: str) -> Iterator[BinaryIO]:
    """The binary stream `path` names (`-` is standard input); InputError if it cannot be read."""
    if path == STDIN_NAME:
        yield sys.stdin.buffer
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below, after the caller's block
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or error}", file=path) from None
    with stream:
        yield stream


def iter_decoded(
    stream: BinaryIO, decoder: JsonDecoder, *, source: str = "<stream>"
) -> Iterator[DecodedFrame]:
    """The JSON form of each frame of `stream`, in order, with `seq` from 1.

    Raises FrameStreamError for the first frame that cannot be read (truncated, a `Len`
    out of range or too small for its record, bad variable data); the frames before it
    have been yielded by then.
    """
    codec = decoder.codec
    check_length = codec.check_length
    read: Callable[[int], bytes] = getattr(stream, "read1", stream.read)
    data = bytearray()
    pos = 0  # where the next frame starts in `data`
    base = 0  # byte offset of data[0] in the stream
    seq = 0
    eof = False
    while True:
        available = len(data) - pos
        if available >= 2:
            length = data[pos] | (data[pos + 1] << 8)
            if available >= length:
                seq += 1
                try:
                    check_length(length, base + pos)
                    obj = decoder(data, pos, seq)
                except FrameError as error:
                    raise FrameStreamError(
                        error.message, source=source, offset=base + pos, seq=seq
                    ) from None
                yield DecodedFrame(base + pos, seq, obj)
                pos += length
                continue
            try:
                check_length(length, base + pos)
            except FrameError as error:
                raise FrameStreamError(
                    error.message, source=source, offset=base + pos, seq=seq + 1
                ) from None
        if eof:
            if available == 0:
                return
            if available < 2:
                message = "truncated frame: the stream ends inside Len"
            else:
                message = (
                    f"truncated frame: Len is {length} but the stream ends after {available} bytes"
                )
            raise FrameStreamError(message, source=source, offset=base + pos, seq=seq + 1)
        if pos:
            del data[:pos]
            base += pos
            pos = 0
        chunk = read(CHUNK_SIZE)
        if chunk:
            data += chunk
        else:
            eof = True


def decode_stream(
    stream: BinaryIO,
    out: TextIO,
    *,
    layout: Layout = Layout.LINUX_X86_64,
    custom_kinds: Iterable[RecordKind] = (),
    source: str = "<stream>",
    warn: Callable[[str], None] | None = None,
) -> DecodeReport:
    """Write one JSON line per frame of `stream` to `out`, and say what was in it.

    A frame of an unknown struct type is written as header plus `raw` and passed to
    `warn` as a one-line message (after `out` is flushed, so the two read in order).
    A frame that cannot be read raises FrameStreamError once `out` is flushed.
    """
    decoder = JsonDecoder(FrameCodec(layout, custom_kinds=custom_kinds))
    codec = decoder.codec
    report = DecodeReport()
    write = out.write
    try:
        for frame in iter_decoded(stream, decoder, source=source):
            write(dumps_frame(frame.obj) + "\n")
            report.frames += 1
            struct_type = frame.struct_type
            if is_unknown_struct_type(codec, struct_type):
                report.unknown.append((frame.offset, frame.seq, struct_type))
                if warn is not None:
                    out.flush()
                    warn(
                        f"{source}: byte offset {frame.offset} (frame {frame.seq}): "
                        f"unknown struct type {struct_type}, written as header + raw"
                    )
    finally:
        out.flush()
    return report


def decode_file(
    path: str,
    out: TextIO,
    err: TextIO,
    *,
    layout: Layout = Layout.LINUX_X86_64,
    custom_kinds: Iterable[RecordKind] = (),
) -> DecodeReport:
    """`billsim decode PATH`: JSON lines on `out`, unknown struct types reported on `err`.

    Raises InputError (exit code 2) for a file that cannot be opened, a frame that cannot
    be read, or, once the whole stream is written, if any frame had an unknown struct type.
    """
    source = source_name(path)

    def warn(message: str) -> None:
        err.write(f"billsim: {message}\n")
        err.flush()

    with open_input(path) as stream:
        report = decode_stream(
            stream, out, layout=layout, custom_kinds=custom_kinds, source=source, warn=warn
        )
    if report.unknown:
        offset, seq, struct_type = report.unknown[0]
        count = len(report.unknown)
        frames = "frame has" if count == 1 else "frames have"
        raise InputError(
            f"{count} {frames} an unknown struct type (the first: {struct_type}, "
            f"frame {seq} at byte offset {offset})",
            file=source,
        )
    return report
