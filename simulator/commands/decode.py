"""`billsim decode`: frames back to back (the `.nbf` form) to JSON lines.

A frame of an unknown struct type (neither built-in nor in the custom range) is written
as its header plus `raw`, reported, and the decoding goes on: its `Len` says where the
next frame starts. A frame that cannot be read stops the decoding (exit 2) once the
frames before it are written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

from simulator.errors import InputError
from simulator.wire.codec import FrameCodec, is_custom_struct_type
from simulator.wire.jsonform import JsonDecoder, JsonObject, dumps_frame
from simulator.wire.layout import Layout
from simulator.wire.records import RecordKind
from simulator.wire.stream import (
    FrameForm,
    detect_form,
    iter_decoded,
    open_input,
    read_json_frames,
    source_name,
)
from simulator.wire.text import TextView


@dataclass(slots=True)
class DecodeReport:
    """What a decoded stream held: how many frames, and the unknown ones (where, seq, type);
    where is `byte offset N` in binary frames, `line N` in JSON lines."""

    frames: int = 0
    unknown: list[tuple[str, int, int]] = field(default_factory=list)


def is_unknown_struct_type(codec: FrameCodec, struct_type: int) -> bool:
    """Neither a type the codec has a table for nor one of the custom range (docs/cli.md)."""
    return not codec.is_known(struct_type) and not is_custom_struct_type(struct_type)


def decode_stream(
    stream: BinaryIO,
    out: TextIO,
    *,
    layout: Layout = Layout.LINUX_X86_64,
    custom_kinds: Iterable[RecordKind] = (),
    source: str = "<stream>",
    warn: Callable[[str], None] | None = None,
    text: bool = False,
) -> DecodeReport:
    """Write one JSON line per frame of `stream` (binary frames or JSON lines) to `out`,
    and say what was in it.

    A frame of an unknown struct type is written as header plus `raw` and passed to
    `warn` as a one-line message (after `out` is flushed, so the two read in order).
    A frame that cannot be read raises an InputError once `out` is flushed; so does an
    empty stream ("no frames"). `text`: tail's one-line view instead of JSON lines.
    """
    decoder = JsonDecoder(FrameCodec(layout, custom_kinds=custom_kinds))
    codec = decoder.codec
    report = DecodeReport()
    write = out.write
    form, prefix = detect_form(stream, source=source)
    if form is None:
        raise InputError("no frames: the input is empty", file=source)
    frames: Iterator[tuple[str, int, JsonObject]]
    if form is FrameForm.JSON:
        frames = (
            (f"line {line}", seq, decoder(data, 0, seq))
            for line, seq, data, _frame in read_json_frames(
                stream, codec, source=source, prefix=prefix
            )
        )
    else:
        frames = (
            (f"byte offset {frame.offset}", frame.seq, frame.obj)
            for frame in iter_decoded(stream, decoder, source=source, prefix=prefix)
        )
    view = TextView() if text else None
    try:
        for where, seq, obj in frames:
            if view is None:
                write(dumps_frame(obj) + "\n")
            else:
                date_line, line = view.lines(obj)
                write(line + "\n" if date_line is None else f"{date_line}\n{line}\n")
            report.frames += 1
            struct_type = obj["StructType"]
            if is_unknown_struct_type(codec, struct_type):
                report.unknown.append((where, seq, struct_type))
                if warn is not None:
                    out.flush()
                    warn(
                        f"{source}: {where} (frame {seq}): "
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
    text: bool = False,
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
            stream,
            out,
            layout=layout,
            custom_kinds=custom_kinds,
            source=source,
            warn=warn,
            text=text,
        )
    if report.unknown:
        where, seq, struct_type = report.unknown[0]
        count = len(report.unknown)
        frames = "frame has" if count == 1 else "frames have"
        raise InputError(
            f"{count} {frames} an unknown struct type (the first: {struct_type}, "
            f"frame {seq} at {where})",
            file=source,
        )
    return report
