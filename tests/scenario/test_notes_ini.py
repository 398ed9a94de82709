"""notes.ini parsing, merging with a scenario's block, validation and run-time changes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from paths import REPO

from simulator.errors import InputError
from simulator.scenario.notes_ini import (
    NotesIniSettings,
    billing_class_text,
    entries_from_mapping,
    parse_billing_class,
    parse_notes_ini,
    read_notes_ini,
    resolve_settings,
)
from simulator.wire import constants as c

INI = """\
[Notes]
; billing setup
KitType=2
ServerName = Mail01/Acme
billingclass= Session, database ,HTTP Request

BillingSuppressTime=5
"""


def test_class_table_matches_billing_h() -> None:
    assert c.BILLING_CLASS_BY_WORD == {
        "session": c.BILL_CLASS_SESSION,
        "replication": c.BILL_CLASS_REPLICATION,
        "document": c.BILL_CLASS_DOCUMENT,
        "mail": c.BILL_CLASS_MAIL,
        "database": c.BILL_CLASS_DATABASE,
        "agent": c.BILL_CLASS_AGENT,
        "httprequest": c.BILL_CLASS_HTTPREQUEST,
    }


@pytest.mark.parametrize(
    ("text", "mask"),
    [
        ("Session", 0x01),
        ("Replication", 0x02),
        ("Document", 0x04),
        ("Mail", 0x08),
        ("Database", 0x10),
        ("Agent", 0x20),
        ("HttpRequest", 0x40),
        ("SESSION,mail", 0x09),
        (" Http Request , Agent ", 0x60),
        ("Session,,Mail,", 0x09),
        ("", 0),
        (None, 0),
        (["Session", "Database"], 0x11),
    ],
)
def test_parse_billing_class(text: object, mask: int) -> None:
    assert parse_billing_class(text) == mask


def test_billing_class_text_round_trips() -> None:
    for mask in range(0x80):
        assert parse_billing_class(billing_class_text(mask)) == mask


def test_unknown_class_names_the_word() -> None:
    with pytest.raises(ValueError, match="unknown billing class 'Sesion'"):
        parse_billing_class("Database, Sesion")


def test_defaults() -> None:
    settings = NotesIniSettings()
    assert settings.server_name is None
    assert settings.billing_class == 0  # unset: no billing at all
    assert settings.billing_suppress_time == 15
    assert settings.suppress_time_us == 15 * 60 * 1_000_000
    assert settings.billing_addin_wakeup == 60
    assert settings.billing_addin_runtime == 10
    assert settings.billing_addin_output is None


def test_parse_file() -> None:
    entries = parse_notes_ini(INI, "notes.ini")
    assert entries["billingclass"].line == 5
    assert entries["billingclass"].key == "billingclass"
    assert entries["servername"].value == "Mail01/Acme"
    settings = resolve_settings(entries)
    assert settings.server_name == "Mail01/Acme"
    assert settings.billing_class == c.BILL_CLASS_SESSION | c.BILL_CLASS_DATABASE | 0x40
    assert settings.billing_suppress_time == 5


def test_file_error_names_file_line_and_key() -> None:
    entries = parse_notes_ini("[Notes]\nBillingClass=Session,Bogus\n", "notes.ini")
    with pytest.raises(InputError) as caught:
        resolve_settings(entries)
    assert str(caught.value).startswith("notes.ini:2: BillingClass: unknown billing class 'Bogus'")


@pytest.mark.parametrize("value", ["0", ""])
def test_zero_or_empty_suppress_time_means_default(value: str) -> None:
    settings = resolve_settings(parse_notes_ini(f"BillingSuppressTime={value}\n", "n.ini"))
    assert settings.billing_suppress_time == 15


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5", "must not be negative"),
        ("1.5", "whole number of minutes"),
        ("15m", "whole number of minutes"),
        ("99999999999", "too large"),
    ],
)
def test_bad_suppress_time(value: str, message: str) -> None:
    entries = parse_notes_ini(f";x\nBillingSuppressTime={value}\n", "n.ini")
    with pytest.raises(InputError, match=message) as caught:
        resolve_settings(entries)
    assert (caught.value.file, caught.value.line, caught.value.field) == (
        "n.ini",
        2,
        "BillingSuppressTime",
    )


def test_runtime_must_not_exceed_wakeup() -> None:
    entries = parse_notes_ini("BillingAddinWakeup=30\nBillingAddinRuntime=40\n", "n.ini")
    with pytest.raises(InputError) as caught:
        resolve_settings(entries)
    assert str(caught.value) == (
        "n.ini:2: BillingAddinRuntime: BillingAddinRuntime (40 s) must not exceed "
        "BillingAddinWakeup (30 s)"
    )


def test_default_runtime_against_low_wakeup_blames_wakeup() -> None:
    entries = parse_notes_ini("\nBillingAddinWakeup=5\n", "n.ini")
    with pytest.raises(InputError) as caught:
        resolve_settings(entries)
    assert (caught.value.line, caught.value.field) == (2, "BillingAddinWakeup")


def test_runtime_equal_to_wakeup_is_fine() -> None:
    settings = resolve_settings(
        parse_notes_ini("BillingAddinWakeup=30\nBillingAddinRuntime=30\n", "n.ini")
    )
    assert (settings.billing_addin_wakeup, settings.billing_addin_runtime) == (30, 30)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("[Notes]\n[Other]\n", 2, "unexpected section"),
        ("a=1\njust words\n", 2, "expected key=value"),
        ("=1\n", 1, "expected key=value"),
    ],
)
def test_malformed_lines(text: str, line: int, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        parse_notes_ini(text, "n.ini")
    assert (caught.value.file, caught.value.line) == ("n.ini", line)


def test_billing_setting_twice_is_an_error_other_keys_may_repeat() -> None:
    parse_notes_ini("Ports=TCPIP\nPorts=TCPIP\n", "n.ini")
    with pytest.raises(InputError) as caught:
        parse_notes_ini("BillingClass=Session\nbillingclass=Mail\n", "n.ini")
    assert str(caught.value) == "n.ini:2: billingclass: set twice (first at line 1)"


def test_value_may_contain_equals_and_semicolon() -> None:
    entries = parse_notes_ini("BillingAddinOutput=C:\\a=b;c.nbf\n", "n.ini")
    assert resolve_settings(entries).billing_addin_output == "C:\\a=b;c.nbf"


def test_read_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.ini"
    path.write_bytes(b"[Notes]\r\nBillingClass=Mail\r\nUser=J\xe9r\xf4me\r\n")
    entries = read_notes_ini(path)
    assert resolve_settings(entries).billing_class == c.BILL_CLASS_MAIL
    assert entries["billingclass"].line == 2
    with pytest.raises(InputError) as caught:
        read_notes_ini(tmp_path / "missing.ini")
    assert caught.value.file == str(tmp_path / "missing.ini")


def test_scenario_block_and_file_merge_file_wins() -> None:
    block = {"BillingClass": "Session", "billingsuppresstime": 5, "BillingAddinWakeup": 120}
    scenario = entries_from_mapping(
        block,
        file="demo.yaml",
        lines={"BillingClass": 7, "billingsuppresstime": 7, "BillingAddinWakeup": 7},
    )
    file = parse_notes_ini("BillingClass=Mail,Agent\n", "notes.ini")
    settings = resolve_settings(scenario, file)
    assert settings.billing_class == c.BILL_CLASS_MAIL | c.BILL_CLASS_AGENT
    assert settings.billing_suppress_time == 5
    assert settings.billing_addin_wakeup == 120


def test_scenario_block_errors_name_the_scenario_line() -> None:
    entries = entries_from_mapping(
        {"BillingSuppressTime": -1}, file="demo.yaml", lines={"BillingSuppressTime": 9}
    )
    with pytest.raises(InputError) as caught:
        resolve_settings(entries)
    assert str(caught.value) == (
        "demo.yaml:9: notes_ini.BillingSuppressTime: must not be negative, got -1"
    )


def test_scenario_block_rejects_unknown_setting() -> None:
    with pytest.raises(InputError) as caught:
        entries_from_mapping({"BillingClas": "Session"}, file="d.yaml", lines={"BillingClas": 4})
    assert str(caught.value).startswith("d.yaml:4: notes_ini.BillingClas: unknown setting")


def test_scenario_block_rejects_a_key_given_in_two_spellings() -> None:
    with pytest.raises(InputError, match="set twice"):
        entries_from_mapping({"BillingClass": "Session", "billingclass": "Mail"}, file="d.yaml")


def test_scenario_numbers_are_not_booleans() -> None:
    entries = entries_from_mapping({"BillingSuppressTime": True}, file="d.yaml")
    with pytest.raises(InputError, match="whole number"):
        resolve_settings(entries)


def test_with_setting() -> None:
    settings = resolve_settings(parse_notes_ini("BillingClass=Session\n", "n.ini"))
    changed = settings.with_setting("billingclass", "Session,Mail")
    assert changed.billing_class == c.BILL_CLASS_SESSION | c.BILL_CLASS_MAIL
    assert settings.billing_class == c.BILL_CLASS_SESSION  # frozen: the old one is unchanged
    assert changed.with_setting("BillingSuppressTime", "30").billing_suppress_time == 30
    assert changed.with_setting("BillingSuppressTime", 0).billing_suppress_time == 15
    assert changed.with_setting("BillingClass", None).billing_class == 0
    assert changed.with_setting("ServerName", "Hub/Acme").server_name == "Hub/Acme"
    assert changed.with_setting("BillingAddinOutput", "out.nbf").billing_addin_output == "out.nbf"


@pytest.mark.parametrize(
    ("name", "value", "field", "message"),
    [
        ("BillingClass", "Session,Nope", "BillingClass", "unknown billing class 'Nope'"),
        ("BillingSuppressTime", "soon", "BillingSuppressTime", "whole number of minutes"),
        ("BillingAddinRuntime", "120", "BillingAddinRuntime", "must not exceed"),
        ("NoSuchSetting", "1", "NoSuchSetting", "unknown setting"),
        ("ServerName", "CN=" + "M" * 300 + "/O=Acme", "ServerName", "longer than 256"),
        ("ServerName", "CN=Mail+01/O=Acme", "ServerName", "not usable in an MQTT topic"),
        ("ServerName", "Mail#1/Acme", "ServerName", "not usable in an MQTT topic"),
        ("ServerName", "CN=/O=Acme", "ServerName", "not usable in an MQTT topic"),
    ],
)
def test_with_setting_validates(name: str, value: str, field: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        NotesIniSettings().with_setting(name, value)
    assert caught.value.field == field
    assert caught.value.file is None


def test_settings_are_frozen() -> None:
    settings = NotesIniSettings()
    with pytest.raises(ValueError, match="frozen"):
        settings.billing_class = 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("CN=Mail+01/O=Acme", "server common name 'Mail+01' is not usable in an MQTT topic"),
        ("CN=" + "M" * 300 + "/O=Acme", "name is 310 bytes of UTF-8, longer than 256"),
    ],
)
def test_a_bad_server_name_in_a_notes_ini_is_input_error_exit_2(
    tmp_path: Path, value: str, message: str
) -> None:
    """ServerName names every MQTT topic and goes into every record: the scenario's rule
    for `server` applies to it, at load (exit 2, file:line), not as a crash mid-run."""
    ini = tmp_path / "notes.ini"
    ini.write_text(f"[Notes]\nBillingClass=Session\nServerName={value}\n")
    with pytest.raises(InputError, match=re.escape(message)) as caught:
        resolve_settings(read_notes_ini(ini))
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(ini), 3, "ServerName")
    child = subprocess.run(
        [sys.executable, "-m", "simulator", "run", "all-classes", "--stdout",
         "--notes-ini", str(ini)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert child.returncode == 2, child.stderr
    assert f"{ini}:3: ServerName: {message}" in child.stderr
    assert "Traceback" not in child.stderr
    assert child.stdout == ""


def test_a_number_of_thousands_of_digits_is_too_large_not_a_traceback(tmp_path: Path) -> None:
    ini = tmp_path / "notes.ini"
    ini.write_text("BillingSuppressTime=" + "1" * 5000 + "\n")
    with pytest.raises(InputError) as caught:
        resolve_settings(read_notes_ini(ini))
    message = str(caught.value)
    assert message.startswith(f"{ini}:1: BillingSuppressTime: too large: '1111")
    assert len(message) < len(str(ini)) + 150
