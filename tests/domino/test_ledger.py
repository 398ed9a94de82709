"""The ledger's bill fields (simulator/domino/server.py `UserLedger`, filled by server.py and
tasks.py): mail_bytes, replication_bytes_in/out, agent_time, web_bytes, per user as the
run summary's `users` holds them. Each expected total is worked out here from the script;
a class switched off writes no record, so it bills nothing. A last test derives the same
fields from the frames of bigger runs, scripted and generated, and finds the summary's.
"""

from __future__ import annotations

import pytest
from samples import ALICE, BOB, HUB, SERVER

from simulator.commands.summary import build_summary
from simulator.domino.server import ANONYMOUS_WEB_USER, BILL_FIELDS
from simulator.domino.simulation import RunOptions, Simulation
from simulator.scenario.bundled import resolve_scenario
from simulator.scenario.loader import load_scenario_text
from simulator.wire import constants as c
from simulator.wire.records import AgentRec, Frame, HttpReqRec, MailRec, ReplRec, SessionRec

ALL_CLASSES = "Session,Database,Document,Mail,Replication,Agent,HttpRequest"
SPOKE = "CN=Spoke02/O=Acme"


def scenario_text(script: str, billing_class: str = ALL_CLASSES) -> str:
    return f"""\
name: ledger
seed: 3
start: "2026-11-21T09:00:00Z"
duration: 60m
server: {SERVER}
notes_ini: {{BillingClass: "{billing_class}"}}
databases:
  mail/alice.nsf: {{replica_id: "85258A3B:0052C1F0"}}
  apps/orders.nsf: {{replica_id: "85258A3B:0052C1F1"}}
users:
  alice: {{name: "{ALICE}", address: "10.1.2.3"}}
  bob: {{name: "{BOB}", address: "10.1.2.4"}}
script:
{script}"""


def run(text: str) -> tuple[dict[str, dict[str, float | int]], list[Frame]]:
    """The summary's `users` after a stepped run, and the frames it wrote."""
    scenario = load_scenario_text(text, "ledger.yaml")
    sim = Simulation(scenario, scenario.settings_with(), RunOptions())
    raw: list[bytes] = []
    sim.writer.put = lambda item: raw.append(item[1])
    while sim.step():
        pass
    return build_summary(sim)["users"], [sim.codec.decode(data) for data in raw]


def test_every_user_has_exactly_the_bill_fields_in_order() -> None:
    users, _ = run(scenario_text("  - {at: 1m, user: alice, action: open, db: mail/alice.nsf}\n"))
    assert list(users[ALICE]) == list(BILL_FIELDS) == [
        "sessions", "bytes_in", "bytes_out", "db_open_time", "charges", "documents", "mail",
        "mail_bytes", "replication_bytes_in", "replication_bytes_out", "agents", "agent_time",
        "web", "web_bytes",
    ]  # fmt: skip


MAIL = """\
  - {at: 1m, action: mail, from: alice, to: [bob], size: 48213}
  - {at: 2m, action: mail, from: alice, to: [bob, 'CN=Carol Diaz/O=Acme'], size: 1000}
  - {at: 3m, action: mail, from: bob, to: [alice], size: 777}
  - {at: 4m, action: mail, from: 'CN=Outside/O=Other', to: [alice], size: 5}
"""


def test_mail_bytes_are_the_senders_message_sizes() -> None:
    users, _ = run(scenario_text(MAIL))
    assert (users[ALICE]["mail"], users[ALICE]["mail_bytes"]) == (2, 48213 + 1000)
    assert (users[BOB]["mail"], users[BOB]["mail_bytes"]) == (1, 777)
    assert (users["CN=Outside/O=Other"]["mail"], users["CN=Outside/O=Other"]["mail_bytes"]) == (
        1,
        5,
    )
    # A recipient is billed nothing for what it receives.
    assert users[ALICE]["bytes_in"] == users[BOB]["bytes_in"] == 0


REPLICATE = f"""\
  - {{at: 5m, action: replicate, with: {HUB}, direction: pull, duration: 2m,
     databases: [{{db: apps/orders.nsf, bytes_in: 90000, bytes_out: 1200}},
                 {{db: mail/alice.nsf, bytes_in: 10, bytes_out: 20}}]}}
  - {{at: 20m, action: replicate, with: {HUB}, direction: push,
     databases: [{{db: apps/orders.nsf, bytes_in: 300, bytes_out: 4000}}]}}
  - {{at: 30m, action: replicate, with: '{SPOKE}',
     databases: [{{db: apps/orders.nsf, bytes_in: 7, bytes_out: 8}}]}}
"""


def test_replication_bytes_go_to_the_remote_server_per_server_pair() -> None:
    users, frames = run(scenario_text(REPLICATE))
    hub, spoke = users[HUB], users[SPOKE]
    assert (hub["replication_bytes_in"], hub["replication_bytes_out"]) == (
        90000 + 10 + 300,
        1200 + 20 + 4000,
    )
    assert (spoke["replication_bytes_in"], spoke["replication_bytes_out"]) == (7, 8)
    assert hub["sessions"] == spoke["sessions"] == 0
    assert SERVER not in users  # the local server is one end of every pair: never billed
    assert len([f for f in frames if isinstance(f.rec, ReplRec)]) == 4


AGENTS = """\
  - {at: 10m, action: agent, db: apps/orders.nsf, agent: Nightly, signer: alice, elapsed: 3.5s}
  - {at: 11m, action: agent, db: apps/orders.nsf, agent: Nightly, signer: alice, elapsed: 2m}
  - {at: 12m, action: agent, db: apps/orders.nsf, agent: Mailer, signer: bob, elapsed: 0.07s}
"""


def test_agent_time_is_the_signers_elapsed_run_time_in_hundredths() -> None:
    users, _ = run(scenario_text(AGENTS))
    assert (users[ALICE]["agents"], users[ALICE]["agent_time"]) == (2, 350 + 12000)
    assert (users[BOB]["agents"], users[BOB]["agent_time"]) == (1, 7)


WEB = """\
  - {at: 1m, action: http, user: alice, address: 10.1.2.9, request: 'GET / HTTP/1.1',
     bytes: 5120}
  - {at: 2m, action: http, user: alice, address: 10.1.2.9, request: 'GET /a HTTP/1.1',
     bytes: 880}
  - {at: 3m, action: http, address: 198.51.100.7, request: 'GET / HTTP/1.0', bytes: 64}
  - {at: 4m, action: http, address: 198.51.100.8, request: 'GET / HTTP/1.0', bytes: 36}
  - {at: 5m, action: http, user: bob, address: 10.1.2.4, request: 'POST /x HTTP/1.1'}
"""


def test_web_bytes_are_the_users_content_lengths_and_anonymous_is_a_user() -> None:
    users, _ = run(scenario_text(WEB))
    assert (users[ALICE]["web"], users[ALICE]["web_bytes"]) == (2, 5120 + 880)
    assert (users[ANONYMOUS_WEB_USER]["web"], users[ANONYMOUS_WEB_USER]["web_bytes"]) == (
        2,
        64 + 36,
    )
    assert (users[BOB]["web"], users[BOB]["web_bytes"]) == (1, 0)


@pytest.mark.parametrize(
    ("script", "switched_off", "fields"),
    [
        (MAIL, "Mail", ("mail", "mail_bytes")),
        (REPLICATE, "Replication", ("replication_bytes_in", "replication_bytes_out")),
        (AGENTS, "Agent", ("agents", "agent_time")),
        (WEB, "HttpRequest", ("web", "web_bytes")),
    ],
)
def test_a_class_switched_off_bills_nothing(
    script: str, switched_off: str, fields: tuple[str, ...]
) -> None:
    classes = ",".join(name for name in ALL_CLASSES.split(",") if name != switched_off)
    users, frames = run(scenario_text(script, classes))
    assert frames == []  # the task ran, its record was not written
    assert all(totals[field] == 0 for totals in users.values() for field in fields)


def bill_from_frames(frames: list[Frame]) -> dict[str, dict[str, int]]:
    """The task fields of the bill, as a consumer would sum them from the records."""
    bill: dict[str, dict[str, int]] = {}

    def add(user: str, field: str, amount: int) -> None:
        totals = bill.setdefault(user, dict.fromkeys(TASK_FIELDS, 0))
        totals[field] += amount

    for frame in frames:
        rec = frame.rec
        if isinstance(rec, MailRec):
            add(rec.Originator, "mail", 1)
            add(rec.Originator, "mail_bytes", rec.MessageSize)
        elif isinstance(rec, ReplRec):
            remote = rec.Destination if rec.Source == frame.ServerName else rec.Source
            add(remote, "replication_bytes_in", rec.BytesIn)
            add(remote, "replication_bytes_out", rec.BytesOut)
        elif isinstance(rec, AgentRec):
            add(rec.UserName, "agents", 1)
            add(rec.UserName, "agent_time", rec.ElapsedRunTime)
        elif isinstance(rec, HttpReqRec):
            user = rec.AuthUser or ANONYMOUS_WEB_USER
            add(user, "web", 1)
            add(user, "web_bytes", rec.HttpContentLength)
    return bill


TASK_FIELDS = (
    "mail",
    "mail_bytes",
    "replication_bytes_in",
    "replication_bytes_out",
    "agents",
    "agent_time",
    "web",
    "web_bytes",
)


@pytest.mark.parametrize("name", ["all-classes", "lifecycle-demo"])
def test_the_summary_equals_the_records_for_bundled_runs(name: str) -> None:
    text = resolve_scenario(name).read_text()
    users, frames = run(text)
    expected = bill_from_frames(frames)
    for user, totals in users.items():
        assert {f: totals[f] for f in TASK_FIELDS} == expected.get(
            user, dict.fromkeys(TASK_FIELDS, 0)
        ), user
    assert set(expected) <= set(users)


def test_a_generated_run_bills_what_its_session_and_database_records_say() -> None:
    text = scenario_text("  []\n").replace(
        "script:\n", "workload: {users: 30, think_time: 30s, session_length: 20m}\nscript:\n"
    )
    users, frames = run(text)
    expected: dict[str, dict[str, int]] = {}
    for frame in frames:
        rec = frame.rec
        if isinstance(rec, SessionRec) and rec.Action == c.BILL_SESSION_END:
            totals = expected.setdefault(rec.Username, {"sessions": 0, "bytes_in": 0})
            totals["sessions"] += 1
            totals["bytes_in"] += rec.BytesIn
    assert len(expected) >= 10
    for user, billed in users.items():
        assert list(billed) == list(BILL_FIELDS)
        assert {"sessions": billed["sessions"], "bytes_in": billed["bytes_in"]} == expected[user]
        assert all(billed[field] == 0 for field in TASK_FIELDS)
