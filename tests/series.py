"""billsim's Prometheus series as docs/observability.md states them: every name with the
prefix `billsim_`, the only labels `server` and `class`, and the series names a query may
use (a counter's with `_total`; a histogram's `_bucket`, `_sum` and `_count`)."""

from __future__ import annotations

from collections.abc import Sequence

from simulator.adapters.metrics.exporter import ADDIN_METRICS, RUN_METRICS, Kind, MetricSpec

PREFIX = "billsim_"
LABELS = ("server", "class")


def exported_name(spec: MetricSpec) -> str:
    """The name a query uses for a counter or gauge, and the one docs/observability.md lists."""
    return spec.name + "_total" if spec.kind is Kind.COUNTER else spec.name


def exported_names(specs: Sequence[MetricSpec] = RUN_METRICS + ADDIN_METRICS) -> set[str]:
    """Every series name a query may use."""
    names: set[str] = set()
    for spec in specs:
        if spec.kind is Kind.HISTOGRAM:
            names.update(spec.name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(exported_name(spec))
    return names
