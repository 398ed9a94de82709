"""The rules every Domino name and address in a scenario or notes.ini obeys, and `common_name`."""

from __future__ import annotations

from simulator.errors import quoted
from simulator.wire import constants as c
from simulator.wire.codec import utf8_len

_HAS_NUL = "must not contain a NUL character"
_EMPTY = "must not be empty"


def no_nul(text: str) -> str:
    # A NUL would end the string early in every char array and variable string it reaches.
    if "\0" in text:
        raise ValueError(_HAS_NUL)
    return text


def non_empty(text: str) -> str:
    if not text.strip():
        raise ValueError(_EMPTY)
    return text


# domino_name and net_address make no_nul's and non_empty's checks themselves, and take an
# ASCII text's length as its size: each user of a big scenario has a name and an address,
# and the three calls were most of the cost of checking one.


def domino_name(text: str) -> str:
    """A user or server name: not empty, no NUL, at most MAXUSERNAME bytes."""
    if "\0" in text:
        raise ValueError(_HAS_NUL)
    if not text.strip():
        raise ValueError(_EMPTY)
    size = len(text) if text.isascii() else utf8_len(text)
    if size > c.MAXUSERNAME:
        raise ValueError(f"name is {size} bytes of UTF-8, longer than {c.MAXUSERNAME}")
    return text


def net_address(text: str) -> str:
    """A network address: fits NetAdr with its terminating NUL."""
    if "\0" in text:
        raise ValueError(_HAS_NUL)
    if not text.strip():
        raise ValueError(_EMPTY)
    size = len(text) if text.isascii() else utf8_len(text)
    if size > c.MAXNETADR - 1:
        raise ValueError(f"address is {size} bytes of UTF-8, longer than {c.MAXNETADR - 1}")
    return text


def common_name(full_name: str) -> str:
    """`Mail01` of `CN=Mail01/O=Acme` (or of the abbreviated `Mail01/Acme`)."""
    first = full_name.split("/", 1)[0].strip()
    return first[3:].strip() if first[:3].upper() == "CN=" else first


def server_name(text: str) -> str:
    """A server's name: a Domino name whose common name can be an MQTT topic level."""
    domino_name(text)
    common = common_name(text)
    # The common name is a level of every MQTT topic this server publishes on.
    if not common or any(ch in common for ch in "+#"):
        raise ValueError(f"server common name {quoted(common)} is not usable in an MQTT topic")
    return text
