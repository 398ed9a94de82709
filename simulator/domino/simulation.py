"""One run: a scenario's events through the server model into MQ$BILLING, paced by the clock."""

from __future__ import annotations

import contextlib
import heapq
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from simulator.domino.billing import BillingWriter, SequencedFrame
from simulator.domino.clock import EventHeap, Pacer, Phase
from simulator.domino.domain import Domain
from simulator.domino.faults import FaultInjector
from simulator.domino.mq import DEFAULT_QUOTA, MessageQueue, MQExceededQuotaError, QuotaPolicy
from simulator.domino.schedules import Schedules
from simulator.domino.server import Charges, DatabaseInfo, ScenarioStateError, Server
from simulator.domino.shaping import RateLimiter
from simulator.domino.tasks import ServerTasks
from simulator.domino.traffic import Traffic
from simulator.domino.workload import Population
from simulator.errors import InputError
from simulator.scenario.loader import ScenarioError, by_line, parse_workload
from simulator.scenario.models import Action, Scenario, is_directory, is_session_action
from simulator.scenario.notes_ini import NotesIniSettings
from simulator.scenario.rate import RatePlan
from simulator.scenario.speed import Speed
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.layout import Framing, Layout
from simulator.wire.timedate import ZERO_TIMEDATE

if TYPE_CHECKING:
    import asyncio

# At max speed the engine hands the loop over this often, so a drain and a live view run.
# Short enough (a fraction of a millisecond) that a drain's acknowledgements are read
# promptly, long enough that the loop's overhead does not count.
_YIELD_EVERY = 256
# No frame count stops a burst (a queue that drops when full never makes the clock wait).
_NO_FRAME_LIMIT = 1 << 62
# A blocked engine resumes once this many slots are free (or a quarter of the quota).
_RESUME_ROOM = 4096
# Sessions ended between two looks at the queue during a shutdown.
_SHUTDOWN_BATCH = 1024
# A run without end still ends when the virtual clock would pass the last time a TIMEDATE
# stamp can show (the end of the year 9999): a max-speed run with sparse events gets there.
_LAST_INSTANT = datetime(9999, 12, 31, 23, 59, 59, 990000, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What the command line may set over the scenario."""

    speed: Speed = field(default_factory=lambda: Speed(None))
    # Paces by records written instead of by virtual time (`--rate`, `stages:`).
    rate: RatePlan | None = None
    seed: int | None = None
    layout: Layout = Layout.LINUX_X86_64
    framing: Framing = Framing.PAD_UNION
    stamp_policy: str | None = None
    quota: int = DEFAULT_QUOTA
    policy: QuotaPolicy = QuotaPolicy.BLOCK


class Simulation:
    """The emulated server for one scenario and its MQ$BILLING queue.

    Built without I/O; `run()` is a coroutine only so that pacing and a full queue can
    make the virtual clock wait while other tasks (drains, a live view) go on.
    """

    def __init__(
        self,
        scenario: Scenario,
        settings: NotesIniSettings,
        options: RunOptions,
        *,
        wall_clock: Callable[[], float] = time.monotonic,
        generate: bool = True,
        domain: Domain | None = None,
    ) -> None:
        """`generate=False` validates the workload but leaves its users and schedules out
        (dry runs).

        `domain`: the servers of a `servers: N` domain and which one this is; it names the
        server and keeps the generated users to those homed here. The script runs on the
        domain's first server only: its users are named, not partitioned. Default: one
        server, named by notes.ini's ServerName else the scenario's `server`.
        """
        self.scenario = scenario
        self.settings = settings
        self.options = options
        self.seed = scenario.seed if options.seed is None else options.seed
        self.duration = (
            scenario.duration
            if scenario.duration is not None
            else (_LAST_INSTANT - scenario.start) // timedelta(microseconds=1)
        )
        self.codec = FrameCodec(options.layout, options.framing, scenario.custom_kinds())
        self.queue: MessageQueue[SequencedFrame] = MessageQueue(
            c.BILL_QUEUE_NAME, quota=options.quota, policy=options.policy
        )
        self.domain = domain or Domain.single(settings.server_name or scenario.server)
        self.server_name = self.domain.server
        self._pending: deque[SequencedFrame] = deque()
        # Faults on purpose (docs/faults.md): between BillingWrite and MQ$BILLING, and in
        # the server model. None when the scenario asks for none.
        self.faults: FaultInjector | None = None
        if scenario.faults.any:
            self.faults = FaultInjector(
                scenario.faults,
                seed=self.seed,
                server=self.server_name,
                start=scenario.start,
                codec=self.codec,
                quota=options.quota,
                downstream=self._make_put(),
            )
            self.writer: BillingWriter = self.faults.make_writer(settings.billing_class)
        else:
            self.writer = BillingWriter(
                self.codec,
                self.server_name,
                scenario.start,
                settings.billing_class,
                self._make_put(),
            )
        self.heap = EventHeap()
        self.server = Server(
            self.writer,
            self.heap,
            suppress_us=settings.suppress_time_us,
            stamp_policy=options.stamp_policy or scenario.stamp_policy,
            idle_timeout_us=scenario.idle_timeout,
            seed=self.seed,
        )
        self.databases = {
            path: DatabaseInfo(
                path,
                db.replica,
                {
                    note: Charges(ch.charge_read, ch.charge_write)
                    for note, ch in db.documents.items()
                },
            )
            if not is_directory(path)
            else DatabaseInfo(path, db.replica if db.replica_id else ZERO_TIMEDATE)
            for path, db in scenario.databases.items()
        }
        self.now = 0
        self.events = 0
        self.abandoned_tasks = 0
        # Collected, not raised, while `dry_run` goes through the script.
        self._script_problems: list[InputError] | None = None
        self.finished = False
        self.stopping = False
        # Asked to stop (request_stop), not at the end of the run's time or stages.
        self.stop_requested = False
        self.shutting_down = False
        self.in_run = False
        self.wall_started = 0.0
        self.wall_ended = 0.0
        self._wall_clock = wall_clock
        self.pacer = Pacer(Speed(None) if options.rate else options.speed, wall_clock)
        self.limiter = RateLimiter(options.rate, wall_clock) if options.rate else None
        # Made when a run first waits or is woken (_wake): a dry run does neither, and
        # `billsim validate` then never imports asyncio (see mq.py).
        self._wake_event: asyncio.Event | None = None
        self.paused = False
        # Server tasks (issue: mail, replication, agents, HTTP) register their completion
        # handlers here so shutdown can tell them from timers and count them as abandoned.
        self.task_handlers: set[Callable[[Any], None]] = set()
        self.tasks = ServerTasks(
            scenario, self.writer, self.heap, self.server, self.databases, seed=self.seed
        )
        self.task_handlers.update(self.tasks.completion_handlers)
        self.population: Population | None = None
        self.schedules: Schedules | None = None
        self.traffic: Traffic | None = None  # generated mail and web requests
        calendar_zone: str | None = None  # the workload's, for `dst` (docs/faults.md)
        if scenario.workload:
            workload = parse_workload(scenario.workload, self.databases, scenario.filename)
            if workload.calendar is not None:
                calendar_zone = workload.calendar.timezone
            self.population = Population(
                workload,
                self.server,
                self.heap,
                self.databases,
                seed=self.seed,
                duration=self.duration,
                start=scenario.start,
                domain=self.domain,
            )
            if generate:
                self.population.start()
            if workload.replication or workload.agents:
                self.schedules = Schedules(
                    workload,
                    self.tasks,
                    self.heap,
                    self.databases,
                    self.domain,
                    start=scenario.start,
                    seed=self.seed,
                    duration=self.duration,
                )
                if generate:
                    self.schedules.start()
            if workload.mail is not None or workload.http is not None:
                self.traffic = Traffic(
                    workload,
                    self.writer,
                    self.server.ledger,
                    self.heap,
                    start=scenario.start,
                    server_address=scenario.server_address,
                    scenario_databases=list(self.databases),
                    seed=self.seed,
                    duration=self.duration,
                    domain=self.domain,
                )
                if generate:
                    self.traffic.start()
        if self.faults is not None:
            self.faults.attach(
                self.heap,
                self.server,
                self.tasks,
                self.task_handlers,
                duration=self.duration,
                calendar_zone=calendar_zone,
            )
        if self.domain.index == 0:
            for action in scenario.timeline():
                self.heap.schedule(action.at, Phase.SCRIPT, self._script_action, action)
                if self.population is not None:
                    # A scripted action may name a generated user's session, and a crash
                    # ends them all: each then sees it at its own instant.
                    self.population.fold = False
        if self.faults is not None and self.population is not None:
            self.population.fold = False
        self.heap.schedule(self.duration, Phase.SHUTDOWN, self._shutdown_at_duration)

    # -- writing -------------------------------------------------------------------------

    def _make_put(self) -> Callable[[SequencedFrame], None]:
        """BillingWrite's MQPut: a closure, as it runs for every record of the run."""
        queue = self.queue
        put_nowait = queue.put_nowait
        pending = self._pending
        drop = queue.policy is QuotaPolicy.DROP

        def put(item: SequencedFrame) -> None:
            if pending:
                pending.append(item)
                return
            try:
                put_nowait(item)
            except MQExceededQuotaError:
                if drop:
                    queue.record_drop()
                else:
                    pending.append(item)

        return put

    async def _flush_pending(self) -> None:
        """Under the block policy, a full queue stops the virtual clock until there is room.

        It waits for a block of room, not one slot: waking for every acknowledged frame
        would switch between engine and drain once per frame.
        """
        queue = self.queue
        room = max(1, min(_RESUME_ROOM, queue.quota // 4))
        while self._pending:
            await queue.wait_not_full(room=min(room, len(self._pending)))
            while self._pending and not queue.is_full:
                queue.put_nowait(self._pending.popleft())

    # -- events --------------------------------------------------------------------------

    def _script_action(self, action: Action) -> None:
        faults = self.faults
        if faults is not None and faults.down and faults.skip_script_action():
            return  # the server is down: nobody reaches it
        try:
            self.run_action(action)
        except ScenarioStateError as error:
            # The script runs clean without faults (checked before the run): what fails
            # now names a session a crash cut.
            if faults is not None and faults.skip_script_action():
                return
            problem = InputError(
                str(error),
                file=self.scenario.filename,
                line=action.line,
                field=f"script[{action.index}].action",
            )
            if self._script_problems is None:
                raise problem from None
            # A dry run goes on without the action, to find the script's other problems.
            self._script_problems.append(problem)

    def run_action(self, action: Action) -> None:
        if is_session_action(action):
            user = self.scenario.users[action.user]
            # The fields as stored: `getattr(action, "db", None)` on an action without
            # one goes through pydantic's __getattr__ and an AttributeError, every time.
            fields = action.__dict__
            db_key: str | None = fields.get("db")
            self.server.session_action(
                self.now,
                user.name,
                user.address,
                action.action,
                self.databases[db_key] if db_key is not None else None,
                fields.get("note_id"),
                action.bytes_in,
                action.bytes_out,
            )
            return
        self.tasks.start(action)  # mail, replicate, agent, http, custom (simulator.domino.tasks)

    def _shutdown_at_duration(self, _: object) -> None:
        if self.in_run:
            self.stopping = True  # run() ends the sessions with back-pressure
        else:
            self.shutdown()

    def shutdown(self) -> None:
        """Abandon running server tasks, end open sessions in start order, stop the clock.

        In `run()` the sessions end in batches (see `_end_sessions`); called directly, all at once.
        """
        self._abandon_tasks()
        if self.population is not None:
            self.population.unfold(self.now)
        self.server.shutdown(self.now)
        self._finish_faults()
        self.finished = True

    def _abandon_tasks(self) -> None:
        if self.shutting_down:
            return
        self.shutting_down = True
        handlers = self.task_handlers
        self.abandoned_tasks += len(self.heap.drop_where(lambda event: event[3] in handlers))

    async def _end_sessions(self) -> None:
        """The shutdown's END records, a batch at a time, waiting for room in the queue."""
        import asyncio  # noqa: PLC0415 - see _wake_event

        # A paced run stopped between events ends at the virtual time the pacer had
        # reached, not at its last event's.
        now = self.virtual_now()
        if now > self.now:
            self.now = now
            self.server.set_now(now)
        self._abandon_tasks()
        if self.population is not None:
            self.population.unfold(self.now)
        while True:
            limit = _SHUTDOWN_BATCH
            limiter = self.limiter
            # A rate-shaped run that reaches its end sends its END records at the rate too
            # (a burst of every open session's would be the run's one unpaced stretch); a
            # stop someone asked for (Ctrl-C, SIGTERM, quit) ends them at once.
            if limiter is not None and not self.stop_requested and not limiter.ended:
                frames = self.writer.frames
                allowance = limiter.allowance(frames)
                if allowance == 0:
                    await self._wait_wake(limiter.wait(frames))
                    continue
                limit = min(limit, allowance)
            if not self.server.shutdown(self.now, limit):
                break
            if self._pending:
                await self._flush_pending()
            await asyncio.sleep(0)
        self._finish_faults()
        self.finished = True

    def _finish_faults(self) -> None:
        """Frames a fault still holds back (reorder) go into the queue before it closes."""
        if self.faults is not None:
            self.faults.finish()

    @property
    def frames_handed(self) -> int:
        """Frames BillingWrite handed to MQ$BILLING's put: the records written, with faults
        (docs/faults.md) a duplicate's second copies more and a crash's lost frames less."""
        return self.faults.handed if self.faults is not None else self.writer.frames

    @property
    def frames_waiting(self) -> int:
        """Records written while MQ$BILLING was full (block policy), not yet in the queue."""
        return len(self._pending)

    @property
    def frames_left(self) -> int:
        """Frames not out yet: in MQ$BILLING, held there unacknowledged, or waiting to
        enter it (what a run that quits at once leaves undelivered)."""
        stats = self.queue.stats()
        return stats.depth + stats.held + len(self._pending)

    def request_stop(self) -> None:
        """Ctrl-C, SIGTERM or a quit command: shut down at the current virtual time."""
        if not self.stopping:
            self.pacer.pause(self.now)  # the virtual clock stops where the stop found it
        self.stopping = True
        self.stop_requested = True
        self._wake().set()

    def virtual_now(self) -> int:
        """The virtual time the run has reached: in a paced run the pacer's (it moves between
        events, stands still while paused or stopping, never passes the duration); else
        the last event's."""
        if not self.in_run or self.finished or self.pacer.speed.factor is None:
            return self.now
        return max(self.now, min(self.pacer.virtual_now(), self.duration))

    def pause(self) -> None:
        self.paused = True
        self.pacer.pause(self.now)
        if self.limiter is not None:
            self.limiter.pause()

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            if not self.stopping:
                self.pacer.resume(self.now)
            if self.limiter is not None:
                self.limiter.resume()
            self._wake().set()

    def set_speed(self, speed: Speed) -> None:
        """A new pace of virtual time; a rate-shaped run goes on at this speed instead."""
        self.limiter = None
        self.pacer.set_speed(speed, self.virtual_now())
        self._wake().set()

    @property
    def pace(self) -> str:
        """How the run is paced, for people: `60x`, `max`, `5000/s` or its stages."""
        if self.limiter is not None:
            return str(self.limiter.schedule.plan)
        return str(self.pacer.speed)

    def target_rate(self) -> float | None:
        """Records per second the rate shaping asks for now; None when paced by speed."""
        return self.limiter.target_rate() if self.limiter is not None else None

    def apply_setting(self, name: str, value: object) -> NotesIniSettings:
        """A notes.ini setting changed at run time; applies from the next record on."""
        settings = self.settings.with_setting(name, value)
        self.settings = settings
        self.writer.class_mask = settings.billing_class
        self.server.suppress_us = settings.suppress_time_us
        if self.population is not None:
            self.population.fold = False  # its boundaries may move: each action at its time
        if settings.server_name:
            self.writer.server_name = settings.server_name
        return settings

    def step(self) -> bool:
        """Run the next event; False when the run is over. Used directly by tests and dry runs."""
        if self.finished or not self.heap:
            self.finished = True
            return False
        event_time, _phase, _seq, handler, arg = self.heap.pop()
        self.now = event_time
        self.server.set_now(event_time)
        handler(arg)
        self.events += 1
        return not self.finished

    async def run(self) -> None:
        """Run to the end: events in order, paced, waiting whenever MQ$BILLING is full."""
        import asyncio  # noqa: PLC0415 - see _wake_event

        self.wall_started = self._wall_clock()
        self.pacer.rebase(self.now)
        if self.limiter is not None:
            self.limiter.start(self.writer.frames)
            if self.paused:
                self.limiter.pause()
        self.in_run = True
        try:
            while not self.finished:
                if self.stopping:
                    await self._end_sessions()
                    break
                if self.paused:
                    await self._wait_wake(None)
                    continue
                next_time = self.heap.peek_time()
                if next_time is None:
                    self.stopping = True
                    continue
                limiter = self.limiter
                if limiter is not None:
                    frames = self.writer.frames
                    allowance = limiter.allowance(frames)
                    if allowance == 0:
                        if limiter.ended:
                            self.stopping = True  # the last stage, a pause, is over
                        else:
                            await self._wait_wake(limiter.wait(frames))
                        continue
                    self._burst(paced=False, frame_limit=frames + allowance)
                else:
                    delay = self.pacer.delay_until(next_time)
                    if delay > 0:
                        await self._wait_wake(delay)
                        continue
                    self._burst(paced=self.pacer.speed.factor is not None)
                if self._pending:
                    await self._flush_pending()
                # Let the drain, a live view and control commands run between bursts.
                await asyncio.sleep(0)
            await self._flush_pending()
        finally:
            self.in_run = False
            self.wall_ended = self._wall_clock()
            self.queue.quit()

    def _burst(self, *, paced: bool, frame_limit: int | None = None) -> None:
        """Up to _YIELD_EVERY events with nothing between them: the hot loop of a max-speed run.

        A paced run stops at the next instant so the pacer can wait for it, a rate-shaped
        one once `frame_limit` records are written; every run stops when the queue is
        full (the clock must wait) or the run is over.

        The burst's frames are gathered in a list and go into MQ$BILLING in one call at its
        end (a put of each cost ten times an append): nothing takes from the queue within
        a burst, so the frames the quota has room for are known at its start, and the
        burst stops after the event that wrote the first frame past them, as a put of
        each would have found the queue full there.
        """
        writer = self.writer
        queue = self.queue
        batch: list[SequencedFrame] | None = None
        # The frame count past which the queue is full (block policy): the burst stops there.
        full_at = _NO_FRAME_LIMIT
        if self.faults is None and not self._pending and not queue.is_quitting:
            batch = []
            put = writer.put
            writer.put = batch.append
            if queue.policy is QuotaPolicy.BLOCK:
                full_at = writer.frames + queue.free
        try:
            self._run_burst(paced, frame_limit, full_at)
        finally:
            if batch is not None:
                writer.put = put
                self._hand_on(batch)

    def _hand_on(self, batch: list[SequencedFrame]) -> None:
        """A burst's frames into MQ$BILLING: those past the quota wait (block) or are
        dropped, as `_make_put`'s put does with each."""
        if not batch:
            return
        taken = self.queue.put_many_nowait(batch)
        if taken < len(batch):
            if self.queue.policy is QuotaPolicy.DROP:
                self.queue.record_drop(len(batch) - taken)
            else:
                self._pending.extend(batch[taken:])

    def _run_burst(self, paced: bool, frame_limit: int | None, full_at: int) -> None:
        items = self.heap.items
        pending = self._pending
        server = self.server
        writer = self.writer
        limited = frame_limit is not None
        limit = frame_limit or 0
        pop = heapq.heappop
        ran = 0
        if not paced and not limited:
            # The max-speed loop, with only the checks it needs: a full queue, the run's end.
            while items:
                event_time, _phase, _seq, handler, arg = pop(items)
                self.now = server._now = event_time
                handler(arg)
                ran += 1
                if (
                    ran == _YIELD_EVERY
                    or writer.frames > full_at
                    or pending
                    or self.stopping
                    or self.finished
                ):
                    break
            self.events += ran
            if not items:
                self.stopping = True  # nothing left to happen: shut down at this instant
            return
        while ran < _YIELD_EVERY and items:
            event_time, _phase, _seq, handler, arg = pop(items)
            self.now = server._now = event_time
            handler(arg)
            ran += 1
            if writer.frames > full_at or pending or self.finished or self.stopping:
                break
            if paced and items and items[0][0] != event_time:
                break
            if limited and writer.frames >= limit:
                break
        self.events += ran
        if not items:
            self.stopping = True  # nothing left to happen: shut down at this instant

    def _wake(self) -> asyncio.Event:
        """What a waiting run waits on: set by a stop, a resume or a new speed."""
        if self._wake_event is None:
            import asyncio  # noqa: PLC0415 - see _wake_event

            self._wake_event = asyncio.Event()
        return self._wake_event

    async def _wait_wake(self, timeout: float | None) -> None:
        import asyncio  # noqa: PLC0415 - see _wake_event

        wake = self._wake()
        wake.clear()
        waiter: Awaitable[Any] = wake.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter, timeout)

    def dry_run(self) -> None:
        """Every event with no pacing and no queue: finds the script errors only a run can find.

        Build the simulation with `generate=False` for this: generated users cannot make
        such errors, and a million of them would double the run's cost. Raises a
        ScenarioError listing every action the script's state refused, each skipped.
        """
        self.writer.put = _discard
        self.writer.skip_encoding()
        self.server.session_classes = 0
        self._script_problems = []
        while self.step():
            pass
        if self._script_problems:
            raise ScenarioError(by_line(self._script_problems))


def _discard(_: SequencedFrame) -> None:
    return None
