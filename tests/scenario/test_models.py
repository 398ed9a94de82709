"""The scenario models: the documented examples load, with defaults, enumerations, helpers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from scenario_texts import BASE, BASE_LINES, DEMO, errors_of, script, script_line

from simulator.scenario.distributions import Exponential
from simulator.scenario.loader import load_scenario, load_scenario_text, parse_workload
from simulator.scenario.models import (
    ACTION_MODELS,
    ActionBase,
    AgentAction,
    CloseAction,
    CustomAction,
    HttpAction,
    MailAction,
    OpenAction,
    ReadAction,
    ReplicateAction,
    Scenario,
    SessionActionBase,
    is_session_action,
)
from simulator.scenario.notes_ini import parse_notes_ini
from simulator.scenario.speed import Speed
from simulator.wire import constants as c
from simulator.wire.layout import DBID, NOTEID, char
from simulator.wire.timedate import TimeDate, parse_timedate_id

MINUTE = 60_000_000

TASKS = """\
name: tasks
seed: 7
start: "2026-11-21T09:00:00Z"
duration: 90m
server: CN=Mail01/O=Acme
notes_ini: {BillingClass: "Mail,Replication,Agent,HttpRequest,Database"}
databases:
  mail/alice.nsf: {replica_id: "85258A3B:0052C1F0"}
  apps/orders.nsf:
    replica_id: "85258A3B:0052C1F1"
    documents: {0x2306: {charge_read: 0.05, charge_write: 0.25}}
users:
  alice: {name: "CN=Alice Smith/O=Acme", address: "10.1.2.3"}
script:
  - {at: 10m, action: mail, from: alice, to: ["CN=Bob Jones/O=Acme", "CN=Carol Diaz/O=Acme"],
     size: 48213, form: Memo, priority: normal, report: basic, next_hop: CN=Hub01/O=Acme}
  - {at: 30m, action: replicate, with: CN=Hub01/O=Acme, direction: pull, priority: medium,
     duration: 2m, databases: [{db: apps/orders.nsf, bytes_in: 90000, bytes_out: 1200}]}
  - {at: 45m, action: agent, db: apps/orders.nsf, agent: Nightly cleanup, signer: alice,
     task: AMgr, elapsed: 3.5s, flags: [public]}
  - {at: 50m, action: http, user: alice, address: 10.1.2.9,
     request: "GET /apps/orders.nsf/byDate?OpenView HTTP/1.1", status: 200,
     bytes: 5120, time_ms: 35, user_agent: "Mozilla/5.0", content_type: text/html}
  - {at: 55m, action: custom, type: NOTECREATEREC,
     values: {Username: "CN=Alice Smith/O=Acme", dbNoteID: 0x20FA, ReplicaID: "85258A3B:0052C1F1"}}
custom_types:                       # BILLMNGR-style extensions
  NOTECREATEREC: {struct_type: 32001, class: Database,
                  fields: [[Username, "char[257]"], [dbNoteID, NOTEID], [ReplicaID, DBID]]}
"""


def test_lifecycle_demo_loads() -> None:
    scenario = load_scenario(DEMO)
    assert scenario.name == "lifecycle-demo"
    assert scenario.seed == 1
    assert scenario.start == datetime(2026, 11, 21, 9, tzinfo=UTC)
    assert scenario.duration == 90 * MINUTE
    assert scenario.speed == "60x"
    assert Speed.parse(scenario.speed) == Speed(60.0)
    assert scenario.server == "CN=Mail01/O=Acme"
    assert scenario.common_name == "Mail01"
    assert scenario.server_address == "127.0.0.1"
    assert scenario.stamp_policy == "timer"
    assert scenario.idle_timeout is None
    assert scenario.workload == {}
    assert scenario.custom_types == {}
    assert scenario.filename == str(DEMO)
    settings = scenario.notes_ini
    assert settings.billing_class == (
        c.BILL_CLASS_SESSION | c.BILL_CLASS_DATABASE | c.BILL_CLASS_DOCUMENT
    )
    assert settings.billing_suppress_time == 15
    orders = scenario.databases["apps/orders.nsf"]
    assert orders.replica_id == "85258A3B:0052C1F1"
    assert orders.replica == parse_timedate_id("85258A3B:0052C1F1")
    assert orders.documents[0x2306].charge_read == 0.05
    assert orders.documents[0x2306].charge_write == 0.25
    assert scenario.databases["mail/alice.nsf"].documents == {}
    assert scenario.users["alice"].address == "10.1.2.3"

    actions = scenario.script
    assert [a.action for a in actions] == ["open", "edit", "read", "close", "logout"]
    assert [a.at for a in actions] == [0, 5 * MINUTE, 20 * MINUTE, 40 * MINUTE, 60 * MINUTE]
    assert [a.line for a in actions] == [17, 18, 19, 20, 21]
    assert [a.index for a in actions] == [0, 1, 2, 3, 4]
    first = actions[0]
    assert isinstance(first, OpenAction)
    assert (first.user, first.db, first.bytes_in, first.bytes_out) == (
        "alice",
        "mail/alice.nsf",
        400,
        2200,
    )
    read = actions[2]
    assert isinstance(read, ReadAction)
    assert read.note_id == 0x2306
    close = actions[3]
    assert isinstance(close, CloseAction)
    assert (close.bytes_in, close.bytes_out) == (0, 0)
    assert scenario.line_of("script", 2, "note_id") == 19


def test_server_task_example_loads() -> None:
    scenario = load_scenario_text(TASKS, "tasks.yaml")
    mail, repl, agent, http, custom = scenario.script

    assert isinstance(mail, MailAction)
    assert mail.from_ == "alice"
    assert scenario.resolve_name(mail.from_) == "CN=Alice Smith/O=Acme"
    assert mail.to == ["CN=Bob Jones/O=Acme", "CN=Carol Diaz/O=Acme"]
    assert (mail.size, mail.form, mail.priority, mail.report) == (48213, "Memo", "normal", "basic")
    assert (mail.routing_state, mail.next_hop, mail.delay) == ("pending", "CN=Hub01/O=Acme", 0)
    assert c.MAIL_PRIORITY[mail.priority] == 1

    assert isinstance(repl, ReplicateAction)
    assert (repl.with_, repl.direction, repl.priority) == ("CN=Hub01/O=Acme", "pull", "medium")
    assert repl.duration == 2 * MINUTE
    assert [(d.db, d.bytes_in, d.bytes_out) for d in repl.databases] == [
        ("apps/orders.nsf", 90000, 1200)
    ]

    assert isinstance(agent, AgentAction)
    assert (agent.db, agent.agent, agent.signer, agent.task) == (
        "apps/orders.nsf",
        "Nightly cleanup",
        "alice",
        "AMgr",
    )
    assert agent.elapsed == 3_500_000
    assert agent.flag_bits == c.BILL_AGENT_PUBLIC

    assert isinstance(http, HttpAction)
    assert (http.user, http.address, http.status, http.bytes, http.time_ms) == (
        "alice",
        "10.1.2.9",
        200,
        5120,
        35,
    )
    assert http.request == "GET /apps/orders.nsf/byDate?OpenView HTTP/1.1"
    assert (http.user_agent, http.content_type, http.referer) == ("Mozilla/5.0", "text/html", None)

    assert isinstance(custom, CustomAction)
    assert custom.type == "NOTECREATEREC"
    assert list(custom.values) == ["Username", "dbNoteID", "ReplicaID"]
    assert custom.values == {
        "Username": "CN=Alice Smith/O=Acme",
        "dbNoteID": 0x20FA,
        "ReplicaID": TimeDate(0x0052C1F1, 0x85258A3B),
    }
    [custom_type] = scenario.custom_types.values()
    assert custom_type.struct_type == 32001
    assert custom_type.bill_class == c.BILL_CLASS_DATABASE
    assert custom_type.ctypes == (
        ("Username", char(257)),
        ("dbNoteID", NOTEID),
        ("ReplicaID", DBID),
    )
    [kind] = scenario.custom_kinds()
    assert (kind.name, kind.struct_type, kind.bill_class) == ("NOTECREATEREC", 32001, 0x10)
    assert [a.line for a in scenario.script] == [15, 17, 19, 21, 24]


def test_timeline_orders_by_time_then_file_order() -> None:
    scenario = load_scenario_text(
        script(
            "{at: 5m, user: alice, action: transfer}",
            "{at: 1m, user: alice, action: open, db: mail/alice.nsf}",
            "{at: 5m, user: alice, action: logout}",
        )
    )
    assert [a.index for a in scenario.timeline()] == [1, 0, 2]
    assert [a.index for a in scenario.script] == [0, 1, 2]


def test_optional_keys_and_defaults() -> None:
    scenario = load_scenario_text(
        BASE
        + "stamp_policy: activity\nidle_timeout: 30m\nserver_address: 10.0.0.1\n"
        + "speed: realtime\nworkload:\n"
    )
    assert scenario.stamp_policy == "activity"
    assert scenario.idle_timeout == 30 * MINUTE
    assert scenario.server_address == "10.0.0.1"
    assert scenario.speed == "realtime"
    assert scenario.workload == {}
    assert scenario.seed == 0
    assert scenario.description == ""
    assert scenario.script == []
    assert scenario.notes_ini.billing_class == 0


def test_workload_loads_as_written() -> None:
    scenario = load_scenario_text(BASE + "workload:\n  users: 100\n  think_time: 5s\n")
    assert scenario.workload == {"users": 100, "think_time": "5s"}
    workload = parse_workload(scenario.workload, scenario.databases, scenario.filename)
    assert workload.users == 100
    assert workload.think_time == Exponential(5_000_000)  # a bare duration: the mean


def test_directory_needs_no_replica_id() -> None:
    text = BASE.replace("users:", "  mail/: {}\nusers:")
    scenario = load_scenario_text(
        text + "script:\n  - {at: 0m, user: alice, action: open, db: mail/}\n"
    )
    assert scenario.databases["mail/"].replica_id is None


def test_resolve_name() -> None:
    scenario = load_scenario_text(BASE)
    assert scenario.resolve_name("alice") == "CN=Alice Smith/O=Acme"
    assert scenario.resolve_name("CN=Bob Jones/O=Acme") == "CN=Bob Jones/O=Acme"


def test_settings_with_notes_ini_file_wins() -> None:
    scenario = load_scenario(DEMO)
    merged = scenario.settings_with(parse_notes_ini("BillingClass=Mail\n", "notes.ini"))
    assert merged.billing_class == c.BILL_CLASS_MAIL
    assert merged.billing_suppress_time == 15
    assert scenario.settings_with() == scenario.notes_ini


def test_extra_field() -> None:
    assert errors_of(script("{at: 0m, user: alice, action: logout, db: mail/alice.nsf}")) == [
        f"t.yaml:{script_line(0)}: script[0].db: unknown field"
    ]


def test_task_enumerations() -> None:
    assert errors_of(
        script(
            "{at: 0m, action: mail, from: alice, to: [x], priority: urgent}",
            "{at: 0m, action: replicate, with: h, direction: sideways, databases: []}",
            "{at: 0m, action: agent, db: apps/orders.nsf, agent: A, signer: s, flags: [loud]}",
        )
    ) == [
        f"t.yaml:{script_line(0)}: script[0].priority: must be 'low', 'normal' or 'high'",
        f"t.yaml:{script_line(1)}: script[1].direction: must be 'pull', 'push', 'pull-push' "
        "or 'pull-pull'",
        f"t.yaml:{script_line(1)}: script[1].databases: must have at least 1 item(s)",
        f"t.yaml:{script_line(2)}: script[2].flags[0]: must be 'warnings', 'mail' or 'public'",
    ]


def test_task_defaults() -> None:
    scenario = load_scenario_text(
        script(
            "{at: 0m, action: mail, from: CN=X/O=Y, to: [alice]}",
            "{at: 0m, action: replicate, with: CN=Hub/O=Acme, databases: [{db: mail/alice.nsf}]}",
            "{at: 0m, action: agent, db: apps/orders.nsf, agent: A, signer: alice}",
            "{at: 0m, action: http, address: 10.0.0.9, request: GET / HTTP/1.1}",
        )
    )
    mail, repl, agent, http = scenario.script
    assert isinstance(mail, MailAction)
    assert (mail.size, mail.form, mail.priority, mail.report, mail.routing_state) == (
        0,
        "Memo",
        "normal",
        "none",
        "pending",
    )
    assert mail.next_hop is None
    assert isinstance(repl, ReplicateAction)
    assert (repl.direction, repl.priority, repl.duration) == ("pull-push", "medium", 0)
    assert isinstance(agent, AgentAction)
    assert (agent.task, agent.elapsed, agent.flags, agent.flag_bits) == ("AMgr", 0, [], 0)
    assert isinstance(http, HttpAction)
    assert http.user is None  # anonymous
    assert (http.status, http.bytes, http.time_ms, http.user_agent) == (200, 0, 0, None)


def test_custom_type_definition_errors() -> None:
    first = BASE_LINES + 1
    text = (
        BASE
        + "custom_types:\n"
        + "  A: {struct_type: 32000, class: Database, fields: [[x, WORD]]}\n"
        + "  B: {struct_type: 32002, class: Billing, fields: [[x, WORD]]}\n"
        + "  C: {struct_type: 32003, class: Mail, fields: [[x, QWORD], [y, 'char[0]']]}\n"
        + "  D: {struct_type: 32004, class: Mail, fields: []}\n"
    )
    errors = errors_of(text)
    assert errors[0] == f"t.yaml:{first + 1}: custom_types.A.struct_type: must be ≥ 32001"
    assert errors[1].startswith(
        f"t.yaml:{first + 2}: custom_types.B.class: unknown billing class 'Billing'"
    )
    assert errors[2].startswith(
        f"t.yaml:{first + 3}: custom_types.C.fields[0][1]: unknown C type 'QWORD'"
    )
    assert errors[3].startswith(
        f"t.yaml:{first + 3}: custom_types.C.fields[1][1]: unknown C type 'char[0]'"
    )
    assert errors[4] == f"t.yaml:{first + 4}: custom_types.D.fields: must have at least 1 item(s)"


def test_scenario_is_frozen() -> None:
    scenario: Scenario = load_scenario(DEMO)
    with pytest.raises(ValueError, match="frozen"):
        scenario.name = "x"


DAY_AT_A_SERVER = """
workload:
  users: 4000
  active: 0.5
  calendar:
    timezone: Europe/Berlin
    days: [mon, tue, wed, thu, fri]
    curve: [[08:00, 0.3], [09:00, 1.0], [12:00, 0.6], [13:00, 1.0], [17:00, 0.4], [18:00, 0]]
  session: {length: {lognormal: {median: 4h, sigma: 0.5}}, idle_timeout: 240m}
  think_time: {exponential: {mean: 90s}}
  databases: {count: 200, popularity: {zipf: 0.9}, mail_file: "mail/{user}.nsf", charged: 0.05}
  mail: {per_day: 29, recipients: {poisson: {mean: 2}}, size: notesbench, external: 0.1}
  replication: [{with: CN=Hub01/O=Acme, every: 360m, window: "08:00-22:00", databases: 20,
                 bytes: {lognormal: {median: 2MB, sigma: 1}}}]
  agents: [{db: apps/orders.nsf, agent: Nightly, at: "02:00", every: 1d,
            elapsed: {lognormal: {median: 3m, sigma: 0.7}}}]
  http: {share: 0.15, per_visit: 12, mix: {view: 0.4, open: 0.35, save: 0.12, search: 0.05,
         agent: 0.05, static: 0.03}, status: {200: 0.95, 304: 0.03, 404: 0.015, 500: 0.005}}
  servers: 1
"""


def test_the_documented_day_at_a_server_parses() -> None:
    scenario = load_scenario_text(BASE + DAY_AT_A_SERVER)
    workload = parse_workload(scenario.workload, scenario.databases, scenario.filename)
    assert workload.calendar is not None and workload.calendar.curve[1] == (9 * 3600_000_000, 1.0)
    assert workload.session_lengths.mean > 4 * 3600_000_000
    assert workload.generated_databases is not None
    assert workload.generated_databases.count == 200
    assert workload.mail is not None and workload.mail.recipients.mean == 2.0
    assert workload.replication[0].with_ == "CN=Hub01/O=Acme"
    assert workload.replication[0].window == (8 * 3600_000_000, 22 * 3600_000_000)
    assert workload.agents[0].at == 2 * 3600_000_000
    assert workload.http is not None and workload.http.status[500] == 0.005


@pytest.mark.parametrize("model", list(ACTION_MODELS.values()), ids=list(ACTION_MODELS))
def test_a_session_action_is_told_by_its_class_as_isinstance_tells_it(
    model: type[ActionBase],
) -> None:
    action = model.model_construct()
    assert is_session_action(action) == isinstance(action, SessionActionBase)
