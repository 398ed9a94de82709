"""Every topic name of docs/mqtt.md, and taking a topic apart: one place for the drain and
``tail``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from simulator.errors import InputError
from simulator.wire import constants as c
from simulator.wire.codec import peek_class, peek_header

TOPIC_ROOT: Final = "domino/billing"

_HEADER_MIN: Final = 8  # Len, StructType, Class


def check_server(server_cn: str) -> None:
    if not server_cn or any(ch in server_cn for ch in "/+#\0"):
        raise ValueError(f"a server common name for a topic level, not {server_cn!r}")


def frame_topic(server_cn: str, frame: bytes) -> str:
    """``domino/billing/{server}/{class}`` from the frame header's Class (bytes 4..8, LE);
    custom struct types (32001-65535, bytes 2..4) go to ``…/custom/{structtype}``.
    ValueError for a frame too short or a class with no topic."""
    if len(frame) < _HEADER_MIN:
        raise ValueError(f"a frame of {len(frame)} bytes has no BILLMSG header")
    struct_type = peek_header(frame)[1]
    if struct_type >= c.CUSTOM_STRUCT_TYPE_MIN:
        return f"{TOPIC_ROOT}/{server_cn}/custom/{struct_type}"
    bill_class = peek_class(frame)
    name = c.CLASS_TOPIC_NAME.get(bill_class)
    if name is None:
        raise ValueError(f"struct type {struct_type} with class {bill_class:#x}: no topic")
    return f"{TOPIC_ROOT}/{server_cn}/{name}"


def status_topic(server_cn: str) -> str:
    return f"{TOPIC_ROOT}/{server_cn}/status"


def stats_topic(server_cn: str) -> str:
    return f"{TOPIC_ROOT}/{server_cn}/stats"


def control_topic(server_cn: str) -> str:
    return f"{TOPIC_ROOT}/{server_cn}/control"


def control_reply_topic(server_cn: str) -> str:
    return f"{TOPIC_ROOT}/{server_cn}/control/reply"


def publishable(topic: object) -> bool:
    """A topic a client may publish to (a response topic from a request is checked: a
    wildcard would make the broker drop the connection)."""
    return (
        isinstance(topic, str)
        and 0 < len(topic.encode("utf-8", "surrogatepass")) <= 0xFFFF
        and not any(ch in topic for ch in "+#\0")
    )


# The retained payloads of `…/status`: offline is also the will of a run that dies.
STATUS_ONLINE: Final = b"online"
STATUS_OFFLINE: Final = b"offline"


@dataclass(frozen=True)
class Topic:
    """A topic of docs/mqtt.md taken apart: the server's CN and what follows it."""

    server: str
    kind: str  # a class name, "custom", "status", "stats", "control", "control/reply", …
    rest: str  # after the server, e.g. "custom/32001", "control/reply"


def parse_topic(topic: str) -> Topic | None:
    prefix = TOPIC_ROOT + "/"
    if not topic.startswith(prefix):
        return None
    server, _, rest = topic[len(prefix) :].partition("/")
    if not server or not rest:
        return None
    kind = rest if rest == "control/reply" else rest.split("/", 1)[0]
    return Topic(server, kind, rest)


FRAME_KINDS: Final = frozenset((*c.CLASS_TOPIC_NAME.values(), "custom"))


def subscription_topic(server: str | None) -> str:
    """`domino/billing/+/#`, or one server's topics (its common name, `CN=` or not)."""
    if not server:
        return f"{TOPIC_ROOT}/+/#"
    first = server.split("/", 1)[0].strip()
    cn = first[3:].strip() if first[:3].upper() == "CN=" else first
    if not cn or any(ch in cn for ch in "+#"):
        raise InputError(f"{server!r} is not a server name usable in a topic", field="--server")
    return f"{TOPIC_ROOT}/{cn}/#"
