"""The value rules: each kind of value loads as expected, or its error names file:line: field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from scenario_texts import BASE, BASE_LINES, GOOD_VALUES, custom, errors_of, script, script_line

from simulator.scenario.loader import load_scenario_text
from simulator.scenario.models import CustomAction, ReadAction
from simulator.scenario.speed import Speed
from simulator.wire.records import Oid, Unid
from simulator.wire.timedate import TimeDate


def test_start_with_offset_and_unquoted_is_utc() -> None:
    text = BASE.replace('"2026-11-21T09:00:00Z"', "2026-11-21T10:00:00+01:00")
    assert load_scenario_text(text).start == datetime(2026, 11, 21, 9, tzinfo=UTC)


def test_note_id_as_hex_text() -> None:
    text = BASE.replace("{0x2306:", '{"0x2306":') + script(
        '{at: 1m, user: alice, action: read, db: apps/orders.nsf, note_id: "0x2306"}'
    ).removeprefix(BASE)
    scenario = load_scenario_text(text)
    assert 0x2306 in scenario.databases["apps/orders.nsf"].documents
    read = scenario.script[0]
    assert isinstance(read, ReadAction)
    assert read.note_id == 0x2306


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


def test_negative_bytes() -> None:
    text = script(
        "{at: 0m, user: alice, action: open, db: mail/alice.nsf}",
        "{at: 1m, user: alice, action: edit, db: mail/alice.nsf, bytes_in: -5}",
    )
    assert errors_of(text, "demo.yaml") == [
        f"demo.yaml:{script_line(1)}: script[1].bytes_in: must be ≥ 0"
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
        "t.yaml:6: duration: must be > 0, or forever",
    ]


def test_a_date_alone_and_a_speed_as_a_number_say_what_to_write() -> None:
    """What YAML makes of an unquoted date and of `speed: 60` is no time and no speed: the
    errors say what would be, not what Python made of them."""
    text = BASE.replace('"2026-11-21T09:00:00Z"', "2026-11-21").replace(
        "name: t", "name: t\nspeed: 60"
    )
    assert errors_of(text) == [
        "t.yaml:2: speed: speed must be max, realtime or Nx (e.g. 60x), not 60 (for 60 times "
        "as fast: 60x)",
        "t.yaml:3: start: a date alone (2026-11-21) has no time: like 2026-11-21T09:00:00Z",
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


def test_mail_recipient_with_comma() -> None:
    [error] = errors_of(script('{at: 0m, action: mail, from: alice, to: ["CN=A, B/O=C"]}'))
    assert error == (
        f"t.yaml:{script_line(0)}: script[0].to[0]: a recipient name must not contain a comma"
    )


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
