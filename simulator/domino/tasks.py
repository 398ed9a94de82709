"""The server's own tasks (docs/lifecycles.md, docs/scenario.md): router, replicator, agents, HTTP.

Pure state like `simulator.domino.server`: each scripted task action starts here at its virtual
time and finishes as a COMPLETION event on the run's one heap, where its record is
written. None of them writes a SESSIONREC.

- mail: one MAILREC when the message leaves the mailbox, at `at` + `delay`;
- replicate: one REPLREC per database at `at` + `duration`, in the order of its
  `databases` list; the replication holds a SessionID slot (the sessions' own
  allocator) from `at` until its records are written;
- agent: one AGENTREC when the run ends, at `at` + `elapsed`;
- http: one HTTPREQREC when the request ends, at `at` + `time_ms`;
- custom: a scenario-declared record, written at once, in script order. It models an
  add-in's `BillingWrite` from an Extension Manager callback (BILLMNGR's note create),
  which bills when the event happens: there is nothing to complete, nothing to abandon.

Generated replications and agent runs (`simulator.domino.schedules`) start through
`replicate` and `run_agent` and finish in the same completion handlers, so they write
the same records, obey the same class filter and totals, and are abandoned alike.

`completion_handlers` are the handlers a shutdown drops (and counts) as abandoned tasks.
`BillingClass` filters output only: a task whose class is off still runs (a replication
still holds its slot), and the per-user totals count only the records written, taking
each amount from the record: mail and mail_bytes (MessageSize) to the Originator; agents
and agent_time (ElapsedRunTime) to the signer; web and web_bytes (HttpContentLength) to
the AuthUser, or to "Anonymous" for a request without one. A replication has no user:
its REPLREC's BytesIn and BytesOut are billed to the remote server's full name (`with`),
one "user" per server pair, as replication_bytes_in and replication_bytes_out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator.domino.billing import BillingWriter
from simulator.domino.clock import EventHeap, Phase
from simulator.domino.server import (
    ANONYMOUS_WEB_USER,
    DatabaseInfo,
    Server,
    UserLedger,
    derive_timedate,
)
from simulator.scenario.models import (
    AgentAction,
    CustomAction,
    HttpAction,
    MailAction,
    ReplicateAction,
    Scenario,
    TaskAction,
)
from simulator.wire import constants as c
from simulator.wire.records import (
    AgentRec,
    CustomRec,
    HttpReqRec,
    MailRec,
    Oid,
    ReplRec,
    SessionID,
    Unid,
)
from simulator.wire.timedate import ENGLISH_MONTHS, ZERO_TIMEDATE, TimeDate

US_PER_MS = 1_000
# A message's OrigMessageID: the simulator does not split messages (docs/wire-format.md).
ZERO_UNID = Unid(ZERO_TIMEDATE, ZERO_TIMEDATE)


def common_log_time(moment: datetime) -> str:
    """`21/Nov/2026:09:00:00 +0000`: the HTTP time stamp, in GMT, to the second (truncated)."""
    utc = moment.astimezone(UTC)
    return (
        f"{utc.day:02d}/{ENGLISH_MONTHS[utc.month - 1]}/{utc.year:04d}:"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d} +0000"
    )


def mail_key(action: MailAction) -> str:
    """A scripted message's identity: its place in the script file (stable, order-free)."""
    return f"script[{action.index}]"


def mail_originator_id(seed: int, key: str, posted: TimeDate) -> Oid:
    """OriginatorID: File and Note derived from seed and message (docs/wire-format.md), Sequence 1,
    SequenceTime = PostedDate (the message is not modified after it is posted)."""
    return Oid(
        derive_timedate(seed, "mail-file", key),
        derive_timedate(seed, "mail-note", key),
        1,
        posted,
    )


def write_mail(writer: BillingWriter, ledger: UserLedger | None, rec: MailRec, now: int) -> bool:
    """Bill one MAILREC at `now` if the Mail class is on; True when it was written.

    The Originator is billed the message (mail 1, mail_bytes MessageSize) only with a
    `ledger`: a message routed as several records (one per next hop, or again at
    delivery on another server of the domain) is billed with the first one only.
    """
    if not writer.write(rec, now, c.BILL_CLASS_MAIL):
        return False
    if ledger is not None:
        ledger.add_pair(rec.Originator, "mail", 1, "mail_bytes", rec.MessageSize)
    return True


def write_http(writer: BillingWriter, ledger: UserLedger, rec: HttpReqRec, now: int) -> bool:
    """Bill one HTTPREQREC at `now` if the HttpRequest class is on, to its AuthUser (or
    "Anonymous"); True when it was written."""
    if not writer.write(rec, now, c.BILL_CLASS_HTTPREQUEST):
        return False
    billed = ANONYMOUS_WEB_USER if rec.AuthUser is None else rec.AuthUser
    ledger.add_pair(billed, "web", 1, "web_bytes", rec.HttpContentLength)
    return True


def replication_endpoints(direction: str, this_server: str, other: str) -> tuple[str, str]:
    """(Source, Destination) of a replication this server initiates with `other` (docs/scenario.md).

    `pull`: from the other server to this one; `push`: the reverse; the two-way
    `pull-push` and `pull-pull`: from the initiator (this server) to the other.
    """
    if direction == "pull":
        return other, this_server
    if direction in ("push", "pull-push", "pull-pull"):
        return this_server, other
    raise ValueError(f"unknown replication direction {direction!r}")


@dataclass(frozen=True, slots=True)
class ReplicatedDatabase:
    """One database of a replication, as its REPLREC reports it."""

    replica_id: TimeDate
    bytes_in: int
    bytes_out: int


@dataclass(frozen=True, slots=True)
class Replication:
    """A replication under way (scripted or generated): with whom, which databases in the
    order of their REPLRECs, when it ends, and the SessionID slot it holds."""

    remote: str  # the other server's full name
    direction: str
    priority: int  # REPLREC's Priority code
    databases: tuple[ReplicatedDatabase, ...]
    ends: int
    slot: int
    session_id: SessionID


@dataclass(frozen=True, slots=True)
class AgentRun:
    """An agent run under way (scripted or generated); `agent` is its own name, in no record."""

    agent: str
    started: int
    ends: int
    flags: int
    signer: str  # full name
    task: str
    db: str


class ServerTasks:
    """The router, replicator, agent manager and HTTP task of one emulated server."""

    def __init__(
        self,
        scenario: Scenario,
        writer: BillingWriter,
        heap: EventHeap,
        server: Server,
        databases: Mapping[str, DatabaseInfo],
        *,
        seed: int,
    ) -> None:
        self.scenario = scenario
        self.writer = writer
        self.heap = heap
        self.server = server
        self.databases = databases
        self.seed = seed
        self.started = 0
        self.completed = 0
        # Runs per agent name: the agent's own name is not in AGENTREC (docs/scenario.md).
        self.agent_runs: dict[str, int] = {}
        self.replications: list[Replication] = []  # under way, in start order
        # Bound once, so the heap's entries and the shutdown's membership test share them.
        self._mail_handler = self._mail_routed
        self._replication_handler = self._replication_done
        self._agent_handler = self._agent_done
        self._http_handler = self._http_done
        self.completion_handlers: frozenset[Callable[[Any], None]] = frozenset(
            (
                self._mail_handler,
                self._replication_handler,
                self._agent_handler,
                self._http_handler,
            )
        )
        # Type name -> (struct type, class, field names in the order of the struct).
        self._custom = {
            type_name: (custom.struct_type, custom.bill_class, tuple(f for f, _ in custom.fields))
            for type_name, custom in scenario.custom_types.items()
        }

    # -- starting -------------------------------------------------------------------------

    def start(self, action: TaskAction) -> None:
        """A scripted task action, run at its `at`: schedule its completion, or bill it now."""
        at = action.at
        if isinstance(action, CustomAction):
            self._custom_record(action, at)
            return
        self.started += 1
        if isinstance(action, MailAction):
            self.heap.schedule(at + action.delay, Phase.COMPLETION, self._mail_handler, action)
        elif isinstance(action, ReplicateAction):
            databases = self.databases
            self._begin_replication(
                at,
                at + action.duration,
                self.scenario.resolve_name(action.with_),
                action.direction,
                c.REPL_PRIORITY[action.priority],
                tuple(
                    ReplicatedDatabase(databases[r.db].replica_id, r.bytes_in, r.bytes_out)
                    for r in action.databases
                ),
            )
        elif isinstance(action, AgentAction):
            self._begin_agent(
                AgentRun(
                    action.agent,
                    at,
                    at + action.elapsed,
                    action.flag_bits,
                    self.scenario.resolve_name(action.signer),
                    action.task,
                    action.db,
                )
            )
        else:
            self.heap.schedule(
                at + action.time_ms * US_PER_MS, Phase.COMPLETION, self._http_handler, action
            )

    def replicate(
        self,
        now: int,
        ends: int,
        remote: str,
        direction: str,
        priority: int,
        databases: tuple[ReplicatedDatabase, ...],
    ) -> None:
        """A generated replication this server initiates now (simulator.domino.schedules)."""
        self.started += 1
        self._begin_replication(now, ends, remote, direction, priority, databases)

    def run_agent(self, run: AgentRun) -> None:
        """A generated agent run starting now (simulator.domino.schedules)."""
        self.started += 1
        self._begin_agent(run)

    def _begin_replication(
        self,
        now: int,
        ends: int,
        remote: str,
        direction: str,
        priority: int,
        databases: tuple[ReplicatedDatabase, ...],
    ) -> None:
        slot, session_id = self.server.slots.take()
        replication = Replication(remote, direction, priority, databases, ends, slot, session_id)
        self.replications.append(replication)
        self.heap.schedule(ends, Phase.COMPLETION, self._replication_handler, replication)

    def _begin_agent(self, run: AgentRun) -> None:
        self.heap.schedule(run.ends, Phase.COMPLETION, self._agent_handler, run)

    def _custom_record(self, action: CustomAction, now: int) -> None:
        struct_type, bill_class, fields = self._custom[action.type]
        rec = CustomRec(tuple(action.values[name] for name in fields))
        self.writer.write_custom(struct_type, bill_class, rec, now)

    # -- completions: each at the time its start scheduled it -------------------------------

    def _mail_routed(self, action: MailAction) -> None:
        now = action.at + action.delay
        self.completed += 1
        resolve = self.scenario.resolve_name
        writer = self.writer
        posted = writer.stamp(action.at)
        originator = resolve(action.from_)
        recipients = tuple(resolve(name) for name in action.to)
        rec = MailRec(
            action.form,
            mail_originator_id(self.seed, mail_key(action), posted),
            ZERO_UNID,
            action.size,
            action.next_hop if action.next_hop is not None else writer.server_name,
            c.MAIL_PRIORITY[action.priority],
            c.MAIL_ROUTING_STATE[action.routing_state],
            c.MAIL_REPORT[action.report],
            originator,
            len(recipients),
            posted,
            recipients,
        )
        write_mail(writer, self.server.ledger, rec, now)

    def _replication_done(self, replication: Replication) -> None:
        now = replication.ends
        self.completed += 1
        remote = replication.remote
        source, destination = replication_endpoints(
            replication.direction, self.writer.server_name, remote
        )
        priority = replication.priority
        session_id = replication.session_id
        write = self.writer.write
        ledger = self.server.ledger
        for replicated in replication.databases:
            rec = ReplRec(
                session_id,
                replicated.bytes_in,
                replicated.bytes_out,
                replicated.replica_id,
                source,
                destination,
                priority,
            )
            if write(rec, now, c.BILL_CLASS_REPLICATION):
                ledger.add_pair(
                    remote,
                    "replication_bytes_in",
                    rec.BytesIn,
                    "replication_bytes_out",
                    rec.BytesOut,
                )
        self.replications.remove(replication)
        self.server.slots.give_back(replication.slot)

    def _agent_done(self, run: AgentRun) -> None:
        now = run.ends
        self.completed += 1
        ticks = self.writer.ticks
        signer = run.signer
        self.agent_runs[run.agent] = self.agent_runs.get(run.agent, 0) + 1
        rec = AgentRec(
            (ticks(now) - ticks(run.started)) & c.DWORD_MAX,
            run.flags,
            signer,
            run.task,
            run.db,
        )
        if self.writer.write(rec, now, c.BILL_CLASS_AGENT):
            ledger = self.server.ledger
            ledger.add_pair(signer, "agents", 1, "agent_time", rec.ElapsedRunTime)

    def _http_done(self, action: HttpAction) -> None:
        now = action.at + action.time_ms * US_PER_MS
        self.completed += 1
        scenario = self.scenario
        user = scenario.resolve_name(action.user) if action.user is not None else None
        rec = HttpReqRec(
            action.bytes,
            action.time_ms,
            action.status,
            common_log_time(scenario.start + timedelta(microseconds=action.at)),
            user,
            action.address,
            action.referer,
            scenario.server_address,
            action.user_agent,
            action.request,
            action.content_type,
        )
        write_http(self.writer, self.server.ledger, rec, now)
