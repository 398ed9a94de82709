"""The timeline as a picture (SVG or PNG): matplotlib, drawn off-screen, nothing global.

`draw_timeline` draws a `Timeline` (verify/timeline.py) on a figure of its own — never
pyplot, whose global state a long-lived process would share — and writes it as SVG or PNG
(the Agg renderer). Rows from the top: a lane per kind of server-task record (mail,
replication, agents, HTTP, charges no open database explains), then a band per session:
its bar from START to END with a tick per STAMP, and under it its databases' open
intervals, OPEN to CLOSE or CLOSE_END, with their DB STAMPs and charged documents.

How much each band shows depends on how many there are, so the picture stays readable:

- a few sessions (`annotated`): a row per database, each labelled with its path, and every
  record named on the picture (START, STAMP, OPEN, CLOSE_END …) — the demo picture;
- up to a few dozen rows (`detailed`): the same rows, without the record names;
- more (`compact`): a strip under each bar whose height is how many of the session's
  databases are open, instead of a row each.

The BillingSuppressTime grid is drawn faintly behind everything, crash intervals as
vertical bands (`draw_crash_bands`), times in the zone given. Each session's bar carries
the SVG id `session-bar-N` (N from 1, top to bottom), so a test can count them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, BinaryIO

import matplotlib
import matplotlib.dates as mdates
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FixedLocator
from matplotlib.transforms import blended_transform_factory

from simulator.scenario.names import common_name
from simulator.verify.timeline import (
    Lane,
    Mark,
    MarkKind,
    SessionBar,
    Timeline,
    open_database_steps,
)
from simulator.wire.text import abbreviate
from simulator.wire.timedate import JDN_OF_UNIX_EPOCH, MICROSECONDS_PER_TICK, TICKS_PER_DAY

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The SVG id of a session's bar; tests count `id="session-bar-`.
SESSION_BAR_ID = "session-bar-{number}"


class PictureFormat(StrEnum):
    SVG = "svg"
    PNG = "png"


def picture_format(path: Path) -> PictureFormat | None:
    """The format a file name asks for by its suffix (.svg, .png), None for any other."""
    try:
        return PictureFormat(path.suffix.lower().removeprefix("."))
    except ValueError:
        return None


class Detail(Enum):
    ANNOTATED = "annotated"
    DETAILED = "detailed"
    COMPACT = "compact"


# Up to this many sessions, each record is named on the picture.
_ANNOTATE_SESSIONS = 4
# A row per database while the picture has at most this many rows and no session more
# databases than this; beyond, the compact strip.
_DETAIL_ROWS = 60
_DETAIL_DATABASES = 8
# The legend's columns; above this many sessions the time axis is shown on top too.
_LEGEND_COLUMNS = 3
_TOP_AXIS_SESSIONS = 40
# Beyond this many grid lines the grid would be a grey wash: it is left out (and said).
_MAX_GRID_LINES = 400

# Colours (colour-blind safe: the Okabe-Ito palette), one meaning each.
SESSION_COLOUR = "#0072B2"
OPEN_ENDED_COLOUR = "#D55E00"
DATABASE_COLOUR = "#56B4E9"
STAMP_COLOUR = "#1A1A1A"
CHARGE_COLOUR = "#E69F00"
MAIL_COLOUR = "#CC79A7"
REPLICATION_COLOUR = "#009E73"
AGENT_COLOUR = "#8C6D31"
HTTP_COLOUR = "#7F7F7F"
ERROR_COLOUR = "#D55E00"
CUSTOM_COLOUR = "#7F7F7F"
GRID_COLOUR = "#C8C8C8"
CRASH_COLOUR = "#D55E00"
LABEL_COLOUR = "#555555"


@dataclass(frozen=True, slots=True)
class _MarkStyle:
    marker: str
    colour: str
    legend: str


_MARK_STYLES: dict[MarkKind, _MarkStyle] = {
    MarkKind.MAIL: _MarkStyle("v", MAIL_COLOUR, "mail (MAILREC)"),
    MarkKind.MAIL_DEAD: _MarkStyle("x", ERROR_COLOUR, "dead mail"),
    MarkKind.MAIL_HOLD: _MarkStyle("1", MAIL_COLOUR, "mail on hold"),
    MarkKind.REPLICATION: _MarkStyle("D", REPLICATION_COLOUR, "replication (REPLREC)"),
    MarkKind.AGENT: _MarkStyle("s", AGENT_COLOUR, "agent run (AGENTREC)"),
    MarkKind.AGENT_WARNINGS: _MarkStyle("s", ERROR_COLOUR, "agent run with warnings"),
    MarkKind.HTTP: _MarkStyle("|", HTTP_COLOUR, "HTTP request (HTTPREQREC)"),
    MarkKind.HTTP_ERROR: _MarkStyle("|", ERROR_COLOUR, "HTTP status 400 and up"),
    MarkKind.CHARGE: _MarkStyle("d", CHARGE_COLOUR, "charged document (DOCUMENT)"),
    MarkKind.CUSTOM: _MarkStyle("o", CUSTOM_COLOUR, "custom record"),
}


@dataclass(frozen=True, slots=True)
class PictureText:
    """The words around the picture: what it is of, and in which zone its times are."""

    title: str
    zone: tzinfo = UTC
    zone_name: str = "UTC"
    subtitle: str = ""  # the settings it was drawn with (BillingSuppressTime, policy)


def draw_timeline(
    timeline: Timeline,
    out: BinaryIO | Path,
    picture: PictureFormat,
    text: PictureText,
) -> None:
    """Draw `timeline` and write it to `out` as SVG or PNG."""
    figure = render_timeline(timeline, text)
    # Fixed salt and no date: the same timeline gives the same SVG, so a picture kept in the
    # repository changes only when what it shows does.
    with matplotlib.rc_context({"svg.hashsalt": "billsim", "svg.fonttype": "path"}):
        figure.savefig(
            out,
            format=picture.value,
            dpi=_dpi(figure),
            metadata={"Date": None} if picture is PictureFormat.SVG else None,
            facecolor="white",
        )


def _dpi(figure: Figure) -> float:
    """Sharp for a small picture; a tall one stays under a few thousand pixels."""
    return 150.0 if figure.get_figheight() <= 12 else 100.0


# -- layout ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    y: float  # centre of the row, in row units from the top
    label: str
    kind: str  # "lane", "session", "database"


@dataclass(frozen=True, slots=True)
class _Geometry:
    """Heights in inches (the plot's y unit is an inch, so text and bars keep their size
    however many rows there are)."""

    detail: Detail
    bar: float  # a session's bar
    db_bar: float  # a database's open intervals; in compact mode the strip
    label_room: float  # above each bar and row, for the records' names (annotated only)
    db_space: float  # above each database row
    session_gap: float  # after each session's band
    lane: float  # a lane of marks
    label_size: float  # points
    db_label_size: float


_GEOMETRY = {
    Detail.ANNOTATED: _Geometry(Detail.ANNOTATED, 0.26, 0.17, 0.2, 0.06, 0.22, 0.3, 10.5, 9.0),
    Detail.DETAILED: _Geometry(Detail.DETAILED, 0.16, 0.1, 0.0, 0.05, 0.12, 0.24, 8.5, 7.5),
    Detail.COMPACT: _Geometry(Detail.COMPACT, 0.075, 0.06, 0.0, 0.01, 0.025, 0.2, 6.5, 6.0),
}
# Compact, but few enough sessions for bigger bars and strips.
_ROOMY_COMPACT = _Geometry(Detail.COMPACT, 0.13, 0.09, 0.0, 0.015, 0.07, 0.24, 8.0, 7.0)
_ROOMY_SESSIONS = 60


def _geometry(timeline: Timeline) -> _Geometry:
    detail = choose_detail(timeline)
    if detail is Detail.COMPACT and len(timeline.sessions) <= _ROOMY_SESSIONS:
        return _ROOMY_COMPACT
    return _GEOMETRY[detail]


def choose_detail(timeline: Timeline) -> Detail:
    """How much each session's band shows (see the module's docstring)."""
    sessions = timeline.sessions
    rows = sum(1 + len(bar.databases) for bar in sessions)
    most = max((len(bar.databases) for bar in sessions), default=0)
    if rows > _DETAIL_ROWS or most > _DETAIL_DATABASES:
        return Detail.COMPACT
    if len(sessions) <= _ANNOTATE_SESSIONS:
        return Detail.ANNOTATED
    return Detail.DETAILED


def session_label(bar: SessionBar, *, with_server: bool) -> str:
    """`Alice Smith/Acme · sid 1.1` (with the server's name in a domain)."""
    label = f"{abbreviate(bar.user)} · sid {bar.sid}"
    return f"{label} @{common_name(bar.server)}" if with_server else label


# -- drawing ---------------------------------------------------------------------------------


class _Painter:
    """One figure being drawn: time conversion, rows and the legend's entries."""

    def __init__(self, timeline: Timeline, text: PictureText) -> None:
        self.timeline = timeline
        self.text = text
        self.geometry = _geometry(timeline)
        self.rows: list[_Row] = []
        # Drawn once for all sessions (one artist each, not one per session): fast at 200.
        self.cuts: list[tuple[tuple[float, float], tuple[float, float]]] = []
        self.strips: list[list[tuple[float, float]]] = []
        self.epoch = date_number(_EPOCH)
        self.legend: dict[str, Any] = {}
        span = max(timeline.last - timeline.first, timeline.suppress)
        self.pad = span * 3 // 100  # ticks of room either side of the records
        # Where bars of sessions with no END stop: a little past the last record, so the
        # open end shows.
        self.open_end = timeline.last + span * 4 // 100
        self.low = min(timeline.first, timeline.grid_origin) - self.pad
        self.high = max(timeline.last, self.open_end) + self.pad
        self.min_label_gap = span * 0.055  # annotations closer than this would overlap
        # The compact strips share one scale, so two sessions' strips compare.
        self.most_open = max(
            (
                count
                for bar in timeline.sessions
                for _, count in open_database_steps(bar, self.open_end)
            ),
            default=0,
        )

    # time: ticks → matplotlib's day numbers (UTC instants; the formatter shows the zone)
    def x(self, ticks: float) -> float:
        # The whole days first, in integers: a float of ticks since Julian day 0 would
        # lose the hundredths (09:15 would read 09:14).
        return (ticks - JDN_OF_UNIX_EPOCH * TICKS_PER_DAY) / TICKS_PER_DAY + self.epoch

    def width(self, ticks: float) -> float:
        return ticks / TICKS_PER_DAY

    def add_legend(self, label: str, handle: Any) -> None:
        self.legend.setdefault(label, handle)

    def flush(self, axes: Axes) -> None:
        """Draw what was gathered for all sessions."""
        if self.strips:
            strips = PolyCollection(self.strips, facecolors=DATABASE_COLOUR, linewidths=0)
            strips.set_zorder(3)
            axes.add_collection(strips)
        if self.cuts:
            cuts = LineCollection(self.cuts, colors="white", linewidths=0.6)
            cuts.set_zorder(5)
            axes.add_collection(cuts)


def render_timeline(timeline: Timeline, text: PictureText) -> Figure:
    """The figure of `timeline`, not yet written anywhere."""
    painter = _Painter(timeline, text)
    geometry = painter.geometry
    y = 0.12
    lane_rows: list[tuple[Lane, tuple[Mark, ...], float]] = []
    for lane, marks in timeline.lanes:
        lane_y = y + geometry.lane / 2
        painter.rows.append(_Row(lane_y, f"{lane.value} ({len(marks):,})", "lane"))
        lane_rows.append((lane, marks, lane_y))
        y += geometry.lane
    lanes_end = y
    if timeline.lanes:
        y += 0.12 + geometry.label_room / 2
    session_rows: list[tuple[int, SessionBar, float, list[float]]] = []
    with_server = len(timeline.servers) > 1
    for number, bar in enumerate(timeline.sessions, 1):
        y += geometry.label_room
        bar_y = y + geometry.bar / 2
        y += geometry.bar
        painter.rows.append(_Row(bar_y, session_label(bar, with_server=with_server), "session"))
        db_ys: list[float] = []
        if geometry.detail is Detail.COMPACT:
            if painter.most_open:  # room for the strips, when any session has a database
                y += geometry.db_space + geometry.db_bar
        else:
            for row in bar.databases:
                y += geometry.db_space + geometry.label_room * 0.95
                db_ys.append(y + geometry.db_bar / 2)
                painter.rows.append(_Row(y + geometry.db_bar / 2, row.name, "database"))
                y += geometry.db_bar
        y += geometry.session_gap
        session_rows.append((number, bar, bar_y, db_ys))
    plot_inches = max(y, 0.5)

    width = 13.0 if geometry.detail is Detail.COMPACT else 12.0
    figure = Figure(figsize=(width, plot_inches + 3), layout=None)
    axes = figure.add_axes((0.2, 0.2, 0.7, 0.6))  # placed below, once the legend is known
    axes.set_ylim(plot_inches, 0)
    axes.set_xlim(painter.x(painter.low), painter.x(painter.high))
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)

    grid_note = _draw_grid(axes, painter)
    if timeline.lanes:
        axes.axhline(lanes_end + 0.06, color=GRID_COLOUR, linewidth=0.8, zorder=1)
    for lane, marks, lane_y in lane_rows:
        _draw_lane(axes, painter, lane, marks, lane_y)
    for number, bar, bar_y, db_ys in session_rows:
        _draw_session(axes, painter, number, bar, bar_y, db_ys)
    painter.flush(axes)
    draw_crash_bands(
        axes,
        [(_datetime(start), _datetime(end)) for start, end in timeline.crashes],
        on_legend=painter.add_legend,
    )
    _draw_labels(axes, painter)
    _format_time_axis(axes, painter)

    # Inches from the top: title and facts, the plot, the time axis, the legend.
    top_inches = 0.95 if not timeline.hidden else 1.2
    if len(timeline.sessions) > _TOP_AXIS_SESSIONS:
        top_inches += 0.3  # the time axis is repeated above a tall plot
    legend_rows = math.ceil(len(painter.legend) / _LEGEND_COLUMNS)
    legend_inches = 0.2 + 0.22 * legend_rows
    axis_inches = 0.55
    height = top_inches + plot_inches + axis_inches + legend_inches
    figure.set_size_inches(width, height)
    left = (_label_inches(painter.rows, geometry) + 0.3) / width
    axes.set_position(
        (
            left,
            (axis_inches + legend_inches) / height,
            1 - left - 0.35 / width,
            plot_inches / height,
        )
    )
    _draw_titles(figure, painter, height, grid_note)
    _draw_legend(figure, painter)
    return figure


def date_number(moment: datetime) -> float:
    """matplotlib's number for an instant (days since its epoch)."""
    return float(mdates.date2num(moment))  # type: ignore[no-untyped-call]  # untyped module


def _label_inches(rows: Sequence[_Row], geometry: _Geometry) -> float:
    """Room for the longest row label, from its length and font size (no renderer needed)."""
    widest = 0.0
    for row in rows:
        size = geometry.db_label_size if row.kind == "database" else geometry.label_size
        widest = max(widest, len(row.label) * size * 0.56 / 72)
    return min(max(widest, 1.0), 4.0)


def _datetime(ticks: int) -> datetime:
    micros = (ticks - JDN_OF_UNIX_EPOCH * TICKS_PER_DAY) * MICROSECONDS_PER_TICK
    return _EPOCH + timedelta(microseconds=micros)


def draw_crash_bands(
    axes: Axes,
    crashes: Sequence[tuple[datetime, datetime]],
    *,
    on_legend: Callable[[str, Any], None] | None = None,
) -> None:
    """A vertical band for each (start, end) interval the server was down: from the crash
    to the restart. The hook for crash faults (`crash: {at, restart_after}`) and for the
    restarts a checker finds in a stream."""
    for number, (start, end) in enumerate(crashes, 1):
        band = axes.axvspan(
            date_number(start),
            date_number(end),
            color=CRASH_COLOUR,
            alpha=0.13,
            linewidth=0,
            zorder=0.5,
        )
        band.set_gid(f"crash-{number}")
    if crashes and on_legend is not None:
        on_legend("server down (crash to restart)", Patch(color=CRASH_COLOUR, alpha=0.2))


def _draw_grid(axes: Axes, painter: _Painter) -> str:
    """Faint lines every BillingSuppressTime from the grid's origin; a note if left out."""
    timeline = painter.timeline
    step = timeline.suppress
    start = timeline.grid_origin
    low, high = painter.low, painter.high
    first = start + math.ceil((low - start) / step) * step
    count = int((high - first) // step) + 1
    minutes = step // 6000
    if count > _MAX_GRID_LINES:
        return f"the {minutes}-minute grid is left out at this span"
    xs = [painter.x(first + i * step) for i in range(count)]
    axes.vlines(
        xs,
        0,
        1,
        transform=axes.get_xaxis_transform(),
        colors=GRID_COLOUR,
        linewidths=0.7,
        linestyles=(0, (2, 3)),
        zorder=0,
        gid="suppress-grid",
    )
    painter.add_legend(
        f"BillingSuppressTime grid ({minutes} min)",
        Line2D([], [], color=GRID_COLOUR, linewidth=1, linestyle=(0, (2, 3))),
    )
    return ""


def _draw_lane(
    axes: Axes, painter: _Painter, lane: Lane, marks: Sequence[Mark], lane_y: float
) -> None:
    by_kind: dict[MarkKind, list[Mark]] = {}
    for mark in marks:
        by_kind.setdefault(mark.kind, []).append(mark)
    dense = len(marks) > 200
    for kind, group in by_kind.items():
        style = _MARK_STYLES[kind]
        spans = [(painter.x(m.at - m.span), painter.width(m.span)) for m in group if m.span]
        if spans:
            axes.broken_barh(
                spans,
                (lane_y - 0.18, 0.36),
                facecolors=style.colour,
                alpha=0.45,
                linewidth=0,
                zorder=2,
            )
        axes.scatter(
            [painter.x(m.at) for m in group],
            [lane_y] * len(group),
            marker=style.marker,
            s=14 if dense else 36,
            c=style.colour,
            alpha=0.55 if dense else 0.95,
            linewidths=1.0 if style.marker in "|1x" else 0.3,
            edgecolors="white" if style.marker not in "|1x" else None,
            zorder=3,
            gid=f"lane-{lane.name.lower()}-{kind.value}",
        )
        painter.add_legend(style.legend, _marker_handle(style))


def _marker_handle(style: _MarkStyle) -> Line2D:
    return Line2D(
        [],
        [],
        linestyle="none",
        marker=style.marker,
        color=style.colour,
        markersize=7,
        markeredgewidth=1.2 if style.marker in "|1x" else 0.5,
    )


def _draw_session(
    axes: Axes,
    painter: _Painter,
    number: int,
    bar: SessionBar,
    bar_y: float,
    db_ys: Sequence[float],
) -> None:
    geometry = painter.geometry
    half = geometry.bar / 2
    end = bar.end if bar.end is not None else painter.open_end
    if bar.end is None and bar.cut_at is not None:
        end = bar.cut_at  # cut by a crash: it stops where the server went down
    colour = SESSION_COLOUR
    rect = Rectangle(
        (painter.x(bar.start), bar_y - half),
        painter.width(max(end - bar.start, 1)),
        geometry.bar,
        facecolor=colour if bar.session_records else "white",
        edgecolor=colour,
        linewidth=0.8 if bar.session_records else 1.2,
        linestyle="solid" if bar.session_records else (0, (3, 2)),
        zorder=4,
        gid=SESSION_BAR_ID.format(number=number),
    )
    axes.add_patch(rect)
    if bar.session_records:
        painter.add_legend("session, START to END (SESSIONREC)", Patch(color=colour))
    else:
        painter.add_legend(
            "session known by its DBRECs only (no SESSIONREC)",
            Patch(facecolor="white", edgecolor=colour, linestyle=(0, (3, 2))),
        )
    if bar.stamps and geometry.detail is Detail.COMPACT:
        # Thin pale cuts across the bar: a day of stamps every 15 minutes must not turn
        # the bar black. Drawn for all sessions at once (`_Painter.flush`).
        painter.cuts += [((x, bar_y - half), (x, bar_y + half)) for x in map(painter.x, bar.stamps)]
        painter.add_legend(
            "STAMP (a pale cut across the bar)",
            Line2D(
                [],
                [],
                color=SESSION_COLOUR,
                linewidth=0,
                marker="|",
                markersize=10,
                markeredgewidth=1.6,
            ),
        )
    elif bar.stamps:
        axes.vlines(
            [painter.x(t) for t in bar.stamps],
            bar_y - half * 1.3,
            bar_y + half * 1.3,
            colors=STAMP_COLOUR,
            linewidths=1.6,
            zorder=5,
        )
        painter.add_legend(
            "STAMP",
            Line2D(
                [],
                [],
                color=STAMP_COLOUR,
                linewidth=0,
                marker="|",
                markersize=10,
                markeredgewidth=1.6,
            ),
        )
    if bar.charges:  # charged documents of a stream without DBRECs: on the bar itself
        style = _MARK_STYLES[MarkKind.CHARGE]
        axes.scatter(
            [painter.x(m.at) for m in bar.charges],
            [bar_y] * len(bar.charges),
            marker=style.marker,
            s=60 if geometry.detail is not Detail.COMPACT else 18,
            c=style.colour,
            edgecolors=STAMP_COLOUR,
            linewidths=0.6,
            zorder=7,
        )
        painter.add_legend(style.legend, _marker_handle(style))
    if bar.end is None:
        # No END: after its last record the bar fades out (hatched) to an arrow head past
        # the stream's last record; whatever happened there, the stream does not say.
        seen = bar.last if bar.last is not None else bar.start
        axes.add_patch(
            Rectangle(
                (painter.x(seen), bar_y - half),
                painter.width(max(end - seen, 1)),
                geometry.bar,
                facecolor="white",
                edgecolor=colour,
                hatch="////",
                linewidth=0.8,
                zorder=4.5,
            )
        )
        (arrow,) = axes.plot(
            [painter.x(end)],
            [bar_y],
            marker=">",
            markersize=7 if geometry.detail is not Detail.COMPACT else 4.5,
            color=OPEN_ENDED_COLOUR,
            zorder=6,
        )
        arrow.set_gid(f"open-end-{number}")
        painter.add_legend(
            "no END: hatched after its last record",
            (
                Patch(facecolor="white", edgecolor=colour, hatch="////"),
                Line2D([], [], linestyle="none", marker=">", markersize=7, color=OPEN_ENDED_COLOUR),
            ),
        )
    if not bar.started and bar.session_records:
        axes.plot(
            [painter.x(bar.start)],
            [bar_y],
            marker="<",
            markersize=7 if geometry.detail is not Detail.COMPACT else 4.5,
            color=OPEN_ENDED_COLOUR,
            zorder=6,
        )
        painter.add_legend(
            "no START in the stream",
            Line2D([], [], linestyle="none", marker="<", markersize=7, color=OPEN_ENDED_COLOUR),
        )
    if geometry.detail is Detail.ANNOTATED and bar.session_records:
        events: list[tuple[int, str, str | None]] = [
            (bar.start, "START", None)
            if bar.started
            else (bar.start, "no START", OPEN_ENDED_COLOUR)
        ]
        events += [(t, "STAMP", None) for t in bar.stamps]
        if bar.end is not None:
            events.append((end, "END", None))
        elif bar.cut_at is not None:
            # Beside its arrow, in the crash's band: the STAMP or START above stays black.
            axes.annotate(
                "no END (crash)",
                (painter.x(end), bar_y),
                xytext=(8, 0),
                textcoords="offset points",
                ha="left",
                va="center",
                fontsize=8,
                color=OPEN_ENDED_COLOUR,
                zorder=8,
            )
        else:
            events.append((end, "no END", OPEN_ENDED_COLOUR))
        _annotate(axes, painter, events, bar_y - half * 1.5, colour=STAMP_COLOUR)
    if geometry.detail is Detail.COMPACT:
        _draw_database_strip(axes, painter, bar, bar_y + half + geometry.db_space, geometry.db_bar)
        return
    for row, row_y in zip(bar.databases, db_ys, strict=True):
        db_half = geometry.db_bar / 2
        spans = []
        for interval in row.intervals:
            stop = interval.end if interval.end is not None else end
            spans.append((painter.x(interval.start), painter.width(max(stop - interval.start, 1))))
        if spans:
            axes.broken_barh(
                spans,
                (row_y - db_half, geometry.db_bar),
                facecolors=DATABASE_COLOUR,
                edgecolors=SESSION_COLOUR,
                linewidth=0.5,
                zorder=4,
                gid=f"db-{number}-{row.name}",
            )
            painter.add_legend(
                "database open, OPEN to CLOSE (DBREC)",
                Patch(facecolor=DATABASE_COLOUR, edgecolor=SESSION_COLOUR),
            )
        stamps = [t for interval in row.intervals for t in interval.stamps]
        if stamps:
            axes.vlines(
                [painter.x(t) for t in stamps],
                row_y - db_half * 1.5,
                row_y + db_half * 1.5,
                colors=STAMP_COLOUR,
                linewidths=1.3,
                zorder=5,
            )
        if row.close_end is not None:
            axes.plot(
                [painter.x(row.close_end)],
                [row_y],
                marker="s",
                markersize=4.5,
                color=SESSION_COLOUR,
                zorder=6,
            )
            painter.add_legend(
                "CLOSE_END (DBREC, at the session's end)",
                Line2D([], [], linestyle="none", marker="s", markersize=5, color=SESSION_COLOUR),
            )
        if row.charges:
            style = _MARK_STYLES[MarkKind.CHARGE]
            axes.scatter(
                [painter.x(m.at) for m in row.charges],
                [row_y] * len(row.charges),
                marker=style.marker,
                s=60,
                c=style.colour,
                edgecolors=STAMP_COLOUR,
                linewidths=0.6,
                zorder=7,
            )
            painter.add_legend(style.legend, _marker_handle(style))
            if geometry.detail is Detail.ANNOTATED:
                for mark in row.charges:  # beside its diamond, inside the interval
                    axes.annotate(
                        mark.label,
                        (painter.x(mark.at), row_y),
                        xytext=(7, 0),
                        textcoords="offset points",
                        ha="left",
                        va="center",
                        fontsize=7.5,
                        color=STAMP_COLOUR,
                        zorder=8,
                    )
        if geometry.detail is Detail.ANNOTATED:
            db_events: list[tuple[int, str, str | None]] = []
            for interval in row.intervals:
                db_events.append((interval.start, "OPEN", None))
                db_events += [(t, "STAMP", None) for t in interval.stamps]
                if interval.closed_by == "CLOSE" and interval.end is not None:
                    db_events.append((interval.end, "CLOSE", None))
            if row.close_end is not None:
                db_events.append((row.close_end, "CLOSE_END", None))
            _annotate(
                axes, painter, db_events, row_y - db_half * 1.55, colour=LABEL_COLOUR, size=7.5
            )


def _annotate(
    axes: Axes,
    painter: _Painter,
    events: list[tuple[int, str, str | None]],
    y: float,
    *,
    colour: str,
    size: float = 8.0,
) -> None:
    """The records' names just above a row, centred on their times; records of one instant
    share a label (`STAMP, END`), and one that would touch the previous name on the row is
    moved up a line, so no two overlap."""
    merged: dict[int, tuple[str, str | None]] = {}
    for at, name, own_colour in sorted(events, key=lambda e: e[0]):
        before, before_colour = merged.get(at, ("", None))
        merged[at] = (f"{before}, {name}" if before else name, before_colour or own_colour)
    last_x: list[float] = []  # per line: where the last name ended (ticks)
    for at, (name, own_colour) in merged.items():
        half_width = painter.min_label_gap * max(len(name), 5) / 10
        line = 0
        while line < len(last_x) and at - half_width < last_x[line]:
            line += 1
        if line == len(last_x):
            last_x.append(at + half_width)
        else:
            last_x[line] = at + half_width
        axes.annotate(
            name,
            (painter.x(at), y),
            xytext=(0, 1 + line * (size + 1)),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=size,
            color=own_colour or colour,
            zorder=8,
        )


def _draw_database_strip(
    axes: Axes, painter: _Painter, bar: SessionBar, top: float, height: float
) -> None:
    """How many databases the session has open, as a step area under its bar."""
    steps = open_database_steps(bar, bar.cut_at or painter.open_end)
    most = max((count for _, count in steps), default=0)
    if not most or height <= 0:
        return
    scale = painter.most_open
    # The step outline, closed along the strip's top edge; drawn with the others at once.
    outline: list[tuple[float, float]] = [(painter.x(steps[0][0]), top)]
    level = top
    for at, count in steps:
        x = painter.x(at)
        outline += [(x, level), (x, top + height * count / scale)]
        level = top + height * count / scale
    painter.strips.append(outline)
    painter.add_legend("databases open (strip height: how many)", Patch(color=DATABASE_COLOUR))


def _draw_labels(axes: Axes, painter: _Painter) -> None:
    """Each row's name left of the plot: plain texts, far cheaper than 200 tick labels."""
    geometry = painter.geometry
    axes.set_yticks([])
    beside = blended_transform_factory(axes.transAxes, axes.transData)
    for row in painter.rows:
        style: dict[str, Any] = {"fontsize": geometry.label_size}
        if row.kind == "database":
            style = {"fontsize": geometry.db_label_size, "color": LABEL_COLOUR}
        elif row.kind == "lane":
            style["fontstyle"] = "italic"
        elif geometry.detail is not Detail.COMPACT:
            style["fontweight"] = "bold"
        axes.text(-0.008, row.y, row.label, transform=beside, ha="right", va="center", **style)


def _format_time_axis(axes: Axes, painter: _Painter) -> None:
    timeline = painter.timeline
    zone = painter.text.zone
    span_ticks = timeline.last - timeline.first
    lines = span_ticks / timeline.suppress
    origin = _datetime(timeline.grid_origin).astimezone(zone)
    minutes = timeline.suppress_minutes
    # The labels sit on the grid when it falls on round times (09:00, 09:15 …) — the
    # STAMP boundaries of a session that starts on one — else where matplotlib likes.
    round_grid = not origin.second and not origin.microsecond and not origin.minute % minutes
    if lines <= 12 and round_grid:
        # Ticks on the grid: the STAMP boundaries are where the labels are.
        step = timeline.suppress
        start = timeline.grid_origin
        first = start + math.ceil((painter.low - start) / step) * step
        ticks = [painter.x(t) for t in range(first, painter.high + 1, step)]
        axes.xaxis.set_major_locator(FixedLocator(ticks))
        # matplotlib.dates has no type hints: its calls are unchecked here.
        formatter = mdates.DateFormatter("%H:%M", tz=zone)  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_formatter(formatter)
    else:
        locator = mdates.AutoDateLocator(tz=zone, minticks=6, maxticks=14)  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_locator(locator)
        concise = mdates.ConciseDateFormatter(locator, tz=zone, show_offset=False)  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_formatter(concise)
    axes.tick_params(axis="x", labelsize=9)
    if len(timeline.sessions) > _TOP_AXIS_SESSIONS:
        axes.tick_params(axis="x", labeltop=True, top=True)
    first_day = _datetime(timeline.first).astimezone(zone).date()
    last_day = _datetime(timeline.last).astimezone(zone).date()
    days = first_day.isoformat()
    if last_day != first_day:
        days += f" to {last_day.isoformat()}"
    axes.set_xlabel(f"{days}, {painter.text.zone_name}", fontsize=9, color=LABEL_COLOUR)


def _draw_titles(figure: Figure, painter: _Painter, height: float, grid_note: str) -> None:
    timeline = painter.timeline
    figure.text(
        0.012,
        1 - 0.22 / height,
        painter.text.title,
        fontsize=14,
        fontweight="bold",
        va="top",
        ha="left",
    )
    sessions = timeline.total_sessions
    facts = [
        f"{timeline.frames:,} record{'s' if timeline.frames != 1 else ''}",
        f"{sessions:,} session{'s' if sessions != 1 else ''}",
    ]
    if painter.text.subtitle:
        facts.append(painter.text.subtitle)
    if grid_note:
        facts.append(grid_note)
    figure.text(
        0.012,
        1 - 0.6 / height,
        " · ".join(facts),
        fontsize=9.5,
        color=LABEL_COLOUR,
        va="top",
        ha="left",
    )
    if timeline.hidden:
        figure.text(
            0.012,
            1 - 0.92 / height,
            f"Showing the {len(timeline.sessions):,} busiest sessions (most records) of "
            f"{sessions:,}; {timeline.hidden:,} more are left out (--busiest N to change).",
            fontsize=9.5,
            color=OPEN_ENDED_COLOUR,
            fontstyle="italic",
            va="top",
            ha="left",
            gid="busiest-note",
        )


def _draw_legend(figure: Figure, painter: _Painter) -> None:
    if not painter.legend:
        return
    handles = list(painter.legend.values())
    labels = list(painter.legend)
    columns = min(_LEGEND_COLUMNS, len(handles))
    figure.legend(
        handles,
        labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=columns,
        fontsize=8.5,
        frameon=False,
        handlelength=1.6,
        columnspacing=2.0,
        borderaxespad=0.6,
    )
