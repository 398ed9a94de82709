"""Per-user random streams: repeatable per seed, independent between users and purposes."""

from __future__ import annotations

import statistics

from simulator.domino.streams import UserStreams, chance, splitmix64, stream_key


def test_a_stream_repeats_for_the_same_seed_purpose_and_user() -> None:
    first, second = UserStreams(5, "session", 10), UserStreams(5, "session", 10)
    assert [first.uniform(3) for _ in range(20)] == [second.uniform(3) for _ in range(20)]


def test_a_users_draws_do_not_depend_on_other_users_draws() -> None:
    alone, busy = UserStreams(5, "session", 10), UserStreams(5, "session", 10)
    expected = [alone.uniform(7) for _ in range(10)]
    got = []
    for _ in range(10):
        busy.uniform(2)
        busy.uniform(9)
        got.append(busy.uniform(7))
    assert got == expected


def test_seeds_purposes_and_users_give_different_streams() -> None:
    def first(seed: int, purpose: str, user: int) -> list[float]:
        streams = UserStreams(seed, purpose, 4)
        return [streams.uniform(user) for _ in range(5)]

    base = first(1, "session", 0)
    assert base != first(2, "session", 0)
    assert base != first(1, "mail", 0)
    assert base != first(1, "session", 1)


def test_restart_begins_the_stream_again() -> None:
    streams = UserStreams(1, "mail", 2)
    opening = [streams.uniform(1) for _ in range(3)]
    streams.restart(1)
    assert [streams.uniform(1) for _ in range(3)] == opening


def test_values_are_uniform_on_the_unit_interval() -> None:
    streams = UserStreams(11, "session", 1000)
    values = [streams.uniform(user) for user in range(1000) for _ in range(100)]
    assert min(values) >= 0.0 and max(values) < 1.0
    assert abs(statistics.fmean(values) - 0.5) < 0.005
    deciles = [0] * 10
    for value in values:
        deciles[int(value * 10)] += 1
    assert all(abs(count - 10_000) < 500 for count in deciles)


def test_splitmix64_is_the_reference_function() -> None:
    # First output of SplitMix64 seeded with 0 (the reference implementation's state 0).
    assert splitmix64(0) == 0xE220A8397B1DCDAF


def test_chance_is_fixed_by_its_parts_and_uniform() -> None:
    key = stream_key(3, "active")
    assert chance(key, 5, 2) == chance(key, 5, 2)
    assert chance(key, 5, 2) != chance(key, 2, 5)
    values = [chance(key, user, day) for user in range(2000) for day in range(10)]
    assert abs(sum(v < 0.3 for v in values) / len(values) - 0.3) < 0.01
