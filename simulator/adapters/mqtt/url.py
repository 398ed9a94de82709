"""Broker URLs: ``mqtt://`` and ``mqtts://`` with a user and password that are never shown
(docs/mqtt.md)."""

from __future__ import annotations

import ipaddress
import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote, unquote, urlsplit

from simulator.errors import InputError

ENV_USERNAME: Final = "BILLSIM_MQTT_USERNAME"
ENV_PASSWORD: Final = "BILLSIM_MQTT_PASSWORD"
DEFAULT_PORTS: Final[Mapping[str, int]] = {"mqtt": 1883, "mqtts": 8883}
# The broker `tail`, `record` and `addin` read without --broker.
DEFAULT_BROKER: Final = "mqtt://127.0.0.1:1883"


@dataclass(frozen=True)
class BrokerUrl:
    """Where the broker is, and who to log in as. The password is never shown:
    ``str()``, ``repr()`` and ``redacted()`` leave it out."""

    scheme: str  # "mqtt" or "mqtts"
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def tls(self) -> bool:
        return self.scheme == "mqtts"

    def redacted(self) -> str:
        """The URL with the password as ``***``: fit for logs and messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = ""
        if self.username is not None:
            user = quote(self.username, safe="")
            if self.password is not None:
                user += ":***"
            user += "@"
        return f"{self.scheme}://{user}{host}:{self.port}"

    def __str__(self) -> str:
        return self.redacted()


def _scrub(text: str) -> str:
    """A URL as typed, with any password in it hidden, for an error message: whatever
    follows the first ':' of the user part, up to the last '@'."""
    at = text.rfind("@")
    if at < 0:
        return text
    scheme_end = text.find("://")
    start = scheme_end + 3 if 0 <= scheme_end < at else 0
    user, colon, _password = text[start:at].partition(":")
    return text[:start] + user + (":***" if colon else "") + text[at:]


def parse_broker_url(text: str, *, env: Mapping[str, str] = os.environ) -> BrokerUrl:
    """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://…`` (ports 1883 / 8883).

    The user name and the password may be percent-encoded. Missing from the URL, they are
    taken from ``BILLSIM_MQTT_USERNAME`` / ``BILLSIM_MQTT_PASSWORD`` in ``env``.
    A bad URL raises ``InputError`` for ``--broker`` (without the password in it).
    """

    def bad(message: str) -> InputError:
        return InputError(message, field="--broker")

    raw = text.strip()
    shown = _scrub(raw)
    if "://" not in raw:
        raise bad(f"expected mqtt://host[:port] or mqtts://host[:port], not {shown!r}")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as error:
        raise bad(f"not a broker URL ({error}): {shown!r}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise bad(f"the scheme must be mqtt:// or mqtts://, not {parts.scheme}:// in {shown!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise bad(f"a broker URL has no path, query or fragment: {shown!r}")
    host = parts.hostname
    if not host:
        raise bad(f"no host in {shown!r}")
    problem = host_problem(host)
    if problem is not None:
        raise bad(f"not a broker URL ({problem}): {shown!r}")
    if port == 0:
        raise bad(f"port 0 in {shown!r}: use 1..65535")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if username is None and password is None:
        username = env.get(ENV_USERNAME) or None
    if password is None:
        password = env.get(ENV_PASSWORD) or None
    if password is not None and username is None:
        raise bad(f"a password needs a user name (in the URL or {ENV_USERNAME})")
    return BrokerUrl(scheme, host, port or DEFAULT_PORTS[scheme], username, password)


_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?")
_NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_.")


def host_problem(host: str) -> str | None:
    """Why `host` can name no broker, or None: an IP address, or a DNS name of labels of
    letters, digits, `-` and `_` (an international name is checked as its ASCII form).
    Caught here, a typo is exit 2 at once, not a name lookup failing until the connect
    timeout."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if ":" in host:
        return f"host {host!r} is no IPv6 address"
    try:
        ascii_name = host.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = host
    bad = next((char for char in ascii_name if char not in _NAME_CHARACTERS), None)
    if bad is not None:
        return f"host {host!r} has {'a space' if bad == ' ' else repr(bad)}"
    labels = ascii_name.removesuffix(".").split(".")
    if len(ascii_name) > 253:
        return f"host {host!r} is longer than 253 characters"
    for label in labels:
        if not label:
            return f"host {host!r} has an empty label"
        if len(label) > 63 or not _LABEL.fullmatch(label):
            return f"host {host!r}: {label!r} is no DNS label"
    if labels[-1].isdigit():
        return f"host {host!r} is no IPv4 address"
    return None


def connect_failure(error: BaseException) -> str:
    """Why a connection to a broker failed, for people: `connection refused`, `unknown
    host (...)`, a TLS error's text; no errno numbers, no reprs."""
    # Imported here, after a connection failed: the command line imports this module for
    # its defaults, and `billsim validate` connects to nothing.
    import socket  # noqa: PLC0415
    import ssl  # noqa: PLC0415

    if isinstance(error, socket.gaierror):
        return f"unknown host ({error.strerror})"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate verify failed: {error.verify_message or error}"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[0].lower() + error.strerror[1:]
    return str(error) or type(error).__name__
