"""Scenario loading: the §7 examples load, and each kind of mistake names file:line: field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from paths import REPO

from simulator.errors import InputError
from simulator.scenario.loader import (
    ScenarioError,
    load_scenario,
    load_scenario_text,
    parse_workload,
    render_path,
)
from simulator.scenario.models import (
    AgentAction,
    CloseAction,
    CustomAction,
    HttpAction,
    MailAction,
    OpenAction,
    ReadAction,
    ReplicateAction,
    Scenario,
    WriteAction,
)
from simulator.scenario.names import common_name
from simulator.scenario.notes_ini import parse_notes_ini
from simulator.scenario.speed import Speed
from simulator.wire import constants as c
from simulator.wire.layout import DBID, NOTEID, char
from simulator.wire.records import Oid, Unid
from simulator.wire.timedate import TimeDate, parse_timedate_id

DEMO = REPO / "scenarios" / "lifecycle-demo.yaml"

MINUTE = 60_000_000

# The server-task part of DESIGN §7, on the session example's header.
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

# A valid base for error tests: line numbers below refer to this text plus what is appended.
BASE = """\
name: t
start: "2026-11-21T09:00:00Z"
duration: 90m
server: CN=Mail01/O=Acme
databases:
  mail/alice.nsf: {replica_id: "85258A3B:0052C1F0"}
  apps/orders.nsf:
    replica_id: "85258A3B:0052C1F1"
    documents: {0x2306: {charge_read: 0.05}}
users:
  alice: {name: "CN=Alice Smith/O=Acme", address: "10.1.2.3"}
"""
BASE_LINES = BASE.count("\n")


def errors_of(text: str, filename: str = "t.yaml") -> list[str]:
    with pytest.raises(InputError) as caught:
        load_scenario_text(text, filename)
    return str(caught.value).splitlines()


def script(*items: str) -> str:
    return BASE + "script:\n" + "".join(f"  - {item}\n" for item in items)


def script_line(index: int) -> int:
    return BASE_LINES + 2 + index


# --- the examples load ------------------------------------------------------------------


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


def test_bundled_scenarios_all_load() -> None:
    for path in sorted(DEMO.parent.glob("*.yaml")):
        load_scenario(path)


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


def test_start_with_offset_and_unquoted_is_utc() -> None:
    text = BASE.replace('"2026-11-21T09:00:00Z"', "2026-11-21T10:00:00+01:00")
    assert load_scenario_text(text).start == datetime(2026, 11, 21, 9, tzinfo=UTC)


def test_workload_keys_checked_at_load() -> None:
    # Once pinned as loading: the workload is validated with the rest of the file.
    text = BASE + "workload: {users: 100, rate: {x: 1}}\n"
    assert errors_of(text) == [f"t.yaml:{BASE_LINES + 1}: workload.rate: unknown field"]


def test_workload_loads_as_written() -> None:
    scenario = load_scenario_text(BASE + "workload:\n  users: 100\n  think_time: 5s\n")
    assert scenario.workload == {"users": 100, "think_time": "5s"}
    workload = parse_workload(scenario.workload, scenario.databases, scenario.filename)
    assert workload.users == 100
    assert workload.think_time == 5_000_000


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ("think_time: -1", "workload.think_time: must not be negative, got -1"),
        ("think_time: 0", "workload.think_time: must be > 0"),
        ("session_length: soon", "workload.session_length: expected a duration like 350ms"),
        ("users: 0", "workload.users: must be ≥ 1"),
        ("bytes_in: -5", "workload.bytes_in: must be ≥ 0"),
        ("mix: {reed: 1}", "workload.mix.reed: unknown action 'reed' (one of open, read,"),
        ("mix: {read: 0}", "workload.mix: at least one action needs a weight above 0"),
        ("mix: {read: .inf}", "workload.mix.read: must be a finite number"),
        ("databases: [nope.nsf]", "workload.databases[0]: database 'nope.nsf' is not declared"),
        ('name: "CN={x}"', "workload.name: bad template: KeyError('x')"),
        ('address: "10.{n:q}"', "workload.address: bad template: ValueError("),
        ('name: "CN=User {a}"', "workload.name: bad template: KeyError('a')"),
    ],
)
def test_workload_errors_name_line_and_field(entry: str, error: str) -> None:
    users = "" if entry.startswith("users:") else "  users: 10\n"
    text = BASE + "workload:\n" + users + "  " + entry + "\n"
    [message] = errors_of(text)
    assert message.startswith(f"t.yaml:{BASE_LINES + (2 if users == '' else 3)}: {error}")


@pytest.mark.parametrize(
    ("users", "first_too_long"), [(1, None), (9, None), (10, 10), (12345, 12287)]
)
def test_workload_name_template_fits_for_every_user(users: int, first_too_long: int | None) -> None:
    # 255 bytes of UTF-8 before {n}: users 1..9 fit MAXUSERNAME (256), 10 and on do not.
    template = "CN=" + "é" * 126 + "{n}"
    text = BASE + f"workload:\n  users: {users}\n  name: {template!r}\n"
    if first_too_long is None:
        load_scenario_text(text)
        return
    size = 255 + len(str(first_too_long))
    assert errors_of(text) == [
        f"t.yaml:{BASE_LINES + 3}: workload.name: for user {first_too_long}: "
        f"name is {size} bytes of UTF-8, longer than {c.MAXUSERNAME}"
    ]


def test_workload_312_byte_name_is_refused_at_load() -> None:
    template = "CN=" + "x" * 300 + " {n}/O=Acme"
    [message] = errors_of(BASE + f"workload: {{users: 5, name: {template!r}}}\n")
    assert message == (
        f"t.yaml:{BASE_LINES + 1}: workload.name: for user 5: "
        "name is 312 bytes of UTF-8, longer than 256"
    )


def test_workload_address_too_long_for_a_middle_user() -> None:
    # Up to user 0x650000 (101.0.0) the longest {a}.{b}.{c} is user 0x64FFFF's
    # 100.255.255: the check must not look only at the last user.
    template = "h" * 53 + "{a}.{b}.{c}"
    text = BASE + f"workload:\n  users: {0x650000}\n  address: {template!r}\n"
    [message] = errors_of(text)
    assert message == (
        f"t.yaml:{BASE_LINES + 3}: workload.address: for user {0x64FFFF}: "
        "address is 64 bytes of UTF-8, longer than 63"
    )
    # Up to 0x640000 (100.0.0) the longest is 99.255.255, 63 bytes: fits.
    load_scenario_text(BASE + f"workload:\n  users: {0x640000}\n  address: {template!r}\n")


def test_note_id_as_hex_text() -> None:
    text = BASE.replace("{0x2306:", '{"0x2306":') + script(
        '{at: 1m, user: alice, action: write, db: apps/orders.nsf, note_id: "0x2306"}'
    ).removeprefix(BASE)
    scenario = load_scenario_text(text)
    assert 0x2306 in scenario.databases["apps/orders.nsf"].documents
    write = scenario.script[0]
    assert isinstance(write, WriteAction)
    assert write.note_id == 0x2306


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


@pytest.mark.parametrize("text", ["max", "realtime", "60x", "0.5x", "60X", " 2x "])
def test_speed_accepted(text: str) -> None:
    scenario = load_scenario_text(BASE + f"speed: {text!r}\n")
    assert scenario.speed == text.strip().lower()
    Speed.parse(scenario.speed)  # what `run` does with it on MQTT


@pytest.mark.parametrize("text", ["0x", "fast", "60", "-2x", "x", "60 x", ".5x", "5.x"])
def test_speed_rejected_like_the_cli(text: str) -> None:
    # One parser: whatever `--speed` refuses the scenario's `speed:` refuses too, at load.
    with pytest.raises(ValueError):
        Speed.parse(text)
    [error] = errors_of(BASE + f"speed: {text!r}\n")
    assert error.startswith(f"t.yaml:{BASE_LINES + 1}: speed: ")


def test_common_name() -> None:
    assert common_name("CN=Mail01/O=Acme") == "Mail01"
    assert common_name("Mail01/Acme") == "Mail01"
    assert common_name("cn=Hub/OU=East/O=Acme") == "Hub"


def test_render_path() -> None:
    assert render_path(("script", 3, "bytes_in")) == "script[3].bytes_in"
    assert (
        render_path(("databases", "apps/orders.nsf", "documents", 0x2306, "charge_read"))
        == "databases[apps/orders.nsf].documents[0x2306].charge_read"
    )
    assert render_path(("users", "alice", "name")) == "users.alice.name"


# --- errors name file:line: field -------------------------------------------------------------


def test_negative_bytes() -> None:
    text = script(
        "{at: 0m, user: alice, action: open, db: mail/alice.nsf}",
        "{at: 1m, user: alice, action: edit, db: mail/alice.nsf, bytes_in: -5}",
    )
    assert errors_of(text, "demo.yaml") == [
        f"demo.yaml:{script_line(1)}: script[1].bytes_in: must be ≥ 0"
    ]


def test_error_on_a_block_item_names_the_field_line() -> None:
    text = BASE + "script:\n  - at: 1m\n    action: transfer\n    user: alice\n    bytes_out: x\n"
    assert errors_of(text) == [
        f"t.yaml:{BASE_LINES + 5}: script[0].bytes_out: must be a whole number"
    ]


def test_unknown_action() -> None:
    assert errors_of(script("{at: 0m, user: alice, action: fly}")) == [
        f"t.yaml:{script_line(0)}: script[0].action: unknown action 'fly' (open, close, read, "
        "write, edit, transfer, logout, mail, replicate, agent, http, custom)"
    ]


def test_missing_action_and_missing_field() -> None:
    assert errors_of(script("{at: 0m, user: alice}", "{at: 0m, action: open, db: x.nsf}")) == [
        f"t.yaml:{script_line(0)}: script[0].action: required field missing",
        f"t.yaml:{script_line(1)}: script[1].user: required field missing",
    ]


def test_extra_field() -> None:
    assert errors_of(script("{at: 0m, user: alice, action: logout, db: mail/alice.nsf}")) == [
        f"t.yaml:{script_line(0)}: script[0].db: unknown field"
    ]


def test_loader_fields_cannot_be_written() -> None:
    assert errors_of(script("{at: 0m, user: alice, action: logout, line: 3}")) == [
        f"t.yaml:{script_line(0)}: script[0].line: unknown field"
    ]


def test_unknown_user_and_database() -> None:
    assert errors_of(script("{at: 0m, user: bob, action: read, db: nope.nsf}")) == [
        f"t.yaml:{script_line(0)}: script[0].user: unknown user 'bob' (not a key of users)",
        f"t.yaml:{script_line(0)}: script[0].db: database 'nope.nsf' is not declared in databases",
    ]


def test_session_user_must_be_a_key_not_a_full_name() -> None:
    errors = errors_of(script("{at: 0m, user: CN=Alice Smith/O=Acme, action: transfer}"))
    assert errors == [
        f"t.yaml:{script_line(0)}: script[0].user: unknown user 'CN=Alice Smith/O=Acme' "
        "(not a key of users)"
    ]


def test_action_at_or_after_duration() -> None:
    assert errors_of(
        script(
            "{at: 89m, user: alice, action: transfer}",
            "{at: 90m, user: alice, action: transfer}",
            "{at: 2h, user: alice, action: logout}",
        )
    ) == [
        f"t.yaml:{script_line(1)}: script[1].at: 90m is not before the end of the run "
        "(duration 90m)",
        f"t.yaml:{script_line(2)}: script[2].at: 2h is not before the end of the run "
        "(duration 90m)",
    ]


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("-1m", "must not be negative, got '-1m'"),
        ("soon", "expected a duration like 350ms, 3.5s, 15m, 2h, 1d or a number of seconds"),
        ("5y", "unknown unit 'y'"),
    ],
)
def test_bad_duration(at: str, message: str) -> None:
    [error] = errors_of(script(f"{{at: {at}, user: alice, action: transfer}}"))
    assert error.startswith(f"t.yaml:{script_line(0)}: script[0].at: {message}")


def test_bad_top_level_values() -> None:
    text = (
        BASE.replace('"2026-11-21T09:00:00Z"', '"2026-11-21T09:00:00"')
        .replace("duration: 90m", "duration: 0")
        .replace("name: t", "name: t\nspeed: fast\nstamp_policy: sometimes\nseed: -1")
    )
    assert errors_of(text) == [
        "t.yaml:2: speed: speed must be max, realtime or Nx (e.g. 60x), not 'fast'",
        "t.yaml:3: stamp_policy: must be 'timer' or 'activity'",
        "t.yaml:4: seed: must be ≥ 0",
        "t.yaml:5: start: needs a zone (Z or +hh:mm): 2026-11-21T09:00:00",
        "t.yaml:6: duration: must be > 0",
    ]


def test_missing_top_level_field_points_at_the_document() -> None:
    assert errors_of(BASE.replace("server: CN=Mail01/O=Acme\n", "")) == [
        "t.yaml:1: server: required field missing"
    ]


def test_name_longer_than_256_bytes() -> None:
    long_name = "CN=" + "é" * 127  # 3 + 254 = 257 bytes of UTF-8
    text = BASE.replace("CN=Alice Smith/O=Acme", long_name)
    assert errors_of(text) == [
        f"t.yaml:{BASE_LINES}: users.alice.name: name is 257 bytes of UTF-8, longer than 256"
    ]
    ok = "CN=" + "é" * 126 + "x"  # 256 bytes
    load_scenario_text(BASE.replace("CN=Alice Smith/O=Acme", ok))


def test_long_full_name_in_a_task_action() -> None:
    [error] = errors_of(script(f"{{at: 0m, action: mail, from: alice, to: [CN={'x' * 300}]}}"))
    assert error == (
        f"t.yaml:{script_line(0)}: script[0].to[0]: name is 303 bytes of UTF-8, longer than 256"
    )


def test_address_too_long_for_netadr() -> None:
    [error] = errors_of(BASE.replace('"10.1.2.3"', "a" * 64))
    assert error.endswith("users.alice.address: address is 64 bytes of UTF-8, longer than 63")


def test_bad_replica_id_and_charge() -> None:
    text = BASE.replace('"85258A3B:0052C1F0"', '"85258A3B-0052C1F0"').replace(
        "charge_read: 0.05", "charge_read: -0.05"
    )
    assert errors_of(text) == [
        "t.yaml:6: databases[mail/alice.nsf].replica_id: expected a replica ID like "
        "85258A3B:0052C1F0, got '85258A3B-0052C1F0'",
        "t.yaml:9: databases[apps/orders.nsf].documents[0x2306].charge_read: must be ≥ 0",
    ]


def test_database_without_replica_id() -> None:
    text = BASE.replace('  mail/alice.nsf: {replica_id: "85258A3B:0052C1F0"}', "  mail/a.nsf: {}")
    assert errors_of(text) == ["t.yaml:6: databases[mail/a.nsf].replica_id: required field missing"]


def test_notes_ini_block_error_names_scenario_line() -> None:
    text = BASE + "notes_ini:\n  BillingSuppressTime: 15\n  BillingClass: Session, Bogus\n"
    assert errors_of(text) == [
        f"t.yaml:{BASE_LINES + 3}: notes_ini.BillingClass: unknown billing class 'Bogus' "
        "(known: session, replication, document, mail, database, agent, httprequest)"
    ]


def test_replicate_and_agent_need_declared_databases() -> None:
    assert errors_of(
        script(
            "{at: 0m, action: replicate, with: CN=Hub/O=Acme, "
            "databases: [{db: apps/orders.nsf}, {db: gone.nsf}]}",
            "{at: 0m, action: agent, db: gone.nsf, agent: A, signer: alice}",
        )
    ) == [
        f"t.yaml:{script_line(0)}: script[0].databases[1].db: database 'gone.nsf' is not "
        "declared in databases",
        f"t.yaml:{script_line(1)}: script[1].db: database 'gone.nsf' is not declared in databases",
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


def test_mail_recipient_with_comma() -> None:
    [error] = errors_of(script('{at: 0m, action: mail, from: alice, to: ["CN=A, B/O=C"]}'))
    assert error == (
        f"t.yaml:{script_line(0)}: script[0].to[0]: a recipient name must not contain a comma"
    )


def test_mail_too_big_for_a_frame() -> None:
    names = ", ".join(f"CN=User{i:05d}/O=Acme" for i in range(4000))
    [error] = errors_of(script(f"{{at: 0m, action: mail, from: alice, to: [{names}]}}"))
    assert error.startswith(f"t.yaml:{script_line(0)}: script[0]: its record would make a ")
    assert error.endswith("-byte frame, over 65326")


# --- custom types -------------------------------------------------------------------------------

CUSTOM = """\
custom_types:
  NOTECREATEREC:
    struct_type: 32001
    class: Database
    fields: [[Username, "char[8]"], [dbNoteID, NOTEID], [ReplicaID, DBID], [Count, WORD],
             [Charge, NUMBER], [When, TIMEDATE], [Doc, UNID], [Orig, OID]]
"""
GOOD_VALUES = (
    "{Username: abcdefg, dbNoteID: 0x20FA, ReplicaID: '85258A3B:0052C1F1', Count: 65535, "
    "Charge: 1.5, When: '2026-11-21T09:00:00.25Z', Doc: 85258A3B0052C1F185258A3B0052C1F2, "
    "Orig: {File: '85258A3B:0052C1F1', Note: '85258A3B:0052C1F2', Sequence: 3, "
    "SequenceTime: '2026-11-21T09:00:00Z'}}"
)


def custom(values: str) -> str:
    return script(f"{{at: 1m, action: custom, type: NOTECREATEREC, values: {values}}}") + CUSTOM


def test_custom_values_convert_to_codec_values() -> None:
    scenario = load_scenario_text(custom(GOOD_VALUES))
    action = scenario.script[0]
    assert isinstance(action, CustomAction)
    when = TimeDate(9 * 360_000 + 25, 2_461_366)
    assert action.values == {
        "Username": "abcdefg",
        "dbNoteID": 0x20FA,
        "ReplicaID": TimeDate(0x0052C1F1, 0x85258A3B),
        "Count": 65535,
        "Charge": 1.5,
        "When": when,
        "Doc": Unid(TimeDate(0x0052C1F1, 0x85258A3B), TimeDate(0x0052C1F2, 0x85258A3B)),
        "Orig": Oid(
            TimeDate(0x0052C1F1, 0x85258A3B),
            TimeDate(0x0052C1F2, 0x85258A3B),
            3,
            TimeDate(9 * 360_000, 2_461_366),
        ),
    }


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (("abcdefg", "abcdefgh"), "Username", "8 bytes of UTF-8 do not fit char[8] (at most 7)"),
        (("abcdefg", "abcdefé"), "Username", "8 bytes of UTF-8 do not fit char[8] (at most 7)"),
        (("0x20FA", "-1"), "dbNoteID", "NOTEID -1 out of range 0..4294967295"),
        (("0x20FA", "0x100000000"), "dbNoteID", "NOTEID 4294967296 out of range 0..4294967295"),
        (("Count: 65535", "Count: 65536"), "Count", "WORD 65536 out of range 0..65535"),
        (
            ("'85258A3B:0052C1F1', Count", "'85258A3B0052C1F1', Count"),
            "ReplicaID",
            "expected a DBID like 85258A3B:0052C1F0, got '85258A3B0052C1F1'",
        ),
        (("Charge: 1.5", "Charge: .nan"), "Charge", "must be a finite number"),
        (("Charge: 1.5", "Charge: cheap"), "Charge", "expected a number"),
        (("09:00:00.25Z", "09:00:00.25"), "When", "needs a zone"),
        (("Doc: 85258A3B", "Doc: 5258A3B"), "Doc", "expected a UNID of 32 hex digits"),
        (("Sequence: 3", "Sequence: -3"), "Orig.Sequence", "DWORD -3 out of range"),
        (("Sequence: 3", "Sequence: 3, Extra: 1"), "Orig.Extra", "unknown field of an OID"),
    ],
)
def test_custom_value_errors(change: tuple[str, str], field: str, message: str) -> None:
    values = GOOD_VALUES.replace(*change)
    assert values != GOOD_VALUES
    [error] = errors_of(custom(values))
    assert error.startswith(f"t.yaml:{script_line(0)}: script[0].values.{field}: {message}")


def test_custom_unknown_and_missing_fields() -> None:
    values = GOOD_VALUES.replace("Count: 65535,", "Cnt: 1,")
    assert errors_of(custom(values)) == [
        f"t.yaml:{script_line(0)}: script[0].values.Cnt: unknown field of NOTECREATEREC",
        f"t.yaml:{script_line(0)}: script[0].values: missing field Count of NOTECREATEREC",
    ]


def test_custom_unknown_type() -> None:
    text = script("{at: 1m, action: custom, type: NOPE, values: {}}") + CUSTOM
    assert errors_of(text) == [
        f"t.yaml:{script_line(0)}: script[0].type: unknown custom type 'NOPE' (not in custom_types)"
    ]


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


def test_custom_struct_types_are_unique_and_fit_a_frame() -> None:
    text = (
        BASE
        + "custom_types:\n"
        + "  A: {struct_type: 32001, class: Database, fields: [[x, WORD]]}\n"
        + "  B: {struct_type: 32001, class: Database, fields: [[x, 'char[70000]']]}\n"
    )
    assert errors_of(text) == [
        f"t.yaml:{BASE_LINES + 3}: custom_types.B.struct_type: struct type also used by A",
        f"t.yaml:{BASE_LINES + 3}: custom_types.B: a frame would be 70280 bytes, over 65326",
    ]


# --- the error as a whole -----------------------------------------------------------------


def test_all_errors_reported_sorted_by_line() -> None:
    text = script(
        "{at: 0m, user: alice, action: open, db: mail/alice.nsf, bytes_in: -1}",
        "{at: 0m, user: alice, action: fly}",
    ).replace("duration: 90m", "duration: forever")
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text, "t.yaml")
    error = caught.value
    assert error.exit_code == 2
    assert [e.line for e in error.errors] == [3, script_line(0), script_line(1)]
    assert (error.file, error.line, error.field) == ("t.yaml", 3, "duration")


def test_yaml_errors_are_input_errors() -> None:
    with pytest.raises(InputError) as caught:
        load_scenario_text("name: a\nname: b\n", "dup.yaml")
    assert str(caught.value) == "dup.yaml:2: duplicate key 'name' (first at line 1)"


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_not_a_mapping(text: str) -> None:
    [error] = errors_of(text)
    assert "a scenario is a YAML mapping" in error


def test_script_must_be_a_list_of_mappings() -> None:
    assert errors_of(BASE + "script: {at: 0m}\n") == [
        f"t.yaml:{BASE_LINES + 1}: script: must be a list of actions"
    ]
    assert errors_of(BASE + "script: [open]\n") == [
        f"t.yaml:{BASE_LINES + 1}: script[0]: an action is a mapping (at:, action:, …)"
    ]


def test_missing_file() -> None:
    with pytest.raises(InputError) as caught:
        load_scenario("/nonexistent/s.yaml")
    assert caught.value.file == "/nonexistent/s.yaml"


def test_scenario_is_frozen() -> None:
    scenario: Scenario = load_scenario(DEMO)
    with pytest.raises(ValueError, match="frozen"):
        scenario.name = "x"
