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
    if not topic_level(server_cn):
        raise ValueError(f"a server common name for a topic level, not {server_cn!r}")


def topic_level(text: str) -> bool:
    """Whether ``text`` can be one level of a topic name: not empty, no ``/``, no
    wildcard, no NUL."""
    return bool(text) and not any(ch in text for ch in "/+#\0")


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


def meta_topic(topic: str, run_id: str, seq: int) -> str:
    """The ``--topic-meta`` form of a frame topic: ``…/{class}/{run}/{seq}`` (custom
    types ``…/custom/{structtype}/{run}/{seq}``), for a consumer without MQTT 5
    properties to key on. Subscribers of ``domino/billing/+/{class}/#`` match it as they
    match the plain form."""
    return f"{topic}/{run_id}/{seq}"


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


# Every kind of frame topic, in the order docs/mqtt.md lists the classes: a subscription
# per kind (`frame_filters`) matches both forms of its topics and nothing else.
FRAME_TOPIC_KINDS: Final = (*c.CLASS_TOPIC_NAME.values(), "custom")
FRAME_KINDS: Final = frozenset(FRAME_TOPIC_KINDS)


@dataclass(frozen=True)
class FrameTopic:
    """A frame topic taken apart: the plain topic (``…/{class}`` or
    ``…/custom/{structtype}``) and, for the ``--topic-meta`` form, the run and seq levels
    after it (``seq`` as written: the taker checks it is a whole number)."""

    topic: Topic
    run: str | None = None
    seq: str | None = None


def parse_frame_topic(topic: str) -> FrameTopic | None:
    """A topic of frames in either form, taken apart; None for any other topic (status,
    stats, control, a class that is no frame class, levels that fit neither form)."""
    parts = parse_topic(topic)
    if parts is None or parts.kind not in FRAME_KINDS:
        return None
    levels = parts.rest.split("/")
    plain = 2 if parts.kind == "custom" else 1  # the levels of the plain form after the server
    if len(levels) == plain:
        return FrameTopic(parts)
    if len(levels) != plain + 2:
        return None
    base = "/".join(levels[:plain])
    return FrameTopic(Topic(parts.server, parts.kind, base), levels[plain], levels[plain + 1])


def topic_run_and_seq(topic: str) -> tuple[str | None, int | None]:
    """The run and seq a ``--topic-meta`` topic carries (``…/{class}/{run}/{seq}``, custom
    types ``…/custom/{structtype}/{run}/{seq}``); (None, None) for the plain form, and
    None for a seq that is not a whole number above 0."""
    found = parse_frame_topic(topic)
    if found is None or found.run is None or found.seq is None:
        return None, None
    seq = found.seq
    return found.run, (int(seq) if seq.isdigit() and int(seq) > 0 else None)


def subscription_topic(server: str | None) -> str:
    """`domino/billing/+/#`, or one server's topics (its common name, `CN=` or not)."""
    if not server:
        return f"{TOPIC_ROOT}/+/#"
    first = server.split("/", 1)[0].strip()
    cn = first[3:].strip() if first[:3].upper() == "CN=" else first
    if not cn or any(ch in cn for ch in "+#"):
        raise InputError(f"{server!r} is not a server name usable in a topic", field="--server")
    return f"{TOPIC_ROOT}/{cn}/#"


def frame_filters(server: str) -> tuple[str, ...]:
    """The subscriptions that take the frames of ``server`` (a common name, or ``+`` for
    every server) in both forms and nothing else: ``domino/billing/{server}/{class}/#``
    for each class, and ``…/custom/#``. (``#`` matches its parent level, so
    ``…/session/#`` takes ``…/session`` as well as ``…/session/{run}/{seq}``; a filter
    ``…/+/#`` would take status, stats and control too.)"""
    return tuple(f"{TOPIC_ROOT}/{server}/{kind}/#" for kind in FRAME_TOPIC_KINDS)
