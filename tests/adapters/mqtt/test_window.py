"""The drain's in-flight window (simulator/adapters/mqtt/window.py), without a broker:
its size, the order of what an ack releases, resends after a lost connection, refusals
and stray acks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.adapters.mqtt.window import Ack, InFlightWindow, Resumed, Stalled, Waiting
from simulator.domino.billing import SequencedFrame


def frame(seq: int) -> SequencedFrame:
    return seq, f"frame {seq}".encode()


def sent_at(seq: int) -> int:
    """A distinct first-publish time per frame, in microseconds since the epoch."""
    return 1_800_000_000_000_000 + seq


def publish(window: InFlightWindow, seqs: range, first_mid: int = 100) -> dict[int, int]:
    """Publish these seqs with consecutive packet ids, each first sent at ``sent_at(seq)``;
    seq -> packet id."""
    mids = {}
    for offset, seq in enumerate(seqs):
        mids[seq] = first_mid + offset
        window.published(first_mid + offset, Waiting(frame(seq)), sent_at(seq))
    return mids


def test_size_is_the_request_within_the_packet_ids_less_one_for_status() -> None:
    window = InFlightWindow(1000)
    assert window.size == 1  # nothing published before a connection sizes it
    assert window.open(9) == 8
    assert window.open(65534) == 1000
    assert window.open(1) == 1  # never below one frame
    assert InFlightWindow(5).open(100) == 5
    with pytest.raises(ValueError, match="at least 1"):
        InFlightWindow(0)


def test_room_is_the_window_left_within_the_free_packet_ids() -> None:
    window = InFlightWindow(10)
    window.open(100)
    assert window.room(free_packet_ids=50) == 10
    publish(window, range(1, 8))
    assert window.room(free_packet_ids=50) == 3
    assert window.room(free_packet_ids=2) == 2
    assert window.room(free_packet_ids=0) == 0
    publish(window, range(8, 11), first_mid=200)
    assert window.room(free_packet_ids=50) == 0


@given(
    requested=st.integers(1, 40),
    packet_ids=st.integers(1, 50),
    steps=st.lists(st.tuples(st.booleans(), st.integers(0, 60)), max_size=80),
)
def test_the_window_never_exceeds_its_size_or_the_receive_maximum(
    requested: int, packet_ids: int, steps: list[tuple[bool, int]]
) -> None:
    """Publishing only what ``room`` allows, in any mix of publishes and acks."""
    window = InFlightWindow(requested)
    size = window.open(packet_ids)
    assert size <= requested
    assert size <= max(1, packet_ids - 1)
    next_mid = 1
    in_flight: list[int] = []
    for is_publish, count in steps:
        if is_publish:
            for _ in range(min(count, window.room(free_packet_ids=10_000))):
                window.published(next_mid, Waiting(frame(next_mid)), sent_at(next_mid))
                in_flight.append(next_mid)
                next_mid += 1
        else:
            for mid in in_flight[:count]:
                assert window.ack(mid) is not None
            del in_flight[:count]
        assert window.unacknowledged == len(in_flight) <= size


def test_acks_out_of_order_release_their_own_frames_and_keep_the_rest_in_order() -> None:
    window = InFlightWindow(10)
    window.open(100)
    mids = publish(window, range(1, 6))
    first = window.ack(mids[3])
    second = window.ack(mids[1])
    assert first is not None
    assert second is not None
    assert (first.item, first.delivered) == (frame(3), True)
    assert (second.item, second.delivered) == (frame(1), True)
    assert window.published_seqs() == [2, 4, 5]
    assert (window.delivered, window.refused, window.in_flight) == (2, 0, 3)


def test_a_lost_connection_resends_unacknowledged_frames_in_order_as_first_sent() -> None:
    window = InFlightWindow(10)
    window.open(100)
    mids = publish(window, range(1, 6))
    window.wait(frame(6))  # taken from the queue, not yet published
    window.ack(mids[2])
    window.ack(mids[4])

    assert window.lose() == 3
    assert window.unacknowledged == 0
    assert window.in_flight == 4
    resend = window.next_waiting(10)
    # Each copy keeps the time of its first publish; the frame never published has none.
    assert [(entry.item, entry.sent) for entry in resend] == [
        (frame(1), sent_at(1)),
        (frame(3), sent_at(3)),
        (frame(5), sent_at(5)),
        (frame(6), None),
    ]
    # Published again (new packet ids, same seq): only the copies count as resent.
    later = sent_at(1000)
    for mid, entry in enumerate(resend, start=500):
        window.published(mid, entry, later if entry.sent is None else entry.sent)
    assert window.resent == 3
    assert window.published_seqs() == [1, 3, 5, 6]
    assert window.lose() == 4
    assert [entry.sent for entry in window.next_waiting(10)] == [
        sent_at(1),
        sent_at(3),
        sent_at(5),
        later,
    ]
    assert window.lose() == 0


def test_frames_not_written_go_back_in_front_in_their_order() -> None:
    window = InFlightWindow(10)
    for seq in (1, 2, 3):
        window.wait(frame(seq))
    taken = window.next_waiting(2)
    assert [entry.item[0] for entry in taken] == [1, 2]
    window.put_back(taken)
    assert [entry.item[0] for entry in window.next_waiting(5)] == [1, 2, 3]
    assert window.next_waiting(5) == []


@pytest.mark.parametrize(
    ("reason", "delivered"),
    [(0x00, True), (0x10, True), (0x7F, True), (0x80, False), (0x87, False), (0x97, False)],
)
def test_a_puback_reason_code_from_0x80_up_counts_as_refused(reason: int, delivered: bool) -> None:
    window = InFlightWindow(10)
    window.open(100)
    mids = publish(window, range(1, 2))
    released = window.ack(mids[1], reason)
    assert released is not None
    assert released.item == frame(1)
    assert released.delivered is delivered
    assert (window.delivered, window.refused) == ((1, 0) if delivered else (0, 1))
    assert window.in_flight == 0


def test_duplicate_and_unknown_acks_are_ignored() -> None:
    window = InFlightWindow(10)
    window.open(100)
    mids = publish(window, range(1, 4))
    assert window.ack(mids[2]) is not None
    assert window.ack(mids[2]) is None  # a duplicate
    assert window.ack(7) is None  # a status message's packet id, say
    window.lose()
    assert window.ack(mids[1]) is None  # from the connection that was lost
    assert (window.delivered, window.refused) == (1, 0)
    assert window.in_flight == 2


def test_a_packet_id_in_flight_is_not_given_twice() -> None:
    window = InFlightWindow(10)
    window.published(1, Waiting(frame(1)), sent_at(1))
    with pytest.raises(ValueError, match="already in flight"):
        window.published(1, Waiting(frame(2)), sent_at(2))


def test_an_ack_carries_the_first_publish_time_and_first_publishes_are_counted_once() -> None:
    """The metrics' publish-to-ack latency runs from the first publish: a resent frame's
    ack carries the time of its first copy, and `first_publishes` counts it once."""
    window = InFlightWindow(10)
    window.open(100)
    mids = publish(window, range(1, 3))
    assert window.first_publishes == 2
    window.lose()
    for mid, entry in enumerate(window.next_waiting(10), start=200):
        window.published(mid, entry, sent_at(999) if entry.sent is None else entry.sent)
    assert (window.first_publishes, window.resent) == (2, 2)
    released = window.ack(201)
    assert released is not None
    assert (released.item, released.sent) == (frame(2), sent_at(2))
    assert window.ack(mids[1]) is None  # the lost connection's packet id


def test_a_stall_is_told_once_when_frames_wait_without_a_puback_and_so_is_the_resumption() -> None:
    """watch() with a clock of its own: nothing while acks come or nothing waits; once,
    when frames have waited `after` seconds since the last ack; then the resumption when
    acks come again, with how long it lasted; and a second stall is told again."""
    window = InFlightWindow(10)
    window.open(100)
    assert window.watch(0.0, after=5.0) is None  # nothing waits
    assert window.watch(30.0, after=5.0) is None
    mids = publish(window, range(1, 5))
    window.wait(frame(5))  # and one more waits for room
    assert window.watch(31.0, after=5.0) is None
    window.ack(mids[1])
    assert window.watch(32.0, after=5.0) is None  # an ack: the clock starts again
    assert window.watch(36.9, after=5.0) is None
    assert window.watch(37.0, after=5.0) == Stalled(in_flight=4, quiet_for=5.0)
    assert window.watch(38.0, after=5.0) is None  # told once
    assert window.watch(90.0, after=5.0) is None
    window.ack(mids[2])
    assert window.watch(91.0, after=5.0) == Resumed(stalled_for=59.0, in_flight=3)
    assert window.watch(92.0, after=5.0) is None
    # A lost connection acks nothing: the frames wait on, and it is a stall again.
    assert window.lose() == 2
    assert window.watch(95.0, after=5.0) is None
    assert window.watch(96.0, after=5.0) == Stalled(in_flight=3, quiet_for=5.0)
    # A refused frame is an answer too.
    window.published(7, window.next_waiting(1)[0], sent_at(3))
    window.ack(7, reason=0x97)
    assert window.watch(98.0, after=5.0) == Resumed(stalled_for=7.0, in_flight=2)


def test_frames_that_no_longer_wait_end_a_stall_and_start_no_clock() -> None:
    window = InFlightWindow(10)
    window.open(100)
    mids = publish(window, range(1, 3))
    assert window.watch(0.0, after=1.0) is None
    assert window.watch(1.0, after=1.0) == Stalled(in_flight=2, quiet_for=1.0)
    window.ack(mids[1])
    window.ack(mids[2])
    assert window.watch(2.0, after=1.0) == Resumed(stalled_for=2.0, in_flight=0)
    assert window.watch(50.0, after=1.0) is None  # nothing waits: no stall however long


@given(
    acks=st.lists(st.integers(90, 130), max_size=60),
    batch=st.integers(1, 7),
)
def test_acks_taken_together_do_what_each_one_does_alone(acks: list[int], batch: int) -> None:
    """`acked` (a read's PUBACKs at once) leaves the window, the counters and the stall
    watch as `ack` one by one leaves them; it says how many frames it released, which ids
    were no frame in flight, and the first publish times of those released, in order."""
    together, alone = InFlightWindow(50), InFlightWindow(50)
    for window in (together, alone):
        window.open(100)
        publish(window, range(1, 21))
        window.watch(0.0, 5.0)
    sent: list[int] = []
    for start in range(0, len(acks), batch):
        chunk = acks[start : start + batch]
        expected = [alone.ack(mid) for mid in chunk]
        released, others = together.acked(chunk, sent)
        assert released == sum(ack is not None for ack in expected)
        assert others == [mid for mid, ack in zip(chunk, expected, strict=True) if ack is None]
    taken = {mid for mid in acks if 100 <= mid < 120}
    assert sent == [sent_at(mid - 99) for mid in dict.fromkeys(acks) if mid in taken]
    assert together.delivered == alone.delivered == len(taken)
    assert together.refused == alone.refused == 0
    assert together.published_seqs() == alone.published_seqs()
    assert together.in_flight == alone.in_flight == 20 - len(taken)
    # The stall watch counts the acks taken together as those taken alone.
    assert together.watch(9.0, 5.0) == alone.watch(9.0, 5.0)
    assert together.watch(20.0, 5.0) == alone.watch(20.0, 5.0)
    assert together.acked([], None) == (0, [])


def test_acks_taken_together_end_a_stall() -> None:
    window = InFlightWindow(10)
    window.open(100)
    publish(window, range(1, 4))
    assert window.watch(0.0, 5.0) is None
    assert window.watch(6.0, 5.0) == Stalled(3, 6.0)
    assert window.acked([100, 101]) == (2, [])
    assert window.watch(7.0, 5.0) == Resumed(7.0, 1)


def test_new_frames_published_together_are_published_each_in_turn() -> None:
    """`published_new` records frames first published together as `published` would one
    by one: same order, count, first publish time; an id in flight is refused whole."""
    together, alone = InFlightWindow(10), InFlightWindow(10)
    for window in (together, alone):
        window.open(100)
    items = [frame(seq) for seq in range(1, 5)]
    together.published_new([7, 8, 9, 10], items, sent_at(1))
    for mid, item in zip([7, 8, 9, 10], items, strict=True):
        alone.published(mid, Waiting(item), sent_at(1))
    assert together.published_seqs() == alone.published_seqs() == [1, 2, 3, 4]
    assert together.first_publishes == alone.first_publishes == 4
    assert together.ack(9) == alone.ack(9) == Ack(items[2], 0, sent_at(1))
    with pytest.raises(ValueError, match="already in flight"):
        together.published_new([11, 10], [frame(5), frame(6)], sent_at(5))
    with pytest.raises(ValueError, match="2 packet ids for 1 frames"):
        together.published_new([12, 13], [frame(7)], sent_at(7))
    assert together.published_seqs() == [1, 2, 4]
    assert together.lose() == 3
    assert [entry.sent for entry in together.next_waiting(5)] == [sent_at(1)] * 3
