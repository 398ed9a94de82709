"""Which layout a stream's first frames look written in (verify/layouts.py)."""

from __future__ import annotations

import random

import pytest
from samples import FRAMES

from simulator.verify.layouts import HEAD_BYTES, likelier_layout, reads_cleanly, whole_frames
from simulator.wire.codec import FrameCodec
from simulator.wire.layout import Layout

WIN32, LINUX = Layout.WIN32, Layout.LINUX_X86_64


def stream_of(layout: Layout) -> bytes:
    codec = FrameCodec(layout)
    return b"".join(codec.encode(frame) for frame in FRAMES.values())


@pytest.mark.parametrize(("written", "read"), [(WIN32, LINUX), (LINUX, WIN32)])
def test_frames_read_in_the_wrong_layout_point_to_the_right_one(
    written: Layout, read: Layout
) -> None:
    data = stream_of(written)
    assert reads_cleanly(data, written)
    assert not reads_cleanly(data, read)
    assert likelier_layout(data, read) is written
    assert likelier_layout(data, written) is None  # read right: nothing to hint


def test_a_head_cut_inside_a_frame_is_judged_on_its_whole_frames() -> None:
    data = stream_of(WIN32)
    first = FrameCodec(WIN32).encode(next(iter(FRAMES.values())))
    cut = data[: len(first) + 10]
    assert whole_frames(cut) == first
    assert likelier_layout(cut, LINUX) is WIN32  # a SESSIONREC: its Action is nonsense
    assert likelier_layout(data[: len(data) - 1], LINUX) is WIN32


def test_a_record_with_no_action_to_judge_gives_no_hint() -> None:
    # A DOCUMENT read in the wrong layout decodes, and no rule reads its fields.
    document = FrameCodec(WIN32).encode(FRAMES["DOCUMENT"])
    assert likelier_layout(document, LINUX) is None


def test_nonsense_in_both_layouts_gives_no_hint() -> None:
    noise = random.Random(7).randbytes(HEAD_BYTES)
    assert likelier_layout(noise, LINUX) is None
    assert likelier_layout(b"", LINUX) is None
