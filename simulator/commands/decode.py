"""`billsim decode`: frames back to back (the `.nbf` form) to JSON lines.

A frame of an unknown struct type (neither built-in nor in the custom range) is written
as its header plus `raw`, reported, and the decoding goes on: its `Len` says where the
next frame starts. So is a frame whose `Len` frames it but whose record cannot be read
(cut or damaged on the way, as the `truncate` fault leaves it). A stream whose framing
breaks (a `Len` out of range, a stream that ends inside a frame) stops the decoding
(exit 2) once the frames before it are written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

from simulator.errors import InputError
from simulator.wire.codec import Buffer, FrameCodec, FrameError, is_custom_struct_type
from simulator.wire.jsonform import JsonDecoder, JsonObject, dumps_frame, raw_frame_json
from simulator.wire.layout import Layout
from simulator.wire.records import RecordKind
from simulator.wire.stream import (
    FrameForm,
    JsonLine,
    detect_form,
    iter_frame_buffers,
    open_input,
    read_json_lines,
    source_name,
)
from simulator.wire.text import TextView


@dataclass(slots=True)
class DecodeReport:
    """What a decoded stream held: how many frames, the unknown ones (where, seq, type) and
    the unreadable ones (where, seq, why); where is `byte offset N` in binary frames,
    `line N` in JSON lines."""

    frames: int = 0
    unknown: list[tuple[str, int, int]] = field(default_factory=list)
    unreadable: list[tuple[str, int, str]] = field(default_factory=list)


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

    A frame of an unknown struct type, or one whose record cannot be read (cut or
    damaged), is written as header plus `raw` and passed to `warn` as a one-line message
    (after `out` is flushed, so the two read in order). A stream whose framing breaks
    raises an InputError once `out` is flushed; so does an empty stream ("no frames").
    `text`: tail's one-line view instead of JSON lines.
    """
    decoder = JsonDecoder(FrameCodec(layout, custom_kinds=custom_kinds))
    codec = decoder.codec
    report = DecodeReport()
    write = out.write
    form, prefix = detect_form(stream, source=source)
    if form is None:
        raise InputError("no frames: the input is empty", file=source)
    # where, seq, buffer, start, Len, and in JSON lines the line: its record may be given
    # by field name for a type no table here lays out (a custom type without --scenario).
    frames: Iterator[tuple[str, int, Buffer, int, int, JsonLine | None]]
    if form is FrameForm.JSON:
        frames = (
            (f"line {line.number}", line.seq, line.data, 0, len(line.data), line)
            for line in read_json_lines(
                stream, codec, source=source, prefix=prefix, unknown_fields_unread=True
            )
        )
    else:
        frames = (
            (f"byte offset {offset}", seq, buffer, start, length, None)
            for buffer, start, length, offset, seq in iter_frame_buffers(
                stream, codec, source=source, prefix=prefix
            )
        )
    view = TextView() if text else None
    try:
        for where, seq, buffer, start, length, given in frames:
            problem = None
            try:
                obj = decoder(buffer, start, seq)
            except FrameError as error:
                # Framed by its Len, its record unreadable: a cut or damaged frame.
                obj = raw_frame_json(codec, buffer, start, length, seq)
                problem = error.message
            shown = "header + raw"
            if given is not None and _unread(codec, given):
                _as_given(obj, given)
                shown = "the line gives it"
            if view is None:
                write(dumps_frame(obj) + "\n")
            else:
                date_line, line = view.lines(obj)
                write(line + "\n" if date_line is None else f"{date_line}\n{line}\n")
            report.frames += 1
            struct_type = obj["StructType"]
            if problem is not None:
                report.unreadable.append((where, seq, problem))
                if warn is not None:
                    out.flush()
                    warn(
                        f"{source}: {where} (frame {seq}): {problem}: a cut or damaged frame, "
                        "written as header + raw"
                    )
            elif is_unknown_struct_type(codec, struct_type):
                report.unknown.append((where, seq, struct_type))
                if warn is not None:
                    out.flush()
                    warn(
                        f"{source}: {where} (frame {seq}): "
                        f"unknown struct type {struct_type}, written as {shown}"
                    )
    finally:
        out.flush()
    return report


def _unread(codec: FrameCodec, line: JsonLine) -> bool:
    """Whether the line's record was given by field name for a type no table here
    describes (read as its header only: its bytes cannot be laid out)."""
    return not codec.is_known(line.frame.StructType) and "raw" not in line.obj["rec"]


def _as_given(obj: JsonObject, line: JsonLine) -> None:
    """`obj`, decoded from the line's header, with the record and Len the line gave: the
    bytes they stand for are unknown without the type's declaration, so nothing is lost."""
    obj["rec"] = line.obj["rec"]
    if line.frame.Len:
        obj["Len"] = line.frame.Len
    else:
        del obj["Len"]  # the line gave none, and the header alone is not the frame's


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
    if report.unreadable:
        where, seq, problem = report.unreadable[0]
        count = len(report.unreadable)
        frames = "frame" if count == 1 else "frames"
        raise InputError(
            f"{count} {frames} could not be read as their struct type (the first: frame "
            f"{seq} at {where}: {problem})",
            file=source,
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
