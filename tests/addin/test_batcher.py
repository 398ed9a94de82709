"""Batches by group commit: one committed at a time while the next gathers; once the
stores are free a batch goes when it holds max_items stored items or its first message is
max_wait seconds old; acknowledgements given back in the order the messages came."""

from __future__ import annotations

import pytest

from simulator.addin.batcher import MAX_BATCH_ITEMS, MAX_BATCH_WAIT, Batcher
from simulator.addin.store import Received, Rejected


def frame(seq: int) -> Received:
    return Received("Mail01", "run-1", seq, "domino/billing/Mail01/session", b"f", None, 0)


def reject(seq: int) -> Rejected:
    return Rejected("Mail01", "run-1", seq, "domino/billing/Mail01/session", b"?", "bad", 0)


def test_the_limits_are_within_those_of_the_design() -> None:
    """The contract's bound: batches of at most 1,000 frames or 50 ms."""
    assert MAX_BATCH_ITEMS == 1_000
    assert 0 < MAX_BATCH_WAIT <= 0.05


def test_a_batch_is_due_max_wait_after_its_first_message() -> None:
    batcher: Batcher[str] = Batcher(max_items=10, max_wait=0.05)
    assert batcher.due_at() is None
    assert batcher.take(100.0, flush=True) is None
    batcher.add(frame(1), "a1", now=1.0)
    batcher.add(frame(2), "a2", now=1.03)
    assert batcher.due_at() == pytest.approx(1.05)
    assert batcher.take(1.049) is None
    batch = batcher.take(1.05)
    assert batch is not None
    assert [item.seq for item in batch.items if isinstance(item, Received)] == [1, 2]
    assert batcher.committed(batch) == ["a1", "a2"]
    assert batcher.waiting == 0


def test_a_full_batch_is_due_at_once_and_the_next_one_opens() -> None:
    batcher: Batcher[int] = Batcher(max_items=3, max_wait=10.0)
    for seq in range(1, 6):
        batcher.add(frame(seq), seq, now=0.0)
    first = batcher.take(0.0)
    assert first is not None and len(first.items) == 3
    assert batcher.take(0.0) is None, "one batch at a time"
    assert batcher.committed(first) == [1, 2, 3]
    assert batcher.take(0.0) is None, "the second batch holds 2 of 3 and waits for max_wait"
    second = batcher.take(0.0, flush=True)
    assert second is not None and batcher.committed(second) == [4, 5]


def test_rejects_count_towards_the_limit_and_unstored_messages_do_not() -> None:
    batcher: Batcher[str] = Batcher(max_items=2, max_wait=10.0)
    batcher.add(None, "status", now=0.0)
    batcher.add(reject(1), "r1", now=0.0)
    batcher.add(None, "stats", now=0.0)
    assert batcher.take(0.0) is None
    batcher.add(frame(2), "f2", now=0.0)
    batch = batcher.take(0.0)
    assert batch is not None and len(batch.items) == 2
    assert batcher.committed(batch) == ["status", "r1", "stats", "f2"]


def test_messages_with_nothing_to_store_are_acknowledged_without_waiting() -> None:
    batcher: Batcher[str] = Batcher(max_wait=0.05)
    batcher.add(None, "status", now=5.0)
    assert batcher.due_at() == 5.0
    batch = batcher.take(5.0)
    assert batch is not None and batch.items == []
    assert batcher.committed(batch) == ["status"]


def test_acknowledgements_keep_the_receive_order_across_batches() -> None:
    batcher: Batcher[int] = Batcher(max_items=4, max_wait=0.05)
    acked: list[int] = []
    now = 0.0
    for n in range(1, 23):
        batcher.add(frame(n) if n % 5 else None, n, now=now)
        now += 0.01
        batch = batcher.take(now)
        if batch is not None:
            acked += batcher.committed(batch)
    while (batch := batcher.take(now, flush=True)) is not None:
        acked += batcher.committed(batch)
    assert acked == list(range(1, 23))


def test_messages_wait_while_a_batch_commits() -> None:
    batcher: Batcher[str] = Batcher(max_items=10, max_wait=0.05)
    batcher.add(frame(1), "a", now=0.0)
    committing = batcher.take(0.0, flush=True)
    assert committing is not None and batcher.committing
    batcher.add(None, "status", now=0.01)
    assert batcher.waiting == 2
    assert batcher.take(1.0, flush=True) is None, "not before the batch ahead has committed"
    assert batcher.committed(committing) == ["a"]
    following = batcher.take(1.0)
    assert following is not None and batcher.committed(following) == ["status"]


def test_only_the_batch_being_committed_can_be_given_back() -> None:
    batcher: Batcher[str] = Batcher()
    batcher.add(frame(1), "a", now=0.0)
    batch = batcher.take(0.0, flush=True)
    assert batch is not None
    batcher.committed(batch)
    with pytest.raises(ValueError, match="not the batch being committed"):
        batcher.committed(batch)


def test_limits_must_make_sense() -> None:
    with pytest.raises(ValueError):
        Batcher(max_items=0)
    with pytest.raises(ValueError):
        Batcher(max_wait=-1)


def test_a_batch_gathered_during_a_long_commit_goes_the_moment_that_commit_ends() -> None:
    batcher: Batcher[str] = Batcher(max_items=10, max_wait=0.01)
    batcher.add(frame(1), "a1", now=0.0)
    first = batcher.take(0.01)
    assert first is not None
    batcher.add(frame(2), "a2", now=0.012)
    batcher.add(frame(3), "a3", now=0.030)
    assert batcher.take(0.040) is None, "the commit ahead has not ended"
    assert batcher.committed(first) == ["a1"]
    second = batcher.take(0.040)
    assert second is not None and [item.seq for item in second.items] == [2, 3]


def test_a_batch_gathered_during_a_short_commit_waits_out_max_wait_for_company() -> None:
    batcher: Batcher[str] = Batcher(max_items=10, max_wait=0.01)
    batcher.add(frame(1), "a1", now=0.0)
    first = batcher.take(0.01)
    assert first is not None
    batcher.add(frame(2), "a2", now=0.012)
    batcher.committed(first)
    assert batcher.due_at() == pytest.approx(0.022)
    assert batcher.take(0.015) is None
    second = batcher.take(0.022)
    assert second is not None and batcher.committed(second) == ["a2"]
