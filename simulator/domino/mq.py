"""In-process model of the Domino message-queue API (MQOpen, MQPut, MQGet) used as MQ$BILLING."""

from __future__ import annotations

from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from itertools import repeat
from operator import call
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from simulator.wire import constants as c

if TYPE_CHECKING:
    # Imported where a wait needs it: `billsim validate` and `--help` import this module
    # (its quota) and never wait (asyncio and ssl: 5% of `--help`'s instructions).
    import asyncio

__all__ = [
    "DEFAULT_QUOTA",
    "MAX_PRIORITY",
    "MQEmptyError",
    "MQError",
    "MQExceededQuotaError",
    "MQQuittingError",
    "MQStats",
    "MQTimeoutError",
    "MessageQueue",
    "QuotaPolicy",
]

DEFAULT_QUOTA = c.WORD_MAX  # MQCreate: quota 0 means the default, MAXWORD messages
MAX_PRIORITY = c.WORD_MAX  # MQPut takes the priority as a WORD

# Status values as the C API's misc error header numbers them, so a log line can be
# matched against Domino documentation.
_PKG_MISC = 0x0400


class QuotaPolicy(StrEnum):
    """What ``MessageQueue.put`` does when the quota is reached."""

    BLOCK = "block"  # wait for room: the virtual clock waits and nothing is lost
    DROP = "drop"  # fail the write, as a real server does, and count it


class MQError(Exception):
    """Base of the message-queue errors; ``code`` is the Domino name, ``status`` its value."""

    code: ClassVar[str] = "ERR_MQ"
    status: ClassVar[int] = 0
    text: ClassVar[str] = "Message Queue error"

    def __init__(self, queue: str | None = None, detail: str | None = None) -> None:
        self.queue = queue
        self.detail = detail
        where = f" ({queue})" if queue is not None else ""
        more = f": {detail}" if detail else ""
        super().__init__(f"{self.code}: {self.text}{where}{more}")


class MQTimeoutError(MQError, TimeoutError):
    """A waiting get timed out with the queue still empty."""

    code = "ERR_MQ_TIMEOUT"
    status = _PKG_MISC + 95
    text = "Timeout occurred waiting for message."


class MQExceededQuotaError(MQError):
    """The queue holds its quota of messages (queued plus taken-but-unreleased)."""

    code = "ERR_MQ_EXCEEDED_QUOTA"
    status = _PKG_MISC + 99
    text = "Message Queue is full."


class MQEmptyError(MQError):
    """A non-waiting get found no message."""

    code = "ERR_MQ_EMPTY"
    status = _PKG_MISC + 100
    text = "Message Queue is empty."


class MQQuittingError(MQError):
    """The queue is quitting: puts fail, and gets fail once what it holds is drained."""

    code = "ERR_MQ_QUITTING"
    status = _PKG_MISC + 102
    text = "Quit is pending on the Message Queue"


@dataclass(frozen=True, slots=True)
class MQStats:
    """A snapshot of a queue's counters.

    ``depth`` counts messages waiting in the queue, ``held`` those taken by a get but not
    yet released; both count against the quota, and ``high_water`` is the peak of their
    sum. ``released`` counts releases (for the MQTT drain: frames the broker acknowledged).
    """

    name: str
    quota: int
    policy: QuotaPolicy
    put: int
    got: int
    released: int
    dropped: int
    depth: int
    held: int
    high_water: int
    quitting: bool

    @property
    def in_use(self) -> int:
        """Quota slots taken: queued plus held messages."""
        return self.depth + self.held


_M = TypeVar("_M")


class MessageQueue(Generic[_M]):
    """A named, quota-bounded priority queue of messages for one asyncio event loop.

    Priorities run from 0 (highest) to ``MAX_PRIORITY``; within a priority, order is FIFO.

    **Taken messages count against the quota.** A get takes a message out of the queue
    but, by default (``hold=True``), keeps its quota slot until ``release()`` is called.
    That is how the MQTT drain gets at-least-once delivery without putting frames back:
    it releases a frame when the broker acknowledges it, keeps (and re-sends) taken
    frames across a lost connection, and a producer blocked on the quota wakes only when
    acknowledgements free room. A consumer with nothing to acknowledge passes
    ``hold=False`` and the slot is freed at once.

    Not thread-safe: use it from the event loop that runs its waiters. The non-waiting
    calls need no running loop.
    """

    __slots__ = (
        "_dropped",
        "_getters",
        "_got",
        "_held",
        "_high_water",
        "_levels",
        "_order",
        "_policy",
        "_quitting",
        "_quota",
        "_released",
        "_space_waiters",
        "_used",
        "name",
    )

    def __init__(
        self,
        name: str,
        *,
        quota: int = DEFAULT_QUOTA,
        policy: QuotaPolicy | str = QuotaPolicy.BLOCK,
    ) -> None:
        if quota < 0:
            raise ValueError(f"queue quota must be positive (0 for the default), not {quota}")
        self.name = name
        self._quota = quota or DEFAULT_QUOTA
        self._policy = QuotaPolicy(policy)
        # A deque per priority in use, and the same deques in priority order: a get scans
        # the few levels in use instead of paying a heap's log(n) on every message, so the
        # usual single-priority stream costs one append and one popleft.
        first: deque[_M] = deque()
        self._levels: dict[int, deque[_M]] = {0: first}
        self._order: list[deque[_M]] = [first]
        # _used = queued + held; keeping it (not the queued count) makes the put check a
        # single comparison. Queued is _used - _held.
        self._used = 0
        self._held = 0
        self._got = 0
        self._released = 0
        self._dropped = 0
        self._high_water = 0
        self._quitting = False
        self._getters: deque[asyncio.Future[None]] = deque()
        self._space_waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def __repr__(self) -> str:
        return (
            f"<MessageQueue {self.name!r} depth={self.depth} held={self._held} "
            f"quota={self._quota} policy={self._policy.value}"
            f"{' quitting' if self._quitting else ''}>"
        )

    # -- state -------------------------------------------------------------------------

    @property
    def quota(self) -> int:
        """Maximum of queued plus held messages."""
        return self._quota

    @property
    def policy(self) -> QuotaPolicy:
        return self._policy

    @property
    def depth(self) -> int:
        """Messages waiting in the queue (not counting held ones)."""
        return self._used - self._held

    @property
    def held(self) -> int:
        """Messages taken by a holding get and not yet released."""
        return self._held

    @property
    def in_use(self) -> int:
        """Quota slots taken: ``depth + held``."""
        return self._used

    @property
    def free(self) -> int:
        """Messages that can be put before the quota is reached."""
        return self._quota - self._used

    @property
    def is_full(self) -> bool:
        return self._used >= self._quota

    @property
    def is_quitting(self) -> bool:
        """True after ``quit()`` (MQIsQuitPending)."""
        return self._quitting

    def stats(self) -> MQStats:
        depth = self._used - self._held
        return MQStats(
            name=self.name,
            quota=self._quota,
            policy=self._policy,
            # Messages leave the queue only through a get, so puts need no counter of
            # their own on the hot path.
            put=self._got + depth,
            got=self._got,
            released=self._released,
            dropped=self._dropped,
            depth=depth,
            held=self._held,
            high_water=self._high_water,
            quitting=self._quitting,
        )

    # -- put ---------------------------------------------------------------------------

    def put_nowait(self, msg: _M, priority: int = 0) -> None:
        """Queue ``msg`` (MQPut).

        Raises ``MQQuittingError`` after ``quit()``, and ``MQExceededQuotaError`` when queued plus
        held messages reach the quota, whatever the policy; the latter is not counted as
        a drop (see ``record_drop``). ``ValueError`` for a priority outside 0..65535.
        """
        if self._quitting:
            raise MQQuittingError(self.name)
        used = self._used
        if used >= self._quota:
            raise MQExceededQuotaError(self.name)
        level = self._levels.get(priority)
        if level is None:
            level = self._add_level(priority)
        level.append(msg)
        self._used = used + 1
        if used >= self._high_water:
            self._high_water = used + 1
        if self._getters:
            self._wake_getter()

    def put_many_nowait(self, msgs: list[_M]) -> int:
        """Queue as many of ``msgs`` as the quota leaves room for, in order, at priority 0:
        what ``put_nowait`` of each would do until the first one refused, in one call (an
        engine hands on a burst's frames at once). Returns how many were queued; the
        caller deals with the rest as with an ``MQExceededQuotaError``. Raises
        ``MQQuittingError`` after ``quit()``, with nothing queued."""
        if self._quitting:
            raise MQQuittingError(self.name)
        used = self._used
        taken = min(len(msgs), self._quota - used)
        if taken <= 0:
            return 0
        level = self._levels[0]
        if taken == len(msgs):
            level.extend(msgs)
        else:
            level.extend(msgs[:taken])
        used += taken
        self._used = used
        self._high_water = max(self._high_water, used)
        # As many getters woken as single puts would have woken.
        getters = self._getters
        for _ in range(taken):
            if not getters:
                break
            self._wake_getter()
        return taken

    async def put(self, msg: _M, priority: int = 0) -> bool:
        """Queue ``msg``, applying the policy when the quota is reached.

        ``block``: wait until a get (without hold) or a release frees a slot; returns
        True. ``drop``: count a drop and return False at once. Raises ``MQQuittingError``
        after ``quit()`` in both cases, also when ``quit()`` comes while waiting.
        """
        try:
            self.put_nowait(msg, priority)
        except MQExceededQuotaError:
            if self._policy is QuotaPolicy.DROP:
                self._dropped += 1
                return False
        else:
            return True
        while True:
            await self.wait_not_full()
            with suppress(MQExceededQuotaError):
                # Another producer may have taken the slot between wake-up and now.
                self.put_nowait(msg, priority)
                return True

    def record_drop(self, n: int = 1) -> None:
        """Count ``n`` messages as dropped, for a caller that got ``MQExceededQuotaError``
        from ``put_nowait`` and gave the message up."""
        if n < 0:
            raise ValueError(f"cannot record {n} drops")
        self._dropped += n

    async def wait_not_full(self, room: int = 1) -> None:
        """Wait until at least ``room`` messages can be put (queued plus held <= quota - room).

        A blocked producer that asks for more than one slot is woken once per batch
        instead of once per released message. Raises ``MQQuittingError`` after ``quit()``.
        Nothing is reserved: a waiter that returns and does not put leaves the room to
        others, and every waiter whose room is there is woken.
        """
        if not 1 <= room <= self._quota:
            raise ValueError(f"room must be within 1..{self._quota}, not {room}")
        while True:
            if self._quitting:
                raise MQQuittingError(self.name)
            if self._quota - self._used >= room:
                return
            import asyncio  # noqa: PLC0415 - see the imports

            entry = (room, asyncio.get_running_loop().create_future())
            self._space_waiters.append(entry)
            try:
                await entry[1]
            except BaseException:
                entry[1].cancel()
                # Already gone when a notify woke it; since every satisfied waiter is
                # woken, a cancelled one cannot swallow a wakeup meant for another.
                with suppress(ValueError):
                    self._space_waiters.remove(entry)
                raise

    # -- get ---------------------------------------------------------------------------

    def get_nowait(self, *, hold: bool = True) -> _M:
        """Take the first message of the highest priority (MQGet without waiting).

        With ``hold`` (the default) the message keeps its quota slot until ``release()``;
        with ``hold=False`` the slot is freed now. Raises ``MQEmptyError`` when nothing is
        queued, ``MQQuittingError`` instead when the queue is also quitting.
        """
        if self._used > self._held:
            for level in self._order:
                if level:
                    break
            msg = level.popleft()
            self._got += 1
            if hold:
                self._held += 1
            else:
                self._used -= 1
                if self._space_waiters:
                    self._notify_space()
            return msg
        if self._quitting:
            raise MQQuittingError(self.name)
        raise MQEmptyError(self.name)

    def get_many_nowait(self, limit: int, *, hold: bool = True) -> list[_M]:
        """Take up to ``limit`` messages in get order; an empty list when none is queued.

        Holding works as for ``get_nowait``; this is the drain's way to fill its window
        of unacknowledged frames in one call.
        """
        n = min(limit, self._used - self._held)
        if n <= 0:
            return []
        out: list[_M] = []
        remaining = n
        for level in self._order:
            size = len(level)
            if not size:
                continue
            if size <= remaining:
                out.extend(level)
                level.clear()
                remaining -= size
            else:
                # The pops in one C loop, not a bytecode loop a message (the drain takes
                # its batches from a queue that holds more).
                out.extend(map(call, repeat(level.popleft, remaining)))
                remaining = 0
            if not remaining:
                break
        self._got += n
        if hold:
            self._held += n
        else:
            self._used -= n
            if self._space_waiters:
                self._notify_space()
        return out

    async def get(self, timeout: float | None = None, *, hold: bool = True) -> _M:
        """Take the next message, waiting for one (MQGet with MQ_WAIT_FOR_MSG).

        ``timeout`` in seconds; None waits forever. Raises ``MQTimeoutError`` when it expires,
        ``MQQuittingError`` when the queue is quitting and empty (a quitting queue still hands
        out what it holds). ``hold`` as for ``get_nowait``. Cancelling a waiting get
        takes nothing and passes any wakeup it received on to the next getter.
        """
        if self._used == self._held:
            if self._quitting:
                raise MQQuittingError(self.name)
            if timeout is None:
                await self._wait_message()
            else:
                import asyncio  # noqa: PLC0415 - see the imports

                try:
                    async with asyncio.timeout(timeout):
                        await self._wait_message()
                except TimeoutError:
                    raise MQTimeoutError(self.name, f"nothing within {timeout} s") from None
        # No await since the wait saw a message, so it is still there.
        return self.get_nowait(hold=hold)

    def release(self, n: int = 1) -> None:
        """Free the quota slots of ``n`` held messages (the broker acknowledged them).

        Wakes producers waiting for room. Works after ``quit()`` too, so a drain can
        finish. ``ValueError`` when fewer than ``n`` messages are held.
        """
        if not 0 <= n <= self._held:
            raise ValueError(f"cannot release {n} messages: {self._held} held")
        self._held -= n
        self._used -= n
        self._released += n
        if self._space_waiters:
            self._notify_space()

    def quit(self) -> None:
        """Put the queue in the quit state (MQPutQuitMsg): puts fail from now on, gets
        drain what is queued and then fail with ``MQQuittingError``. Wakes every waiter."""
        if self._quitting:
            return
        self._quitting = True
        for fut in self._getters:
            if not fut.done():
                fut.set_result(None)
        self._getters.clear()
        for _room, fut in self._space_waiters:
            if not fut.done():
                fut.set_result(None)
        self._space_waiters.clear()

    # -- internals ---------------------------------------------------------------------

    def _add_level(self, priority: int) -> deque[_M]:
        if not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY:
            raise ValueError(f"priority must be an integer within 0..{MAX_PRIORITY}: {priority!r}")
        level: deque[_M] = deque()
        self._levels[priority] = level
        self._order = [self._levels[p] for p in sorted(self._levels)]
        return level

    async def _wait_message(self) -> None:
        """Return once a message is queued; raise ``MQQuittingError`` if quit comes first."""
        while self._used == self._held:
            if self._quitting:
                raise MQQuittingError(self.name)
            import asyncio  # noqa: PLC0415 - see the imports

            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            except BaseException:
                fut.cancel()
                with suppress(ValueError):
                    self._getters.remove(fut)
                # Woken by a put but cancelled before running: hand the wakeup on, or a
                # message would sit in the queue with getters asleep.
                if not fut.cancelled() and self._used > self._held:
                    self._wake_getter()
                raise

    def _wake_getter(self) -> None:
        getters = self._getters
        while getters:
            fut = getters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _notify_space(self) -> None:
        free = self._quota - self._used
        if free <= 0:
            return
        waiters = self._space_waiters
        for _ in range(len(waiters)):
            room, fut = waiters.popleft()
            if fut.done():
                continue
            if room <= free:
                fut.set_result(None)
            else:
                waiters.append((room, fut))
