"""A Domino domain of `servers: N` emulated servers, and which of them is each user's home.

Server names follow the scenario's server: `CN=Mail01/O=Acme` with 3 servers gives
Mail01, Mail02, Mail03 in the same organisation (trailing digits of the common name
are replaced by the two-digit server number). A generated user's home server is a
stable hash of the user's number, the same in every process of the domain and in
every run, so each process generates exactly its own users and knows where every
other user's mail is delivered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from simulator.domino.streams import splitmix64

_TRAILING_DIGITS = re.compile(r"[0-9]+$")
_HOME_KEY = 0x5DEECE66D  # any fixed value: homes must not depend on the seed


def domain_servers(server: str, count: int) -> tuple[str, ...]:
    """The full names of the domain's servers; one server keeps the scenario's name."""
    if count == 1:
        return (server,)
    common, slash, rest = server.removeprefix("CN=").partition("/")
    stem = _TRAILING_DIGITS.sub("", common) or "Server"
    return tuple(f"CN={stem}{number:02d}{slash}{rest}" for number in range(1, count + 1))


@dataclass(frozen=True, slots=True)
class Domain:
    """The domain's servers, and the one this process emulates (`index`)."""

    servers: tuple[str, ...]
    index: int = 0

    @classmethod
    def single(cls, server: str) -> Domain:
        return cls((server,), 0)

    @property
    def server(self) -> str:
        return self.servers[self.index]

    @property
    def size(self) -> int:
        return len(self.servers)

    def home_of(self, user: int) -> int:
        """The index of user number `user`'s home server."""
        if len(self.servers) == 1:
            return 0
        return splitmix64(user ^ _HOME_KEY) % len(self.servers)

    def is_home(self, user: int) -> bool:
        return self.home_of(user) == self.index
