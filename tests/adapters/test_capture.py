"""Capture files and the streams replay reads (simulator/adapters/capture.py): written and
read back, .nbf and JSON-form streams read alike, and every malformed line named by file,
line and key."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import FRAMES

from simulator.adapters.capture import CaptureWriter, read_stream
from simulator.adapters.mqtt.topics import topic_run_and_seq
from simulator.domino.replay import SourceFrame
from simulator.errors import InputError
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder, dumps_frame

CODEC = FrameCodec()
SESSION = CODEC.encode(FRAMES["SESSIONREC"])
MAIL = CODEC.encode(FRAMES["MAILREC"])
TOPIC = "domino/billing/Mail01/session"


def write_capture(path: Path) -> None:
    stream = io.StringIO()
    writer = CaptureWriter(stream)
    writer.write(0.0, TOPIC, 1, SESSION, {"seq": "1", "run": "r1", "structtype": "1"})
    writer.write(0.25, "domino/billing/Mail01/mail", 2, MAIL, {"seq": "2", "run": "r1"})
    assert writer.frames == 2
    path.write_text(stream.getvalue())


def test_a_capture_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write_capture(path)
    first = json.loads(path.read_text().splitlines()[0])
    assert list(first) == ["at", "topic", "seq", "frame", "props"]
    assert base64.b64decode(first["frame"]) == SESSION
    assert list(read_stream(str(path), CODEC)) == [
        SourceFrame(0.0, "Mail01", "r1", 1, SESSION, line=1),
        SourceFrame(0.25, "Mail01", "r1", 2, MAIL, line=2),
    ]


def test_seq_and_run_from_the_topic_or_the_frames_place(tmp_path: Path) -> None:
    frame = base64.b64encode(SESSION).decode()
    lines = [
        {"at": 0, "topic": f"{TOPIC}/r9/7", "seq": None, "frame": frame, "props": {}},
        {"at": 1, "topic": TOPIC, "frame": frame},
    ]
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(line) + "\n\n" for line in lines))
    read = list(read_stream(str(path), CODEC))
    assert [(f.where, f.run, f.seq) for f in read] == [("line 1", "r9", 7), ("line 3", None, 2)]
    assert topic_run_and_seq("domino/billing/Mail01/custom/32001/r2/5") == ("r2", 5)
    assert topic_run_and_seq("domino/billing/Mail01/custom/32001") == (None, None)


def test_nbf_and_json_form_streams_read_as_frames(tmp_path: Path) -> None:
    nbf = tmp_path / "f.nbf"
    nbf.write_bytes(SESSION + MAIL)
    assert [(f.where, f.at, f.server, f.run, f.seq) for f in read_stream(str(nbf), CODEC)] == [
        ("byte offset 0 (frame 1)", None, None, None, 1),
        (f"byte offset {len(SESSION)} (frame 2)", None, None, None, 2),
    ]
    lines = tmp_path / "f.jsonl"
    to_json = JsonDecoder(CODEC)
    lines.write_text(dumps_frame(to_json(SESSION, 0, 5)) + "\n" + dumps_frame(to_json(MAIL)) + "\n")
    read = list(read_stream(str(lines), CODEC))
    assert [(f.where, f.seq, f.frame) for f in read] == [
        ("line 1", 5, SESSION),
        ("line 2", 2, MAIL),
    ]


GOOD = {"at": 0, "topic": TOPIC, "seq": 1, "frame": base64.b64encode(SESSION).decode(), "props": {}}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("line", "where", "message"),
    [
        ("not json", "2", "not a JSON line"),
        ("[1]", "2", "expected a JSON object"),
        (json.dumps({**GOOD, "at": -1}), "2: at", "seconds since the first frame"),
        (json.dumps({**GOOD, "at": True}), "2: at", "seconds since the first frame"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "topic"}), "2: topic", "missing"),
        (json.dumps({**GOOD, "topic": "other/topic"}), "2: topic", "not a frame topic"),
        (json.dumps({**GOOD, "topic": "domino/billing/Mail01/status"}), "2: topic", "not a frame"),
        (json.dumps({**GOOD, "frame": "***"}), "2: frame", "not base64"),
        (json.dumps({**GOOD, "frame": ""}), "2: frame", "no bytes"),
        (json.dumps({**GOOD, "frame": 12}), "2: frame", "in base64"),
        # A frame whose Len does not frame it would break an .nbf replay from it on.
        (
            json.dumps({**GOOD, "frame": b64(SESSION[:500])}),
            "2: frame",
            "Len is 1000 but the frame has 500 bytes",
        ),
        (
            json.dumps({**GOOD, "frame": b64(SESSION + b"x")}),
            "2: frame",
            "Len is 1000 but the frame has 1,001",
        ),
        (
            json.dumps({**GOOD, "frame": b64(bytes(300))}),
            "2: frame",
            "Len 0 is smaller than the BILLMSG header",
        ),
        (
            json.dumps({**GOOD, "frame": b64(bytes(70_000))}),
            "2: frame",
            "in a frame of 70,000 bytes",
        ),
        (json.dumps({**GOOD, "frame": b64(b"\xe8")}), "2: frame", "1 byte(s): a frame has"),
        (json.dumps({**GOOD, "seq": 0}), "2: seq", "whole number >= 1"),
        (json.dumps({**GOOD, "props": {"seq": 1}}), "2: props", "object of strings"),
    ],
)
def test_a_bad_capture_line_is_named_by_file_line_and_key(
    tmp_path: Path, line: str, where: str, message: str
) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + line + "\n")
    frames = read_stream(str(path), CODEC)
    assert next(frames).seq == 1  # the good line before it is read
    with pytest.raises(InputError) as caught:
        next(frames)
    text = str(caught.value)
    assert text.startswith(f"{path}:{where}: ") and message in text, text
    assert caught.value.exit_code == 2


def test_a_cut_frame_whose_len_frames_it_is_read_as_it_was_received(tmp_path: Path) -> None:
    # As the truncate fault leaves one: Len says the bytes left, its record unreadable.
    cut = (500).to_bytes(2, "little") + SESSION[2:500]
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({**GOOD, "frame": b64(cut)}) + "\n")
    assert [item.frame for item in read_stream(str(path), CODEC)] == [cut]


def test_an_empty_file_a_directory_and_a_cut_nbf_are_bad_input(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="no frames"):
        list(read_stream(str(empty), CODEC))
    with pytest.raises(InputError, match="is a directory"):
        list(read_stream(str(tmp_path), CODEC))
    with pytest.raises(InputError, match="No such file"):
        list(read_stream(str(tmp_path / "nope"), CODEC))
    cut = tmp_path / "cut.nbf"
    cut.write_bytes(SESSION + MAIL[:500])
    with pytest.raises(InputError, match=rf"byte offset {len(SESSION)} \(frame 2\): truncated"):
        list(read_stream(str(cut), CODEC))


def test_a_first_line_nested_too_deep_is_bad_input(tmp_path: Path) -> None:
    """Found by the test below: the form is told from the first line, which json.loads
    cannot read when its nest is deeper than the recursion limit."""
    path = tmp_path / "deep.jsonl"
    path.write_bytes(b'{"at":' + b"[" * 3000 + b"\n" + (json.dumps(GOOD) + "\n").encode())
    with pytest.raises(InputError, match="nested too deep") as raised:
        list(read_stream(str(path), CODEC))
    assert str(path) in str(raised.value)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_mutated_capture_is_read_or_refused_as_bad_input_never_a_crash(
    tmp_path: Path, data: st.DataObject
) -> None:
    good = (json.dumps(GOOD) + "\n").encode() * 3
    mutated = bytearray(good)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(mutated)))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip" and at < len(mutated):
            mutated[at] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del mutated[at : at + data.draw(st.integers(1, 40))]
        else:
            mutated[at:at] = data.draw(
                st.sampled_from([b"9" * 5000, b"[" * 3000, b"\xff", b"-1e999", b'"', b"{}", b"\n"])
            )
    path = tmp_path / "mutated.jsonl"
    path.write_bytes(bytes(mutated))
    try:
        for item in read_stream(str(path), CODEC):
            assert isinstance(item.frame, bytes) and item.seq >= 1
    except InputError as error:
        assert str(path) in str(error) and len(str(error)) < 400
