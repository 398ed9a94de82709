"""The workload presets: their numbers, and a scenario's own keys over them."""

from __future__ import annotations

import pytest
from scenario_texts import BASE, BASE_LINES, errors_of

from simulator.scenario.distributions import NOTESBENCH, Exponential, LogNormal, ZipfExponent
from simulator.scenario.loader import load_scenario_text, parse_workload
from simulator.scenario.presets import PRESETS, with_preset
from simulator.scenario.workload import CalendarSpec, Workload

MINUTE = 60_000_000
HOUR = 60 * MINUTE


def workload_of(block: str) -> Workload:
    scenario = load_scenario_text(BASE + "workload:\n" + block)
    return parse_workload(scenario.workload, scenario.databases, scenario.filename)


def test_typical_mail_has_its_documented_numbers() -> None:
    workload = workload_of("  preset: typical-mail\n")
    assert (workload.users, workload.active) == (4000, 0.5)
    assert workload.calendar is not None
    assert workload.calendar.days == ["mon", "tue", "wed", "thu", "fri"]
    # The lunch dip: the rate falls from 09:00 to 12:00 and rises again by 13:00.
    assert [rate for _, rate in workload.calendar.curve] == [0.3, 1.0, 0.6, 1.0, 0.4, 0.0]
    assert workload.session is not None and workload.session.idle_timeout == 240 * MINUTE
    assert workload.session_lengths == LogNormal(4 * HOUR, 0.5)
    # A 15-minute loop of 8 actions (read 5, delete 2, file 1).
    assert workload.think_time == Exponential(15 * MINUTE / 8)
    assert workload.mix == {"read": 5, "edit": 2, "write": 1}
    databases = workload.generated_databases
    assert databases is not None
    assert (databases.mail_file, databases.mail_share) == ("mail/{user}.nsf", 1.0)
    assert workload.mail is not None
    assert (workload.mail.per_day, workload.mail.recipients.mean) == (29, 2.0)
    assert workload.mail.size is NOTESBENCH
    [replication] = workload.replication
    assert (replication.every, replication.window) == (360 * MINUTE, (8 * HOUR, 22 * HOUR))
    assert workload.http is not None and workload.http.share == 0.15


def test_app_server_has_its_documented_numbers() -> None:
    workload = workload_of("  preset: app-server\n")
    assert (workload.users, workload.active) == (1500, 0.3)
    databases = workload.generated_databases
    assert databases is not None
    assert (databases.count, databases.popularity, databases.charged) == (
        200,
        ZipfExponent(0.9),
        0.05,
    )
    every = [agent.every for agent in workload.agents]
    assert (every[0].mean, every[1].mean) == (45 * MINUTE, 24 * HOUR)  # 30-60 min, nightly
    assert workload.agents[1].at == 2 * HOUR
    # The agents run in databases the preset generates.
    paths = {databases.path.format(n=n) for n in range(1, databases.count + 1)}
    assert {agent.db for agent in workload.agents} <= paths


def test_web_is_http_heavy() -> None:
    workload = workload_of("  preset: web\n")
    assert workload.http is not None
    assert (workload.http.share, workload.http.per_visit.mean) == (1.0, 12)
    assert 0 < workload.http.anonymous < 1


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_loads_with_declared_databases_beside_it(name: str) -> None:
    workload = workload_of(f"  preset: {name}\n")
    assert workload.preset == name
    assert workload.calendar is not None


def test_own_keys_win_and_blocks_merge_key_by_key() -> None:
    workload = workload_of(
        "  preset: typical-mail\n"
        "  users: 10\n"
        "  calendar: {timezone: Europe/Berlin}\n"
        "  session: {idle_timeout: 30m}\n"
        "  mix: {transfer: 1}\n"
        "  mail: {per_day: 3}\n"
    )
    assert workload.users == 10
    assert workload.calendar is not None
    assert workload.calendar.timezone == "Europe/Berlin"
    assert workload.calendar.curve != CalendarSpec().curve  # the preset's curve stays
    assert workload.session is not None and workload.session.idle_timeout == 30 * MINUTE
    assert workload.session_lengths == LogNormal(4 * HOUR, 0.5)  # the preset's length stays
    assert workload.mix == {"transfer": 1}  # a weight table is replaced whole
    assert workload.mail is not None and workload.mail.per_day == 3
    assert workload.mail.size is NOTESBENCH


def test_a_flat_session_length_overrides_the_presets_session_length() -> None:
    workload = workload_of("  preset: typical-mail\n  session_length: 20m\n")
    assert workload.session_lengths == Exponential(20 * MINUTE)
    assert workload.session is not None and workload.session.idle_timeout == 240 * MINUTE


def test_a_list_of_databases_replaces_the_presets_block() -> None:
    # The preset's agents run in its generated databases: gone with the block, so say none.
    workload = workload_of("  preset: app-server\n  databases: [apps/orders.nsf]\n  agents: []\n")
    assert workload.declared_databases == ["apps/orders.nsf"]


def test_without_a_preset_the_block_is_as_written() -> None:
    raw = {"users": 3, "mix": {"read": 1}}
    assert with_preset(raw) == raw
    assert with_preset({"preset": "nope", "users": 3}) == {"preset": "nope", "users": 3}


def test_an_unknown_preset_is_an_error_at_its_line() -> None:
    [message] = errors_of(BASE + "workload:\n  users: 5\n  preset: mail-heavy\n")
    assert message.startswith(f"t.yaml:{BASE_LINES + 3}: workload.preset: must be ")
    assert "'typical-mail'" in message


def test_a_bad_own_key_over_a_preset_is_reported_at_its_line() -> None:
    [message] = errors_of(BASE + "workload:\n  preset: typical-mail\n  mail:\n    per_day: -1\n")
    assert message == f"t.yaml:{BASE_LINES + 4}: workload.mail.per_day: must be ≥ 0"
