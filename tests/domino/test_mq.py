"""Tests of the MQ$BILLING queue model: order, quota policies, hold/release, quit, waiters."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.domino.mq import (
    DEFAULT_QUOTA,
    MessageQueue,
    MQEmptyError,
    MQError,
    MQExceededQuotaError,
    MQQuittingError,
    MQTimeoutError,
    QuotaPolicy,
)

T = TypeVar("T")


async def settle(rounds: int = 5) -> None:
    """Let every ready task run until it blocks again."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that must finish without suspending (no event loop needed)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    coro.close()
    raise AssertionError("coroutine suspended")


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "code", "status"),
    [
        (MQTimeoutError, "ERR_MQ_TIMEOUT", 0x400 + 95),
        (MQExceededQuotaError, "ERR_MQ_EXCEEDED_QUOTA", 0x400 + 99),
        (MQEmptyError, "ERR_MQ_EMPTY", 0x400 + 100),
        (MQQuittingError, "ERR_MQ_QUITTING", 0x400 + 102),
    ],
)
def test_errors_carry_domino_code_and_status(cls: type[MQError], code: str, status: int) -> None:
    err = cls("MQ$X")
    assert isinstance(err, MQError)
    assert err.code == code
    assert err.status == status
    assert err.queue == "MQ$X"
    assert str(err).startswith(code)
    assert "MQ$X" in str(err)


def test_timeout_error_is_also_a_builtin_timeout() -> None:
    assert isinstance(MQTimeoutError(), TimeoutError)


# -- construction and registry -----------------------------------------------------------


def test_quota_zero_means_default_and_negative_is_refused() -> None:
    assert MessageQueue("q", quota=0).quota == DEFAULT_QUOTA == 65535
    assert MessageQueue("q").quota == 65535
    with pytest.raises(ValueError):
        MessageQueue("q", quota=-1)


def test_policy_accepts_its_string_form() -> None:
    assert MessageQueue("q", policy="drop").policy is QuotaPolicy.DROP
    assert MessageQueue("q").policy is QuotaPolicy.BLOCK
    with pytest.raises(ValueError):
        MessageQueue("q", policy="spill")


# -- order -------------------------------------------------------------------------------


def test_fifo_within_a_priority() -> None:
    q: MessageQueue[bytes] = MessageQueue("q")
    msgs = [bytes([i]) * 3 for i in range(50)]
    for m in msgs:
        q.put_nowait(m)
    assert [q.get_nowait(hold=False) for _ in msgs] == msgs


def test_lower_priority_number_comes_out_first() -> None:
    q: MessageQueue[bytes] = MessageQueue("q")
    # Levels created out of order must still be read in priority order.
    q.put_nowait(b"p5-a", 5)
    q.put_nowait(b"p1-a", 1)
    q.put_nowait(b"p0-a")
    q.put_nowait(b"p5-b", 5)
    q.put_nowait(b"p3-a", 3)
    q.put_nowait(b"p1-b", 1)
    q.put_nowait(b"p65535", 65535)
    q.put_nowait(b"p0-b", 0)
    got = [q.get_nowait(hold=False) for _ in range(8)]
    assert got == [b"p0-a", b"p0-b", b"p1-a", b"p1-b", b"p3-a", b"p5-a", b"p5-b", b"p65535"]


@pytest.mark.parametrize("priority", [-1, 65536])
def test_priority_outside_a_word_is_refused(priority: int) -> None:
    q: MessageQueue[bytes] = MessageQueue("q")
    with pytest.raises(ValueError):
        q.put_nowait(b"x", priority)
    assert q.depth == 0


def test_get_many_follows_get_order_and_limit() -> None:
    q: MessageQueue[bytes] = MessageQueue("q")
    for i in range(3):
        q.put_nowait(b"low%d" % i, 2)
        q.put_nowait(b"high%d" % i, 0)
    assert q.get_many_nowait(4) == [b"high0", b"high1", b"high2", b"low0"]
    assert q.held == 4
    assert q.get_many_nowait(10, hold=False) == [b"low1", b"low2"]
    assert q.get_many_nowait(10) == []
    assert q.depth == 0
    assert q.held == 4
    assert q.in_use == 4


def test_get_nowait_on_empty_queue() -> None:
    q: MessageQueue[bytes] = MessageQueue("q")
    with pytest.raises(MQEmptyError):
        q.get_nowait()


# -- quota and policies ------------------------------------------------------------------


@pytest.mark.parametrize("policy", list(QuotaPolicy))
def test_put_nowait_refuses_at_quota_without_counting_a_drop(policy: QuotaPolicy) -> None:
    q: MessageQueue[bytes] = MessageQueue("q", quota=3, policy=policy)
    for i in range(3):
        q.put_nowait(bytes([i]))
    assert q.is_full
    with pytest.raises(MQExceededQuotaError):
        q.put_nowait(b"over")
    assert q.stats().dropped == 0
    assert q.depth == 3


def test_put_many_queues_up_to_the_quota_in_order_counting_held_messages() -> None:
    q: MessageQueue[bytes] = MessageQueue("q", quota=5)
    q.put_nowait(b"a")
    assert q.get_nowait() == b"a"  # held: it takes a slot
    assert q.put_many_nowait([b"b", b"c"]) == 2
    assert q.put_many_nowait([b"d", b"e", b"f"]) == 2
    assert q.put_many_nowait([b"g"]) == 0
    assert q.put_many_nowait([]) == 0
    stats = q.stats()
    assert (stats.depth, stats.held, stats.high_water, stats.dropped) == (4, 1, 5, 0)
    assert q.get_many_nowait(10, hold=False) == [b"b", b"c", b"d", b"e"]


def test_put_many_after_quit_is_refused() -> None:
    q: MessageQueue[bytes] = MessageQueue("q")
    q.quit()
    with pytest.raises(MQQuittingError):
        q.put_many_nowait([b"a"])
    assert q.depth == 0


async def test_put_many_wakes_a_getter_for_each_message() -> None:
    q: MessageQueue[bytes] = MessageQueue("q")
    getters = [asyncio.create_task(q.get(hold=False)) for _ in range(3)]
    await settle()
    assert q.put_many_nowait([b"a", b"b"]) == 2
    done, waiting = await asyncio.wait(getters, timeout=0.5)
    assert sorted(task.result() for task in done) == [b"a", b"b"]
    assert len(waiting) == 1
    q.put_nowait(b"c")
    assert await asyncio.wait_for(waiting.pop(), 1) == b"c"


def test_record_drop_counts_what_the_caller_gave_up() -> None:
    q: MessageQueue[bytes] = MessageQueue("q", quota=1)
    q.put_nowait(b"a")
    with pytest.raises(MQExceededQuotaError):
        q.put_nowait(b"b")
    q.record_drop()
    q.record_drop(2)
    assert q.stats().dropped == 3
    with pytest.raises(ValueError):
        q.record_drop(-1)


async def test_drop_policy_put_fails_and_counts() -> None:
    q: MessageQueue[bytes] = MessageQueue("q", quota=2, policy=QuotaPolicy.DROP)
    assert await q.put(b"a") is True
    assert await q.put(b"b") is True
    assert await q.put(b"c") is False
    assert await q.put(b"d") is False
    s = q.stats()
    assert (s.put, s.dropped, s.depth) == (2, 2, 2)
    assert [q.get_nowait(hold=False), q.get_nowait(hold=False)] == [b"a", b"b"]


async def test_drop_policy_counts_held_messages_against_quota() -> None:
    q: MessageQueue[bytes] = MessageQueue("q", quota=1, policy="drop")
    await q.put(b"a")
    q.get_nowait()  # held: the slot stays taken
    assert await q.put(b"b") is False
    q.release()
    assert await q.put(b"c") is True


async def test_block_policy_waits_for_a_get_without_hold() -> None:
    q: MessageQueue[bytes] = MessageQueue("q", quota=2)
    await q.put(b"a")
    await q.put(b"b")
    putter = asyncio.create_task(q.put(b"c"))
    await settle()
    assert not putter.done()
    assert q.get_nowait(hold=False) == b"a"
    assert await asyncio.wait_for(putter, 1) is True
    assert q.stats().dropped == 0
    assert q.get_many_nowait(5, hold=False) == [b"b", b"c"]


async def test_held_messages_keep_a_blocked_put_waiting_until_release() -> None:
    q: MessageQueue[bytes] = MessageQueue("q", quota=2)
    q.put_nowait(b"a")
    q.put_nowait(b"b")
    assert q.get_nowait() == b"a"  # taken, not acknowledged
    putter = asyncio.create_task(q.put(b"c"))
    await settle()
    assert not putter.done(), "a held message must still count against the quota"
    assert q.depth == 1
    assert q.held == 1
    q.release()
    assert await asyncio.wait_for(putter, 1) is True
    assert q.held == 0
    assert q.get_many_nowait(5) == [b"b", b"c"]


async def test_wait_not_full_waits_for_the_room_asked() -> None:
    q: MessageQueue[bytes] = MessageQueue("q", quota=4)
    for i in range(4):
        q.put_nowait(bytes([i]))
    q.get_many_nowait(4)
    waiter = asyncio.create_task(q.wait_not_full(room=3))
    await settle()
    q.release(2)
    await settle()
    assert not waiter.done()
    q.release(1)
    await asyncio.wait_for(waiter, 1)
    assert q.free == 3


async def test_wait_not_full_refuses_impossible_room() -> None:
    q: MessageQueue[bytes] = MessageQueue("q", quota=4)
    with pytest.raises(ValueError):
        await q.wait_not_full(room=5)
    with pytest.raises(ValueError):
        await q.wait_not_full(room=0)


def test_release_more_than_held_is_refused() -> None:
    q: MessageQueue[bytes] = MessageQueue("q")
    q.put_nowait(b"a")
    q.get_nowait()
    with pytest.raises(ValueError):
        q.release(2)
    q.release(1)
    with pytest.raises(ValueError):
        q.release()


# -- counters ----------------------------------------------------------------------------


async def test_stats_count_everything() -> None:
    q: MessageQueue[bytes] = MessageQueue("MQ$S", quota=4, policy="drop")
    for i in range(4):
        await q.put(bytes([i]))
    assert await q.put(b"x") is False
    q.get_nowait()
    q.get_nowait()
    q.get_nowait(hold=False)
    q.release(1)
    await q.put(b"y")
    s = q.stats()
    assert s.name == "MQ$S"
    assert s.quota == 4
    assert s.policy is QuotaPolicy.DROP
    assert s.put == 5
    assert s.got == 3
    assert s.released == 1
    assert s.dropped == 1
    assert s.depth == 2
    assert s.held == 1
    assert s.in_use == 3
    assert s.high_water == 4
    assert s.quitting is False
    with pytest.raises(AttributeError):
        s.put = 0  # type: ignore[misc]


def test_high_water_includes_held_messages() -> None:
    q: MessageQueue[bytes] = MessageQueue("q")
    q.put_nowait(b"a")
    q.get_nowait()
    q.put_nowait(b"b")
    assert q.depth == 1
    assert q.stats().high_water == 2


# -- quit --------------------------------------------------------------------------------


async def test_quit_refuses_puts_and_drains_before_failing_gets() -> None:
    q: MessageQueue[bytes] = MessageQueue("q")
    q.put_nowait(b"a")
    q.put_nowait(b"b")
    q.quit()
    q.quit()  # idempotent
    assert q.is_quitting
    with pytest.raises(MQQuittingError):
        q.put_nowait(b"c")
    with pytest.raises(MQQuittingError):
        await q.put(b"c")
    assert q.get_nowait() == b"a"
    assert await q.get() == b"b"
    with pytest.raises(MQQuittingError):
        q.get_nowait()
    with pytest.raises(MQQuittingError):
        await q.get()
    with pytest.raises(MQQuittingError):
        await q.get(timeout=5)
    # The drain can still acknowledge what it took.
    q.release(2)
    assert q.stats().released == 2
    assert q.stats().quitting is True


async def test_quit_wakes_waiting_getters_and_putters() -> None:
    q: MessageQueue[bytes] = MessageQueue("q", quota=1)
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await settle()
    q.put_nowait(b"a")
    putter = asyncio.create_task(q.put(b"b"))
    space = asyncio.create_task(q.wait_not_full())
    await settle()
    q.quit()
    results = await asyncio.wait_for(
        asyncio.gather(*getters, putter, space, return_exceptions=True), 1
    )
    got = [r for r in results[:3] if isinstance(r, bytes)]
    assert got == [b"a"]
    assert sum(isinstance(r, MQQuittingError) for r in results[:3]) == 2
    assert isinstance(results[3], MQQuittingError)
    assert isinstance(results[4], MQQuittingError)
    assert q.depth == 0


# -- waiting get, timeouts, several getters -----------------------------------------------


async def test_get_waits_for_a_put() -> None:
    q: MessageQueue[bytes] = MessageQueue("q")
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    q.put_nowait(b"a")
    assert await asyncio.wait_for(getter, 1) == b"a"
    assert q.held == 1


async def test_get_times_out_and_leaves_no_stale_waiter() -> None:
    q: MessageQueue[bytes] = MessageQueue("q")
    with pytest.raises(MQTimeoutError) as info:
        await q.get(timeout=0.01)
    assert info.value.code == "ERR_MQ_TIMEOUT"
    with pytest.raises(TimeoutError):
        await q.get(timeout=0)
    # A later put is not swallowed by the timed-out getters.
    q.put_nowait(b"a")
    getter = asyncio.create_task(q.get(hold=False))
    assert await asyncio.wait_for(getter, 1) == b"a"


async def test_get_with_timeout_returns_a_queued_message_at_once() -> None:
    q: MessageQueue[bytes] = MessageQueue("q")
    q.put_nowait(b"a")
    assert await q.get(timeout=0) == b"a"


async def test_each_waiting_getter_gets_one_message() -> None:
    q: MessageQueue[bytes] = MessageQueue("q")
    getters = [asyncio.create_task(q.get(hold=False)) for _ in range(3)]
    await settle()
    for m in (b"a", b"b", b"c"):
        q.put_nowait(m)
    results = await asyncio.wait_for(asyncio.gather(*getters), 1)
    assert results == [b"a", b"b", b"c"]
    assert q.depth == 0


# -- cancellation ------------------------------------------------------------------------


async def test_cancelled_getter_after_wakeup_passes_the_message_on() -> None:
    q: MessageQueue[bytes] = MessageQueue("q")
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await settle()
    q.put_nowait(b"a")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, 1) == b"a"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (q.depth, q.held) == (0, 1)


async def test_cancelled_waiting_getter_takes_nothing() -> None:
    q: MessageQueue[bytes] = MessageQueue("q")
    getter = asyncio.create_task(q.get())
    await settle()
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    q.put_nowait(b"a")
    assert (q.depth, q.held) == (1, 0)
    assert q.get_nowait() == b"a"


async def test_timeout_racing_a_put_loses_nothing() -> None:
    """Deadline and message arriving close together: exactly one getter has the message."""
    outcomes: set[str] = set()
    for i in range(60):
        q: MessageQueue[bytes] = MessageQueue("q")
        timed = asyncio.create_task(q.get(timeout=0.002))
        other = asyncio.create_task(q.get(hold=False))
        await settle(1)
        await asyncio.sleep(0.0001 * (i % 40))
        q.put_nowait(b"m")
        first = await asyncio.wait_for(asyncio.gather(timed, return_exceptions=True), 1)
        if first[0] == b"m":
            outcomes.add("timed")
            q.quit()  # nothing more is coming for `other`
            with pytest.raises(MQQuittingError):
                await asyncio.wait_for(other, 1)
            q.release()
        else:
            outcomes.add("timeout")
            assert isinstance(first[0], MQTimeoutError)
            assert await asyncio.wait_for(other, 1) == b"m"
        assert (q.depth, q.held) == (0, 0)
    assert "timeout" in outcomes


async def test_cancelled_blocked_put_queues_nothing() -> None:
    q: MessageQueue[bytes] = MessageQueue("q", quota=1)
    q.put_nowait(b"a")
    cancelled = asyncio.create_task(q.put(b"lost"))
    kept = asyncio.create_task(q.put(b"kept"))
    await settle()
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    q.get_nowait(hold=False)
    assert await asyncio.wait_for(kept, 1) is True
    assert q.get_many_nowait(5) == [b"kept"]


async def test_woken_put_cancelled_before_running_does_not_steal_the_wakeup() -> None:
    q: MessageQueue[bytes] = MessageQueue("q", quota=1)
    q.put_nowait(b"a")
    q.get_nowait()  # held
    first = asyncio.create_task(q.put(b"first"))
    second = asyncio.create_task(q.put(b"second"))
    await settle()
    q.release()  # one slot frees
    first.cancel()
    assert await asyncio.wait_for(second, 1) is True
    with pytest.raises(asyncio.CancelledError):
        await first
    assert q.get_many_nowait(5) == [b"second"]


async def test_hold_release_pipeline_moves_everything_in_order() -> None:
    """An engine putting through a small quota and a drain acknowledging in batches."""
    q: MessageQueue[bytes] = MessageQueue("q", quota=8)
    total = 500
    received: list[bytes] = []

    async def engine() -> None:
        for i in range(total):
            assert await q.put(i.to_bytes(4, "little"))
        q.quit()

    async def drain() -> None:
        while True:
            try:
                first = await q.get(timeout=1)
            except MQQuittingError:
                return
            batch = [first, *q.get_many_nowait(3)]
            assert q.in_use <= q.quota
            await asyncio.sleep(0)  # the broker's acknowledgement arrives later
            received.extend(batch)
            q.release(len(batch))

    await asyncio.wait_for(asyncio.gather(engine(), drain()), 5)
    assert received == [i.to_bytes(4, "little") for i in range(total)]
    s = q.stats()
    assert (s.put, s.got, s.released, s.dropped, s.held, s.depth) == (
        total,
        total,
        total,
        0,
        0,
        0,
    )
    assert s.high_water == 8


# -- against a reference model -----------------------------------------------------------


@dataclass
class Model:
    """The queue as a list; slow and obviously right."""

    quota: int
    drop: bool
    items: list[tuple[int, int, bytes]] = field(default_factory=list)  # (priority, seq, msg)
    held: int = 0
    got: int = 0
    released: int = 0
    dropped: int = 0
    high_water: int = 0
    quitting: bool = False

    def take(self) -> bytes:
        best = min(self.items)
        self.items.remove(best)
        self.got += 1
        return best[2]


ops = st.one_of(
    st.tuples(st.just("put"), st.integers(0, 3)),
    st.tuples(st.just("aput"), st.integers(0, 3)),
    st.tuples(st.just("get"), st.booleans()),
    st.tuples(st.just("aget"), st.booleans()),
    st.tuples(st.just("get_many"), st.integers(0, 4), st.booleans()),
    st.tuples(st.just("release"), st.integers(0, 3)),
    st.tuples(st.just("drop"), st.integers(0, 2)),
    st.tuples(st.just("quit")),
)


@settings(max_examples=300, deadline=None)
@given(
    quota=st.integers(1, 6),
    drop=st.booleans(),
    steps=st.lists(ops, max_size=60),
)
def test_matches_reference_model(quota: int, drop: bool, steps: list[tuple[Any, ...]]) -> None:
    q: MessageQueue[bytes] = MessageQueue("q", quota=quota, policy="drop" if drop else "block")
    m = Model(quota=quota, drop=drop)
    seq = 0
    for step in steps:
        name = step[0]
        used = len(m.items) + m.held
        if name in ("put", "aput"):
            seq += 1
            msg = b"m%d" % seq
            if name == "aput" and used >= quota and not drop and not m.quitting:
                continue  # a blocking put would wait: not a step of this model
            if m.quitting:
                with pytest.raises(MQQuittingError):
                    if name == "put":
                        q.put_nowait(msg, step[1])
                    else:
                        run_now(q.put(msg, step[1]))
            elif used >= quota:
                if name == "put":
                    with pytest.raises(MQExceededQuotaError):
                        q.put_nowait(msg, step[1])
                else:
                    assert run_now(q.put(msg, step[1])) is False
                    m.dropped += 1
            else:
                if name == "put":
                    q.put_nowait(msg, step[1])
                else:
                    assert run_now(q.put(msg, step[1])) is True
                m.items.append((step[1], seq, msg))
                m.high_water = max(m.high_water, used + 1)
        elif name in ("get", "aget"):
            hold = step[1]
            if not m.items and not m.quitting and name == "aget":
                continue  # would wait
            if m.items:
                expected = m.take()
                if hold:
                    m.held += 1
                got = q.get_nowait(hold=hold) if name == "get" else run_now(q.get(hold=hold))
                assert got == expected
            elif m.quitting:
                with pytest.raises(MQQuittingError):
                    if name == "get":
                        q.get_nowait(hold=hold)
                    else:
                        run_now(q.get(hold=hold))
            else:
                with pytest.raises(MQEmptyError):
                    q.get_nowait(hold=hold)
        elif name == "get_many":
            limit, hold = step[1], step[2]
            expected_many = [m.take() for _ in range(min(limit, len(m.items)))]
            if hold:
                m.held += len(expected_many)
            assert q.get_many_nowait(limit, hold=hold) == expected_many
        elif name == "release":
            n = step[1]
            if n > m.held:
                with pytest.raises(ValueError):
                    q.release(n)
            else:
                q.release(n)
                m.held -= n
                m.released += n
        elif name == "drop":
            q.record_drop(step[1])
            m.dropped += step[1]
        else:
            q.quit()
            m.quitting = True

        s = q.stats()
        assert s.depth == len(m.items) == q.depth
        assert s.held == m.held == q.held
        assert s.got == m.got
        assert s.put == m.got + len(m.items)
        assert s.released == m.released
        assert s.dropped == m.dropped
        assert s.high_water == m.high_water
        assert s.quitting == m.quitting == q.is_quitting
        assert q.free == quota - len(m.items) - m.held
        assert q.is_full == (len(m.items) + m.held >= quota)
