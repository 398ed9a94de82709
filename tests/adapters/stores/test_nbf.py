"""The NBF store: frames back to back as `run --out` writes them, redeliveries counted, and
read back with the server, run and seq its index recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from samples import FRAMES

from simulator.adapters.stores import read_rows
from simulator.adapters.stores.nbf import NbfStore
from simulator.addin.store import Committed, Received, Rejected
from simulator.errors import InputError
from simulator.wire.codec import FrameCodec
from simulator.wire.stream import read_frames


def received(frame: bytes, seq: int | None, run: str | None = "r1") -> Received:
    return Received("Mail01", run, seq, "domino/billing/Mail01/session", frame, None, 0)


def test_frames_are_appended_once_each_across_restarts(tmp_path: Path) -> None:
    codec = FrameCodec()
    frames = [codec.encode(frame) for frame in FRAMES.values()]
    path = tmp_path / "billing.nbf"
    store = NbfStore(path)
    for seq, frame in enumerate(frames[:3], 1):
        store.add(received(frame, seq))
    store.add(received(frames[0], 1))  # redelivered within the batch
    first = store.commit()
    assert first == Committed(stored=3, duplicates=1)
    assert sum(count for _, count in first.stored_by_class) == 3  # the duplicate left out
    store.close()
    again = NbfStore(path)  # a restarted add-in: the broker redelivers what it had not acked
    for seq, frame in enumerate(frames, 1):
        again.add(received(frame, seq))
    again.add(Rejected("Mail01", "r1", 99, "t", b"\x01\x02", "truncated", 0))
    assert again.commit() == Committed(stored=len(frames) - 3, duplicates=3, rejected=1)
    again.close()
    assert path.read_bytes() == b"".join(frames)
    with path.open("rb") as stream:
        assert len(list(read_frames(stream, codec))) == len(frames)
    (reject,) = (
        json.loads(line) for line in (tmp_path / "billing.nbf.rejects").read_text().splitlines()
    )
    assert (reject["seq"], reject["reason"], reject["payload"]) == (99, "truncated", "0102")


def test_a_commit_counts_each_servers_frames_duplicates_and_rejects_apart(
    tmp_path: Path,
) -> None:
    session = FrameCodec().encode(FRAMES["SESSIONREC"])
    store = NbfStore(tmp_path / "b.nbf")
    for server, seq in (("Mail01", 1), ("Mail02", 1), ("Mail02", 1), ("Mail02", 2)):
        store.add(Received(server, "r1", seq, f"domino/billing/{server}/session", session, None, 0))
    store.add(Rejected(None, None, None, "domino/billing", b"?", "the topic names no server", 0))
    committed = store.commit()
    assert committed == Committed(stored=3, duplicates=1, rejected=1)
    assert committed.stored_by == ((("Mail01", "session"), 1), (("Mail02", "session"), 2))
    assert (committed.duplicates_by, committed.rejected_by) == ((("Mail02", 1),), (("", 1),))
    store.close()


def test_without_run_and_seq_every_frame_is_appended(tmp_path: Path) -> None:
    frame = FrameCodec().encode(next(iter(FRAMES.values())))
    store = NbfStore(tmp_path / "b.nbf")
    store.add(received(frame, None, None))
    store.add(received(frame, None, None))
    assert store.commit() == Committed(stored=2)
    store.close()


def test_frames_written_without_their_index_line_are_cut_off_on_open(tmp_path: Path) -> None:
    """An add-in killed after the frames' fsync and before their index line: the broker
    never had the acknowledgement and delivers them again; the file must not hold them
    twice."""
    codec = FrameCodec()
    frames = [codec.encode(frame) for frame in FRAMES.values()]
    path = tmp_path / "billing.nbf"
    store = NbfStore(path)
    store.add(received(frames[0], 1))
    store.commit()
    store.close()
    with path.open("ab") as stream:  # the next batch's frames, its index never written
        stream.write(frames[1] + frames[2])
    seen = tmp_path / "billing.nbf.seen"
    with seen.open("ab") as stream:  # and half an index line
        stream.write(b"Mail01 r1 2 ")
    again = NbfStore(path)
    assert path.read_bytes() == frames[0]
    assert seen.read_text().count("\n") == 1 and seen.read_text().endswith("\n")
    for seq, frame in enumerate(frames[:3], 1):
        again.add(received(frame, seq))
    assert again.commit() == Committed(stored=2, duplicates=1)
    again.close()
    assert path.read_bytes() == b"".join(frames[:3])


def test_read_back_each_frame_has_the_server_run_and_seq_the_index_recorded(
    tmp_path: Path,
) -> None:
    """So `verify` judges an NBF store's seq numbers as a relational store's; a frame that
    came without run and seq keeps its place in the file, and no run."""
    codec = FrameCodec()
    frames = [codec.encode(frame) for frame in FRAMES.values()][:3]
    path = tmp_path / "billing.nbf"
    store = NbfStore(path)
    store.add(received(frames[0], 7))
    store.add(received(frames[1], 9, "r2"))
    store.add(received(frames[2], None, None))
    store.commit()
    store.close()
    rows = [row for table in read_rows(f"nbf:{path}").values() for row in table]
    assert sorted((row["seq"], row["server"], row["run"]) for row in rows) == [
        (3, "Mail01", None),
        (7, "Mail01", "r1"),
        (9, "Mail01", "r2"),
    ]


def test_an_index_line_that_is_not_server_run_seq_end_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "billing.nbf"
    path.write_bytes(FrameCodec().encode(next(iter(FRAMES.values()))))
    (tmp_path / "billing.nbf.seen").write_text("Mail01 r1 1 1000\nMail01 r1 x\n")
    with pytest.raises(InputError) as caught:
        read_rows(f"nbf:{path}")
    assert (caught.value.file, caught.value.line) == (f"{path}.seen", 2)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"scenario: x\nservers: []\n", "not an NBF store: it starts with text `scenario: x`"),
        (b'{"StructType": 1}\n', "not an NBF store: it holds JSON lines"),
    ],
)
def test_a_file_that_is_not_frames_is_refused_and_left_as_it_is(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "ld.yaml"
    path.write_bytes(content)
    # An index that would have the store cut the file to 3 bytes, were it opened.
    (tmp_path / "ld.yaml.seen").write_text("Mail01 r1 1 3\n")
    for attempt in (lambda: NbfStore(path), lambda: read_rows(f"nbf:{path}")):
        with pytest.raises(InputError) as caught:
            attempt()
        assert (caught.value.file, caught.value.line) == (str(path), 1)
        assert message in caught.value.message
    assert path.read_bytes() == content


def test_an_index_that_is_not_server_run_seq_end_lines_is_bad_input_on_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "billing.nbf"
    path.write_bytes(FrameCodec().encode(next(iter(FRAMES.values()))))
    (tmp_path / "billing.nbf.seen").write_text("Mail01 r1 1 1000\nMail01 r1 x\n")
    with pytest.raises(InputError) as caught:
        NbfStore(path)
    assert (caught.value.file, caught.value.line) == (f"{path}.seen", 2)


def test_a_redelivered_reject_is_a_duplicate_across_restarts(tmp_path: Path) -> None:
    """A frame cut short (a reject) that the broker delivers again, after a restart too:
    one line in PATH.rejects, the copies counted as duplicates; a reject without run and
    seq cannot be told apart and is kept each time; a half-written last line is cut off."""
    path = tmp_path / "billing.nbf"
    rejects = tmp_path / "billing.nbf.rejects"
    cut = Rejected("Mail01", "r1", 7, "t", b"\x01", "truncated", 0)
    anonymous = Rejected(None, None, None, "domino/billing", b"?", "the topic names no server", 0)
    store = NbfStore(path)
    store.add(cut)
    store.add(cut)  # within the batch
    store.add(anonymous)
    committed = store.commit()
    assert committed == Committed(duplicates=1, rejected=2)
    assert (committed.duplicates_by, committed.rejected_by) == (
        (("Mail01", 1),),
        (("", 1), ("Mail01", 1)),
    )
    store.close()
    with rejects.open("ab") as stream:
        stream.write(b'{"server": "Mail01", "run": "r1", "se')  # killed mid-line
    again = NbfStore(path)
    again.add(cut)
    again.add(anonymous)
    again.add(Rejected("Mail01", "r1", 8, "t", b"\x02", "truncated", 0))
    assert again.commit() == Committed(duplicates=1, rejected=2)
    again.close()
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(line["server"], line["seq"]) for line in lines] == [
        ("Mail01", 7),
        (None, None),
        (None, None),
        ("Mail01", 8),
    ]


def test_a_rejects_line_that_is_not_a_reject_is_bad_input_on_open(tmp_path: Path) -> None:
    path = tmp_path / "billing.nbf"
    (tmp_path / "billing.nbf.rejects").write_text('{"server": "Mail01"}\n[1, 2]\n')
    with pytest.raises(InputError) as caught:
        NbfStore(path)
    assert (caught.value.file, caught.value.line) == (f"{path}.rejects", 2)
