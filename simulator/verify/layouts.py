"""Which struct layout a stream of binary frames looks written in, for `check`'s hint.

Frames read in the wrong layout do not fail cleanly: the header's TimeStamp and the
records' fields sit a few bytes off, so they decode as nonsense (an Action of 25449) or
not at all (variable data past `Len`). Whether the stream's first frames read cleanly in
the other layout is a cheap and telling test: checked there, the first frames give no
`bad-action` and decode throughout. Nonsense that reads cleanly in both, or in neither,
gives no hint.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from simulator.verify.checker import Checker
from simulator.verify.findings import Rule
from simulator.wire.codec import LEN_AND_TYPE, FrameCodec
from simulator.wire.layout import Layout
from simulator.wire.records import RecordKind
from simulator.wire.stream import FrameStreamError, read_frames

HEAD_BYTES = 1 << 16
"""How much of a stream's start the test reads: a few hundred frames of a billing run."""


def whole_frames(head: bytes) -> bytes:
    """`head` up to the end of its last whole frame (`Len` is where it is in any layout)."""
    end = 0
    while end + LEN_AND_TYPE.size <= len(head):
        length = LEN_AND_TYPE.unpack_from(head, end)[0]
        if length < LEN_AND_TYPE.size or end + length > len(head):
            break
        end += length
    return head[:end]


def reads_cleanly(head: bytes, layout: Layout, custom_kinds: Iterable[RecordKind] = ()) -> bool:
    """Every whole frame of `head` decodes in `layout`, with no Action outside its record's."""
    frames = whole_frames(head)
    if not frames:
        return False
    checker = Checker()
    codec = FrameCodec(layout, custom_kinds=custom_kinds)
    try:
        for offset, _data, frame in read_frames(io.BytesIO(frames), codec):
            checker.feed(frame, offset)
    except FrameStreamError:
        return False
    return not any(v.rule is Rule.BAD_ACTION for v in checker.sorted_report().violations)


def likelier_layout(
    head: bytes, layout: Layout, custom_kinds: Iterable[RecordKind] = ()
) -> Layout | None:
    """The other layout if the stream's first frames read cleanly there and not in
    `layout` (the one they were read in); else None."""
    kinds = tuple(custom_kinds)
    if reads_cleanly(head, layout, kinds):
        return None
    for other in Layout:
        if other is not layout and reads_cleanly(head, other, kinds):
            return other
    return None
