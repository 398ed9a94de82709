"""Telling a stream's form from its first bytes (wire/stream.py): binary frames, JSON
lines (after blank lines too), and text that is neither, named for what it starts with."""

from __future__ import annotations

import io

import pytest
from samples import ALICE, SERVER, STAMP

from simulator.errors import InputError
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.layout import char
from simulator.wire.records import CustomRec, Frame, custom_kind
from simulator.wire.stream import FrameForm, detect_form, read_frames, read_json_lines


def not_frames(data: bytes) -> str:
    with pytest.raises(InputError) as caught:
        detect_form(io.BytesIO(data), source="in.txt")
    return str(caught.value)


def test_the_text_view_is_named_as_such() -> None:
    message = not_frames(b"-- 2026-11-21\n09:00:00.00 Mail01   session     START  ...\n")
    assert message == (
        "in.txt:1: not BILLMSG frames nor JSON lines: it starts with text `-- 2026-11-21`; "
        "the text view (--format text) cannot be read back"
    )
    assert "text view" in not_frames(b"09:00:00.00 Mail01   session     START  #1\n")


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        (b"name: morning\nstart: 2026\n", "`name: morning`"),
        (b"\n\n  # billsim\n", "`# billsim`"),
        ("données réelles ".encode() * 10, "`données réelles données réelles données…`"),
        (b'{"a": 1}\n', None),  # JSON: the JSON-lines reader says what is wrong with it
    ],
)
def test_other_text_says_what_it_starts_with_and_what_billsim_reads(
    data: bytes, shown: str | None
) -> None:
    if shown is None:
        assert detect_form(io.BytesIO(data))[0] is FrameForm.JSON
        return
    message = not_frames(data)
    assert f"it starts with text {shown}" in message
    assert "`run --out`" in message and "`run --stdout`" in message
    assert "text view" not in message


def test_json_lines_after_blank_lines_are_json_lines_numbered_from_the_first_line() -> None:
    line = (
        b'{"StructType": 2, "Class": 2, "ServerName": "CN=Mail01/O=Acme", '
        b'"TimeStamp": "2026-11-21T09:00:00.00Z", "rec": {}}\n'
    )
    stream = io.BytesIO(b"\n  \n" + line)
    form, prefix = detect_form(stream)
    assert form is FrameForm.JSON
    with pytest.raises(InputError) as caught:
        list(read_json_lines(stream, FrameCodec(), source="x", prefix=prefix))
    assert str(caught.value).startswith("x:3: ")


def test_a_frame_whose_len_and_type_are_printable_is_still_a_frame() -> None:
    # A custom StructType 0x7D41 ("A}") and a Len of two printable bytes (8 KiB or more):
    # four bytes of text. The header after them (Class 0x0002) is not, so it is a frame.
    frame = Frame(0x7D41, c.BILL_CLASS_DATABASE, SERVER, STAMP, CustomRec((ALICE,)))
    for size in range(8200, 8400):
        kind = custom_kind("BIGREC", 0x7D41, c.BILL_CLASS_DATABASE, (("Text", char(size)),))
        codec = FrameCodec(custom_kinds=[kind])
        data = codec.encode(frame)
        if all(0x20 <= byte < 0x7F for byte in data[:4]):
            break
    else:
        pytest.fail("no size gives a printable Len")
    stream = io.BytesIO(data * 2)
    form, prefix = detect_form(stream)
    assert form is FrameForm.BINARY
    frames = [read for _offset, _data, read in read_frames(stream, codec, prefix=prefix)]
    assert [f.rec for f in frames] == [CustomRec((ALICE,))] * 2
