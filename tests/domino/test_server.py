"""The session, database and document lifecycles of docs/lifecycles.md, record by record.

Each test runs a small scenario through `Simulation.step()` with a capturing sink and
compares the exact record sequence with one worked out by hand from the rules. Records
are shown briefly (see `brief`): times in hundredths of a second since the scenario's
start, users by their key in `users`, databases by path.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from simulator.domino.billing import SequencedFrame
from simulator.domino.simulation import RunOptions, Simulation
from simulator.errors import InputError
from simulator.scenario.durations import parse_duration
from simulator.scenario.loader import load_scenario_text
from simulator.scenario.models import ACTION_MODELS, Scenario
from simulator.wire import constants as c
from simulator.wire.jsonform import JsonDecoder
from simulator.wire.layout import Framing

FILENAME = "t.yaml"
START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
ALL = "Session,Database,Document"

USERS: dict[str, tuple[str, str]] = {
    "alice": ("CN=Alice/O=Acme", "10.0.0.1"),
    "alice_lt": ("CN=Alice/O=Acme", "10.0.0.9"),  # the same user at another address
    "bob": ("CN=Bob/O=Acme", "10.0.0.2"),
    "carol": ("CN=Carol/O=Acme", "10.0.0.3"),
    "amy": ("CN=Amy/O=Acme", "10.0.0.4"),
    "zed": ("CN=Zed/O=Acme", "10.0.0.5"),
}
DATABASES = """\
  mail/a.nsf: {replica_id: "85258A3B:0000000A", documents: {0x10: {}}}
  mail/b.nsf: {replica_id: "85258A3B:0000000B"}
  mail/c.nsf: {replica_id: "85258A3B:0000000C"}
  apps/o.nsf:
    replica_id: "85258A3B:000000FF"
    documents: {0x10: {charge_read: 0.05, charge_write: 0.25}, 0x20: {charge_read: 0.5}, 0x99: {}}
  dir/: {}
"""
REPLICAS = {
    "85258A3B:0000000A": "a",
    "85258A3B:0000000B": "b",
    "85258A3B:0000000C": "c",
    "85258A3B:000000FF": "o",
}
SESSION_ACTIONS = {
    c.BILL_SESSION_START: "START",
    c.BILL_SESSION_STAMP: "STAMP",
    c.BILL_SESSION_END: "END",
}
DB_ACTIONS = {
    c.BILL_DB_OPEN: "OPEN",
    c.BILL_DB_CLOSE: "CLOSE",
    c.BILL_DB_STAMP: "DBSTAMP",
    c.BILL_DB_CLOSE_END: "CLOSE_END",
}
DOC_TYPES = {c.BILLCHARGEREAD: "READ", c.BILLCHARGEWRITE: "WRITE"}


def at(text: str) -> int:
    """A scenario duration as hundredths of a second (the unit of times in `brief`)."""
    return parse_duration(text) // 10_000


def scenario_text(
    script: Sequence[str],
    *,
    classes: str | None = ALL,
    suppress: int | str = 15,
    policy: str = "timer",
    duration: str = "2h",
    seed: int = 7,
    extra: str = "",
    start: str = "2026-11-21T09:00:00Z",
) -> str:
    """A scenario with the standard users and databases; `script` is one flow mapping a line."""
    ini = [f"BillingSuppressTime: {suppress}"]
    if classes is not None:
        ini.insert(0, f'BillingClass: "{classes}"')
    users = "".join(
        f'  {key}: {{name: "{name}", address: "{address}"}}\n'
        for key, (name, address) in USERS.items()
    )
    steps = "".join(f"  - {line}\n" for line in script)
    return (
        f'name: t\nseed: {seed}\nstart: "{start}"\nduration: {duration}\n'
        f"server: CN=Mail01/O=Acme\nstamp_policy: {policy}\n{extra}"
        f"notes_ini: {{{', '.join(ini)}}}\n"
        f"databases:\n{DATABASES}users:\n{users}script:\n{steps}"
    )


Hook = tuple[str, Callable[[Simulation], None]]


@dataclass
class Run:
    sim: Simulation
    frames: list[SequencedFrame]
    objs: list[dict[str, Any]]

    @property
    def brief(self) -> list[tuple[Any, ...]]:
        return [brief(obj) for obj in self.objs]

    def of(self, struct_type: int) -> list[dict[str, Any]]:
        return [obj for obj in self.objs if obj["StructType"] == struct_type]


def simulate(text: str, *, options: RunOptions | None = None, hooks: Sequence[Hook] = ()) -> Run:
    """Step the scenario to its end; each hook runs before the first event at or after its time."""
    scenario = load_scenario_text(text, FILENAME)
    return simulate_scenario(scenario, options=options, hooks=hooks)


def simulate_scenario(
    scenario: Scenario, *, options: RunOptions | None = None, hooks: Sequence[Hook] = ()
) -> Run:
    sim = Simulation(scenario, scenario.settings_with(), options or RunOptions())
    frames: list[SequencedFrame] = []
    sim.writer.put = frames.append
    pending = sorted(((parse_duration(when), hook) for when, hook in hooks), key=lambda h: h[0])
    while True:
        upcoming = sim.heap.peek_time()
        while pending and upcoming is not None and pending[0][0] <= upcoming:
            pending.pop(0)[1](sim)
        if not sim.step():
            break
    decode = JsonDecoder(sim.codec)
    return Run(sim, frames, [decode(frame, 0, seq) for seq, frame in frames])


def hundredths(stamp: str) -> int:
    """`2026-11-21T09:15:00.00Z` as hundredths of a second since START."""
    whole = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    assert stamp[19] == "." and stamp.endswith("Z"), stamp
    return int((whole - START).total_seconds()) * 100 + int(stamp[20:22])


def user_key(name: str, address: str | None = None) -> str:
    keys = [k for k, (n, a) in USERS.items() if n == name and address in (None, a)]
    return keys[0]


def brief(obj: dict[str, Any]) -> tuple[Any, ...]:
    """SESSIONREC: (action, t, user, (Index, SeqNo), BytesIn, BytesOut);
    DBREC: (action, t, user, (Index, SeqNo), db, DBOpenTime); DOCUMENT: (type, t, user, db, Charge).
    """
    rec = obj["rec"]
    t = hundredths(obj["TimeStamp"])
    if obj["StructType"] == c.BILL_SESSIONREC:
        sid = (rec["SessionID"]["Index"], rec["SessionID"]["SeqNo"])
        user = user_key(rec["Username"], rec["NetAdr"])
        return (SESSION_ACTIONS[rec["Action"]], t, user, sid, rec["BytesIn"], rec["BytesOut"])
    if obj["StructType"] == c.BILL_DBREC:
        sid = (rec["SessionID"]["Index"], rec["SessionID"]["SeqNo"])
        db = REPLICAS[rec["ReplicaID"]]
        return (DB_ACTIONS[rec["Action"]], t, user_key(rec["Username"]), sid, db, rec["DBOpenTime"])
    assert obj["StructType"] == c.BILL_DOCCHARGE, obj
    db = REPLICAS[rec["ReplicaID"]]
    return (DOC_TYPES[rec["Type"]], t, user_key(rec["Username"]), db, rec["Charge"])


def set_classes(value: str) -> Callable[[Simulation], None]:
    def hook(sim: Simulation) -> None:
        sim.apply_setting("BillingClass", value)

    return hook


S11 = (1, 1)

# --- sessions: START, STAMP, END ------------------------------------------------------------


def test_start_is_written_with_the_first_action_and_includes_its_bytes() -> None:
    run = simulate(
        scenario_text(
            [
                "{at: 1m, user: alice, action: transfer, bytes_in: 100, bytes_out: 200}",
                "{at: 3m, user: alice, action: logout, bytes_in: 5, bytes_out: 7}",
            ]
        )
    )
    assert run.brief == [
        ("START", at("1m"), "alice", S11, 100, 200),
        ("END", at("3m"), "alice", S11, 105, 207),
    ]
    rec = run.objs[0]["rec"]
    assert (rec["Username"], rec["NetAdr"]) == ("CN=Alice/O=Acme", "10.0.0.1")


def test_timer_stamps_fall_every_suppress_time_after_start_and_only_after_activity() -> None:
    """Boundaries at 17m, 32m, 47m, 62m (START at 2m, not 0). The action at exactly 32m
    counts toward 47m; nothing happens between 47m and 62m, so 62m stamps nothing."""
    run = simulate(
        scenario_text(
            [
                "{at: 2m, user: alice, action: transfer, bytes_in: 100}",
                "{at: 10m, user: alice, action: transfer, bytes_in: 1}",
                "{at: 32m, user: alice, action: transfer, bytes_in: 2}",
                "{at: 70m, user: alice, action: logout, bytes_in: 4}",
            ]
        )
    )
    assert run.brief == [
        ("START", at("2m"), "alice", S11, 100, 0),
        ("STAMP", at("17m"), "alice", S11, 101, 0),
        ("STAMP", at("47m"), "alice", S11, 103, 0),
        ("END", at("70m"), "alice", S11, 107, 0),
    ]


def test_timer_idle_session_and_the_starting_action_write_no_stamp() -> None:
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: transfer, bytes_in: 9}",
                "{at: 50m, user: alice, action: logout}",
            ]
        )
    )
    assert run.brief == [
        ("START", 0, "alice", S11, 9, 0),
        ("END", at("50m"), "alice", S11, 9, 0),
    ]


def test_activity_policy_stamps_with_the_first_activity_at_least_suppress_time_later() -> None:
    """Session: 14m after START no stamp; at exactly 15m a STAMP (≥, not >); the next
    qualifying activity is measured from that STAMP (15m → 30m), not from START.
    Database: a DB STAMP needs ≥ 15m since the last DBREC (OPEN 0 → 15m; 15m → 40m), and a
    reopen writes OPEN only, though 20m passed since the CLOSE. The session STAMP and the
    DBREC of one action come SESSIONREC first. No stamps at 45m/60m: no timer here.
    Reading: an action that writes a DB OPEN may still write a *session* STAMP (the OPEN
    is not a SESSIONREC); "does not also stamp" is per record kind.
    """
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: open, db: mail/a.nsf, bytes_in: 10}",
                "{at: 14m, user: alice, action: edit, db: mail/a.nsf, bytes_in: 1}",
                "{at: 15m, user: alice, action: edit, db: mail/a.nsf, bytes_in: 1}",
                "{at: 29m, user: alice, action: transfer, bytes_in: 1}",
                "{at: 30m, user: alice, action: transfer, bytes_in: 1}",
                "{at: 40m, user: alice, action: edit, db: mail/a.nsf, bytes_in: 1}",
                "{at: 50m, user: alice, action: close, db: mail/a.nsf, bytes_in: 1}",
                "{at: 70m, user: alice, action: open, db: mail/a.nsf, bytes_in: 1}",
                "{at: 71m, user: alice, action: edit, db: mail/a.nsf, bytes_in: 1}",
                "{at: 80m, user: alice, action: logout, bytes_in: 1}",
            ],
            policy="activity",
        )
    )
    assert run.brief == [
        ("START", 0, "alice", S11, 10, 0),
        ("OPEN", 0, "alice", S11, "a", 0),
        ("STAMP", at("15m"), "alice", S11, 12, 0),
        ("DBSTAMP", at("15m"), "alice", S11, "a", at("15m")),
        ("STAMP", at("30m"), "alice", S11, 14, 0),
        ("DBSTAMP", at("40m"), "alice", S11, "a", at("40m")),
        ("STAMP", at("50m"), "alice", S11, 16, 0),
        ("CLOSE", at("50m"), "alice", S11, "a", at("50m")),
        ("STAMP", at("70m"), "alice", S11, 17, 0),
        ("OPEN", at("70m"), "alice", S11, "a", at("50m")),
        ("CLOSE_END", at("80m"), "alice", S11, "a", at("60m")),
        ("END", at("80m"), "alice", S11, 19, 0),
    ]


def test_stamp_policy_option_overrides_the_scenario() -> None:
    script = [
        "{at: 0m, user: alice, action: transfer}",
        "{at: 20m, user: alice, action: transfer}",
        "{at: 25m, user: alice, action: logout}",
    ]
    activity = simulate(scenario_text(script), options=RunOptions(stamp_policy="activity"))
    assert [b[:2] for b in activity.brief] == [
        ("START", 0),
        ("STAMP", at("20m")),
        ("END", at("25m")),
    ]
    timer = simulate(scenario_text(script))
    assert [b[:2] for b in timer.brief] == [("START", 0), ("END", at("25m"))]


def test_counters_are_cumulative_dwords_that_wrap() -> None:
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: transfer,"
                " bytes_in: 4294967290, bytes_out: 4294967295}",
                "{at: 1m, user: alice, action: transfer, bytes_in: 10, bytes_out: 1}",
                "{at: 20m, user: alice, action: logout, bytes_in: 4294967296}",
                "{at: 21m, user: bob, action: transfer, bytes_in: 4294967303, bytes_out: 1}",
            ],
            duration="22m",
        )
    )
    assert run.brief == [
        ("START", 0, "alice", S11, 4294967290, 4294967295),
        ("STAMP", at("15m"), "alice", S11, 4, 0),
        ("END", at("20m"), "alice", S11, 4, 0),
        # alice's slot 1 is free again: bob reuses it (SeqNo 2); his START already wraps.
        ("START", at("21m"), "bob", (1, 2), 7, 1),
        ("END", at("22m"), "bob", (1, 2), 7, 1),
    ]


def test_idle_timeout_ends_at_last_activity_plus_timeout_after_same_instant_actions() -> None:
    """alice: last activity 10m → END 40m (not START+30m), with CLOSE_END first. bob: last
    activity 25m → END 55m. carol's START at 40m is a script action, so it runs before
    alice's idle END (a completion) of the same instant: carol gets slot 3, not 1."""
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: open, db: mail/a.nsf, bytes_in: 1}",
                "{at: 10m, user: alice, action: transfer, bytes_in: 1}",
                "{at: 5m, user: bob, action: transfer, bytes_in: 1}",
                "{at: 25m, user: bob, action: transfer, bytes_in: 1}",
                "{at: 40m, user: carol, action: transfer, bytes_in: 1}",
            ],
            extra="idle_timeout: 30m\n",
        )
    )
    assert run.brief == [
        ("START", 0, "alice", S11, 1, 0),
        ("OPEN", 0, "alice", S11, "a", 0),
        ("START", at("5m"), "bob", (2, 1), 1, 0),
        ("STAMP", at("15m"), "alice", S11, 2, 0),
        ("STAMP", at("35m"), "bob", (2, 1), 2, 0),
        ("START", at("40m"), "carol", (3, 1), 1, 0),
        ("CLOSE_END", at("40m"), "alice", S11, "a", at("40m")),
        ("END", at("40m"), "alice", S11, 2, 0),
        ("END", at("55m"), "bob", (2, 1), 2, 0),
        ("END", at("70m"), "carol", (3, 1), 1, 0),
    ]


def test_idle_timeouts_of_one_instant_end_in_the_order_they_were_rearmed() -> None:
    """Reading: an idle timeout is (re)scheduled by each activity, so two sessions idle
    since the same instant end in the order of their last activities (file order at 10m:
    bob's line first), not in the order they started."""
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: transfer}",
                "{at: 1m, user: bob, action: transfer}",
                "{at: 10m, user: bob, action: transfer}",
                "{at: 10m, user: alice, action: transfer}",
            ],
            extra="idle_timeout: 30m\n",
        )
    )
    assert [b[:3] for b in run.brief if b[0] == "END"] == [
        ("END", at("40m"), "bob"),
        ("END", at("40m"), "alice"),
    ]


def test_read_and_write_of_an_open_database_are_database_activity() -> None:
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: open, db: mail/a.nsf}",
                "{at: 0m, user: alice, action: open, db: mail/b.nsf}",
                "{at: 5m, user: alice, action: read, db: mail/a.nsf}",
                "{at: 20m, user: alice, action: write, db: mail/b.nsf}",
            ],
            duration="40m",
        )
    )
    assert [b[:2] + b[4:5] for b in run.brief if b[0] == "DBSTAMP"] == [
        ("DBSTAMP", at("15m"), "a"),
        ("DBSTAMP", at("30m"), "b"),
    ]


def test_shutdown_at_duration_stamps_due_boundaries_then_ends_sessions_in_start_order() -> None:
    """Open at 31m: zed (started 1m, slot 2) and amy (started 3m, slot 1 reused). They end
    in start order — zed, amy — not in slot or name order. zed's boundaries at 31m (= the
    duration) still stamp first, session before database."""
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: carol, action: transfer}",
                "{at: 1m, user: zed, action: open, db: mail/a.nsf, bytes_in: 1}",
                "{at: 2m, user: carol, action: logout}",
                "{at: 3m, user: amy, action: transfer, bytes_out: 5}",
                "{at: 20m, user: zed, action: edit, db: mail/a.nsf}",
            ],
            duration="31m",
        )
    )
    assert run.brief == [
        ("START", 0, "carol", S11, 0, 0),
        ("START", at("1m"), "zed", (2, 1), 1, 0),
        ("OPEN", at("1m"), "zed", (2, 1), "a", 0),
        ("END", at("2m"), "carol", S11, 0, 0),
        ("START", at("3m"), "amy", (1, 2), 0, 5),
        ("STAMP", at("31m"), "zed", (2, 1), 1, 0),
        ("DBSTAMP", at("31m"), "zed", (2, 1), "a", at("30m")),
        ("CLOSE_END", at("31m"), "zed", (2, 1), "a", at("30m")),
        ("END", at("31m"), "zed", (2, 1), 1, 0),
        ("END", at("31m"), "amy", (1, 2), 0, 5),
    ]
    assert run.sim.now == parse_duration("31m")
    assert not run.sim.server.sessions


def test_session_id_is_the_lowest_free_slot_and_seqno_counts_its_uses() -> None:
    """A session is a user name at a network address: alice at a second address is a
    second session with its own slot."""
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: transfer}",
                "{at: 1m, user: bob, action: transfer}",
                "{at: 2m, user: alice, action: logout}",
                "{at: 3m, user: carol, action: transfer}",
                "{at: 4m, user: alice, action: transfer}",
                "{at: 5m, user: bob, action: logout}",
                "{at: 6m, user: bob, action: transfer}",
                "{at: 7m, user: amy, action: transfer}",
                "{at: 8m, user: alice_lt, action: transfer}",
            ],
            duration="10m",
        )
    )
    assert [(b[0], b[2], b[3]) for b in run.brief] == [
        ("START", "alice", (1, 1)),
        ("START", "bob", (2, 1)),
        ("END", "alice", (1, 1)),
        ("START", "carol", (1, 2)),
        ("START", "alice", (3, 1)),
        ("END", "bob", (2, 1)),
        ("START", "bob", (2, 2)),
        ("START", "amy", (4, 1)),
        ("START", "alice_lt", (5, 1)),
        # shutdown at 10m, in start order
        ("END", "carol", (1, 2)),
        ("END", "alice", (3, 1)),
        ("END", "bob", (2, 2)),
        ("END", "amy", (4, 1)),
        ("END", "alice_lt", (5, 1)),
    ]


# --- databases ------------------------------------------------------------------------------


def test_open_and_implicit_open_by_read_write_edit_and_reopen_of_an_open_db() -> None:
    """`open` of mail/a.nsf again at 5m writes nothing but is database activity: the DB
    boundary at 15m stamps it. edit/read/write of a database not open open it first.
    `open dir/` writes no DBREC and gets no CLOSE_END."""
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: open, db: mail/a.nsf, bytes_in: 1}",
                "{at: 5m, user: alice, action: open, db: mail/a.nsf}",
                "{at: 6m, user: alice, action: edit, db: mail/b.nsf}",
                "{at: 7m, user: alice, action: read, db: apps/o.nsf}",
                "{at: 8m, user: alice, action: write, db: mail/c.nsf}",
                "{at: 9m, user: alice, action: open, db: dir/}",
                "{at: 20m, user: alice, action: logout}",
            ]
        )
    )
    assert run.brief == [
        ("START", 0, "alice", S11, 1, 0),
        ("OPEN", 0, "alice", S11, "a", 0),
        ("OPEN", at("6m"), "alice", S11, "b", 0),
        ("OPEN", at("7m"), "alice", S11, "o", 0),
        ("OPEN", at("8m"), "alice", S11, "c", 0),
        ("STAMP", at("15m"), "alice", S11, 1, 0),
        ("DBSTAMP", at("15m"), "alice", S11, "a", at("15m")),
        ("CLOSE_END", at("20m"), "alice", S11, "a", at("20m")),
        ("CLOSE_END", at("20m"), "alice", S11, "b", at("14m")),
        ("CLOSE_END", at("20m"), "alice", S11, "o", at("13m")),
        ("CLOSE_END", at("20m"), "alice", S11, "c", at("12m")),
        ("END", at("20m"), "alice", S11, 1, 0),
    ]


def test_directories_never_get_dbrecs_but_are_session_activity() -> None:
    run = simulate(
        scenario_text(
            [
                "{at: 1m, user: alice, action: open, db: dir/, bytes_in: 3}",
                "{at: 5m, user: alice, action: read, db: dir/, bytes_in: 4}",
                "{at: 20m, user: alice, action: logout}",
            ]
        )
    )
    assert run.brief == [
        ("START", at("1m"), "alice", S11, 3, 0),
        ("STAMP", at("16m"), "alice", S11, 7, 0),
        ("END", at("20m"), "alice", S11, 7, 0),
    ]


def test_db_open_time_close_reopen_and_close_end_in_first_open_order() -> None:
    """DBOpenTime is a difference of ticks (hundredths truncated): open at 5ms (tick 0),
    close at 1004ms (tick 100) → 100, although only 999 ms passed. b is opened first and
    reopened last, and is closed at the end; a is still open: CLOSE_END b (closed
    intervals only), then a (with its current interval), in first-open order. A new
    session starts from 0 again."""
    run = simulate(
        scenario_text(
            [
                "{at: 5ms, user: alice, action: open, db: mail/b.nsf}",
                "{at: 1004ms, user: alice, action: close, db: mail/b.nsf}",
                "{at: 2m, user: alice, action: open, db: mail/a.nsf}",
                "{at: 3m, user: alice, action: open, db: mail/b.nsf}",
                "{at: 5m, user: alice, action: close, db: mail/b.nsf}",
                "{at: 8m, user: alice, action: logout}",
                "{at: 10m, user: alice, action: open, db: mail/b.nsf}",
            ],
            duration="12m",
        )
    )
    assert run.brief == [
        ("START", 0, "alice", S11, 0, 0),
        ("OPEN", 0, "alice", S11, "b", 0),
        ("CLOSE", 100, "alice", S11, "b", 100),
        ("OPEN", at("2m"), "alice", S11, "a", 0),
        ("OPEN", at("3m"), "alice", S11, "b", 100),
        ("CLOSE", at("5m"), "alice", S11, "b", 100 + at("2m")),
        ("CLOSE_END", at("8m"), "alice", S11, "b", 100 + at("2m")),
        ("CLOSE_END", at("8m"), "alice", S11, "a", at("6m")),
        ("END", at("8m"), "alice", S11, 0, 0),
        ("START", at("10m"), "alice", (1, 2), 0, 0),
        ("OPEN", at("10m"), "alice", (1, 2), "b", 0),
        ("CLOSE_END", at("12m"), "alice", (1, 2), "b", at("2m")),
        ("END", at("12m"), "alice", (1, 2), 0, 0),
    ]
    assert run.objs[2]["TimeStamp"] == "2026-11-21T09:00:01.00Z"


def test_db_stamps_on_their_own_timer_from_first_open_only_while_open() -> None:
    """Session boundaries: 15, 30, 45, 60, 75m (START 0). Database boundaries: 19, 34, 49,
    64, 79m (first OPEN at 4m), kept after the close/reopen. 34m: closed, no DB STAMP.
    The edits exactly at 45m and 64m count toward the next boundary (60m, 79m); the close
    at 30m toward 45m."""
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: transfer, bytes_in: 1}",
                "{at: 4m, user: alice, action: open, db: mail/a.nsf, bytes_in: 1}",
                "{at: 10m, user: alice, action: edit, db: mail/a.nsf, bytes_in: 1}",
                "{at: 25m, user: alice, action: edit, db: mail/a.nsf, bytes_in: 1}",
                "{at: 30m, user: alice, action: close, db: mail/a.nsf, bytes_in: 1}",
                "{at: 40m, user: alice, action: open, db: mail/a.nsf, bytes_in: 1}",
                "{at: 45m, user: alice, action: edit, db: mail/a.nsf, bytes_in: 1}",
                "{at: 64m, user: alice, action: edit, db: mail/a.nsf, bytes_in: 1}",
                "{at: 85m, user: alice, action: logout, bytes_in: 1}",
            ]
        )
    )
    closed = at("26m")
    assert run.brief == [
        ("START", 0, "alice", S11, 1, 0),
        ("OPEN", at("4m"), "alice", S11, "a", 0),
        ("STAMP", at("15m"), "alice", S11, 3, 0),
        ("DBSTAMP", at("19m"), "alice", S11, "a", at("15m")),
        ("STAMP", at("30m"), "alice", S11, 4, 0),
        ("CLOSE", at("30m"), "alice", S11, "a", closed),
        ("OPEN", at("40m"), "alice", S11, "a", closed),
        ("STAMP", at("45m"), "alice", S11, 6, 0),
        ("DBSTAMP", at("49m"), "alice", S11, "a", closed + at("9m")),
        ("STAMP", at("60m"), "alice", S11, 7, 0),
        ("STAMP", at("75m"), "alice", S11, 8, 0),
        ("DBSTAMP", at("79m"), "alice", S11, "a", closed + at("39m")),
        ("CLOSE_END", at("85m"), "alice", S11, "a", closed + at("45m")),
        ("END", at("85m"), "alice", S11, 9, 0),
    ]


def test_boundaries_of_one_instant_run_sessions_first_then_databases_in_order() -> None:
    """A session and the database it opened as it started share their boundaries (one
    event, Server._pair_boundary): at 15m still every session's STAMP before any DB
    STAMP, each kind in the order its boundary was scheduled (carol's at 2m and 3m, each
    alone; alice's and bob's, each a pair, at 5m), and a lone pair writes both at once."""
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: open, db: mail/a.nsf}",
                "{at: 0m, user: bob, action: open, db: mail/a.nsf}",
                "{at: 0m, user: carol, action: open, db: mail/a.nsf}",
                "{at: 2m, user: carol, action: transfer}",
                "{at: 3m, user: carol, action: read, db: mail/a.nsf}",
                "{at: 5m, user: alice, action: read, db: mail/a.nsf}",
                "{at: 5m, user: bob, action: edit, db: mail/a.nsf}",
                "{at: 17m, user: bob, action: edit, db: mail/a.nsf}",
                "{at: 40m, user: alice, action: logout}",
                "{at: 40m, user: bob, action: logout}",
                "{at: 40m, user: carol, action: logout}",
            ]
        )
    )
    stamps = [b[:3] for b in run.brief if b[0] in ("STAMP", "DBSTAMP")]
    assert stamps == [
        ("STAMP", at("15m"), "carol"),
        ("STAMP", at("15m"), "alice"),
        ("STAMP", at("15m"), "bob"),
        ("DBSTAMP", at("15m"), "carol"),
        ("DBSTAMP", at("15m"), "alice"),
        ("DBSTAMP", at("15m"), "bob"),
        ("STAMP", at("30m"), "bob"),
        ("DBSTAMP", at("30m"), "bob"),
    ]


def test_db_boundary_needs_db_activity_not_just_session_activity() -> None:
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: open, db: mail/a.nsf}",
                "{at: 5m, user: alice, action: transfer}",
                "{at: 6m, user: alice, action: open, db: dir/}",
                "{at: 20m, user: alice, action: logout}",
            ]
        )
    )
    assert [b[:2] for b in run.brief] == [
        ("START", 0),
        ("OPEN", 0),
        ("STAMP", at("15m")),
        ("CLOSE_END", at("20m")),
        ("END", at("20m")),
    ]


# --- order ----------------------------------------------------------------------------------


def test_same_instant_order_boundaries_sessions_then_databases_then_script_in_file_order() -> None:
    """At 15m: alice's session and DB boundaries were scheduled before bob's session
    boundary, yet all session boundaries run before database ones. At 0m and 20m the
    script runs in file order (bob's logout is the first line of the file)."""
    run = simulate(
        scenario_text(
            [
                "{at: 20m, user: bob, action: logout}",
                "{at: 0m, user: alice, action: open, db: mail/a.nsf}",
                "{at: 0m, user: bob, action: transfer}",
                "{at: 5m, user: alice, action: edit, db: mail/a.nsf}",
                "{at: 5m, user: bob, action: transfer}",
                "{at: 20m, user: alice, action: logout}",
            ],
            duration="30m",
        )
    )
    assert run.brief == [
        ("START", 0, "alice", S11, 0, 0),
        ("OPEN", 0, "alice", S11, "a", 0),
        ("START", 0, "bob", (2, 1), 0, 0),
        ("STAMP", at("15m"), "alice", S11, 0, 0),
        ("STAMP", at("15m"), "bob", (2, 1), 0, 0),
        ("DBSTAMP", at("15m"), "alice", S11, "a", at("15m")),
        ("END", at("20m"), "bob", (2, 1), 0, 0),
        ("CLOSE_END", at("20m"), "alice", S11, "a", at("20m")),
        ("END", at("20m"), "alice", S11, 0, 0),
    ]


# --- documents ------------------------------------------------------------------------------


def past_the_loader(text: str, script: Sequence[str]) -> Scenario:
    """The scenario of `text` with `script` (one flow mapping a line) put in place without
    the loader's cross-checks: the engine's own rules for what the loader refuses in a
    script but a generated workload can still do."""
    actions = []
    for index, line in enumerate(script):
        item = yaml.safe_load(line)
        actions.append(ACTION_MODELS[item["action"]].model_validate({**item, "index": index}))
    return load_scenario_text(text, FILENAME).model_copy(update={"script": actions})


def test_document_charges_read_write_and_uncharged_activity() -> None:
    """The first action writes START, OPEN, DOCUMENT in that order. 0x20 has no write
    charge; 0x99 and a read with no note are uncharged; edit never writes a DOCUMENT; a
    note charged in apps/o.nsf is not charged in mail/a.nsf. (A script may not read or
    write a note that bills nothing; a generated workload picks any declared note.)"""
    run = simulate_scenario(
        past_the_loader(
            scenario_text([], duration="10m"),
            [
                "{at: 0m, user: alice, action: read, db: apps/o.nsf, note_id: 0x10}",
                "{at: 1m, user: alice, action: write, db: apps/o.nsf, note_id: 0x10}",
                "{at: 2m, user: alice, action: read, db: apps/o.nsf, note_id: 0x20}",
                "{at: 3m, user: alice, action: write, db: apps/o.nsf, note_id: 0x20}",
                "{at: 4m, user: alice, action: read, db: apps/o.nsf, note_id: 0x99}",
                "{at: 5m, user: alice, action: read, db: apps/o.nsf}",
                "{at: 6m, user: alice, action: edit, db: apps/o.nsf}",
                "{at: 7m, user: bob, action: read, db: mail/a.nsf, note_id: 0x10}",
            ],
        )
    )
    assert run.brief == [
        ("START", 0, "alice", S11, 0, 0),
        ("OPEN", 0, "alice", S11, "o", 0),
        ("READ", 0, "alice", "o", 0.05),
        ("WRITE", at("1m"), "alice", "o", 0.25),
        ("READ", at("2m"), "alice", "o", 0.5),
        ("START", at("7m"), "bob", (2, 1), 0, 0),
        ("OPEN", at("7m"), "bob", (2, 1), "a", 0),
        ("CLOSE_END", at("10m"), "alice", S11, "o", at("10m")),
        ("END", at("10m"), "alice", S11, 0, 0),
        ("CLOSE_END", at("10m"), "bob", (2, 1), "a", at("3m")),
        ("END", at("10m"), "bob", (2, 1), 0, 0),
    ]
    docs = run.of(c.BILL_DOCCHARGE)
    assert all(d["Class"] == c.BILL_CLASS_DOCUMENT for d in docs)
    assert docs[0]["rec"]["Username"] == "CN=Alice/O=Acme"
    assert docs[0]["rec"]["ReplicaID"] == "85258A3B:000000FF"
    oid_10 = docs[0]["rec"]["OriginatorID"]
    assert (oid_10["File"], oid_10["Note"]) == (
        docs[1]["rec"]["OriginatorID"]["File"],
        docs[1]["rec"]["OriginatorID"]["Note"],
    )
    assert docs[2]["rec"]["OriginatorID"]["File"] != oid_10["File"]


def test_one_action_writes_sessionrec_then_dbrec_then_document() -> None:
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: open, db: apps/o.nsf}",
                "{at: 20m, user: alice, action: read, db: apps/o.nsf, note_id: 0x10}",
            ],
            policy="activity",
            duration="21m",
        )
    )
    assert run.brief[2:5] == [
        ("STAMP", at("20m"), "alice", S11, 0, 0),
        ("DBSTAMP", at("20m"), "alice", S11, "o", at("20m")),
        ("READ", at("20m"), "alice", "o", 0.05),
    ]


DOC_SCRIPT = [
    "{at: 0m, user: alice, action: read, db: apps/o.nsf, note_id: 0x20}",
    "{at: 1m, user: alice, action: read, db: apps/o.nsf, note_id: 0x10}",
]


def oids(run: Run) -> dict[float, Any]:
    """OriginatorID by charge (0.5 → note 0x20, 0.05 → note 0x10)."""
    return {d["rec"]["Charge"]: d["rec"]["OriginatorID"] for d in run.of(c.BILL_DOCCHARGE)}


def test_document_oid_is_a_function_of_seed_and_identity() -> None:
    """Same seed → same OID; another seed (from the scenario or RunOptions) → another; the
    OID of note 0x10 does not depend on whether note 0x20 was drawn first."""
    first = oids(simulate(scenario_text(DOC_SCRIPT, duration="5m")))
    again = oids(simulate(scenario_text(DOC_SCRIPT, duration="5m")))
    reordered = oids(simulate(scenario_text(DOC_SCRIPT[1:], duration="5m")))
    other_seed = oids(simulate(scenario_text(DOC_SCRIPT, duration="5m", seed=8)))
    option_seed = oids(
        simulate(scenario_text(DOC_SCRIPT, duration="5m"), options=RunOptions(seed=8))
    )
    assert first == again
    assert reordered[0.05] == first[0.05]
    assert first[0.05] != first[0.5]
    for note in (0.05, 0.5):
        assert other_seed[note]["File"] != first[note]["File"]
        assert other_seed[note]["Note"] != first[note]["Note"]
    assert option_seed == other_seed


# --- BillingClass, BillingSuppressTime, header ----------------------------------------------

RICH = [
    "{at: 0m, user: alice, action: transfer, bytes_in: 1}",
    "{at: 4m, user: alice, action: open, db: mail/a.nsf, bytes_in: 1}",
    "{at: 5m, user: bob, action: read, db: apps/o.nsf, note_id: 0x10, bytes_out: 3}",
    "{at: 10m, user: alice, action: edit, db: mail/a.nsf, bytes_in: 1}",
    "{at: 12m, user: bob, action: write, db: apps/o.nsf, note_id: 0x10}",
    "{at: 25m, user: alice, action: close, db: mail/a.nsf}",
    "{at: 40m, user: alice, action: open, db: mail/a.nsf}",
    "{at: 41m, user: bob, action: logout}",
    "{at: 45m, user: carol, action: write, db: mail/b.nsf, bytes_in: 1}",
]


def without_seq(run: Run, struct_type: int) -> list[dict[str, Any]]:
    return [{k: v for k, v in obj.items() if k != "seq"} for obj in run.of(struct_type)]


@pytest.mark.parametrize("classes", ["Session", "Database", "Document", "Session,Document"])
def test_billing_class_filters_output_only(classes: str) -> None:
    """With a class off, the records of the other classes are byte-for-byte those of a run
    with every class on: the state evolves the same (SessionIDs, DBOpenTime, OIDs)."""
    full = simulate(scenario_text(RICH, duration="60m"))
    part = simulate(scenario_text(RICH, duration="60m", classes=classes))
    for word, struct_type in (
        ("session", c.BILL_SESSIONREC),
        ("database", c.BILL_DBREC),
        ("document", c.BILL_DOCCHARGE),
    ):
        expected = without_seq(full, struct_type) if word in classes.lower() else []
        assert without_seq(full, struct_type), word
        assert without_seq(part, struct_type) == expected, word
    assert [obj["seq"] for obj in part.objs] == list(range(1, len(part.objs) + 1))


def test_billing_class_unset_means_no_billing_at_all() -> None:
    run = simulate(scenario_text(RICH, duration="60m", classes=None))
    assert run.objs == []
    assert run.sim.server.sessions_started == 3


def test_class_switched_on_mid_run_writes_only_for_sessions_started_after() -> None:
    """Session goes on at 10m: alice (started 0m) never gets a SESSIONREC — not her 15m
    STAMP, not her END — while bob (started 12m) gets START and END. alice's DBRECs are
    written throughout; bob's SessionID shows alice's slot was held all along."""
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: open, db: mail/a.nsf, bytes_in: 1}",
                "{at: 5m, user: alice, action: edit, db: mail/a.nsf}",
                "{at: 12m, user: bob, action: transfer, bytes_in: 1}",
                "{at: 13m, user: alice, action: transfer}",
                "{at: 13m, user: bob, action: transfer, bytes_in: 1}",
                "{at: 20m, user: alice, action: logout}",
                "{at: 25m, user: bob, action: logout}",
            ],
            classes="Database",
        ),
        hooks=[("10m", set_classes("Session,Database"))],
    )
    assert run.brief == [
        ("OPEN", 0, "alice", S11, "a", 0),
        ("START", at("12m"), "bob", (2, 1), 1, 0),
        ("DBSTAMP", at("15m"), "alice", S11, "a", at("15m")),
        ("CLOSE_END", at("20m"), "alice", S11, "a", at("20m")),
        ("END", at("25m"), "bob", (2, 1), 2, 0),
    ]


def test_database_class_switched_on_mid_run_writes_only_for_databases_opened_after() -> None:
    """Reading: a database "starts" with its first OPEN in the session, so mail/a.nsf
    (opened before the switch) gets no DBREC even for its close after it, while mail/b.nsf
    (first opened after) gets OPEN and CLOSE_END."""
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: open, db: mail/a.nsf}",
                "{at: 12m, user: alice, action: open, db: mail/b.nsf}",
                "{at: 13m, user: alice, action: close, db: mail/a.nsf}",
                "{at: 14m, user: alice, action: logout}",
            ],
            classes="Session",
        ),
        hooks=[("10m", set_classes("Session, DATABASE"))],
    )
    assert run.brief == [
        ("START", 0, "alice", S11, 0, 0),
        ("OPEN", at("12m"), "alice", S11, "b", 0),
        ("CLOSE_END", at("14m"), "alice", S11, "b", at("2m")),
        ("END", at("14m"), "alice", S11, 0, 0),
    ]


def test_class_switched_off_mid_run_applies_from_the_next_record() -> None:
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: open, db: mail/a.nsf}",
                "{at: 5m, user: alice, action: edit, db: mail/a.nsf}",
                "{at: 12m, user: alice, action: read, db: apps/o.nsf, note_id: 0x10}",
                "{at: 20m, user: alice, action: logout}",
            ]
        ),
        hooks=[("10m", set_classes("Database"))],
    )
    assert run.brief == [
        ("START", 0, "alice", S11, 0, 0),
        ("OPEN", 0, "alice", S11, "a", 0),
        ("OPEN", at("12m"), "alice", S11, "o", 0),
        ("DBSTAMP", at("15m"), "alice", S11, "a", at("15m")),
        ("CLOSE_END", at("20m"), "alice", S11, "a", at("20m")),
        ("CLOSE_END", at("20m"), "alice", S11, "o", at("8m")),
    ]


def test_document_class_switched_on_mid_run_charges_from_then_on() -> None:
    """Reading: DOCUMENT records belong to no lifecycle (nothing to START), so "sessions
    and databases that start after it" does not hold them back: once Document is on,
    every charged read or write is billed, also in a session and database begun before."""
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: read, db: apps/o.nsf, note_id: 0x10}",
                "{at: 12m, user: alice, action: write, db: apps/o.nsf, note_id: 0x10}",
            ],
            classes="Session",
            duration="14m",
        ),
        hooks=[("10m", set_classes("Session,Document"))],
    )
    assert run.brief == [
        ("START", 0, "alice", S11, 0, 0),
        ("WRITE", at("12m"), "alice", "o", 0.25),
        ("END", at("14m"), "alice", S11, 0, 0),
    ]


def test_apply_setting_rejects_an_unknown_class_naming_it() -> None:
    scenario = load_scenario_text(scenario_text([]), FILENAME)
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    with pytest.raises(InputError, match="Sesion"):
        sim.apply_setting("BillingClass", "Session,Sesion")
    assert (
        sim.writer.class_mask
        == c.BILL_CLASS_SESSION | c.BILL_CLASS_DATABASE | c.BILL_CLASS_DOCUMENT
    )


@pytest.mark.parametrize(
    ("suppress", "stamps"),
    [(0, ["15m", "30m"]), ('""', ["15m", "30m"]), (15, ["15m", "30m"]), (5, ["5m", "20m"])],
)
def test_suppress_time_zero_or_empty_means_fifteen(suppress: int | str, stamps: list[str]) -> None:
    run = simulate(
        scenario_text(
            [
                "{at: 0m, user: alice, action: transfer}",
                "{at: 1m, user: alice, action: transfer}",
                "{at: 16m, user: alice, action: transfer}",
                "{at: 40m, user: alice, action: logout}",
            ],
            suppress=suppress,
        )
    )
    assert [b[1] for b in run.brief if b[0] == "STAMP"] == [at(s) for s in stamps]


def test_header_fields() -> None:
    """Len = the frame's length (≥ sizeof(BILLMSG) under pad-union), StructType and Class
    per record kind, ServerName = the scenario's `server`, TimeStamp = the virtual time
    truncated to hundredths (1.239999 s → 1.23)."""
    run = simulate(
        scenario_text(
            [
                "{at: 1239999us, user: alice, action: read, db: apps/o.nsf, note_id: 0x10}",
                "{at: 2m, user: alice, action: logout}",
            ]
        )
    )
    assert [(o["StructType"], o["Class"]) for o in run.objs] == [
        (c.BILL_SESSIONREC, c.BILL_CLASS_SESSION),
        (c.BILL_DBREC, c.BILL_CLASS_DATABASE),
        (c.BILL_DOCCHARGE, c.BILL_CLASS_DOCUMENT),
        (c.BILL_DBREC, c.BILL_CLASS_DATABASE),
        (c.BILL_SESSIONREC, c.BILL_CLASS_SESSION),
    ]
    for (_, frame), obj in zip(run.frames, run.objs, strict=True):
        assert obj["Len"] == len(frame) == 1000
        assert obj["ServerName"] == "CN=Mail01/O=Acme"
    assert [o["TimeStamp"] for o in run.objs[:3]] == ["2026-11-21T09:00:01.23Z"] * 3

    compact = simulate(
        scenario_text(["{at: 0m, user: alice, action: transfer}"], duration="1m"),
        options=RunOptions(framing=Framing.COMPACT),
    )
    assert [o["Len"] for o in compact.objs] == [280 + 336] * 2
    assert [len(f) for _, f in compact.frames] == [280 + 336] * 2


def test_header_server_name_from_notes_ini_and_time_stamp_of_a_sub_hundredth_start() -> None:
    """notes.ini ServerName wins over `server`. Truncation is of the absolute time: start
    at .004 s plus 7 ms is .011 s → .01 (not start's .00 plus 7 ms's .00)."""
    text = scenario_text(
        ["{at: 7ms, user: alice, action: transfer}"],
        duration="1m",
        start="2026-11-21T09:00:00.004Z",
    ).replace("notes_ini: {", "notes_ini: {ServerName: CN=Other/O=Acme, ")
    run = simulate(text)
    assert [o["ServerName"] for o in run.objs] == ["CN=Other/O=Acme"] * 2
    assert run.objs[0]["TimeStamp"] == "2026-11-21T09:00:00.01Z"
    assert run.objs[1]["TimeStamp"] == "2026-11-21T09:01:00.00Z"


# --- scenario state errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "bad", "word"),
    [
        (["{at: 1m, user: alice, action: logout}"], 0, "logout"),
        (["{at: 1m, user: alice, action: close, db: mail/a.nsf}"], 0, "close"),
        (
            [
                "{at: 0m, user: alice, action: open, db: mail/a.nsf}",
                "{at: 1m, user: alice, action: close, db: mail/b.nsf}",
            ],
            1,
            "mail/b.nsf",
        ),
        (
            [
                "{at: 0m, user: alice, action: open, db: mail/a.nsf}",
                "{at: 1m, user: alice, action: close, db: mail/a.nsf}",
                "{at: 2m, user: alice, action: close, db: mail/a.nsf}",
            ],
            2,
            "mail/a.nsf",
        ),
        (
            [
                "{at: 0m, user: alice, action: open, db: mail/a.nsf}",
                "{at: 0m, user: bob, action: transfer}",
                "{at: 1m, user: bob, action: close, db: mail/a.nsf}",
            ],
            2,
            "mail/a.nsf",
        ),
        (
            [
                "{at: 0m, user: alice, action: transfer}",
                "{at: 1m, user: alice, action: logout}",
                "{at: 2m, user: alice, action: logout}",
            ],
            2,
            "logout",
        ),
    ],
)
def test_state_errors_name_file_and_line(script: list[str], bad: int, word: str) -> None:
    text = scenario_text(script)
    line = text.splitlines().index(f"  - {script[bad]}") + 1
    scenario = load_scenario_text(text, FILENAME)
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    with pytest.raises(InputError) as caught:
        sim.dry_run()
    assert str(caught.value).startswith(f"{FILENAME}:{line}: ")
    assert word in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_shutdown_gives_back_the_session_table_as_it_empties() -> None:
    """A dict keeps its table when its entries are deleted; the shutdown of many sessions
    copies it smaller as it goes (issue 10: a million sessions under 1 GiB), ending them
    in start order all the same."""
    scenario = load_scenario_text(
        'name: many\nstart: "2026-11-21T09:00:00Z"\nduration: 1m\nserver: CN=Mail01/O=Acme\n'
        "workload: {users: 3000, think_time: 1h, session_length: 10h, mix: {transfer: 1}}\n",
        FILENAME,
    )
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    sim.writer.put = lambda _: None
    while sim.now == 0 and sim.step():  # everyone signs on at the start
        pass
    server = sim.server
    started = list(server.sessions.values())
    full = sys.getsizeof(server.sessions)
    ended: list[str] = []
    server.on_session_end = lambda session: ended.append(session.name)
    while server.shutdown(sim.now, limit=500):
        assert sys.getsizeof(server.sessions) < full or len(server.sessions) > 750
    assert not server.sessions and sys.getsizeof(server.sessions) < full / 10
    assert ended == [session.name for session in started]
