"""One random stream per generated user and purpose: runs repeat per seed, users stay independent.

A single shared generator would make every user's draws depend on every other user's
(change one user's think time and everyone else's sessions move). Instead each user
has, per purpose ("session", "mail", …), a 64-bit state in an array — 8 bytes a user,
so a million users cost 8 MB, not a million `random.Random` objects — advanced by
Knuth's MMIX linear congruential step. A value is the state's top 53 bits: the high
bits of a power-of-two LCG are the good ones. The first state comes from SplitMix64
of (seed, purpose, user), computed when the user first draws.
"""

from __future__ import annotations

import hashlib
from array import array

_MASK = (1 << 64) - 1
_MULTIPLIER = 6364136223846793005
_INCREMENT = 1442695040888963407
_GOLDEN = 0x9E3779B97F4A7C15
_TO_UNIT = 2.0**-53


# A caller stepping a stream itself gives the numbers `uniform` gives with
# `state = (state * STEP_MULTIPLIER + STEP_INCREMENT) & STATE_MASK`, then
# `(state >> 11) * TO_UNIT`.
STEP_MULTIPLIER = _MULTIPLIER
STEP_INCREMENT = _INCREMENT
STATE_MASK = _MASK
TO_UNIT = _TO_UNIT


def splitmix64(value: int) -> int:
    """A well-mixed 64-bit number from any 64-bit number (Steele, Lea and Flood 2014)."""
    z = (value + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def stream_key(seed: int, purpose: str) -> int:
    """A 64-bit key for one purpose of one run's seed (stable across Python versions)."""
    digest = hashlib.blake2b(f"{seed}|{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class UserStreams:
    """`uniform(user)`: the next number in [0, 1) of that user's stream for this purpose."""

    __slots__ = ("_key", "_states")

    def __init__(self, seed: int, purpose: str, users: int) -> None:
        self._key = stream_key(seed, purpose)
        # 0 marks a stream not yet started; a started state is 0 with probability 2**-64.
        self._states = array("Q", bytes(8 * users))

    def uniform(self, user: int) -> float:
        state = self._states[user]
        if not state:
            state = self.first_state(user)
        state = (state * _MULTIPLIER + _INCREMENT) & _MASK
        self._states[user] = state
        return (state >> 11) * _TO_UNIT

    @property
    def states(self) -> array[int]:
        """Every user's state, for a hot loop that steps one user's stream several times in
        a row itself (see STEP_MULTIPLIER): a state of 0 is a stream not started."""
        return self._states

    def first_state(self, user: int) -> int:
        """The state a user's stream starts from."""
        return splitmix64(self._key ^ ((user * _GOLDEN) & _MASK)) or 1

    def restart(self, user: int) -> None:
        """Begin the user's stream again from its first number."""
        self._states[user] = 0


def chance(key: int, *parts: int) -> float:
    """A number in [0, 1) fixed by `key` and `parts`, with no stream state: for yes/no
    questions asked once per (user, day) — is this user active today? — whose answer must
    not depend on what else was drawn."""
    value = key
    for part in parts:
        value = splitmix64(value ^ (part & _MASK))
    return (value >> 11) * _TO_UNIT
