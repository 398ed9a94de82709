"""Frame streams read from a file or pipe: one reader for every command.

Two forms: frames back to back (the `.nbf` form, `run --out`) and JSON lines (`run
--stdout`), told apart by the first byte (`{` starts a JSON line; no frame's Len does in
practice, see `detect_form`). The stream is read in chunks, never whole, so a live pipe
is read as it arrives. A frame that cannot be read stops the reading with an InputError
naming where it is (byte offset and frame number, or line); the frames before it have
been yielded by then.
"""

from __future__ import annotations

import codecs
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import BinaryIO, NamedTuple

from simulator.errors import InputError
from simulator.wire.codec import LEN_AND_TYPE, EncodeError, FrameCodec, FrameError
from simulator.wire.jsonform import JsonDecoder, JsonFormError, JsonObject, frame_from_json
from simulator.wire.records import Frame

STDIN_NAME = "-"
CHUNK_SIZE = 1 << 16


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


class FrameForm(StrEnum):
    BINARY = "binary"
    JSON = "json"


def detect_form(stream: BinaryIO, *, source: str = "<stream>") -> tuple[FrameForm | None, bytes]:
    """The stream's form from its first bytes, and those bytes (to hand on as `prefix`).

    `{` starts a JSON line. A binary stream would start so only with a frame whose Len
    is 0x..7B, and its StructType would then be the bytes after the `{`: `"L` of
    billsim's JSON lines is no struct type. None: the stream is empty. Text that is
    neither (the text view of `--format text`, a log, a YAML file) raises InputError
    saying what it starts with, rather than a frame error about a Len made of letters.
    """
    first = stream.read(1)
    if not first:
        return None, b""
    if first == b"{":
        return FrameForm.JSON, first
    head = first + stream.read(LEN_AND_TYPE.size - 1)
    if len(head) == LEN_AND_TYPE.size and _is_text(head):
        # A frame starting with four such bytes would have a Len of 2,336 or more: reading
        # on up to that Len never waits for a frame that has not been written yet.
        length = LEN_AND_TYPE.unpack(head)[0]
        head += stream.read(min(length, _TEXT_SHOWN * 4) - len(head))
        if _is_text(head):
            if head.lstrip().startswith(b"{"):
                return FrameForm.JSON, head  # JSON lines after blank lines
            raise InputError(_not_frames(head), file=source, line=1)
    return FrameForm.BINARY, head


_TEXT_SHOWN = 40  # characters of a text input quoted in the error
_TEXT_VIEW = re.compile(r"-- \d{4}-\d{2}-\d{2}$|\d{2}:\d{2}:\d{2}\.\d{2} ")


def _is_text(data: bytes) -> bool:
    """UTF-8 (a character cut at the end is fine) without control characters but tabs and
    line ends. A frame fails this at once: its Len's high byte is a control character
    for any frame under 2,336 bytes, and a built-in StructType's high byte is 0."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return all((char >= " " and char != "\x7f") or char in "\t\r\n" for char in text)


def _not_frames(head: bytes) -> str:
    lines = head.decode("utf-8", errors="ignore").splitlines()
    first_line = next((line.strip() for line in lines if line.strip()), "")
    shown = first_line[:_TEXT_SHOWN].rstrip() + ("…" if len(first_line) > _TEXT_SHOWN else "")
    message = f"not BILLMSG frames nor JSON lines: it starts with text `{shown}`"
    if _TEXT_VIEW.match(first_line):
        return f"{message}; the text view (--format text) cannot be read back"
    return (
        f"{message}; billsim reads the frames `run --out` writes or the JSON lines of "
        "`run --stdout`"
    )


def iter_frame_buffers(
    stream: BinaryIO, codec: FrameCodec, *, source: str = "<stream>", prefix: bytes = b""
) -> Iterator[tuple[bytearray, int, int, int, int]]:
    """(buffer, start, Len, byte offset, number from 1) of each frame of `stream`, in order.

    `buffer[start:start + Len]` is the frame; the buffer is reused, so it is valid only
    until the next frame is taken. `prefix`: bytes already read from the stream. Raises
    FrameStreamError for a truncated stream or a `Len` out of range; what the bytes hold
    is the caller's to decode.
    """
    check_length = codec.check_length
    len_and_type = LEN_AND_TYPE.unpack_from
    read: Callable[[int], bytes] = getattr(stream, "read1", stream.read)
    data = bytearray(prefix)
    pos = 0  # where the next frame starts in `data`
    base = 0  # byte offset of data[0] in the stream
    seq = 0
    eof = False
    length = 0
    while True:
        available = len(data) - pos
        if available >= 4:
            length = len_and_type(data, pos)[0]
            try:
                check_length(length, base + pos)
            except FrameError as error:
                raise FrameStreamError(
                    error.message, source=source, offset=base + pos, seq=seq + 1
                ) from None
            if available >= length:
                seq += 1
                yield data, pos, length, base + pos, seq
                pos += length
                continue
        if eof:
            if available == 0:
                return
            if available < 4:
                message = "truncated frame: the stream ends inside Len and StructType"
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


def read_frames(
    stream: BinaryIO, codec: FrameCodec, *, source: str = "<stream>", prefix: bytes = b""
) -> Iterator[tuple[int, bytes, Frame]]:
    """(byte offset, frame bytes, frame) of each frame of `stream`, decoded by `codec`.

    Raises FrameStreamError for the first frame that cannot be read (truncated, a `Len`
    out of range or too small for its record, bad variable data).
    """
    decode = codec.decode
    for buffer, start, length, offset, seq in iter_frame_buffers(
        stream, codec, source=source, prefix=prefix
    ):
        data = bytes(buffer[start : start + length])
        try:
            frame = decode(data)
        except FrameError as error:
            raise FrameStreamError(error.message, source=source, offset=offset, seq=seq) from None
        yield offset, data, frame


def iter_decoded(
    stream: BinaryIO, decoder: JsonDecoder, *, source: str = "<stream>", prefix: bytes = b""
) -> Iterator[DecodedFrame]:
    """The JSON form of each frame of `stream`, in order, with `seq` from 1.

    Raises FrameStreamError as `read_frames` does.
    """
    for buffer, start, _length, offset, seq in iter_frame_buffers(
        stream, decoder.codec, source=source, prefix=prefix
    ):
        try:
            obj = decoder(buffer, start, seq)
        except FrameError as error:
            raise FrameStreamError(error.message, source=source, offset=offset, seq=seq) from None
        yield DecodedFrame(offset, seq, obj)


class JsonLine(NamedTuple):
    """One JSON line of a stream as `read_json_lines` reads it: its line number, seq, the
    frame's bytes and the frame, and the object it held, for a reader that shows what the
    frame cannot hold (a record given by field name that no table lays out)."""

    number: int
    seq: int
    data: bytes
    frame: Frame
    obj: JsonObject


def read_json_lines(
    stream: BinaryIO,
    codec: FrameCodec,
    *,
    source: str = "<stream>",
    prefix: bytes = b"",
    unknown_fields_unread: bool = False,
) -> Iterator[JsonLine]:
    """Each JSON line of `stream` (`run --stdout`) as a `JsonLine`.

    `seq` is the line's own `seq` if it has one, else its count from 1. Blank lines are
    skipped. Raises InputError naming the line (and the key) of the first line that is
    not the JSON form of a frame the codec can write. `unknown_fields_unread`: a record
    of a type the codec has no table for, given by field name, is read as its header
    and an empty record (see `frame_from_json`), not an error.
    """
    count = 0
    for number, line in enumerate(_lines(stream, prefix), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError) as error:
            reason = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
            raise InputError(f"not a JSON line: {reason}", file=source, line=number) from None
        if not isinstance(obj, dict):
            raise InputError(
                "expected a JSON object, the JSON form of a frame", file=source, line=number
            )
        try:
            frame = frame_from_json(codec, obj, unknown_fields_unread=unknown_fields_unread)
            data = codec.encode(frame)
        except (JsonFormError, EncodeError, FrameError) as error:
            message = error.message if isinstance(error, FrameError) else str(error)
            raise InputError(message, file=source, line=number) from None
        count += 1
        seq = obj.get("seq")
        yield JsonLine(number, seq if isinstance(seq, int) else count, data, frame, obj)


def _lines(stream: BinaryIO, prefix: bytes) -> Iterator[bytes]:
    lines = iter(stream)
    if prefix:
        # The prefix may hold whole lines (blank ones before the first) and a part of one.
        yield from (prefix + next(lines, b"")).splitlines(keepends=True)
    yield from lines
