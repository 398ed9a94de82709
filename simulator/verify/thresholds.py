"""Pass/fail thresholds on the add-in's summary, as load tools have them.

Pure: ``read_addin_figures`` reads what `billsim addin --summary FILE` wrote (its
``latency_ms`` and ``rejects``); ``judge`` holds the figures against the limits a user
gave (``Thresholds``) and says, per limit, the figure, whether it was met and, when there
was nothing to measure, why. docs/verification.md states the rules:

- ``max-p99``: the p99 of publish-to-commit latency (``latency_ms.p99``) at most the limit;
- ``max-lag``: the add-in's lag at most the limit. Lag is how far the add-in fell behind
  the publisher at its worst: the age the oldest frame of its backlog reached before it
  was committed, which is the longest publish-to-commit latency (``latency_ms.max``);
- ``max-rejects``: the messages that were no frame (``rejects``) at most the limit.

A latency limit on a summary without ``latency_ms`` (no frame carried the `sent`
property, so nothing was measured) is missed, not passed: a gate that cannot see must
not open.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from simulator.errors import InputError
from simulator.verify.jsonfile import load_json

MAX_P99: Final = "max-p99"
MAX_LAG: Final = "max-lag"
MAX_REJECTS: Final = "max-rejects"
_US_PER_MS: Final = 1000


@dataclass(frozen=True)
class Thresholds:
    """The limits asked for; None: not asked. Durations in microseconds."""

    max_p99_us: int | None = None
    max_lag_us: int | None = None
    max_rejects: int | None = None

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.max_p99_us, self.max_lag_us, self.max_rejects))


@dataclass(frozen=True)
class AddinFigures:
    """What the thresholds are held against, from the add-in's summary. Latencies in ms;
    None when the summary has no `latency_ms` (no frame carried `sent`)."""

    source: str
    rejects: int
    p99_ms: float | None
    max_ms: float | None
    measured: int  # frames whose latency was measured


@dataclass(frozen=True)
class ThresholdCheck:
    """One limit judged. ``limit`` and ``actual`` in the limit's unit (``ms`` for the
    latencies, frames for rejects); ``actual`` None when there was nothing to measure."""

    name: str  # the option without its dashes: max-p99, max-lag, max-rejects
    figure: str  # what was measured, for people
    unit: str  # "ms" or ""
    limit: float
    actual: float | None
    met: bool
    note: str = ""  # why it could not be measured


def read_addin_figures(text: str, source: str) -> AddinFigures:
    """The figures of an add-in summary's JSON text; InputError (file:line: field) when it
    is not one."""
    document = load_json(text, source)
    if not isinstance(document, dict) or "rejects" not in document:
        raise InputError(
            "not an add-in summary (billsim addin --summary FILE writes one): no rejects",
            file=source,
            line=1,
            field="rejects",
        )
    rejects = document["rejects"]
    if not _is_count(rejects):
        raise InputError(
            f"a whole number of at least 0, not {json.dumps(rejects)}",
            file=source,
            field="rejects",
        )
    latency = document.get("latency_ms")
    if latency is None:
        return AddinFigures(source, int(rejects), None, None, 0)
    if not isinstance(latency, dict):
        raise InputError("not an object", file=source, field="latency_ms")
    figures = {key: _milliseconds(latency, key, source) for key in ("p99", "max")}
    measured = latency.get("frames", 0)
    if not _is_count(measured):
        raise InputError(
            f"a whole number of at least 0, not {json.dumps(measured)}",
            file=source,
            field="latency_ms.frames",
        )
    return AddinFigures(source, int(rejects), figures["p99"], figures["max"], int(measured))


def _milliseconds(latency: Mapping[str, Any], key: str, source: str) -> float:
    value = latency.get(key)
    # NaN compares false with every limit and Infinity is no latency: neither is a figure.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InputError(
            f"a number of milliseconds, not {json.dumps(value)}",
            file=source,
            field=f"latency_ms.{key}",
        )
    return float(value)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def judge(thresholds: Thresholds, figures: AddinFigures) -> list[ThresholdCheck]:
    """Each limit asked for, in the order p99, lag, rejects, held against the figures."""
    checks: list[ThresholdCheck] = []
    unmeasured = "not measured: no frame carried the sent property"
    for name, limit_us, actual, figure in (
        (MAX_P99, thresholds.max_p99_us, figures.p99_ms, "p99 latency"),
        (MAX_LAG, thresholds.max_lag_us, figures.max_ms, "lag"),
    ):
        if limit_us is None:
            continue
        limit = limit_us / _US_PER_MS
        checks.append(
            ThresholdCheck(
                name,
                figure,
                "ms",
                limit,
                actual,
                met=actual is not None and actual <= limit,
                note="" if actual is not None else unmeasured,
            )
        )
    if thresholds.max_rejects is not None:
        limit = float(thresholds.max_rejects)
        checks.append(
            ThresholdCheck(
                MAX_REJECTS,
                "rejects",
                "",
                limit,
                float(figures.rejects),
                met=figures.rejects <= limit,
            )
        )
    return checks
