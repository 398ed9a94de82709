"""Batches by group commit: a batch is handed out as soon as none is committing, holding
what arrived meanwhile (at most max_items stored items); acknowledgements come back in
the order the messages were received."""

from __future__ import annotations

import re

import pytest
from paths import REPO

from simulator.addin.batcher import MAX_BATCH_ITEMS, Batcher
from simulator.addin.store import Received, Rejected


def frame(seq: int) -> Received:
    return Received("Mail01", "run-1", seq, "domino/billing/Mail01/session", b"f", None, 0)


def reject(seq: int) -> Rejected:
    return Rejected("Mail01", "run-1", seq, "domino/billing/Mail01/session", b"?", "bad", 0)


def seqs(items: list[Received | Rejected]) -> list[int | None]:
    return [item.seq for item in items]


def test_the_limit_is_within_that_of_the_design() -> None:
    """The contract's bound: batches of at most 1,000 frames."""
    assert MAX_BATCH_ITEMS <= 1_000


def test_two_batches_fit_in_the_bundled_brokers_in_flight_window() -> None:
    """A batch's messages stay unacknowledged until it commits: with half the window the
    broker can send the next batch meanwhile."""
    conf = (REPO / "queue" / "mosquitto.conf").read_text()
    found = re.search(r"^max_inflight_messages (\d+)$", conf, re.MULTILINE)
    assert found is not None
    assert int(found[1]) >= 2 * MAX_BATCH_ITEMS


def test_with_the_store_free_a_frame_is_handed_out_at_once() -> None:
    batcher: Batcher[str] = Batcher(max_items=10)
    assert batcher.take() is None
    assert batcher.add(frame(1), "a1"), "a batch opened: the committer looks again"
    batch = batcher.take()
    assert batch is not None and seqs(batch.items) == [1]
    assert batcher.committed(batch) == ["a1"]
    assert batcher.waiting == 0
    assert batcher.take() is None


def test_while_a_batch_commits_the_next_gathers_and_goes_out_when_it_has_committed() -> None:
    batcher: Batcher[str] = Batcher(max_items=10)
    batcher.add(frame(1), "a1")
    committing = batcher.take()
    assert committing is not None and batcher.committing
    assert batcher.add(frame(2), "a2"), "opened while the store is busy"
    assert not batcher.add(frame(3), "a3"), "the open batch only grows"
    batcher.add(None, "status")
    assert batcher.waiting == 4
    assert batcher.take() is None, "not before the batch ahead has committed"
    assert batcher.committed(committing) == ["a1"]
    following = batcher.take()
    assert following is not None and seqs(following.items) == [2, 3]
    assert batcher.committed(following) == ["a2", "a3", "status"]


def test_a_batch_holds_at_most_max_items_and_the_rest_waits_for_the_next() -> None:
    batcher: Batcher[int] = Batcher(max_items=3)
    batcher.add(frame(0), 0)
    committing = batcher.take()
    assert committing is not None
    for seq in range(1, 8):
        batcher.add(frame(seq), seq)
    assert batcher.take() is None
    batcher.committed(committing)
    got = []
    while (batch := batcher.take()) is not None:
        got.append(seqs(batch.items))
        batcher.committed(batch)
    assert got == [[1, 2, 3], [4, 5, 6], [7]]


def test_rejects_count_towards_the_limit_and_unstored_messages_do_not() -> None:
    batcher: Batcher[str] = Batcher(max_items=2)
    batcher.add(frame(0), "f0")
    committing = batcher.take()
    assert committing is not None
    batcher.add(None, "status")
    batcher.add(reject(1), "r1")
    batcher.add(None, "stats")
    batcher.add(frame(2), "f2")
    batcher.add(frame(3), "f3")
    batcher.committed(committing)
    batch = batcher.take()
    assert batch is not None and len(batch.items) == 2
    assert batcher.committed(batch) == ["status", "r1", "stats", "f2"]
    last = batcher.take()
    assert last is not None and batcher.committed(last) == ["f3"]


def test_messages_with_nothing_to_store_are_handed_out_for_their_acknowledgements() -> None:
    batcher: Batcher[str] = Batcher()
    batcher.add(None, "status")
    batch = batcher.take()
    assert batch is not None and batch.items == []
    assert batcher.committed(batch) == ["status"]


def test_acknowledgements_keep_the_receive_order_across_batches() -> None:
    batcher: Batcher[int] = Batcher(max_items=4)
    acked: list[int] = []
    committing = None
    for n in range(1, 23):
        batcher.add(frame(n) if n % 5 else None, n)
        if n % 3 == 0 and committing is not None:  # a commit ends now and then
            acked += batcher.committed(committing)
            committing = None
        if committing is None:
            committing = batcher.take()
    if committing is not None:
        acked += batcher.committed(committing)
    while (batch := batcher.take()) is not None:
        acked += batcher.committed(batch)
    assert acked == list(range(1, 23))


def test_only_the_batch_being_committed_can_be_given_back() -> None:
    batcher: Batcher[str] = Batcher()
    batcher.add(frame(1), "a")
    batch = batcher.take()
    assert batch is not None
    batcher.committed(batch)
    with pytest.raises(ValueError, match="not the batch being committed"):
        batcher.committed(batch)


def test_limits_must_make_sense() -> None:
    with pytest.raises(ValueError):
        Batcher(max_items=0)


def test_adding_a_reads_messages_together_is_adding_each() -> None:
    """`add_all` makes the batches `add` makes, message by message: split at max_items
    stored items, the acknowledgements of messages stored nowhere in their place."""
    items = [frame(1), None, frame(2), reject(3), frame(4), None, frame(5), frame(6), None]
    one, together = Batcher[int](max_items=2), Batcher[int](max_items=2)
    opened = [one.add(item, ack) for ack, item in enumerate(items)]
    assert together.add_all(items, list(range(len(items)))) == opened[0]
    assert not together.add_all([], [])
    for batcher in (one, together):
        batcher.add(frame(7), 99)
    while (first := one.take()) is not None:
        second = together.take()
        assert second is not None
        assert (first.items, first.acks) == (second.items, second.acks)
        one.committed(first)
        together.committed(second)
    assert together.take() is None
