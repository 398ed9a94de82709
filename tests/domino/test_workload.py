"""The generated population (`workload:`): what its users do, seen at the server's door.

Every generated action reaches the server as `Server.session_action` (a user with no
session held) or `Server.continue_session` once the population's fold is off (with it on,
actions that bill nothing are done ahead, without those calls: `Population._fold_ahead`);
a spy on both records them, so these tests hold whatever the population does inside to
be fast.
"""

from __future__ import annotations

import hashlib
import io
import math
import statistics
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from simulator.commands.run import RunRequest, run
from simulator.commands.summary import build_summary
from simulator.domino import workload as workload_module
from simulator.domino.billing import SequencedFrame
from simulator.domino.domain import Domain, domain_servers
from simulator.domino.server import DatabaseInfo, Server, Session, derive_timedate
from simulator.domino.simulation import RunOptions, Simulation
from simulator.domino.streams import chance, stream_key
from simulator.domino.workload import MailFile, MailFiles, Population, generated_databases
from simulator.scenario.distributions import LogNormal, zipf
from simulator.scenario.loader import load_scenario_text, parse_workload
from simulator.scenario.workload import DatabasesSpec
from simulator.verify.checker import Checker
from simulator.verify.ticks import ticks_of
from simulator.wire import constants as c
from simulator.wire.records import DbRec, DocumentRec, SessionID, SessionRec

MINUTE = 60_000_000

HEAD = """\
name: crowd
seed: 11
start: "2026-11-21T09:00:00Z"
duration: {duration}
server: CN=Mail01/O=Acme
notes_ini: {{BillingClass: "Session,Database,Document"}}
databases:
  mail/a.nsf: {{replica_id: "85258A3B:00000001"}}
  mail/b.nsf: {{replica_id: "85258A3B:00000002", documents: {{0x10: {{charge_read: 1}}}}}}
  mail/: {{}}
"""


def scenario_text(workload: str, *, duration: str = "1h", databases: bool = True) -> str:
    head = HEAD.format(duration=duration)
    if not databases:
        head = head.split("databases:")[0]
    return head + f"workload: {workload}\n"


@dataclass(frozen=True)
class Call:
    """One generated action as the server got it."""

    at: int
    name: str
    address: str
    action: str
    db: str | None
    note_id: int | None
    new_session: bool  # no session was held: a login (or a logout of none)
    db_was_open: bool | None  # for a close: was the database open in that session?


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Call]]:
    seen: list[Call] = []
    session_action = Server.session_action
    continue_session = Server.continue_session

    def was_open(session: Session | None, action: str, db: DatabaseInfo | None) -> bool | None:
        if action != "close" or db is None:
            return None
        state = session.db_state(db) if session is not None else None
        return state is not None and state.is_open

    def spy_session_action(
        self: Server, now: int, name: str, address: str, action: str, *args: Any
    ) -> Session | None:
        db: DatabaseInfo | None = args[0] if args else None
        note_id = args[1] if len(args) > 1 else None
        held = self.sessions.get((name, address))
        path = db.path if db else None
        call = Call(
            now, name, address, action, path, note_id, held is None, was_open(held, action, db)
        )
        seen.append(call)
        return session_action(self, now, name, address, action, *args)

    def spy_continue_session(
        self: Server, session: Session, now: int, action: str, *args: Any
    ) -> Session | None:
        db: DatabaseInfo | None = args[0] if args else None
        note_id = args[1] if len(args) > 1 else None
        seen.append(
            Call(
                now,
                session.name,
                session.address,
                action,
                db.path if db else None,
                note_id,
                False,
                was_open(session, action, db),
            )
        )
        return continue_session(self, session, now, action, *args)

    monkeypatch.setattr(Population, "folds_ahead", False)
    monkeypatch.setattr(Server, "session_action", spy_session_action)
    monkeypatch.setattr(Server, "continue_session", spy_continue_session)
    yield seen


def simulate(text: str, seed: int | None = None) -> tuple[Simulation, list[SequencedFrame]]:
    scenario = load_scenario_text(text, "crowd.yaml")
    sim = Simulation(scenario, scenario.settings_with(), RunOptions(seed=seed))
    frames: list[SequencedFrame] = []
    sim.writer.put = frames.append
    while sim.step():
        pass
    return sim, frames


def logins(calls: list[Call]) -> list[Call]:
    return [call for call in calls if call.new_session]


# --- determinism ---------------------------------------------------------------------------


def run_out(tmp_path: Path, text: str, seed: int, name: str) -> bytes:
    scenario = tmp_path / "crowd.yaml"
    scenario.write_text(text)
    out = tmp_path / name
    err = io.StringIO()
    code = run(RunRequest(str(scenario), out=out, seed=seed), stdout=io.StringIO(), stderr=err)
    assert code == 0, err.getvalue()
    return out.read_bytes()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    text = scenario_text("{users: 40, arrival: 10m, think_time: 30s, session_length: 10m}")
    first = run_out(tmp_path, text, 5, "a.nbf")
    again = run_out(tmp_path, text, 5, "b.nbf")
    other = run_out(tmp_path, text, 6, "c.nbf")
    assert len(first) > 100 * 1000  # well over a hundred frames
    assert first == again
    assert first != other


# Two generated runs whose frames were taken, as SHA-256, from the engine before issue 10's
# performance work (commit 4893ec7): every class of a typical-mail day, and the flat keys
# with the activity stamp policy, idle timeouts and closes. A change that means to alter
# generated records updates these and says why; a change meant to be faster must not.
PINNED_RUNS = {
    "typical-mail": (
        """\
name: pinned-day
seed: 3
start: "2026-11-23T06:00:00Z"
duration: 1d
server: CN=Mail01/O=Acme
notes_ini: {BillingClass: "Session,Database,Document,Mail,Replication,Agent,HttpRequest"}
workload:
  preset: typical-mail
  users: 120
  calendar: {timezone: Europe/Berlin}
  databases: {count: 6, mail_share: 0.6, charged: 0.3}
  agents: [{db: apps/app0001.nsf, agent: Nightly, at: "02:00", every: 1d}]
""",
        3,
        "2cfba9cd1621684dd6c84d04a46de5cdafe80f30ef94b46981e5ac0c8111f098",
    ),
    "flat": (
        """\
name: pinned-flat
seed: 4
start: "2026-11-21T09:00:00Z"
duration: 3h
server: CN=Mail01/O=Acme
stamp_policy: activity
notes_ini: {BillingClass: "Session,Database,Document", BillingSuppressTime: 5}
databases:
  mail/a.nsf: {replica_id: "85258A3B:00000001"}
  mail/b.nsf:
    replica_id: "85258A3B:00000002"
    documents: {0x10: {charge_read: 1, charge_write: 2}}
workload:
  users: 150
  arrival: 20m
  think_time: {uniform: [5s, 15m]}
  session_length: 40m
  session: {idle_timeout: 8m}
  mix: {read: 4, write: 2, edit: 1, open: 1, transfer: 1, close: 2}
""",
        4,
        "8b9f202fa753d1a7c2c40cc5b0c969bc2dc959300694d928dfc84d500fc042f3",
    ),
}


@pytest.mark.parametrize("name", sorted(PINNED_RUNS))
def test_a_generated_run_keeps_its_bytes(tmp_path: Path, name: str) -> None:
    text, seed, digest = PINNED_RUNS[name]  # the seed: the scenario's own
    frames = run_out(tmp_path, text, seed, f"{name}.nbf")
    assert len(frames) > 5000 * 1000  # thousands of frames
    assert hashlib.sha256(frames).hexdigest() == digest


FOLDED_WORKLOADS = {
    # A mail file most actions go to, charged documents, the preset's idle timeout.
    "mail-file": (
        "{users: 80, arrival: 20m, think_time: 40s, session_length: 50m,"
        " session: {idle_timeout: 3m}, mix: {read: 5, edit: 2, write: 1, close: 1},"
        " databases: {count: 4, mail_file: 'mail/{user}.nsf', mail_share: 0.7,"
        " charged: 0.3, documents: 2}}"
    ),
    # Every action to the mail file (the typical-mail preset's mix): Population._fold_mail.
    "mail-only": (
        "{users: 120, arrival: 20m, think_time: 40s, session_length: 50m,"
        " session: {idle_timeout: 3m}, mix: {read: 5, edit: 2, write: 1},"
        " databases: {mail_file: 'mail/{user}.nsf', mail_share: 1}}"
    ),
    # The declared databases: one with a charged document, a directory, closes, traffic.
    "declared": (
        "{users: 60, arrival: 10m, think_time: 20s, session_length: 30m,"
        " mix: {read: 4, edit: 2, write: 1, close: 1, transfer: 1}}"
    ),
}


def fold_run(
    monkeypatch: pytest.MonkeyPatch, text: str, *, folds: bool, stop_at: int | None
) -> tuple[Simulation, list[SequencedFrame]]:
    """Every frame of the run, the fold on or off; with `stop_at`, stopped at that instant
    (every event before it run), as a Ctrl-C stops a paced run between two events."""
    monkeypatch.setattr(Population, "folds_ahead", folds)
    # A few folds remembered for a stop, so the old ones are dropped as the run goes.
    monkeypatch.setattr(workload_module, "_AHEAD_KEPT", 8)
    scenario = load_scenario_text(text, "crowd.yaml")
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    frames: list[SequencedFrame] = []
    sim.writer.put = frames.append
    if stop_at is None:
        while sim.step():
            pass
        return sim, frames
    while (sim.heap.peek_time() or stop_at) < stop_at:
        sim.step()
    sim.now = stop_at
    sim.server.set_now(stop_at)
    sim.shutdown()
    return sim, frames


@pytest.mark.parametrize("workload", sorted(FOLDED_WORKLOADS))
@pytest.mark.parametrize("stop_at", [None, 23 * MINUTE + 1])
def test_actions_done_ahead_bill_as_at_their_own_instant(
    monkeypatch: pytest.MonkeyPatch, workload: str, stop_at: int | None
) -> None:
    # Boundaries 4 minutes apart: a few actions between two of them.
    text = scenario_text(FOLDED_WORKLOADS[workload], duration="1h").replace(
        '"Session,Database,Document"', '"Session,Database,Document", BillingSuppressTime: 4'
    )
    folded, frames = fold_run(monkeypatch, text, folds=True, stop_at=stop_at)
    one_by_one, expected = fold_run(monkeypatch, text, folds=False, stop_at=stop_at)
    assert len(expected) > 1000
    # Fewer events: actions were done ahead; the same frames, a stop's ENDs included.
    assert folded.events < one_by_one.events * 0.8
    assert frames == expected


@pytest.mark.parametrize(
    ("workload", "mail_only"),
    [
        ("{users: 5, mix: {read: 5, edit: 2, write: 1}, databases: {mail_share: 1}}", True),
        ("{users: 5, mix: {read: 5, close: 1}, databases: {mail_share: 1}}", False),
        ("{users: 5, mix: {read: 5, transfer: 1}, databases: {mail_share: 1}}", False),
        ("{users: 5, mix: {read: 5, edit: 2}, databases: {mail_share: 0.99}}", False),
        ("{users: 5, mix: {read: 1}, think_time: {uniform: [1s, 2s]}, databases: {}}", False),
    ],
)
def test_the_mail_only_fold_is_taken_only_where_no_action_decides_anything(
    workload: str, mail_only: bool
) -> None:
    text = scenario_text(
        workload.replace("databases: {", "databases: {mail_file: 'mail/{user}.nsf', "),
        duration="1h",
    )
    scenario = load_scenario_text(text, "crowd.yaml")
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    assert sim.population is not None
    assert sim.population._mail_only is mail_only


def test_same_seed_same_actions(calls: list[Call]) -> None:
    text = scenario_text("{users: 20, arrival: 5m, think_time: 20s}", duration="30m")
    simulate(text, seed=1)
    first = list(calls)
    calls.clear()
    simulate(text, seed=1)
    assert calls == first
    calls.clear()
    simulate(text, seed=2)
    assert calls != first


# --- arrival, duration, relogin -------------------------------------------------------------


def test_users_arrive_within_arrival_spread_over_it(calls: list[Call]) -> None:
    text = scenario_text(
        "{users: 200, arrival: 10m, session_length: 2h, think_time: 1m, relogin: false}"
    )
    simulate(text)
    first_seen: dict[str, int] = {}
    for call in calls:
        first_seen.setdefault(call.name, call.at)
    assert len(first_seen) == 200  # every user came
    assert all(0 <= at < 10 * MINUTE for at in first_seen.values())
    # Spread over the window, not bunched at its start.
    assert sum(at >= 5 * MINUTE for at in first_seen.values()) > 60
    assert sum(at < 5 * MINUTE for at in first_seen.values()) > 60


def test_no_arrival_means_everyone_at_the_start(calls: list[Call]) -> None:
    simulate(scenario_text("{users: 25, relogin: false}", duration="10m"))
    starts = logins(calls)
    assert len(starts) == 25
    assert {call.at for call in starts} == {0}


def test_nothing_at_or_after_the_end(calls: list[Call]) -> None:
    sim, frames = simulate(
        scenario_text(
            "{users: 50, arrival: 20m, think_time: 15s, session_length: 5m}", duration="20m"
        )
    )
    assert calls
    assert max(call.at for call in calls) < 20 * MINUTE
    assert sim.population is not None
    # Users whose arrival would fall after the end never come: none of them act.
    assert len(frames) > 0


def test_relogin_starts_new_sessions_after_logout(calls: list[Call]) -> None:
    text = scenario_text("{users: 10, session_length: 2m, think_time: 20s, relogin: true}")
    simulate(text)
    per_user = Counter(call.name for call in logins(calls))
    assert len(per_user) == 10
    assert min(per_user.values()) >= 3  # an hour of ~2-minute sessions
    assert any(call.action == "logout" for call in calls)


def test_without_relogin_a_user_is_gone_after_logout(calls: list[Call]) -> None:
    text = scenario_text("{users: 30, session_length: 2m, think_time: 20s, relogin: false}")
    simulate(text)
    per_user = Counter(call.name for call in logins(calls))
    assert set(per_user.values()) == {1}
    logged_out: dict[str, int] = {}
    for call in calls:
        assert call.name not in logged_out, f"{call.name} acted after logging out"
        if call.action == "logout":
            logged_out[call.name] = call.at
    assert len(logged_out) == 30  # 2-minute sessions all end within the hour


# --- what the users do -----------------------------------------------------------------------


def test_mix_weights_are_followed(calls: list[Call]) -> None:
    text = scenario_text(
        "{users: 50, think_time: 10s, session_length: 2h, relogin: false,"
        " mix: {read: 6, edit: 3, write: 1, transfer: 0}}"
    )
    simulate(text, seed=3)
    # A login's first action is the open that starts the session: not drawn from the mix.
    drawn = Counter(
        call.action for call in calls if not call.new_session and call.action != "logout"
    )
    total = sum(drawn.values())
    assert total > 10_000
    assert set(drawn) <= {"read", "edit", "write"}
    for action, weight in (("read", 0.6), ("edit", 0.3), ("write", 0.1)):
        assert abs(drawn[action] / total - weight) < 0.02, (action, drawn)


def test_close_only_of_an_open_database(calls: list[Call]) -> None:
    text = scenario_text(
        "{users: 40, think_time: 10s, session_length: 30m, mix: {close: 5, open: 1, read: 1}}"
    )
    simulate(text, seed=4)  # a close of a database not open would raise ScenarioStateError
    closes = [call for call in calls if call.action == "close"]
    assert len(closes) > 100
    assert all(call.db_was_open for call in closes)
    # A drawn close with nothing to close becomes session traffic, never a bad close.
    assert any(call.action == "transfer" for call in calls)


def test_first_action_opens_a_database_and_documents_are_read(calls: list[Call]) -> None:
    simulate(scenario_text("{users: 20, think_time: 10s, mix: {read: 1}}", duration="30m"))
    assert {call.action for call in logins(calls)} == {"open"}
    used = {call.db for call in calls if call.action != "logout"}
    assert used == {"mail/a.nsf", "mail/b.nsf"}  # the directory is not a generated target
    reads_of_b = [call for call in calls if call.action == "read" and call.db == "mail/b.nsf"]
    assert reads_of_b
    assert {call.note_id for call in reads_of_b} == {0x10}


def test_databases_key_limits_the_databases(calls: list[Call]) -> None:
    simulate(scenario_text("{users: 20, think_time: 10s, databases: [mail/b.nsf]}", duration="30m"))
    assert {call.db for call in calls if call.action not in ("transfer", "logout")} == {
        "mail/b.nsf"
    }


def test_without_databases_only_session_traffic(calls: list[Call]) -> None:
    _, frames = simulate(
        scenario_text("{users: 10, think_time: 10s}", duration="20m", databases=False)
    )
    assert {call.action for call in logins(calls)} == {"transfer"}
    assert {call.db for call in calls} == {None}
    assert {frame[2:4] for _, frame in frames} == {b"\x01\x00"}  # SESSIONREC only


def test_a_drawn_close_with_no_databases_and_no_session_is_no_error(calls: list[Call]) -> None:
    text = scenario_text(
        "{users: 20, think_time: 5m, mix: {close: 1, read: 1}}", duration="2h", databases=False
    ).replace("workload:", "idle_timeout: 1m\nworkload:")
    simulate(text)
    # Sessions idle out (1m) between actions (5m): most draws find no session, the case here.
    assert sum(call.new_session for call in calls) > 100
    # With nothing to close, a drawn close never reaches the server as a close.
    assert all(call.action != "close" for call in calls)


# --- names and addresses ------------------------------------------------------------------------


def test_templates_name_every_user(calls: list[Call]) -> None:
    text = scenario_text(
        "{users: 300, arrival: 1m, relogin: false,"
        " name: 'CN=Gen {n:03d}/O=Acme', address: '192.168.{b}.{c}'}",
        duration="5m",
    )
    simulate(text)
    identities = {(call.name, call.address) for call in calls}
    assert identities == {
        (f"CN=Gen {n:03d}/O=Acme", f"192.168.{n >> 8}.{n & 255}") for n in range(1, 301)
    }


def test_default_templates() -> None:
    scenario = load_scenario_text(scenario_text("{users: 70000}"))
    workload = parse_workload(scenario.workload, scenario.databases, scenario.filename)
    assert workload.name_of(1) == "CN=User 1/O=Acme"
    assert workload.address_of(1) == "10.0.0.1"
    assert workload.address_of(0x10203) == "10.1.2.3"


# --- per-user streams -------------------------------------------------------------------------


def per_user(calls: list[Call]) -> dict[str, list[tuple[int, str, str | None, int | None]]]:
    seen: dict[str, list[tuple[int, str, str | None, int | None]]] = {}
    for call in calls:
        seen.setdefault(call.name, []).append((call.at, call.action, call.db, call.note_id))
    return seen


@pytest.mark.parametrize(
    ("workload", "duration"),
    [
        ("{users: USERS, arrival: 10m, think_time: 30s, session_length: 8m}", "2h"),
        (
            "{users: USERS, active: 0.6, calendar: {days: [sat, sun]}, think_time: 5m,"
            " session: {length: 2h, idle_timeout: 6m},"
            " databases: {count: 8, mail_file: 'mail/{user}.nsf', charged: 0.3, documents: 3}}",
            "12h",
        ),
    ],
    ids=["flat", "calendar"],
)
def test_more_users_do_not_move_the_first_users_draws(
    calls: list[Call], workload: str, duration: str
) -> None:
    # 2026-11-21 is a Saturday: the calendar's day 0 is a working day of its `days`.
    simulate(scenario_text(workload.replace("USERS", "30"), duration=duration))
    alone = per_user(calls)
    calls.clear()
    simulate(scenario_text(workload.replace("USERS", "45"), duration=duration))
    crowded = per_user(calls)
    assert len(alone) >= 15
    assert sum(len(actions) for actions in alone.values()) > 300
    for name, actions in alone.items():
        assert crowded[name] == actions, name


# --- a working day --------------------------------------------------------------------------

MONDAY_0700_BERLIN = "2026-11-23T06:00:00Z"
HOUR = 60 * MINUTE


def day_text(
    workload: str,
    *,
    start: str = MONDAY_0700_BERLIN,
    duration: str = "7d",
    billing: str = "Session,Database,Document",
    extra: str = "",
) -> str:
    return (
        f'name: day\nseed: 21\nstart: "{start}"\nduration: {duration}\n'
        f'server: CN=Mail01/O=Acme\nnotes_ini: {{BillingClass: "{billing}"}}\n{extra}'
        f"workload: {workload}\n"
    )


def local(sim: Simulation, at: int) -> datetime:
    assert sim.population is not None
    zone = ZoneInfo(sim.population.workload.calendar.timezone)  # type: ignore[union-attr]
    return (sim.scenario.start + timedelta(microseconds=at)).astimezone(zone)


def test_active_users_sign_on_once_each_working_day(calls: list[Call]) -> None:
    sim, _ = simulate(
        day_text(
            "{users: 300, active: 0.5, calendar: {timezone: Europe/Berlin},"
            " session: {length: 2h}, think_time: 20m}"
        )
    )
    assert sim.population is not None
    signed: dict[tuple[str, date], int] = Counter()
    for call in logins(calls):
        when = local(sim, call.at)
        assert when.weekday() < 5, call  # Saturday and Sunday are not working days
        assert time(8) <= when.time() < time(18), call  # the default curve: 08:00-18:00
        signed[call.name, when.date()] += 1
    assert set(signed.values()) == {1}  # once a day (no idle timeout ends a session early)
    # Exactly the users the shared rule makes active, each working day.
    key = stream_key(sim.seed, "active")
    for day in range(5):
        today = date(2026, 11, 23) + timedelta(days=day)
        expected = {f"CN=User {u + 1}/O=Acme" for u in range(300) if chance(key, u, day) < 0.5}
        assert {name for name, on in signed if on == today} == expected
    assert len(signed) > 600


def test_an_arrival_before_the_start_is_not_on_the_run(calls: list[Call]) -> None:
    # Monday 12:00 in Berlin: the morning's arrivals are past.
    sim, _ = simulate(
        day_text(
            "{users: 400, calendar: {timezone: Europe/Berlin}, session: {length: 30m},"
            " think_time: 1h}",
            start="2026-11-23T11:00:00Z",
            duration="30h",
        )
    )
    today, tomorrow = Counter(local(sim, call.at).date() for call in logins(calls)).values()
    assert all(call.at >= 0 for call in calls)
    # Six of the default curve's ten even hours lie after 12:00; every user comes on Tuesday.
    assert tomorrow == 400
    assert 0.55 * 400 < today < 0.65 * 400


def test_days_repeat_with_one_heap_entry_per_user(calls: list[Call]) -> None:
    scenario = load_scenario_text(
        day_text(
            "{users: 50, active: 0.5, calendar: {timezone: UTC, days: [mon, tue, wed, thu, fri]},"
            " session: {length: 3h}, think_time: 30m}",
            duration="28d",
        ),
        "day.yaml",
    )
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    sim.writer.put = lambda _: None
    population = sim.population
    assert population is not None
    mine = {population._sign_on_handler, population._next_handler}
    most = 0
    while sim.step():
        most = max(most, sum(event[3] in mine for event in sim.heap.items))
    assert most <= 50
    per_day = Counter(call.at // (24 * HOUR) for call in logins(calls))
    # 20 working days of 4 weeks, about 25 users each; none on the weekends.
    assert len(per_day) == 20
    assert all(15 <= count <= 35 for count in per_day.values())
    assert max(per_day) >= 25  # the fourth week too


def test_a_dst_day_keeps_arrivals_on_the_local_curve(calls: list[Call]) -> None:
    # Friday 2027-03-26 to Monday 2027-03-29 in Berlin; the clocks go forward on Sunday.
    sim, _ = simulate(
        day_text(
            "{users: 300, calendar: {timezone: Europe/Berlin, days: [fri, sat, sun, mon],"
            " curve: [[09:00, 1], [11:00, 1]]}, session: {length: 10m}, think_time: 1h}",
            start="2027-03-25T23:00:00Z",
            duration="4d",
        )
    )
    days: Counter[date] = Counter()
    for call in logins(calls):
        when = local(sim, call.at)
        assert time(9) <= when.time() < time(11), when
        days[when.date()] += 1
    assert sorted(days.values()) == [300] * 4


def test_without_a_calendar_active_picks_who_signs_on_today(calls: list[Call]) -> None:
    sim, _ = simulate(scenario_text("{users: 400, active: 0.3, relogin: false}", duration="1h"))
    key = stream_key(sim.seed, "active")
    expected = {f"CN=User {u + 1}/O=Acme" for u in range(400) if chance(key, u, 0) < 0.3}
    assert {call.name for call in logins(calls)} == expected
    assert {call.at for call in logins(calls)} == {0}


def test_sessions_end_at_their_drawn_length(calls: list[Call]) -> None:
    simulate(scenario_text("{users: 20, session: {length: 7m}, think_time: 1m}", duration="1h"))
    started: dict[str, int] = {}
    for call in calls:
        if call.new_session:
            started[call.name] = call.at
        elif call.action == "logout":
            assert call.at - started.pop(call.name) == 7 * MINUTE


# --- idle timeout ---------------------------------------------------------------------------


def test_an_idle_session_ends_and_the_next_action_signs_on_again(
    calls: list[Call], monkeypatch: pytest.MonkeyPatch
) -> None:
    ends: list[tuple[str, int, int]] = []
    end_session = Server.end_session

    def spy_end(self: Server, session: Session, now: int) -> None:
        ends.append((session.name, now, session.last_activity))
        end_session(self, session, now)

    monkeypatch.setattr(Server, "end_session", spy_end)
    simulate(
        day_text(
            "{users: 40, calendar: {days: [mon]}, think_time: 10m,"
            " session: {length: 4h, idle_timeout: 12m},"
            " databases: {count: 3, mail_file: 'mail/{user}.nsf'}}",
            duration="1d",
        )
    )
    logouts = {(call.name, call.at) for call in calls if call.action == "logout"}
    idled = [(name, now, last) for name, now, last in ends if (name, now) not in logouts]
    assert len(idled) > 40
    assert all(now == last + 12 * MINUTE for _, now, last in idled)
    # Whoever idled out and came back in the same session's time signed on with its mail file.
    first_of_session = logins(calls)
    assert len(first_of_session) > 40 + len(idled) // 2
    for call in first_of_session:
        number = call.name.removeprefix("CN=User ").removesuffix("/O=Acme")
        assert (call.action, call.db) == ("open", f"mail/user{number}.nsf")


# --- generated databases --------------------------------------------------------------------


def test_generated_databases_are_fixed_by_seed_and_path() -> None:
    spec = DatabasesSpec.model_validate({"count": 3, "path": "apps/a{n}.nsf", "documents": 2})
    first = generated_databases(spec, 7)
    assert [db.path for db in first] == ["apps/a1.nsf", "apps/a2.nsf", "apps/a3.nsf"]
    assert first == generated_databases(spec, 7)
    assert [db.replica_id for db in first] == [
        derive_timedate(7, "replica", db.path) for db in first
    ]
    assert len({db.replica_id for db in first}) == 3
    assert [db.replica_id for db in generated_databases(spec, 8)] != [db.replica_id for db in first]
    assert sorted(first[0].documents) == [0x2000, 0x2004]


def test_a_mail_file_is_opened_first_in_every_session(calls: list[Call]) -> None:
    simulate(
        scenario_text(
            "{users: 30, session_length: 10m, think_time: 1m, name: 'CN=Anna Maria {n}/O=Acme',"
            " databases: {count: 5, mail_file: 'mail/{user}.nsf', mail_share: 0.5}}",
            databases=False,
        )
    )
    first = logins(calls)
    assert len(first) > 60  # sessions of 10 minutes for an hour
    for call in first:
        number = call.name.removeprefix("CN=Anna Maria ").removesuffix("/O=Acme")
        assert (call.action, call.db) == ("open", f"mail/annamaria{number}.nsf")
    later = [call for call in calls if not call.new_session and call.db is not None]
    in_mail = sum(call.db is not None and call.db.startswith("mail/") for call in later)
    assert 0.4 < in_mail / len(later) < 0.6


def test_a_session_holds_its_mail_file_as_the_user_number_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the server reads of a generated mail file is what a DatabaseInfo of its path
    would say; what a session keeps of it is a small object (issue 10: a million sessions
    each in a mail file of its own under 1 GiB), and the replica IDs it derives are
    remembered only up to a bound."""
    text = scenario_text(
        "{users: 30, session_length: 1h, think_time: 1m, name: 'CN=Anna Maria {n}/O=Acme',"
        " databases: {count: 5, mail_file: 'mail/{user}.nsf', mail_share: 0.5}}",
        databases=False,
    )
    scenario = load_scenario_text(text, "crowd.yaml")
    sim = Simulation(scenario, scenario.settings_with(), RunOptions(seed=9))
    sim.writer.put = lambda _: None
    while sim.step() and sim.now < 20 * MINUTE:  # everyone signed on, nobody off yet
        pass
    opened = [session.dbs[0].info for session in sim.server.sessions.values() if session.dbs]
    assert len(opened) > 20
    for info in opened:
        assert isinstance(info, MailFile)
        assert sys.getsizeof(info) <= 48  # the user's number: no path, no replica ID
        number = int(info.path.removeprefix("mail/annamaria").removesuffix(".nsf"))
        assert number == info + 1  # user 0 is number 1
        assert info.replica_id == derive_timedate(9, "replica", info.path)
        assert not info.documents and not info.is_directory
    assert len({int(info) for info in opened if isinstance(info, MailFile)}) == len(opened)
    assert sim.population is not None
    monkeypatch.setattr("simulator.domino.workload._REPLICAS_KEPT", 4)
    files = MailFiles("mail/{user}.nsf", sim.population.workload, 9)
    first = files.handle(0)
    assert first and first.path == "mail/annamaria1.nsf"  # user 0's is a database too
    assert first is not files.handle(0)  # one each session: told apart by identity
    replicas = [files.replica_of(user) for user in range(10)]
    assert len(files._replicas) <= 4
    assert replicas == [files.replica_of(user) for user in range(10)]
    assert replicas[0] == derive_timedate(9, "replica", "mail/annamaria1.nsf")


# --- statistical acceptance (seeded): measured within 3 % of what is configured --------------


def within(measured: float, configured: float, tolerance: float = 0.03) -> bool:
    return abs(measured - configured) <= tolerance * configured


def test_measured_session_length_and_think_time(calls: list[Call]) -> None:
    scenario = load_scenario_text(
        day_text(
            "{users: 4000, calendar: {days: [mon]}, think_time: 10m,"
            " session: {length: {lognormal: {median: 1h, sigma: 0.5}}}}",
            duration="2d",
            billing="Session",
        ),
        "day.yaml",
    )
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    raw: list[bytes] = []
    sim.writer.put = lambda item: raw.append(item[1])
    while sim.step():
        pass
    starts: dict[SessionID, int] = {}
    lengths: list[int] = []
    for frame in map(sim.codec.decode, raw):
        rec = frame.rec
        assert isinstance(rec, SessionRec)
        if rec.Action == c.BILL_SESSION_START:
            starts[rec.SessionID] = ticks_of(frame.TimeStamp)
        elif rec.Action == c.BILL_SESSION_END:
            lengths.append(ticks_of(frame.TimeStamp) - starts.pop(rec.SessionID))
    assert len(lengths) == 4000 and not starts  # every session ended before the run did
    configured = LogNormal(3600e6, 0.5).mean / 10_000  # in hundredths
    assert within(statistics.fmean(lengths), configured)
    # Think times are cut short by the logout: the mean of an exponential from censored
    # draws is the time watched (first action to logout) over the think times completed.
    watched = completed = 0
    first: dict[str, int] = {}
    for call in calls:
        if call.new_session:
            first[call.name] = call.at
        elif call.action == "logout":
            watched += call.at - first.pop(call.name)
        else:
            completed += 1
    assert completed > 20_000
    assert within(watched / completed, 10 * MINUTE)


def test_measured_arrivals_per_local_hour_and_active_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sign_ons: list[int] = []

    def count_sign_on(self: Population, user: int) -> None:
        # The arrival itself; no session: the user's next day is planned at once.
        sign_ons.append(self.server._now)
        assert self.sign_on_day is not None
        self._plan_day(user, self.sign_on_day[user] + 1, self.server._now)

    monkeypatch.setattr(Population, "_sign_on", count_sign_on)
    curve = "[[08:00, 0.3], [09:00, 1.0], [12:00, 0.6], [13:00, 1.0], [17:00, 0.4], [18:00, 0]]"
    text = day_text(
        f"{{users: 100000, active: 0.5, calendar: {{timezone: Europe/Berlin, curve: {curve}}}}}",
        start="2026-11-22T23:00:00Z",  # Monday 00:00 in Berlin
        duration="4d",
    )
    sim, _ = simulate(text)
    assert sim.population is not None
    calendar = sim.population.calendar
    per_day = Counter(calendar.day_of(at) for at in sign_ons)
    assert sorted(per_day) == [0, 1, 2, 3]
    for count in per_day.values():
        assert within(count / 100_000, 0.5)
    # No DST change that week: a local hour is a whole number of hours after local midnight.
    midnight = {day: calendar.day_start(day) for day in per_day}
    per_hour = Counter((at - midnight[calendar.day_of(at)]) // HOUR for at in sign_ons)
    assert sorted(per_hour) == list(range(8, 18))
    for hour, count in per_hour.items():
        share = calendar.share_between(hour * HOUR, (hour + 1) * HOUR)
        assert within(count / len(sign_ons), share), (hour, count / len(sign_ons), share)


def test_measured_zipf_ranks_of_database_opens(calls: list[Call]) -> None:
    # Sessions of one second: each opens one database, the first action; a think time
    # under a second (3 in 10,000) adds an action.
    text = day_text(
        "{users: 60000, arrival: 1h, relogin: false, session: {length: 1s}, think_time: 1h,"
        " databases: {count: 50, popularity: {zipf: 0.9}}}",
        duration="2h",
        billing="",
    )
    sim, _ = simulate(text)
    assert sim.population is not None
    rank_of = {db.path: rank for rank, db in enumerate(sim.population.databases, 1)}
    opens = Counter(rank_of[call.db] for call in calls if call.action == "open" and call.db)
    total = sum(opens.values())
    assert 60_000 <= total < 60_100
    expected = zipf(0.9, 50)
    for rank in (1, 2, 3):
        assert within(opens[rank] / total, expected.probability(rank)), rank
    # The exponent of a least-squares line through log share against log rank, ranks 1..20.
    xs = [math.log(rank) for rank in range(1, 21)]
    ys = [math.log(opens[rank] / total) for rank in range(1, 21)]
    slope = statistics.linear_regression(xs, ys).slope
    assert within(-slope, 0.9)


def test_measured_share_of_charged_document_accesses(calls: list[Call]) -> None:
    text = day_text(
        "{users: 200, session_length: 8h, think_time: 30s, mix: {read: 3, write: 1},"
        " databases: {count: 10, charged: 0.2, documents: 5, charge_read: 0.5,"
        " charge_write: 2, mail_file: 'mail/{n}.nsf', mail_share: 0.25}}",
        duration="2h",
        billing="Document",
    )
    scenario = load_scenario_text(text, "day.yaml")
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    raw: list[bytes] = []
    sim.writer.put = lambda item: raw.append(item[1])
    while sim.step():
        pass
    accesses = [
        call
        for call in calls
        if call.action in ("read", "write") and call.db and call.db.startswith("apps/")
    ]
    charged = [call for call in accesses if call.note_id is not None]
    documents = [frame.rec for frame in map(sim.codec.decode, raw)]
    assert len(documents) == len(charged)
    assert len(accesses) > 30_000
    assert within(len(charged) / len(accesses), 0.2)
    for rec in documents:
        assert isinstance(rec, DocumentRec)
        assert rec.Charge == (0.5 if rec.Type == c.BILLCHARGEREAD else 2.0)
    # Reads and writes of a mail file are never charged.
    assert all(call.note_id is None for call in calls if call.db and call.db.startswith("mail/"))


# --- a generated day passes check, and its summary is its records ------------------------------

DAY = """{users: 300, active: 0.7, calendar: {timezone: Europe/Berlin},
  session: {length: {lognormal: {median: 3h, sigma: 0.5}}, idle_timeout: 20m},
  think_time: {exponential: {mean: 8m}},
  databases: {count: 30, popularity: {zipf: 0.9}, mail_file: 'mail/{user}.nsf',
              charged: 0.1, documents: 4}}"""


def test_a_generated_day_passes_check_and_bills_what_its_records_say() -> None:
    scenario = load_scenario_text(day_text(DAY, duration="2d"), "day.yaml")
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    raw: list[bytes] = []
    sim.writer.put = lambda item: raw.append(item[1])
    while sim.step():
        pass
    frames = [sim.codec.decode(data) for data in raw]
    checker = Checker(suppress_time=15, stamp_policy="timer")
    for frame in frames:
        checker.feed(frame)
    report = checker.finish()
    assert report.violations == [], "\n".join(map(str, report.violations[:5]))
    assert report.by_type["DOCUMENT"] > 100
    fields = ("sessions", "bytes_in", "bytes_out", "db_open_time", "charges", "documents")
    expected: dict[str, dict[str, float]] = {}
    for frame in frames:
        rec = frame.rec
        if isinstance(rec, SessionRec | DbRec | DocumentRec):
            totals = expected.setdefault(rec.Username, dict.fromkeys(fields, 0.0))
        if isinstance(rec, SessionRec) and rec.Action == c.BILL_SESSION_END:
            totals["sessions"] += 1
            totals["bytes_in"] += rec.BytesIn
            totals["bytes_out"] += rec.BytesOut
        elif isinstance(rec, DbRec) and rec.Action == c.BILL_DB_CLOSE_END:
            totals["db_open_time"] += rec.DBOpenTime
        elif isinstance(rec, DocumentRec):
            totals["charges"] += rec.Charge
            totals["documents"] += 1
    users = build_summary(sim)["users"]
    assert len(users) == len(expected) > 200
    for name, totals in expected.items():
        for field in fields:
            assert users[name][field] == pytest.approx(totals[field]), (name, field)


def test_nobody_signs_on_when_nobody_is_active(calls: list[Call]) -> None:
    sim, frames = simulate(day_text("{users: 50, active: 0, calendar: {}}", duration="3d"))
    assert calls == [] and frames == []
    assert sim.population is not None and sim.population.sign_ons == 0


def test_a_domain_server_generates_only_the_users_at_home_there() -> None:
    scenario = load_scenario_text(
        day_text("{users: 300, calendar: {}, session: {length: 1h}}", duration="1d"), "day.yaml"
    )
    domain = Domain(domain_servers(scenario.server, 3), 1)
    sim = Simulation(scenario, scenario.settings_with(), RunOptions(), generate=False)
    workload = parse_workload(scenario.workload, scenario.databases, scenario.filename)
    population = Population(
        workload,
        sim.server,
        sim.heap,
        sim.databases,
        seed=sim.seed,
        duration=sim.duration,
        start=scenario.start,
        domain=domain,
    )
    population.start()
    users = {event[4] for event in sim.heap.items if event[3] == population._sign_on_handler}
    assert users == {user for user in range(300) if domain.is_home(user)}
    assert 70 < len(users) < 130
