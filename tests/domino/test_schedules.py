"""Scheduled replication and agents of a generated workload (docs/workload.md: Replication,
Agents). Schedules are checked exactly against the calendar; drawn amounts statistically
(seeded, within 3 % of the configured mean, over runs long enough that the expected
deviation is a small fraction of that).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from statistics import fmean
from zoneinfo import ZoneInfo

import pytest
from samples import ALICE, HUB, SERVER

from simulator.commands.summary import build_summary
from simulator.domino.domain import Domain, domain_servers
from simulator.domino.schedules import (
    generated_database,
    replicated_databases,
    replication_partners,
)
from simulator.domino.server import DatabaseInfo
from simulator.domino.simulation import RunOptions, Simulation
from simulator.scenario.loader import load_scenario_text
from simulator.scenario.workload import ReplicationSpec, Workload
from simulator.verify.checker import check_frames
from simulator.wire import constants as c
from simulator.wire.records import AgentRec, Frame, ReplRec, SessionID, SessionRec
from simulator.wire.timedate import TimeDate, datetime_from_timedate

ORDERS = TimeDate(0x0052C1F1, 0x85258A3B)
NAMES = TimeDate(0x0052C100, 0x85258A3B)
MB = 1024 * 1024
ONE_MINUTE = timedelta(minutes=1)
BERLIN = ZoneInfo("Europe/Berlin")
# One generated user who signs on once, briefly: the schedules are what these runs are about.
QUIET = "users: 1, relogin: false, session_length: 1s, think_time: 1s"


def scenario(
    workload: str,
    *,
    duration: str = "1d",
    start: str = "2026-11-23T00:00:00Z",  # a Monday
    billing_class: str = "Replication,Agent",
    script: str = "",
    server: str = SERVER,
    population: str = QUIET,
) -> str:
    return f"""\
name: t
seed: 7
start: "{start}"
duration: {duration}
server: {server}
notes_ini: {{BillingClass: "{billing_class}"}}
databases:
  apps/orders.nsf: {{replica_id: "85258A3B:0052C1F1"}}
  names.nsf: {{replica_id: "85258A3B:0052C100"}}
  archive/: {{}}
users:
  alice: {{name: "{ALICE}", address: "10.1.2.3"}}
workload: {{{population}, {workload}}}
{script}"""


def simulate(
    text: str, *, seed: int | None = None, domain: Domain | None = None
) -> tuple[Simulation, list[Frame]]:
    """Every frame of a run (stepped, no queue), decoded, and the simulation after it."""
    loaded = load_scenario_text(text, "t.yaml")
    sim = Simulation(loaded, loaded.settings_with(), RunOptions(seed=seed), domain=domain)
    raw: list[bytes] = []
    sim.writer.put = lambda item: raw.append(item[1])
    while sim.step():
        pass
    return sim, [sim.codec.decode(data) for data in raw]


def repls(frames: list[Frame]) -> list[ReplRec]:
    return [f.rec for f in frames if isinstance(f.rec, ReplRec)]


def agent_frames(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if isinstance(f.rec, AgentRec)]


def moment(frame: Frame) -> datetime:
    return datetime_from_timedate(frame.TimeStamp)


def run_starts(frames: list[Frame], zone: ZoneInfo = ZoneInfo("UTC")) -> list[datetime]:
    """The local start of each replication run: its REPLRECs' instant less its 1-minute length."""
    ends = sorted({moment(f) for f in frames if isinstance(f.rec, ReplRec)})
    return [(end - ONE_MINUTE).astimezone(zone) for end in ends]


def per_day(moments: list[datetime]) -> Counter[object]:
    return Counter(m.date() for m in moments)


# --- replication: the schedule -----------------------------------------------------------------


def test_runs_start_at_the_window_opening_every_interval_until_it_closes() -> None:
    _, frames = simulate(
        scenario(
            "replication: [{with: CN=Hub01/O=Acme, every: 360m, window: '08:00-22:00',"
            " databases: 2}]",
            duration="3d",
        )
    )
    starts = run_starts(frames)
    # 14 hours open, every 6 hours: 08:00, 14:00, 20:00 (22:00 is closed), every day.
    assert [s.time() for s in starts] == [time(8), time(14), time(20)] * 3
    assert set(per_day(starts).values()) == {3}
    # Each run one REPLREC per database, at its end (the default duration, 1 minute).
    assert len(repls(frames)) == 9 * 2


def test_runs_per_day_are_window_over_every_exactly_and_bytes_follow_their_distribution() -> None:
    days = 100
    sim, frames = simulate(
        scenario(
            "databases: {count: 20}, replication: [{with: CN=Hub01/O=Acme, every: 30m,"
            " window: '08:00-20:00', databases: 20, bytes: {lognormal: {median: 2MB, sigma: 1}}}]",
            duration=f"{days}d",
        )
    )
    starts = run_starts(frames)
    assert per_day(starts) == {day: 24 for day in per_day(starts)}  # 12 h / 30 min
    assert len(per_day(starts)) == days
    records = repls(frames)
    assert len(records) == days * 24 * 20
    spec = sim.schedules.connections[0].spec  # type: ignore[union-attr]
    mean = spec.bytes.mean
    assert mean == pytest.approx(2 * MB * 1.6487, rel=1e-4)  # median e^(σ²/2)
    # bytes_out defaults to bytes: drawn from the same distribution, separately.
    assert fmean(r.BytesIn for r in records) == pytest.approx(mean, rel=0.03)
    assert fmean(r.BytesOut for r in records) == pytest.approx(mean, rel=0.03)
    assert any(r.BytesIn != r.BytesOut for r in records)
    # Billed to the remote server, as scripted replications are.
    totals = sim.server.ledger.get(HUB) or {}
    assert totals["replication_bytes_in"] == sum(r.BytesIn for r in records)
    assert totals["replication_bytes_out"] == sum(r.BytesOut for r in records)


def test_a_replication_is_written_as_the_scripted_action_writes_it() -> None:
    _, frames = simulate(
        scenario(
            "replication: [{with: CN=Hub01/O=Acme, every: 1h, window: '10:00-11:00',"
            " direction: pull, priority: high, duration: 5m, databases: 1,"
            " bytes: 1000, bytes_out: 20}]",
            script="script:\n  - {at: 610m, action: replicate, with: CN=Hub01/O=Acme,"
            " direction: pull, priority: high, duration: 5m,"
            " databases: [{db: apps/orders.nsf, bytes_in: 1000, bytes_out: 20}]}\n",
        )
    )
    generated, scripted = (f for f in frames if isinstance(f.rec, ReplRec))
    assert moment(generated) == datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    assert moment(scripted) == datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
    # The first of the scenario's databases; pull: from the hub to this server; SessionID
    # from the sessions' allocator (slot 1 is free again after the generated user left).
    assert generated.rec == ReplRec(SessionID(1, 2), 1000, 20, ORDERS, HUB, SERVER, 2)
    assert (generated.StructType, generated.Class) == (c.BILL_REPLREC, c.BILL_CLASS_REPLICATION)
    assert scripted.rec == ReplRec(SessionID(1, 3), 1000, 20, ORDERS, HUB, SERVER, 2)


def test_runs_cycle_through_the_databases() -> None:
    _, frames = simulate(
        scenario(
            "replication: [{with: CN=Hub01/O=Acme, every: 1h, window: '00:00-03:00', databases: 1}]"
        )
    )
    # The scenario's databases, directories left out: orders, names, orders.
    assert [r.ReplicaID for r in repls(frames)] == [ORDERS, NAMES, ORDERS]


def test_a_run_replicates_each_database_once() -> None:
    _, frames = simulate(
        scenario("replication: [{with: h, every: 1d, window: '01:00-02:00', databases: 5}]")
    )
    assert [r.ReplicaID for r in repls(frames)] == [ORDERS, NAMES]


def test_which_databases_are_replicated() -> None:
    scenario_dbs = {
        "a.nsf": DatabaseInfo("a.nsf", ORDERS),
        "b.nsf": DatabaseInfo("b.nsf", NAMES),
        "dir/": DatabaseInfo("dir/", TimeDate(0, 0)),
    }

    def paths(**workload: object) -> list[str]:
        model = Workload.model_validate({"users": 1, **workload})
        return [db.path for db in replicated_databases(model, scenario_dbs, 7, 3)]

    assert paths() == ["a.nsf", "b.nsf"]
    assert paths(databases=["b.nsf"]) == ["b.nsf"]
    assert paths(databases={"count": 2, "path": "x/{n}.nsf"}) == ["x/1.nsf", "x/2.nsf"]
    # Nothing declared: generated names, as many as a run replicates.
    none = Workload.model_validate({"users": 1})
    generated = replicated_databases(none, {}, 7, 3)
    assert [db.path for db in generated] == [
        "apps/app0001.nsf",
        "apps/app0002.nsf",
        "apps/app0003.nsf",
    ]
    # A generated database's replica ID is fixed by the seed and its path.
    assert generated[0] == generated_database("apps/app0001.nsf", 7)
    assert generated[0].replica_id != generated_database("apps/app0001.nsf", 8).replica_id


def test_days_of_the_connection_document() -> None:
    # 2026-11-23 is a Monday; a week of runs on Mondays and Wednesdays at 06:00.
    _, frames = simulate(
        scenario(
            "replication: [{with: h, every: 1d, window: '06:00-07:00', days: [mon, wed]}]",
            duration="7d",
        )
    )
    assert [s.strftime("%a %H:%M") for s in run_starts(frames)] == ["Mon 06:00", "Wed 06:00"]


def test_runs_before_the_start_of_the_first_day_never_happen() -> None:
    _, frames = simulate(
        scenario(
            "replication: [{with: h, every: 25m, window: '08:00-10:00'}]",
            start="2026-11-23T09:10:00Z",
            duration="1h",
        )
    )
    # 08:00, 08:25, 08:50 are before the start; 09:15, 09:40 are the runs; 10:05 is closed.
    assert [s.time() for s in run_starts(frames)] == [time(9, 15), time(9, 40)]


# --- agents ---------------------------------------------------------------------------------


def test_agent_runs_per_day_and_elapsed_follow_their_distributions() -> None:
    days = 200
    sim, frames = simulate(
        scenario(
            "agents: [{db: apps/orders.nsf, agent: Often, every: {uniform: [30m, 60m]},"
            " elapsed: {lognormal: {median: 3m, sigma: 0.7}}}]",
            duration=f"{days}d",
        )
    )
    runs = agent_frames(frames)
    assert len(runs) / days == pytest.approx(24 * 60 / 45, rel=0.03)
    spec = sim.schedules.agents[0].spec  # type: ignore[union-attr]
    elapsed_s = fmean(f.rec.ElapsedRunTime / 100 for f in runs)  # type: ignore[union-attr]
    assert elapsed_s == pytest.approx(spec.elapsed.mean / 1e6, rel=0.03)
    assert sim.tasks.agent_runs == {"Often": len(runs)}
    assert (sim.server.ledger.get(SERVER) or {})["agents"] == len(runs)


def test_agent_record_as_the_scripted_action_writes_it() -> None:
    sim, frames = simulate(
        scenario(
            "agents: [{db: names.nsf, agent: Nightly, at: '02:00', every: 1d, elapsed: 90s,"
            " signer: alice, task: Agent Manager},"
            " {db: apps/orders.nsf, agent: Hourly, every: 1h}]",
            start="2026-11-23T09:00:00Z",
            duration="2d",
        )
    )
    nightly = [f for f in agent_frames(frames) if f.rec.DatabaseName == "names.nsf"]  # type: ignore[union-attr]
    # 02:00 of the first day is before the start: the next day's, and the day after's.
    assert [moment(f) for f in nightly] == [
        datetime(2026, 11, 24, 2, 1, 30, tzinfo=UTC),
        datetime(2026, 11, 25, 2, 1, 30, tzinfo=UTC),
    ]
    assert nightly[0].rec == AgentRec(9000, 0, ALICE, "Agent Manager", "names.nsf")
    hourly = [f for f in agent_frames(frames) if f.rec.DatabaseName == "apps/orders.nsf"]  # type: ignore[union-attr]
    # Without `at`: from the start of the run, every hour; unsigned: the server's own name.
    assert len(hourly) == 48
    assert moment(hourly[0]) == datetime(2026, 11, 23, 9, 0, 1, tzinfo=UTC)
    assert hourly[0].rec == AgentRec(100, 0, SERVER, "AMgr", "apps/orders.nsf")
    assert build_summary(sim)["agent_runs"] == {"Hourly": 48, "Nightly": 2}
    assert (sim.server.ledger.get(ALICE) or {})["agent_time"] == 2 * 9000


# --- across a DST change ---------------------------------------------------------------------


def test_counts_and_local_times_follow_the_schedule_across_dst() -> None:
    # Berlin, Thursday 2026-03-26 to Thursday 2026-04-02; clocks go forward on Sunday 29th.
    sim, frames = simulate(
        scenario(
            "calendar: {timezone: Europe/Berlin},"
            " replication: [{with: CN=Hub01/O=Acme, every: 30m, window: '08:00-20:00'},"
            " {with: CN=Hub02/O=Acme, every: 1h}],"
            " agents: [{db: names.nsf, agent: Nightly, at: '02:30', every: 1d, task: Nightly},"
            " {db: names.nsf, agent: Hourly, every: 1h}]",
            start="2026-03-25T23:00:00Z",  # Thursday 00:00 in Berlin
            duration="7d",
            population="users: 1, session_length: 1s, think_time: 1s",
        )
    )
    windowed = [f for f in frames if isinstance(f.rec, ReplRec) and f.rec.Destination == HUB]
    starts = run_starts(windowed, BERLIN)
    # 24 a day, always at 08:00 … 19:30 local, the short day included.
    assert per_day(starts) == {day: 24 for day in per_day(starts)}
    assert len(per_day(starts)) == 7
    assert {(s.hour, s.minute) for s in starts} == {(h, m) for h in range(8, 20) for m in (0, 30)}
    # A whole-day window counts elapsed hours from local midnight to midnight: 23 runs on
    # the day the clocks skip 02:00-03:00, 24 on the others.
    all_day = [f for f in frames if isinstance(f.rec, ReplRec) and f.rec.Destination != HUB]
    counts = per_day(run_starts(all_day, BERLIN))
    assert counts.pop(datetime(2026, 3, 29).date()) == 23
    # Seven days of elapsed time, one of them an hour short, end at 01:00 local on the 2nd.
    assert counts.pop(datetime(2026, 4, 2).date()) == 1
    assert list(counts.values()) == [24] * 6
    # A daily agent keeps its local time; 02:30 does not exist on the 29th: it runs when
    # the clocks have jumped, at 03:30 summer time.
    agents = agent_frames(frames)
    nightly = [
        (moment(f) - timedelta(seconds=1)).astimezone(BERLIN)
        for f in agents
        if f.rec.TaskName == "Nightly"  # type: ignore[union-attr]
    ]
    assert [(n.day, n.hour, n.minute) for n in nightly] == [
        (26, 2, 30), (27, 2, 30), (28, 2, 30), (29, 3, 30), (30, 2, 30), (31, 2, 30), (1, 2, 30),
    ]  # fmt: skip
    # The other agent counts elapsed time: every hour from the start, 168 runs in 7 days.
    assert sim.tasks.agent_runs == {"Nightly": 7, "Hourly": 7 * 24}
    assert check_frames(enumerate(frames)).ok


# --- class filter, shutdown, the checker -------------------------------------------------------


def test_class_filter_writes_nothing_but_the_tasks_still_run_and_hold_slots() -> None:
    text = "replication: [{with: h, every: 1d, window: '10:00-11:00', duration: 10m}],"
    text += " agents: [{db: names.nsf, agent: A, at: '10:00', elapsed: 1m}]"
    script = "script:\n  - {at: 605m, user: alice, action: transfer}\n"
    everything, all_frames = simulate(
        scenario(text, billing_class="Session,Replication,Agent", script=script)
    )
    sessions_only, frames = simulate(scenario(text, billing_class="Session", script=script))
    assert [f.StructType for f in all_frames].count(c.BILL_REPLREC) == 1
    assert [f.StructType for f in all_frames].count(c.BILL_AGENTREC) == 1
    assert {f.StructType for f in frames} == {c.BILL_SESSIONREC}
    for sim in (everything, sessions_only):
        assert (sim.tasks.started, sim.tasks.completed, sim.abandoned_tasks) == (2, 2, 0)
    # The replication holds slot 1 from 10:00 to 10:10: alice's session at 10:05 takes slot 2.
    [start, _end] = [
        f.rec for f in frames if isinstance(f.rec, SessionRec) and f.rec.Username == ALICE
    ]
    assert start.SessionID == SessionID(2, 1)
    # Only sessions were billed: the totals hold no task.
    ledger = sessions_only.server.ledger
    assert ledger.get(SERVER) is None
    assert ledger.get("h") is None
    assert (everything.server.ledger.get(SERVER) or {})["agents"] == 1


def test_tasks_running_at_shutdown_are_abandoned() -> None:
    sim, frames = simulate(
        scenario(
            "replication: [{with: h, every: 1h, window: '22:00-24:00', duration: 90m}],"
            " agents: [{db: names.nsf, agent: A, at: '23:00', elapsed: 2h}]"
        )
    )
    # 22:00 ends 23:30 (written); 23:00 would end 00:30; the agent 01:00: both abandoned.
    [written] = frames
    assert moment(written) == datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    assert sim.abandoned_tasks == 2
    assert (sim.tasks.started, sim.tasks.completed) == (3, 1)
    assert build_summary(sim)["abandoned_tasks"] == 2


def test_every_generated_stream_passes_the_checker() -> None:
    _, frames = simulate(
        scenario(
            "replication: [{with: CN=Hub01/O=Acme, every: 20m, duration: {uniform: [1m, 30m]},"
            " databases: 2}, {with: CN=Hub02/O=Acme, every: 45m, direction: push}],"
            " agents: [{db: names.nsf, agent: A, every: {exponential: {mean: 10m}}}]",
            population="users: 40, session_length: 20m, think_time: 1m",
            billing_class="Session,Database,Document,Replication,Agent",
            duration="6h",
        )
    )
    kinds = Counter(f.StructType for f in frames)
    assert kinds[c.BILL_SESSIONREC] > 100
    assert kinds[c.BILL_REPLREC] > 30
    assert kinds[c.BILL_AGENTREC] > 20
    report = check_frames(enumerate(frames))
    assert report.ok, report.violations[:5]


# --- determinism, independence, laziness -------------------------------------------------------

SPECS = (
    "replication: [{with: CN=Hub01/O=Acme, every: 2h, databases: 2,"
    " bytes: {exponential: {mean: 1MB}}, duration: {uniform: [1m, 5m]}}"
    "EXTRA_REPLICATION],"
    " agents: [{db: names.nsf, agent: A, every: {uniform: [30m, 60m]},"
    " elapsed: {exponential: {mean: 2m}}}EXTRA_AGENT]"
)


def specs(extra_replication: str = "", extra_agent: str = "") -> str:
    return SPECS.replace("EXTRA_REPLICATION", extra_replication).replace("EXTRA_AGENT", extra_agent)


def records_of(frames: list[Frame], kind: type, **fields: object) -> list[Frame]:
    return [
        f
        for f in frames
        if isinstance(f.rec, kind) and all(getattr(f.rec, k) == v for k, v in fields.items())
    ]


def test_same_seed_same_records_other_seed_other_draws() -> None:
    text = scenario(specs(), duration="2d")
    _, first = simulate(text)
    _, again = simulate(text)
    _, other = simulate(text, seed=8)
    assert first == again
    assert [f.rec for f in first] != [f.rec for f in other]


def test_one_specs_draws_do_not_move_anothers() -> None:
    base = scenario(specs(), duration="2d")
    more = scenario(
        specs(
            ", {with: CN=Hub02/O=Acme, every: 30m, bytes: 5MB}",
            ", {db: apps/orders.nsf, agent: B, every: 10m}",
        ),
        duration="2d",
    )
    _, before = simulate(base)
    _, after = simulate(more)

    # Another connection and another agent: the first ones' records are the same but for
    # the SessionID slot (the new connection's runs hold slots too).
    def hub01(frames: list[Frame]) -> list[tuple[object, ...]]:
        return [
            (f.TimeStamp, r.BytesIn, r.BytesOut, r.ReplicaID)
            for f in frames
            if isinstance(r := f.rec, ReplRec) and r.Destination == HUB
        ]

    assert hub01(before) == hub01(after)
    assert records_of(before, AgentRec, DatabaseName="names.nsf") == records_of(
        after, AgentRec, DatabaseName="names.nsf"
    )
    assert records_of(after, AgentRec, DatabaseName="apps/orders.nsf")


def test_each_schedule_keeps_one_pending_entry() -> None:
    text = scenario(specs(), duration="3d")
    loaded = load_scenario_text(text, "t.yaml")
    sim = Simulation(loaded, loaded.settings_with(), RunOptions())
    sim.writer.put = lambda item: None
    schedules = sim.schedules
    assert schedules is not None
    handlers = {schedules._replicate_handler, schedules._agent_handler}
    while sim.step():
        pending = Counter(event[3] for event in sim.heap.items if event[3] in handlers)
        # Each schedule's next run is on the heap, once, until the run ends before it.
        if sim.now < sim.duration - 2 * 3_600_000_000:
            assert pending == dict.fromkeys(handlers, 1)
        assert all(count == 1 for count in pending.values())


def test_generate_false_leaves_the_schedules_out() -> None:
    loaded = load_scenario_text(scenario(specs()), "t.yaml")
    sim = Simulation(loaded, loaded.settings_with(), RunOptions(), generate=False)
    assert sim.schedules is not None
    assert len(sim.heap) == 1  # the shutdown only


# --- a domain ---------------------------------------------------------------------------------

DOMAIN = domain_servers(SERVER, 3)  # Mail01, Mail02, Mail03


def partners(with_: str | None, index: int) -> list[tuple[str, int]]:
    spec = ReplicationSpec.model_validate({"with": with_, "every": "1h"})
    return replication_partners(spec, Domain(DOMAIN, index))


def test_each_domain_replication_is_initiated_by_one_server() -> None:
    # No `with`: hub and spoke, the first server replicating with each of the others.
    assert partners(None, 0) == [(DOMAIN[1], 1), (DOMAIN[2], 2)]
    assert partners(None, 1) == partners(None, 2) == []
    # `with` a server of the domain: every other server replicates with it.
    mail02 = "cn=mail02/o=acme"  # names compare as Domino's do, whatever the case
    assert partners(mail02, 0) == [(DOMAIN[1], 0)]
    assert partners(mail02, 1) == []
    assert partners(mail02, 2) == [(DOMAIN[1], 2)]
    # `with` a server outside the domain: every server replicates with it.
    assert [partners(HUB, k) for k in range(3)] == [[(HUB, 0)], [(HUB, 1)], [(HUB, 2)]]
    # One server: it replicates with whom `with` names, never with itself.
    single = ReplicationSpec.model_validate({"with": HUB, "every": "1h"})
    assert replication_partners(single, Domain.single(SERVER)) == [(HUB, 0)]
    itself = ReplicationSpec.model_validate({"with": SERVER, "every": "1h"})
    assert replication_partners(itself, Domain.single(SERVER)) == []


def test_a_domain_hub_replicates_with_each_spoke_and_agents_run_on_one_server() -> None:
    workload = (
        "servers: 3, replication: [{every: 6h, window: '00:00-12:00', direction: pull}],"
        " agents: [{db: names.nsf, agent: A, every: 6h}, {db: names.nsf, agent: B, every: 6h},"
        " {db: names.nsf, agent: C, every: 6h}, {db: names.nsf, agent: D, every: 6h}]"
    )
    records: dict[int, list[Frame]] = {}
    runs: dict[int, dict[str, int]] = {}
    for index, name in enumerate(DOMAIN):
        sim, frames = simulate(scenario(workload, server=name), domain=Domain(DOMAIN, index))
        records[index] = frames
        runs[index] = sim.tasks.agent_runs
    hub_repls = repls(records[0])
    # 00:00 and 06:00, with each spoke, pulled from it.
    assert sorted((r.Source, r.Destination) for r in hub_repls) == sorted(
        [(DOMAIN[1], DOMAIN[0]), (DOMAIN[2], DOMAIN[0])] * 2
    )
    assert repls(records[1]) == repls(records[2]) == []
    # Agent spec i runs on server i mod 3, and only there; unsigned, under that server's name.
    assert runs == {0: {"A": 4, "D": 4}, 1: {"B": 4}, 2: {"C": 4}}
    for index, frames in records.items():
        assert {f.rec.UserName for f in agent_frames(frames)} == {DOMAIN[index]}  # type: ignore[union-attr]
