"""The load-time cross-checks: references, record sizes, workload templates, custom types."""

from __future__ import annotations

import pytest
from scenario_texts import (
    BASE,
    BASE_LINES,
    CUSTOM,
    GOOD_VALUES,
    custom,
    errors_of,
    script,
    script_line,
)

from simulator.scenario.loader import load_scenario_text
from simulator.wire import constants as c


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
    ("entry", "error"),
    [
        ("think_time: {constant: 0}", "workload.think_time: a mean think time below 1ms"),
        ("think_time: {uniform: [0, 1ms]}", "workload.think_time: a mean think time below 1ms"),
        ("think_time: 0.0005", "workload.think_time: a mean think time below 1ms"),
        (
            "http: {share: 1, think: {constant: 0}, per_visit: {constant: 1000000}}",
            "workload.http.think: a mean think time below 1ms",
        ),
    ],
)
def test_a_workload_that_could_not_finish_is_refused_at_load_time(entry: str, error: str) -> None:
    """A zero think time would keep the virtual clock at a standstill (each user acting
    every microsecond, a visit's million requests at one instant): refused, never run."""
    text = BASE + "workload:\n  users: 10\n  " + entry + "\n"
    [message] = errors_of(text)
    assert message.startswith(f"t.yaml:{BASE_LINES + 3}: {error}"), message
    assert message.endswith("the run would not finish: the virtual clock would barely move")


def test_a_think_time_of_a_millisecond_is_allowed() -> None:
    load_scenario_text(BASE + "workload:\n  users: 10\n  think_time: {constant: 1ms}\n")


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


def test_generated_mail_refuses_a_name_with_a_comma() -> None:
    # MAILREC packs recipients comma-separated: "User 1, Acme" would read as two names.
    text = BASE + 'workload: {users: 5, name: "User {n}, Acme", mail: {per_day: 3}}\n'
    assert errors_of(text) == [
        f"t.yaml:{BASE_LINES + 1}: workload.name: for user 5: a mail recipient's name has a comma"
    ]
    load_scenario_text(BASE + 'workload: {users: 5, name: "User {n}, Acme"}\n')


@pytest.mark.parametrize(
    ("http", "error"),
    [
        ("mix: {viwe: 1}", "workload.http.mix.viwe: unknown kind 'viwe' (one of view, open,"),
        ("mix: {view: 0}", "workload.http.mix: at least one kind needs a weight above 0"),
        ("status: {42: 1}", "workload.http.status[42]: an HTTP status code is 100 to 999, got 42"),
        ("status: {200: 0}", "workload.http.status: at least one status code needs a weight"),
    ],
)
def test_generated_web_requests_need_known_kinds_and_codes(http: str, error: str) -> None:
    text = BASE + f"workload: {{users: 5, http: {{share: 0.5, {http}}}}}\n"
    [message] = errors_of(text)
    assert message.startswith(f"t.yaml:{BASE_LINES + 1}: {error}")


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


def test_database_without_replica_id() -> None:
    text = BASE.replace('  mail/alice.nsf: {replica_id: "85258A3B:0052C1F0"}', "  mail/a.nsf: {}")
    assert errors_of(text) == ["t.yaml:6: databases[mail/a.nsf].replica_id: required field missing"]


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


def test_replicate_and_agent_need_a_database_not_a_directory() -> None:
    # A session may open a directory (it writes no DBREC); a task cannot: no replica ID.
    text = script(
        "{at: 0m, action: replicate, with: CN=Hub/O=Acme, "
        "databases: [{db: apps/orders.nsf}, {db: archive/}]}",
        "{at: 0m, action: agent, db: archive/, agent: A, signer: alice}",
        "{at: 0m, user: alice, action: open, db: archive/}",
    ).replace("users:", "  archive/: {}\nusers:")
    assert errors_of(text) == [
        f"t.yaml:{script_line(0) + 1}: script[0].databases[1].db: 'archive/' is a directory: "
        "replicate needs a database",
        f"t.yaml:{script_line(1) + 1}: script[1].db: 'archive/' is a directory: "
        "agent needs a database",
    ]


def test_mail_too_big_for_a_frame() -> None:
    names = ", ".join(f"CN=User{i:05d}/O=Acme" for i in range(4000))
    [error] = errors_of(script(f"{{at: 0m, action: mail, from: alice, to: [{names}]}}"))
    assert error.startswith(f"t.yaml:{script_line(0)}: script[0]: its record would make a ")
    assert error.endswith("-byte frame, over 65342")


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


def test_custom_struct_types_are_unique_and_fit_a_frame() -> None:
    text = (
        BASE
        + "custom_types:\n"
        + "  A: {struct_type: 32001, class: Database, fields: [[x, WORD]]}\n"
        + "  B: {struct_type: 32001, class: Database, fields: [[x, 'char[70000]']]}\n"
    )
    assert errors_of(text) == [
        f"t.yaml:{BASE_LINES + 3}: custom_types.B.struct_type: struct type also used by A",
        f"t.yaml:{BASE_LINES + 3}: custom_types.B: a frame would be 70280 bytes, over 65342",
    ]


# --- scheduled replication and agents (the workload's `replication` and `agents`) ---------------

SCHEDULES = BASE.replace("users:", "  archive/: {}\nusers:", 1) + "workload:\n  users: 1\n"
SCHEDULES_LINES = SCHEDULES.count("\n")


@pytest.mark.parametrize(
    ("entry", "line", "error"),
    [
        ("agents:\n  - agent: A\n    db: nowhere.nsf", 3,
         "workload.agents[0].db: database 'nowhere.nsf' is neither declared in databases nor "
         "generated by workload.databases"),
        ("agents:\n  - agent: A\n    db: archive/", 3,
         "workload.agents[0].db: 'archive/' is a directory: an agent needs a database"),
        ("agents:\n  - {agent: A, db: apps/orders.nsf,\n     every: 0}", 3,
         "workload.agents[0].every: an agent's interval must be at least 1s on average"),
        ("agents:\n  - {agent: A, db: apps/orders.nsf,\n     every: {uniform: [0, 1s]}}", 3,
         "workload.agents[0].every: an agent's interval must be at least 1s on average"),
        ("replication:\n  - with: h\n    every: 100ms", 3,
         "workload.replication[0].every: an interval below 1s: the run would not finish"),
        ("agents:\n  - db: apps/orders.nsf\n    agent: ''", 3,
         "workload.agents[0].agent: must not be empty"),
        ("replication:\n  - every: 1h", 2,
         "workload.replication[0].with: required field missing: one server has no other"),
        ("replication:\n  - with: h\n    every: 1h\n    days: []", 4,
         "workload.replication[0].days: must have at least 1 item(s)"),
        ("replication:\n  - with: h\n    every: 1h\n    days: [mon, funday]", 4,
         "workload.replication[0].days[1]: expected a day of the week"),
    ],
)  # fmt: skip
def test_schedule_errors_name_line_and_field(entry: str, line: int, error: str) -> None:
    [message] = errors_of(SCHEDULES + "  " + entry.replace("\n", "\n  ") + "\n")
    assert message.startswith(f"t.yaml:{SCHEDULES_LINES + line}: {error}"), message


def test_an_agent_may_run_on_a_generated_database() -> None:
    generated = "  databases: {count: 3, path: 'apps/x{n}.nsf'}\n  agents:\n"
    load_scenario_text(SCHEDULES + generated + "  - {db: apps/x3.nsf, agent: A}\n")
    [message] = errors_of(SCHEDULES + generated + "  - {db: apps/x4.nsf, agent: A}\n")
    assert "workload.agents[0].db: database 'apps/x4.nsf' is neither declared" in message


def test_a_generated_path_with_a_user_field_is_refused_once_even_with_an_agent_on_it() -> None:
    """`path` takes `{n}` only (`{user}` is the mail file's): refused as it loads, so the
    checks that render the generated paths (an agent's database) never meet it."""
    generated = "  databases: {count: 3, path: 'apps/{user}.nsf'}\n  agents:\n"
    [message] = errors_of(SCHEDULES + generated + "  - {db: apps/1.nsf, agent: A}\n")
    assert message.endswith(
        "workload.databases.path: bad template: KeyError('user') (it takes {n}, the rank)"
    ), message


def test_a_domain_needs_no_replication_partner() -> None:
    load_scenario_text(SCHEDULES + "  servers: 2\n  replication: [{every: 1h}]\n")


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        (
            "databases: {count: 3, path: apps/a.nsf}",
            "workload.databases.path: renders 'apps/a.nsf' for databases 1 and 2: put {n} in it",
        ),
        (
            "databases: {count: 3, path: 'apps/{n}/'}",
            "workload.databases.path: renders 'apps/1/', a directory",
        ),
        (
            "databases: {count: 3, path: 'apps/{user}.nsf'}",
            "workload.databases.path: bad template: KeyError('user') (it takes {n}, the rank)",
        ),
        (
            "databases: {count: 3, path: 'apps/orders.nsf'}",
            "workload.databases.path: renders 'apps/orders.nsf', a database declared in databases",
        ),
        (
            "databases: {mail_file: mail/shared.nsf}",
            "workload.databases.mail_file: users 1 and 2 would share 'mail/shared.nsf': "
            "put {n} or {user} in it",
        ),
        (
            "databases: {mail_file: 'mail/{x}.nsf'}",
            "workload.databases.mail_file: bad template 'mail/{x}.nsf': KeyError('x')",
        ),
        (
            "databases: {count: 2, path: 'apps/{n}.nsf', mail_file: 'apps/{n}.nsf'}",
            "workload.databases.mail_file: user 1's mail file 'apps/1.nsf' is also a generated",
        ),
        (
            "databases: {popularity: {exponential: {mean: 3}}}",
            "workload.databases.popularity: a popularity is zipf, table, uniform or constant",
        ),
        (
            "calendar: {days: []}",
            "workload.calendar.days: no working day: nobody would ever sign on",
        ),
        ("calendar: {}\n  arrival: 30m", "workload.arrival: has no meaning with a calendar"),
        (
            "session_length: 1h\n  session: {length: 2h}",
            "workload.session.length: the session length is given twice",
        ),
    ],
)
def test_workload_block_errors(entry: str, error: str) -> None:
    [message] = errors_of(BASE + "workload:\n  users: 10\n  " + entry + "\n")
    assert message.split(": ", 1)[1].startswith(error), message


NESTED = """\
workload:
  users: 10
  calendar:
    timezone: Europe/Berlin
    curve:
      - [08:00, 1]
      - [09:00, 1]
      - [25:00, 0]
  mail:
    per_day: 3
    size: {lognormal: {median: 2XB, sigma: 1}}
  databases:
    count: 3
    path: apps/x.nsf
"""


def test_nested_workload_errors_name_their_own_lines() -> None:
    assert errors_of(BASE + NESTED) == [
        # YAML 1.1 reads an unquoted 25:00 as the number 1500.
        f"t.yaml:{BASE_LINES + 8}: workload.calendar.curve[2][0]: expected a time of day like "
        "08:30, got 1500",
        f"t.yaml:{BASE_LINES + 11}: workload.mail.size: expected a size like 500, 10KB or 2MB, "
        "got '2XB'",
    ]
    fixed = NESTED.replace("25:00", "18:00").replace("2XB", "2MB")
    assert errors_of(BASE + fixed) == [
        f"t.yaml:{BASE_LINES + 14}: workload.databases.path: renders 'apps/x.nsf' for "
        "databases 1 and 2: put {n} in it"
    ]


def test_a_good_generated_day_loads() -> None:
    load_scenario_text(
        BASE
        + "workload:\n  users: 100000\n  calendar: {timezone: Europe/Berlin}\n"
        + "  databases: {count: 500, mail_file: 'mail/{user}.nsf', charged: 0.1}\n"
    )


def test_an_unknown_c_type_thousands_of_characters_long_is_quoted_short() -> None:
    """Found by the fuzzer: a custom field's C type swallowed the rest of the file (a
    quote never closed) and the error quoted all 3,700 characters of it."""
    long_type = "char[" + "x" * 5000 + "]"
    custom_type = f"{{struct_type: 32001, class: Session, fields: [[f, '{long_type}']]}}"
    text = BASE + f"custom_types:\n  A: {custom_type}\n"
    [message] = errors_of(text)
    assert "unknown C type 'char[xxxx" in message and len(message) < 400
