"""The rules of Domino names and addresses (scenario files and notes.ini), and `common_name`."""

from __future__ import annotations

import pytest

from simulator.scenario.names import common_name, domino_name, net_address, server_name
from simulator.wire import constants as c


@pytest.mark.parametrize(
    ("full", "common"),
    [
        ("CN=Mail01/O=Acme", "Mail01"),
        ("Mail01/Acme", "Mail01"),
        ("cn=Hub/OU=East/O=Acme", "Hub"),
        (" CN= Mail 01 /O=Acme", "Mail 01"),
        ("Mail01", "Mail01"),
    ],
)
def test_common_name(full: str, common: str) -> None:
    assert common_name(full) == common


def test_a_name_fills_its_char_array_and_no_more() -> None:
    # "é" is two bytes of UTF-8: the limit is counted in bytes, as the C array holds them.
    longest = "CN=" + "é" * ((c.MAXUSERNAME - 3) // 2) + "x" * ((c.MAXUSERNAME - 3) % 2)
    assert len(longest.encode()) == c.MAXUSERNAME
    assert domino_name(longest) == longest
    with pytest.raises(ValueError, match=f"longer than {c.MAXUSERNAME}"):
        domino_name(longest + "x")


def test_an_ascii_name_is_counted_as_its_bytes_too() -> None:
    longest = "CN=" + "x" * (c.MAXUSERNAME - 3)
    assert domino_name(longest) == longest
    with pytest.raises(ValueError, match=f"is {c.MAXUSERNAME + 1} bytes of UTF-8"):
        domino_name(longest + "x")


@pytest.mark.parametrize("bad", ["", "   ", "CN=A\0B/O=Acme"])
def test_a_name_is_not_empty_and_has_no_nul(bad: str) -> None:
    with pytest.raises(ValueError, match=r"empty|NUL"):
        domino_name(bad)


def test_an_address_keeps_a_byte_for_its_terminating_nul() -> None:
    longest = "1" * (c.MAXNETADR - 1)
    assert net_address(longest) == longest
    with pytest.raises(ValueError, match=f"longer than {c.MAXNETADR - 1}"):
        net_address(longest + "1")
    with pytest.raises(ValueError, match="NUL"):
        net_address("10.1.2.3\0")


@pytest.mark.parametrize("bad", ["CN=Mail+01/O=Acme", "CN=Mail#/O=Acme", "CN=/O=Acme"])
def test_a_server_name_is_one_its_topics_can_spell(bad: str) -> None:
    with pytest.raises(ValueError, match="not usable in an MQTT topic"):
        server_name(bad)


def test_a_server_name_obeys_the_name_rules_too() -> None:
    assert server_name("CN=Mail01/O=Acme") == "CN=Mail01/O=Acme"
    with pytest.raises(ValueError, match="longer than"):
        server_name("CN=" + "x" * c.MAXUSERNAME)
