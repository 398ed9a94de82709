"""The generated population (`workload:`): what its users do, seen at the server's door.

Every generated action reaches the server as `Server.session_action` (a user with no
session held) or `Server.continue_session`; a spy on both records them, so these tests
hold whatever the population does inside to be fast.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simulator.commands.run import RunRequest, run
from simulator.domino.billing import SequencedFrame
from simulator.domino.server import DatabaseInfo, Server, Session
from simulator.domino.simulation import RunOptions, Simulation
from simulator.scenario.loader import load_scenario_text, parse_workload

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
