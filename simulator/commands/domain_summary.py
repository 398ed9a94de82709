"""A domain's run summary: each server's own, and their sum in the fields of one server's.

The sum keeps the shape of a one-server summary (commands/summary.py), so whatever reads
one — `verify --expected`, a script — reads a domain's too; `servers` adds each server's
summary by name. Counts are summed field by field (records, each user's bill fields,
queue puts, drops …); the virtual span and end are the longest server's, the wall time
and the queue's high water the highest; the rate is the sum of the servers' rates (they
ran side by side); `peak_sessions` is the sum of each server's peak. A value that differs
between servers and cannot be summed (each server's MQTT `run` id) is left to the
per-server summaries. The injected `faults` are every server's entries, server by server.
The records-over-time `series` is the servers' summed at every time any of them was
sampled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from simulator.commands.series import merge_series
from simulator.commands.summary import print_summary, rounded_rate

# Fields every server has the same value of, numbers or not (the seed of one run).
_SHARED = frozenset({"seed", "qos", "quota"})
# The longest server's value stands for the domain's: the servers ran side by side.
_LONGEST = frozenset({"virtual_end", "virtual_span_s"})
_HIGHEST = frozenset({"wall_time_s", "high_water"})
_DIFFERS = object()  # a value the servers do not share and that does not sum


def merge_summaries(by_server: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The domain's summary from each server's (by full server name, in domain order)."""
    summaries = list(by_server.values())
    longest = max(summaries, key=lambda summary: summary.get("virtual_span_s", 0))
    merged: dict[str, Any] = {}
    for key in _keys(summaries):
        values = [summary[key] for summary in summaries if key in summary]
        if key == "server":
            merged[key] = ", ".join(by_server)
        elif key in _LONGEST:
            merged[key] = longest.get(key, values[0])
        elif key == "rate_per_s":
            merged[key] = rounded_rate(sum(values))
        elif key == "users":
            merged[key] = _merged_users(values)
        elif key == "faults":  # every server's, server by server (each names its server)
            merged[key] = [entry for entries in values for entry in entries]
        elif key == "series":
            merged[key] = merge_series(values, "records_by_class")
        elif (value := _merged(key, values)) is not _DIFFERS:
            merged[key] = value
    merged["servers"] = {name: dict(summary) for name, summary in by_server.items()}
    return merged


def _keys(mappings: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every key, in the order they first come: the first server's order, then others'."""
    return list(dict.fromkeys(key for mapping in mappings for key in mapping))


def _merged(key: str, values: list[Any]) -> Any:
    if key in _SHARED:
        return values[0]
    if all(_is_number(value) for value in values):
        return max(values) if key in _HIGHEST else sum(values)
    if all(isinstance(value, Mapping) for value in values):
        merged = {}
        for inner in _keys(values):
            value = _merged(inner, [mapping[inner] for mapping in values if inner in mapping])
            if value is not _DIFFERS:
                merged[inner] = value
        return merged
    if all(value == values[0] for value in values):
        return values[0]
    return _DIFFERS


def _merged_users(bills: list[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Each user's bill fields summed over the servers it appears on."""
    users: dict[str, dict[str, Any]] = {}
    for bill in bills:
        for user, totals in bill.items():
            into = users.setdefault(user, {})
            for field, value in totals.items():
                into[field] = into.get(field, 0) + value
    return users


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def print_domain_summary(summary: Mapping[str, Any], stream: TextIO) -> None:
    """A line per server, then the domain's summary as one server's is printed."""
    for name, server in summary["servers"].items():
        stream.write(
            f"{name}: {server['records']:,} records, {server['sessions_started']:,} sessions "
            f"(peak {server['peak_sessions']:,}), {len(server['users']):,} users, "
            f"{server['wall_time_s']:.3f} s wall\n"
        )
    print_summary(dict(summary), stream)
