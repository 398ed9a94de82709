"""Scheduled server tasks of a generated workload (docs/workload.md): replication on connection
documents' schedules, and scheduled agents, on the run's one event heap.

Each schedule is one object with one pending heap entry: when it comes due it starts its
task through `ServerTasks` (so its records, class filter, per-user totals and abandonment
at shutdown are exactly those of the scripted `replicate` and `agent` actions) and puts
its own next run on the heap. Nothing is computed ahead, so a run of any length holds
one entry per schedule, plus the tasks under way.

Draws: a connection's come from its own stream (purpose "replication", numbered by its
spec and the domain server it pairs with), an agent's from its own (purpose "agent",
numbered by its spec), so adding or changing one spec never moves another's draws.

Domain (`servers: N`): a replication is initiated by one server and appears once. A spec
whose `with` names a server of the domain is run by every other server, each replicating
with that one (which runs none itself: a server never replicates with itself); a spec
with no `with` is hub and spoke, the domain's first server replicating with each of the
others; a spec whose `with` is outside the domain is run by every server. Agent spec i
runs on server i mod N, one server each, as a Domino agent's "run on" names one server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulator.domino.calendar import Calendar
from simulator.domino.clock import EventHeap, Phase
from simulator.domino.domain import Domain
from simulator.domino.server import DatabaseInfo, derive_timedate
from simulator.domino.streams import UserStreams
from simulator.domino.tasks import AgentRun, ReplicatedDatabase, ServerTasks
from simulator.scenario.distributions import Constant, Distribution
from simulator.scenario.workload import (
    US_PER_DAY,
    WEEKDAYS,
    AgentSpec,
    CalendarSpec,
    DatabasesSpec,
    ReplicationSpec,
    Workload,
)
from simulator.wire import constants as c

# Connection streams per replication spec: one per server a domain can have (`servers` ≤ 64).
STREAMS_PER_SPEC = 64
# A whole-day curve: only the calendar's time zone and days matter to a schedule.
_FLAT_CURVE = [("00:00", 1.0), ("24:00", 1.0)]


def schedule_calendar(workload: Workload, start: datetime, days: Sequence[str]) -> Calendar:
    """Local days in the workload calendar's time zone (UTC without one), on `days`."""
    timezone = workload.calendar.timezone if workload.calendar is not None else "UTC"
    spec = CalendarSpec.model_validate(
        {"timezone": timezone, "days": list(days), "curve": _FLAT_CURVE}
    )
    return Calendar(spec, start)


def generated_database(path: str, seed: int) -> DatabaseInfo:
    """A generated database the scenario does not declare: its replica ID derived from the
    seed and its path, like the other derived IDs."""
    return DatabaseInfo(path, derive_timedate(seed, "replica", path))


def replicated_databases(
    workload: Workload, databases: Mapping[str, DatabaseInfo], seed: int, fallback: int
) -> list[DatabaseInfo]:
    """The databases connection documents replicate, in the order runs cycle through them:
    the workload's list, else its generated databases (`path` numbered 1..count), else the
    scenario's databases, directories left out; with none, `fallback` generated ones
    (`apps/app0001.nsf` …)."""
    declared = workload.declared_databases
    spec = workload.generated_databases
    if declared is not None:
        candidates = [databases[path] for path in declared]
    elif spec is not None:
        candidates = _generated(spec, databases, seed)
    else:
        candidates = list(databases.values())
    candidates = [db for db in candidates if not db.is_directory]
    return candidates or _generated(DatabasesSpec(count=fallback), databases, seed)


def _generated(
    spec: DatabasesSpec, databases: Mapping[str, DatabaseInfo], seed: int
) -> list[DatabaseInfo]:
    paths = (spec.path_of(n) for n in range(1, spec.count + 1))
    return [databases.get(path) or generated_database(path, seed) for path in paths]


def replication_partners(spec: ReplicationSpec, domain: Domain) -> list[tuple[str, int]]:
    """(remote server, stream number) of each replication of `spec` this server initiates.

    The stream number is the number of the pair's server that is not the hub (nor the
    server `with` names), so each pair draws from a stream of its own."""
    me = domain.index
    if spec.with_ is None:
        if me != 0:
            return []
        return [(domain.servers[k], k) for k in range(1, domain.size)]
    wanted = spec.with_.casefold()
    hub = next((k for k, name in enumerate(domain.servers) if name.casefold() == wanted), None)
    if hub == me:
        return []
    return [(spec.with_ if hub is None else domain.servers[hub], me)]


def whole_days(every: Distribution) -> int:
    """How many days a constant `every` of whole days is; 0 for any other `every`."""
    if isinstance(every, Constant) and every.value > 0 and every.value % US_PER_DAY == 0:
        return int(every.value // US_PER_DAY)
    return 0


@dataclass(slots=True)
class Connection:
    """One connection document as this server runs it: the next run is `opens` + k `every`
    of local day `day`, while before `closes`."""

    spec: ReplicationSpec
    remote: str
    stream: int
    calendar: Calendar
    candidates: Sequence[DatabaseInfo]
    per_run: int
    priority: int
    day: int = 0
    opens: int = 0
    closes: int = 0
    k: int = 0
    next_database: int = 0
    due: int = 0


@dataclass(slots=True)
class AgentSchedule:
    """One scheduled agent: its next run at `due`; whole-day steps keep `at` local time."""

    spec: AgentSpec
    stream: int
    signer: str | None  # full name; None: the server's own
    step_days: int  # 0: `every` counts elapsed time
    day: int = 0
    due: int = 0


class Schedules:
    """The replicator's connection documents and the agent manager's schedule of one server."""

    def __init__(
        self,
        workload: Workload,
        tasks: ServerTasks,
        heap: EventHeap,
        databases: Mapping[str, DatabaseInfo],
        domain: Domain,
        *,
        start: datetime,
        seed: int,
        duration: int,
    ) -> None:
        self.workload = workload
        self.tasks = tasks
        self.heap = heap
        self.duration = duration
        self._replication_streams = UserStreams(
            seed, "replication", max(1, len(workload.replication)) * STREAMS_PER_SPEC
        )
        self._agent_streams = UserStreams(seed, "agent", max(1, len(workload.agents)))
        self.connections: list[Connection] = []
        most = max((spec.databases for spec in workload.replication), default=0)
        candidates = replicated_databases(workload, databases, seed, most) if most else []
        for number, spec in enumerate(workload.replication):
            calendar = schedule_calendar(workload, start, spec.days)
            for remote, partner in replication_partners(spec, domain):
                self.connections.append(
                    Connection(
                        spec,
                        remote,
                        number * STREAMS_PER_SPEC + partner,
                        calendar,
                        candidates,
                        min(spec.databases, len(candidates)),
                        c.REPL_PRIORITY[spec.priority],
                    )
                )
        self.calendar = schedule_calendar(workload, start, WEEKDAYS)
        self.agents: list[AgentSchedule] = []
        for number, agent in enumerate(workload.agents):
            if number % domain.size != domain.index:
                continue
            step_days = whole_days(agent.every) if agent.at is not None else 0
            signer = None if agent.signer is None else tasks.scenario.resolve_name(agent.signer)
            self.agents.append(AgentSchedule(agent, number, signer, step_days))
        # Bound once: every heap entry of a schedule shares it.
        self._replicate_handler = self._replicate
        self._agent_handler = self._run_agent

    def start(self) -> None:
        """Put each schedule's first run on the heap."""
        for connection in self.connections:
            self._open_day(connection, 0)
            self._schedule_connection(connection)
        for agent in self.agents:
            at = agent.spec.at
            if at is None:
                agent.due = 0
            else:
                first = self.calendar.at(0, at)
                agent.day = 0 if first >= 0 else 1
                agent.due = first if first >= 0 else self.calendar.at(1, at)
            self._push(agent.due, self._agent_handler, agent)

    def _push(self, at: int, handler: Callable[[Any], None], schedule: object) -> None:
        if at < self.duration:
            self.heap.schedule(at, Phase.GENERATED, handler, schedule)

    # -- replication ------------------------------------------------------------------------

    def _open_day(self, connection: Connection, day: int) -> None:
        """Move to the first of `day` and the days after it that the connection replicates."""
        calendar = connection.calendar
        while not calendar.is_working_day(day):
            day += 1
        opens, closes = connection.spec.window
        connection.day = day
        connection.opens = calendar.at(day, opens)
        connection.closes = calendar.at(day, closes)
        every = connection.spec.every
        # Day 0 may have begun before the run: its runs before the start never happen.
        connection.k = -(connection.opens // every) if connection.opens < 0 else 0

    def _schedule_connection(self, connection: Connection) -> None:
        every = connection.spec.every
        while True:
            at = connection.opens + connection.k * every
            if at < connection.closes:
                connection.k += 1
                connection.due = at
                self._push(at, self._replicate_handler, connection)
                return
            if connection.opens >= self.duration:
                return
            self._open_day(connection, connection.day + 1)

    def _replicate(self, connection: Connection) -> None:
        now = connection.due
        spec = connection.spec
        uniform = self._replication_streams.uniform
        stream = connection.stream
        ends = now + int(spec.duration.draw(uniform(stream)))
        bytes_in = spec.bytes
        bytes_out = spec.bytes if spec.bytes_out is None else spec.bytes_out
        candidates = connection.candidates
        position = connection.next_database
        replicated = []
        for _ in range(connection.per_run):
            replicated.append(
                ReplicatedDatabase(
                    candidates[position].replica_id,
                    min(int(bytes_in.draw(uniform(stream))), c.DWORD_MAX),
                    min(int(bytes_out.draw(uniform(stream))), c.DWORD_MAX),
                )
            )
            position = (position + 1) % len(candidates)
        connection.next_database = position
        self.tasks.replicate(
            now, ends, connection.remote, spec.direction, connection.priority, tuple(replicated)
        )
        self._schedule_connection(connection)

    # -- agents ----------------------------------------------------------------------------

    def _run_agent(self, agent: AgentSchedule) -> None:
        now = agent.due
        spec = agent.spec
        uniform = self._agent_streams.uniform
        elapsed = int(spec.elapsed.draw(uniform(agent.stream)))
        # Unsigned: run under the server's own ID, as the server's scheduled agents are.
        signer = agent.signer if agent.signer is not None else self.tasks.writer.server_name
        self.tasks.run_agent(
            AgentRun(spec.agent, now, now + elapsed, 0, signer, spec.task, spec.db)
        )
        if agent.step_days and spec.at is not None:
            agent.day += agent.step_days
            agent.due = self.calendar.at(agent.day, spec.at)
        else:
            agent.due = now + max(1, int(spec.every.draw(uniform(agent.stream))))
        self._push(agent.due, self._agent_handler, agent)
