"""The HTML report's charts over time, drawn with matplotlib off-screen as inline SVG.

Two charts, each from a series of samples (commands/series.py): records (or frames) per
second by class — the rate between two samples of cumulative counts, drawn as steps, one
line per class and the total — and latency percentiles per interval (p50, p90, p99 and
the longest). Each figure is made on its own (`Figure`, never pyplot and its global
state) and written as SVG text ready to sit inside an HTML page: no XML prolog, no
DOCTYPE or metadata (they name web addresses), text as paths (no font to fetch), a
`viewBox` that scales to the page's width, and ids salted per chart so two charts on
one page never share an id.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from typing import Final

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

# One colour a class (the Okabe-Ito palette, colour-blind safe; the timeline's too).
CLASS_COLOURS: Final = {
    "session": "#0072B2",
    "database": "#56B4E9",
    "document": "#E69F00",
    "mail": "#CC79A7",
    "replication": "#009E73",
    "agent": "#8C6D31",
    "httprequest": "#7F7F7F",
}
_OTHER_COLOURS: Final = ("#D55E00", "#F0E442", "#000000", "#999933", "#882255")
TOTAL_COLOUR: Final = "#1A1A1A"
PERCENTILE_STYLES: Final = {
    "p50": ("#009E73", "-", "p50"),
    "p90": ("#0072B2", "-", "p90"),
    "p99": ("#D55E00", "-", "p99"),
    "max": ("#555555", ":", "longest"),
}
_WIDTH_IN: Final = 9.0
_FEW_INTERVALS: Final = 10  # intervals with a latency up to which each is marked by dots
_HEIGHT_IN: Final = 3.2
# What inline SVG must not carry into a page: the prolog, the DOCTYPE (a web address),
# and matplotlib's RDF metadata (web addresses too).
_PROLOG = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_SIZE = re.compile(r'<svg([^>]*?) width="[^"]*" height="[^"]*"')
_ID = re.compile(r'\b(id)="([^"]+)"')
_URL_REF = re.compile(r"url\(#([^)]+)\)")
_HREF_REF = re.compile(r'\b(xlink:href|href)="#([^"]+)"')


def rates_chart(
    t_s: Sequence[float],
    counts: Mapping[str, Sequence[int]],
    *,
    title: str,
    unit: str = "records/s",
    chart_id: str = "rates",
    time_label: str = "wall time since the start",
) -> str:
    """Per second between samples, by class: `counts[name][i]` is the cumulative count at
    `t_s[i]` seconds. SVG text; a note in the chart when there is no interval to show."""
    figure, axes = _figure(title)
    edges, kept = _intervals(t_s)
    if not kept or not counts:
        _empty(axes, "the run was too short to sample a rate")
        return _svg(figure, chart_id)
    totals = [0.0] * len(kept)
    # The classes in one order on every chart (the known ones first), so a legend reads alike.
    order = {name: place for place, name in enumerate(CLASS_COLOURS)}
    ordered = sorted(counts.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))
    for index, (name, values) in enumerate(ordered):
        rates = [(values[i] - values[j]) / (t_s[i] - t_s[j]) for j, i in kept]
        totals = [a + b for a, b in zip(totals, rates, strict=True)]
        colour = CLASS_COLOURS.get(name, _OTHER_COLOURS[index % len(_OTHER_COLOURS)])
        steps = axes.stairs(rates, edges, color=colour, linewidth=1.6, label=name, baseline=None)
        steps.set_gid(f"{chart_id}-{name}")
    if len(counts) > 1:
        total = axes.stairs(
            totals,
            edges,
            color=TOTAL_COLOUR,
            linewidth=1.0,
            linestyle="--",
            label="total",
            baseline=None,
        )
        total.set_gid(f"{chart_id}-total")
    axes.set_ylabel(unit)
    axes.set_ylim(bottom=0)
    _time_axis(axes, edges[-1], time_label)
    _legend(axes)
    return _svg(figure, chart_id)


def latency_chart(
    t_s: Sequence[float],
    latency_ms: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    chart_id: str = "latency",
) -> str:
    """The percentiles (`p50`, `p90`, `p99`, `max`: ms per interval ending at `t_s[i]`;
    None where nothing was measured) as steps; a log scale when they span two decades."""
    figure, axes = _figure(title)
    edges, kept = _intervals(t_s)
    measured = [
        value
        for name in PERCENTILE_STYLES
        for value in latency_ms.get(name, ())
        if value is not None and value > 0
    ]
    if not kept or not measured:
        _empty(axes, "no latency measured (no frame carried the sent property)")
        return _svg(figure, chart_id)
    measured_at = [
        k
        for k, (_j, i) in enumerate(kept)
        if any(
            (latency_ms.get(name) or [None] * (i + 1))[i] is not None for name in PERCENTILE_STYLES
        )
    ]
    # Each percentile drawn thinner than the one before, over it: where two are equal (a
    # few frames an interval), the lower still shows as an edge around the higher.
    widths = dict(zip(PERCENTILE_STYLES, (4.4, 3.0, 1.6, 1.6), strict=True))
    for name, (colour, style, label) in PERCENTILE_STYLES.items():
        values = latency_ms.get(name)
        if not values:
            continue
        steps = [math.nan if (value := values[i]) is None else float(value) for _j, i in kept]
        line = axes.stairs(
            steps,
            edges,
            color=colour,
            linestyle=style,
            linewidth=widths[name],
            label=label,
            baseline=None,
        )
        line.set_gid(f"{chart_id}-{name}")
        if len(measured_at) <= _FEW_INTERVALS:
            # A few short intervals in a long run are slivers: a dot at each shows them.
            middles = [(edges[k] + edges[k + 1]) / 2 for k in measured_at]
            (dots,) = axes.plot(
                middles, [steps[k] for k in measured_at], "o", color=colour, ms=2 * widths[name] + 1
            )
            dots.set_gid(f"{chart_id}-{name}-dots")
    if max(measured) / min(measured) > 100:
        axes.set_yscale("log")
        axes.set_ylim(top=max(measured) * 1.5)
    else:
        # Headroom: the highest step is not drawn on the frame's edge.
        axes.set_ylim(bottom=0, top=max(measured) * 1.12)
    axes.set_ylabel("publish to commit (ms)")
    _time_axis(axes, edges[-1], "wall time since the start")
    _legend(axes)
    return _svg(figure, chart_id)


def _intervals(t_s: Sequence[float]) -> tuple[list[float], list[tuple[int, int]]]:
    """The edges of the intervals between samples, and each interval as (start sample,
    end sample). An interval less than half as long as the one before it (the last one,
    cut short by the end of the run) is joined to that one: a sliver of time would
    show a rate of a handful of records as a spike."""
    edges: list[float] = []
    kept: list[tuple[int, int]] = []
    start = 0
    for index in range(1, len(t_s)):
        length = t_s[index] - t_s[start]
        if length <= 0:
            continue
        if kept and length < (edges[-1] - edges[-2]) / 2:
            first, _ = kept.pop()
            edges.pop()
            start = first
        if not edges:
            edges.append(t_s[start])
        edges.append(t_s[index])
        kept.append((start, index))
        start = index
    return edges, kept


def _figure(title: str) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(_WIDTH_IN, _HEIGHT_IN), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=11)
    axes.grid(True, color="#DDDDDD", linewidth=0.6)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return figure, axes


def _time_axis(axes: Axes, span_s: float, label: str) -> None:
    """Time from 0 to `span_s`, in seconds, minutes or hours as the span asks."""
    unit, size = ("s", 1.0)
    if span_s > 3 * 3600:
        unit, size = ("h", 3600.0)
    elif span_s > 300:
        unit, size = ("min", 60.0)
    axes.set_xlim(left=0, right=max(span_s, 1e-3))
    axes.xaxis.set_major_formatter(lambda value, _pos: f"{value / size:g}")
    axes.set_xlabel(f"{label} ({unit})")


def _legend(axes: Axes) -> None:
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=9)


def _empty(axes: Axes, note: str) -> None:
    axes.set_xticks([])
    axes.set_yticks([])
    axes.text(0.5, 0.5, note, ha="center", va="center", transform=axes.transAxes, color="#555")


def _svg(figure: Figure, chart_id: str) -> str:
    """The figure as SVG for an HTML page (see the module's docstring)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"billsim-{chart_id}", "svg.fonttype": "path"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, facecolor="white")
    return inline_svg(buffer.getvalue(), chart_id)


def inline_svg(text: str, prefix: str) -> str:
    """An SVG document made fit to sit in an HTML page beside others: no prolog, DOCTYPE
    or metadata; every id (and every reference to one) starting with `prefix`, so two
    pictures never share one (matplotlib numbers `figure_1`, `patch_1` … in each); the
    root's id `prefix` and a `viewBox` that scales to the page's width."""
    text = _METADATA.sub("", _PROLOG.sub("", text))

    def own(ident: str) -> str:
        return ident if ident == prefix or ident.startswith(f"{prefix}-") else f"{prefix}-{ident}"

    text = _ID.sub(lambda m: f'{m.group(1)}="{own(m.group(2))}"', text)
    text = _URL_REF.sub(lambda m: f"url(#{own(m.group(1))})", text)
    text = _HREF_REF.sub(lambda m: f'{m.group(1)}="#{own(m.group(2))}"', text)
    return _SIZE.sub(
        rf'<svg\1 id="{prefix}" class="chart" preserveAspectRatio="xMinYMin meet"',
        text,
        count=1,
    )
