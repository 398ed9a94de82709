"""Capture files (`billsim record`, docs/record-replay.md) and the streams `billsim replay`
reads: a capture, an .nbf file of frames back to back, or the JSON form of frames.

A capture is JSON lines, one frame a line, in the order received:

    {"at": 0.018342, "topic": "domino/billing/Mail01/session", "seq": 1,
     "frame": "<the binary frame, base64>", "props": {"seq": "1", "run": "…", …}}

`at` is seconds since the first frame was received, `props` the message's MQTT 5 user
properties as received (empty under MQTT 3.1.1), `seq` the frame's number in its run
(the `seq` property, else the `…/{run}/{seq}` topic suffix, else null). A JSON payload
is kept as the binary frame it stands for, so a capture replays under either payload.

Reading names the file, the line and the key of anything that is not such a line
(InputError, exit 2), a frame whose `Len` does not frame it among them. Every reader
yields `SourceFrame`s, so a replay does not care which of the three forms it reads.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from simulator.adapters.mqtt.topics import FRAME_KINDS, parse_topic, topic_run_and_seq
from simulator.domino.replay import SourceFrame
from simulator.errors import InputError
from simulator.wire.codec import LEN_AND_TYPE, FrameCodec, FrameError
from simulator.wire.stream import (
    FrameForm,
    detect_form,
    iter_frame_buffers,
    open_input,
    read_json_lines,
)

CAPTURE_KEYS = ("at", "topic", "seq", "frame", "props")
# Makes the error for a bad capture line: (message, the key at fault or None).
_Bad = Callable[[str, str | None], InputError]


class CaptureWriter:
    """Writes captured frames as JSON lines to a text stream (the caller closes it)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.frames = 0
        self._dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

    def write(
        self, at: float, topic: str, seq: int | None, frame: bytes, props: Mapping[str, str]
    ) -> None:
        line = {
            "at": round(at, 6),
            "topic": topic,
            "seq": seq,
            "frame": base64.b64encode(frame).decode("ascii"),
            "props": dict(props),
        }
        self.stream.write(self._dumps(line) + "\n")
        self.frames += 1


def read_stream(path: str, codec: FrameCodec) -> Iterator[SourceFrame]:
    """Every frame of the capture, .nbf file or JSON-form stream at `path`, in order.

    InputError naming the file and line (or byte offset) of the first thing that is not
    a frame of its form; an empty file is one ("no frames")."""
    source = str(path)
    if Path(path).is_dir():
        raise InputError("is a directory, not a capture or an .nbf file", file=source)
    with open_input(path) as stream:
        form, prefix = detect_form(stream, source=source)
        if form is None:
            raise InputError("no frames: the file is empty", file=source)
        if form is FrameForm.BINARY:
            yield from _read_nbf(stream, codec, source, prefix)
            return
        first = prefix + stream.readline()
        if _is_capture_line(first):
            yield from _read_capture(first, stream, codec, source)
            return
    # The JSON form of frames (`run --stdout`): read afresh by the one JSON-lines reader.
    with open_input(path) as stream:
        _form, prefix = detect_form(stream, source=source)
        yield from _read_json_form(prefix, stream, codec, source)


def _is_capture_line(line: bytes) -> bool:
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return True  # let the capture reader say what is wrong with it (a deep nest too)
    return not isinstance(obj, dict) or "frame" in obj or "StructType" not in obj


def _read_nbf(
    stream: BinaryIO, codec: FrameCodec, source: str, prefix: bytes
) -> Iterator[SourceFrame]:
    for data, start, length, offset, seq in iter_frame_buffers(
        stream, codec, source=source, prefix=prefix
    ):
        frame = bytes(data[start : start + length])
        yield SourceFrame(None, None, None, seq, frame, offset=offset)


def _read_json_form(
    prefix: bytes, stream: BinaryIO, codec: FrameCodec, source: str
) -> Iterator[SourceFrame]:
    for line in read_json_lines(stream, codec, source=source, prefix=prefix):
        yield SourceFrame(None, None, None, line.seq, line.data, line=line.number)


def _read_capture(
    first: bytes, stream: BinaryIO, codec: FrameCodec, source: str
) -> Iterator[SourceFrame]:
    count = 0
    lines = iter(stream)
    number = 0
    for raw in _chain(first, lines):
        number += 1
        if not raw.strip():
            continue
        count += 1
        yield _capture_frame(raw, codec, source, number, count)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _capture_frame(
    raw: bytes, codec: FrameCodec, source: str, line: int, count: int
) -> SourceFrame:
    """One capture line as a SourceFrame; InputError naming the line and key."""

    def bad(message: str, key: str | None) -> InputError:
        return InputError(message, file=source, line=line, field=key)

    try:
        obj = json.loads(raw)
    except UnicodeDecodeError:
        raise bad("not UTF-8 text", None) from None
    except ValueError as error:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        raise bad(f"not a JSON line: {_clip(reason)}", None) from None
    except RecursionError:
        raise bad("not a captured frame: nested too deep", None) from None
    if not isinstance(obj, dict):
        raise bad(
            "expected a JSON object: a captured frame {" + ", ".join(CAPTURE_KEYS) + "}", None
        )
    for key in ("at", "topic", "frame"):
        if key not in obj:
            raise bad("missing", key)
    at = obj["at"]
    if not _seconds(at):
        raise bad(f"seconds since the first frame (a number >= 0), not {_quote(at)}", "at")
    topic = obj["topic"]
    if not isinstance(topic, str):
        raise bad(f"a topic string, not {_quote(topic)}", "topic")
    parts = parse_topic(topic)
    if parts is None or parts.kind not in FRAME_KINDS:
        raise bad(
            f"not a frame topic (domino/billing/{{server}}/{{class}}): {_quote(topic)}", "topic"
        )
    frame = _frame_bytes(obj["frame"], codec, bad)
    props = _props(obj.get("props"), bad)
    topic_run, topic_seq = topic_run_and_seq(topic)
    run = props.get("run") or topic_run
    seq = _seq(obj.get("seq"), bad)
    if seq is None:
        text = props.get("seq", "")
        seq = int(text) if text.isdigit() and int(text) > 0 else topic_seq
    return SourceFrame(float(at), parts.server, run, seq or count, frame, line=line)


def _seconds(value: Any) -> bool:
    """Whether `value` is a time since the first frame: a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value) and value >= 0
    except OverflowError:  # an integer beyond any float
        return False


def _frame_bytes(value: Any, codec: FrameCodec, bad: _Bad) -> bytes:
    """The line's frame, framed by its own Len: a replay writes it back to back with the
    others (`--out`), where any other Len would break the stream from it on."""
    if not isinstance(value, str):
        raise bad(f"the frame's bytes in base64, not {_quote(value)}", "frame")
    try:
        frame = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise bad(f"not base64: {_clip(str(error))}", "frame") from None
    if not frame:
        raise bad("no bytes: a frame has at least its header", "frame")
    if len(frame) < LEN_AND_TYPE.size:
        raise bad(
            f"{len(frame)} byte(s): a frame has at least its header (Len and StructType first)",
            "frame",
        )
    length = LEN_AND_TYPE.unpack_from(frame)[0]
    try:
        codec.check_length(length, 0)
    except FrameError as error:
        raise bad(f"{error.message}, in a frame of {len(frame):,} bytes", "frame") from None
    if length != len(frame):
        raise bad(
            f"Len is {length} but the frame has {len(frame):,} bytes: it is cut, or more "
            "than one frame",
            "frame",
        )
    return frame


def _props(value: Any, bad: _Bad) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise bad(f"the MQTT user properties, an object of strings, not {_quote(value)}", "props")
    return value


def _seq(value: Any, bad: _Bad) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad(
            f"the frame's number in its run (a whole number >= 1) or null, not {_quote(value)}",
            "seq",
        )
    return value


def _quote(value: Any) -> str:
    """A value as an error shows it: JSON, cut short (a line can be long)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (ValueError, RecursionError):  # an integer too long to print, a deep nest
        text = f"a {type(value).__name__}"
    return _clip(text)


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
