"""Loading a scenario file: YAML to models, and every problem at file:line: field."""

from __future__ import annotations

import pytest
from scenario_texts import BASE, BASE_LINES, DEMO, errors_of, script, script_line

from simulator.errors import InputError
from simulator.scenario.loader import ScenarioError, load_scenario, load_scenario_text, render_path


def test_bundled_scenarios_all_load() -> None:
    paths = sorted(DEMO.parent.glob("*.yaml"))
    assert len(paths) >= 5, "the bundled scenarios were not found"
    # Each loads, and names itself after its file (the name `billsim run NAME` takes).
    assert [load_scenario(path).name for path in paths] == [path.stem for path in paths]


def test_workload_keys_checked_at_load() -> None:
    # Once pinned as loading: the workload is validated with the rest of the file.
    text = BASE + "workload: {users: 100, rate: {x: 1}}\n"
    assert errors_of(text) == [f"t.yaml:{BASE_LINES + 1}: workload.rate: unknown field"]


def test_render_path() -> None:
    assert render_path(("script", 3, "bytes_in")) == "script[3].bytes_in"
    assert (
        render_path(("databases", "apps/orders.nsf", "documents", 0x2306, "charge_read"))
        == "databases[apps/orders.nsf].documents[0x2306].charge_read"
    )
    assert render_path(("users", "alice", "name")) == "users.alice.name"


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


def test_an_unknown_key_near_one_its_mapping_takes_is_given_that_one() -> None:
    """The guess comes from the keys of the mapping the key is in (workload's `userz` is
    `users`, not the script's `user`); a key near none of them gets none."""
    text = BASE.replace("duration: 90m", "duration: 90m\ndescripton: x") + (
        "workload: {userz: 5, session: {lenght: 1h}}\n"
        "faults: {duplicat: 0.1}\n"
        "script:\n  - {at: 0m, user: alice, action: transfer, byts_in: 5, colour: red}\n"
    )
    text = text.replace('address: "10.1.2.3"', 'adress: "10.1.2.3"')
    unknown = [line.split(": ", 1)[1] for line in errors_of(text) if "unknown field" in line]
    assert unknown == [
        "descripton: unknown field (did you mean description?)",
        "users.alice.adress: unknown field (did you mean address?)",
        "workload.session.lenght: unknown field (did you mean length?)",
        "workload.userz: unknown field (did you mean users?)",
        "faults.duplicat: unknown field (did you mean duplicate?)",
        "script[0].byts_in: unknown field (did you mean bytes_in?)",
        "script[0].colour: unknown field",
    ]


def test_loader_fields_cannot_be_written() -> None:
    assert errors_of(script("{at: 0m, user: alice, action: logout, line: 3}")) == [
        f"t.yaml:{script_line(0)}: script[0].line: unknown field"
    ]


def test_a_key_that_is_not_text_is_named_at_its_own_line() -> None:
    # Once `t.yaml:1: None: Keys should be strings`: pydantic's words, the document's line.
    text = BASE + "  3: x\n~: 1\n1: 1\n"  # BASE ends in its users: block
    assert errors_of(text) == [
        f"t.yaml:{BASE_LINES + 1}: users: a key must be text, not 3 (a number)",
        f"t.yaml:{BASE_LINES + 1}: users[3]: must be a mapping",
        f"t.yaml:{BASE_LINES + 2}: a key must be text, not null",
        f"t.yaml:{BASE_LINES + 3}: a key must be text, not 1 (a number)",
    ]


def test_missing_top_level_field_points_at_the_document() -> None:
    assert errors_of(BASE.replace("server: CN=Mail01/O=Acme\n", "")) == [
        "t.yaml:1: server: required field missing"
    ]


def test_notes_ini_block_error_names_scenario_line() -> None:
    text = BASE + "notes_ini:\n  BillingSuppressTime: 15\n  BillingClass: Session, Bogus\n"
    assert errors_of(text) == [
        f"t.yaml:{BASE_LINES + 3}: notes_ini.BillingClass: unknown billing class 'Bogus' "
        "(known: session, replication, document, mail, database, agent, httprequest)"
    ]


def test_all_errors_reported_sorted_by_line() -> None:
    text = script(
        "{at: 0m, user: alice, action: open, db: mail/alice.nsf, bytes_in: -1}",
        "{at: 0m, user: alice, action: fly}",
    ).replace("duration: 90m", "duration: someday")
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


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n", "just text\n"])
def test_not_a_mapping(text: str) -> None:
    [error] = errors_of(text)
    assert "a scenario is a YAML mapping" in error
    # A file with nothing in it is said to be empty, not only to be the wrong thing.
    assert error.startswith("t.yaml:1: empty: ") == (not text or text.startswith("#"))


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
