"""What the HTML run report shows, from what billsim wrote (docs/cli.md, "The HTML report").

The report is made of parts, each from one source, put together by the command asked:

- the verdict, from a `verify` result (`verify --result FILE`, `--format json`): passed
  or failed, its verdict line, the thresholds, and the differing users and fields;
- the run, from a run summary: the figures, records by class and type, records per
  second over time by class (the summary's `series`), the servers of a domain, the
  faults it injected and the ground truth per user;
- the add-in, from its summary: what it stored, per store, the publish-to-commit
  latency, frames stored per second and latency percentiles over time;
- the store, from its rows: the bill per user and the records by class over time;
- the timeline, from frames (`TimelineSource`), as `billsim timeline` draws it
  (commands/timeline.py).

`run --report`, `addin --report` and `report STORE --format html` each call
`build_report` with what they have, and `write_report` writes the page, drawn by
adapters/report_html.py with the charts of adapters/charts.py.
"""

from __future__ import annotations

import io
import shlex
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO

from simulator import __version__
from simulator.adapters.charts import inline_svg, latency_chart, rates_chart
from simulator.adapters.pictures import PictureFormat, draw_timeline
from simulator.adapters.report_html import (
    Block,
    Note,
    Picture,
    Report,
    Section,
    Table,
    Verdict,
    render_html,
)
from simulator.addin.bill import Totals
from simulator.commands.run import RunRequest
from simulator.commands.summary import USER_HEADERS
from simulator.commands.timeline import TimelineRequest, timeline_of
from simulator.domino.server import BILL_FIELDS
from simulator.errors import InputError
from simulator.scenario.durations import format_duration
from simulator.verify.jsonfile import load_json
from simulator.wire import constants as c
from simulator.wire.layout import Layout
from simulator.wire.records import BUILTIN_KINDS

USERS_SHOWN: Final = 100
"""Users in a table at most: a generated population can have a million."""
DIFFERENCES_SHOWN: Final = 200
FAULTS_SHOWN: Final = 50
_STORE_BUCKETS: Final = 120  # intervals of a store's records-over-time chart
# The add-in commits every 50 ms or so: finer intervals of receipt times show its batches.
_MIN_RECEIVED_BUCKET_S: Final = 0.5
# Sections of a row per user go last: long, and read after the figures.
_LAST: Final = ("store-bill", "ground-truth")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_KIND_CLASSES: Final = {
    kind.struct_type: c.CLASS_TOPIC_NAME[kind.bill_class] for kind in BUILTIN_KINDS
}


# -- the parts' sources ----------------------------------------------------------------------


def read_json_file(path: Path | str, option: str) -> dict[str, Any]:
    """A JSON object billsim wrote (a summary, a verify result); InputError naming the file."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(error.strerror or str(error), file=where, field=option) from None
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text ({error.reason})", file=where, field=option) from None
    document = load_json(text, where)
    if not isinstance(document, dict):
        raise InputError("not a JSON object", file=where, line=1, field=option)
    return document


@dataclass(frozen=True)
class TimelineSource:
    """Where the report's timeline comes from: frames as bytes (what the add-in
    committed first), a frame file (`nbf:` store, `run --out`), or a scenario run again in
    memory as `billsim timeline` runs it (same seed, the run's virtual span)."""

    frames: Sequence[bytes] = ()
    frames_cut: bool = False  # the frames are the first of more
    frames_title: str = "frames"  # what the picture's title calls `frames`
    # The scenario `frames` or `frame_file` were run from (BillingSuppressTime, database
    # paths), and how its command is given one (None: no way, the settings are assumed).
    frames_scenario: str | None = None
    scenario_hint: str | None = None
    frame_file: str | None = None
    scenario: str | None = None
    seed: int | None = None
    duration_s: float | None = None
    notes_ini: Path | None = None
    records: int = 0
    layout: Layout = Layout.LINUX_X86_64
    faults: tuple[str, ...] = ()  # the run's --fault options, over the scenario's faults:


@dataclass
class StoreContent:
    """What a store holds, for the report: its URL, its bill per user, its rows."""

    url: str
    totals: Mapping[str, Totals]
    rows: Mapping[str, Sequence[Mapping[str, Any]]]
    by: str = "user"  # whom the totals are for: user, database or server


@dataclass
class ReportParts:
    """Everything one report shows; a part that is None is left out."""

    title: str
    verify: dict[str, Any] | None = None
    store: StoreContent | None = None
    run: dict[str, Any] | None = None
    addin: dict[str, Any] | None = None
    timeline: TimelineSource | None = None
    sources: list[str] = field(default_factory=list)  # named in the footer


def build_report(parts: ReportParts) -> Report:
    sections: list[Section] = []
    if parts.store is not None:
        sections += store_sections(parts.store)
    if parts.run is not None:
        sections += run_sections(parts.run)
    if parts.addin is not None:
        sections += addin_sections(parts.addin)
    sections.append(timeline_section(parts.timeline))
    sections.sort(key=lambda section: section.section_id in _LAST)
    subtitle = ", ".join(parts.sources)
    return Report(
        title=parts.title,
        subtitle=subtitle,
        verdict=None if parts.verify is None else verdict_of(parts.verify),
        sections=sections,
        footer=f"billsim {__version__}: made {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    )


def write_report(path: Path, parts: ReportParts) -> None:
    """Write the report page to `path`; InputError naming it if it cannot be written."""
    page = render_html(build_report(parts))
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as error:
        raise InputError(error.strerror or str(error), file=str(path)) from None


def write_run_report(request: RunRequest, summary: dict[str, Any], stderr: TextIO) -> None:
    """`run --report`: the run's HTML report; its timeline is the scenario run again."""
    assert request.report_path is not None
    timeline = TimelineSource(
        scenario=request.scenario,
        seed=summary.get("seed"),
        duration_s=summary.get("virtual_span_s"),
        notes_ini=request.notes_ini,
        records=int(summary.get("records", 0)),
        layout=request.layout,
        faults=request.faults,  # the faults the run injected: a crash is a band
    )
    parts = ReportParts(
        title=f"billsim run: {summary.get('scenario')}",
        run=summary,
        timeline=timeline,
        sources=[f"run of {request.scenario}"],
    )
    write_report(request.report_path, parts)
    stderr.write(f"billsim: report written to {request.report_path}\n")


def check_writable(path: Path, option: str) -> None:
    """Before a run: a report path whose folder is not there is bad input at once, not an
    error after the whole run."""
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"the report is an HTML file (.html), not {path.name!r}", field=option)
    if not path.parent.is_dir():
        raise InputError("no such folder", file=str(path.parent), field=option)


# -- the verdict -------------------------------------------------------------------------------


def verdict_of(result: Mapping[str, Any]) -> Verdict:
    """The verdict of a `verify` result: what failed first, then the tables."""
    lines: list[str] = []
    blocks: list[Block] = []
    missed = list(result.get("thresholds_missed", ()))
    differences = list(result.get("differences", ()))
    thresholds = list(result.get("thresholds", ()))
    for check in thresholds:
        if not check.get("met", True):
            lines.append(
                f"threshold {check.get('name')} missed: {check.get('figure')} "
                f"{_threshold_value(check.get('actual'), check.get('unit', ''), check)}, "
                f"at most {_threshold_value(check.get('limit'), check.get('unit', ''), check)}"
            )
    users = sorted({str(d.get("user")) for d in differences})
    if differences:
        shown = ", ".join(users[:10]) + (f" and {len(users) - 10} more" if len(users) > 10 else "")
        lines.append(f"{len(differences)} differences no injected fault explains, in {shown}")
    for side, label in (
        ("missing_from_actual", "missing from the consumer's bill"),
        ("missing_from_expected", "not in the ground truth"),
    ):
        names = list(result.get(side, ()))
        if names:
            lines.append(f"{len(names)} users {label}: " + ", ".join(map(str, names[:10])))
    for entry in result.get("seq", ()):
        if entry.get("missing") or entry.get("duplicated"):
            lines.append(
                f"{entry.get('server')} run {entry.get('run')}: "
                f"{len(entry.get('missing', ()))} seq missing, "
                f"{len(entry.get('duplicated', ()))} stored twice"
            )
    if thresholds:
        blocks.append(
            Table(
                ("", "threshold", "figure", "measured", "limit"),
                [
                    (
                        "met" if check.get("met") else "MISSED",
                        str(check.get("name")),
                        str(check.get("figure")),
                        _threshold_value(check.get("actual"), check.get("unit", ""), check),
                        _threshold_value(check.get("limit"), check.get("unit", ""), check),
                    )
                    for check in thresholds
                ],
                caption=f"thresholds against {result.get('addin_summary')}",
                numeric_from=3,
                table_id="thresholds",
            )
        )
    if differences:
        blocks.append(
            _differences_table(differences, "differences no injected fault explains", "differences")
        )
    explained = list(result.get("explained", ()))
    if explained:
        blocks.append(
            _differences_table(explained, "differences the injected faults explain", "explained")
        )
    headline = str(result.get("verdict", ""))
    if missed:
        headline += f"; thresholds missed: {', '.join(map(str, missed))}"
    return Verdict(bool(result.get("passed")), headline, lines, blocks)


def _differences_table(entries: Sequence[Mapping[str, Any]], caption: str, ident: str) -> Table:
    rows = [
        (
            str(d.get("user")),
            str(d.get("field")),
            _amount(d.get("expected")),
            _amount(d.get("actual")),
            _amount(d.get("difference"), signed=True),
        )
        for d in entries[:DIFFERENCES_SHOWN]
    ]
    hidden = len(entries) - len(rows)
    return Table(
        ("user", "field", "expected", "actual", "difference"),
        rows,
        caption=caption,
        numeric_from=2,
        note=f"… and {hidden:,} more (the verify result lists every one)" if hidden > 0 else "",
        table_id=ident,
    )


def _threshold_value(value: Any, unit: str, check: Mapping[str, Any]) -> str:
    if value is None:
        return str(check.get("note") or "-")
    number = float(value)
    if unit != "ms":
        return f"{number:,.0f}"
    if number >= 1000:
        return f"{number / 1000:,.3f}".rstrip("0").rstrip(".") + " s"
    return f"{number:,.1f}".rstrip("0").rstrip(".") + " ms"


def _amount(value: object, *, signed: bool = False) -> str:
    if isinstance(value, float):
        text = f"{value:,.6f}".rstrip("0").rstrip(".")
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        return str(value)
    return ("+" if signed and value > 0 else "") + text


# -- the run -----------------------------------------------------------------------------------


def run_sections(summary: Mapping[str, Any]) -> list[Section]:
    servers = summary.get("servers")
    figures: list[tuple[str, str]] = [
        ("scenario", str(summary.get("scenario", ""))),
        ("server", str(summary.get("server", ""))),
        ("run", str(summary.get("run", "")) if summary.get("run") else ""),
        ("seed", str(summary.get("seed", ""))),
        ("speed", str(summary.get("speed", ""))),
        ("virtual time", f"{summary.get('virtual_start', '')} .. {summary.get('virtual_end', '')}"),
        ("virtual span", _seconds_text(summary.get("virtual_span_s"))),
        ("wall time", _seconds_text(summary.get("wall_time_s"))),
        ("records", _count(summary.get("records"))),
        ("rate", f"{_count(summary.get('rate_per_s'))} records/s"),
        ("delivered", _count(summary.get("delivered"))),
        ("undelivered", _count(summary.get("undelivered"))),
        ("dropped", _count(summary.get("dropped"))),
        ("abandoned tasks", _count(summary.get("abandoned_tasks"))),
        (
            "sessions",
            f"{_count(summary.get('sessions_started'))} "
            f"(peak {_count(summary.get('peak_sessions'))})",
        ),
        ("queue high water", _count((summary.get("queue") or {}).get("high_water"))),
    ]
    blocks: list[Block] = [
        Table(
            (),
            [(k, v) for k, v in figures if v and v != "-"],
            caption="the run",
            numeric_from=2,
            table_id="run-figures",
        ),
    ]
    by_class = summary.get("records_by_class") or {}
    total = sum(by_class.values()) or 1
    blocks.append(
        Table(
            ("class", "records", "share"),
            [(name, _count(n), _share(n, total)) for name, n in by_class.items()],
            caption="records written by class",
            table_id="records-by-class",
        )
    )
    by_type = summary.get("records_by_type") or {}
    blocks.append(
        Table(
            ("struct", "detail", "records"),
            [
                (kind, detail, _count(n))
                for kind, details in by_type.items()
                for detail, n in details.items()
            ],
            caption="records written by type",
            numeric_from=2,
            table_id="records-by-type",
        )
    )
    series = summary.get("series")
    if isinstance(series, dict) and series.get("t_s"):
        blocks.append(
            Picture(
                rates_chart(
                    series["t_s"],
                    series.get("records_by_class", {}),
                    title="records written per second, by class",
                    chart_id="run-rates",
                ),
                "Records written into MQ$BILLING per second of wall time, between samples "
                "of the run's counters.",
                "run-rates-chart",
            )
        )
    else:
        blocks.append(Note("No records-over-time series in this summary."))
    sections = [Section("The run", "run", blocks)]
    if isinstance(servers, dict) and servers:
        sections.append(Section("Servers", "servers", [_servers_table(servers)]))
    faults = _faults(summary)
    if faults:
        sections.append(Section("Injected faults", "faults", [faults]))
    sections.append(
        Section(
            "Ground truth per user",
            "ground-truth",
            [_users_table(summary.get("users") or {}, "users-truth")],
        )
    )
    return sections


def _servers_table(servers: Mapping[str, Mapping[str, Any]]) -> Table:
    return Table(
        ("server", "records", "sessions", "users", "wall time"),
        [
            (
                name,
                _count(s.get("records")),
                _count(s.get("sessions_started")),
                _count(len(s.get("users") or {})),
                _seconds_text(s.get("wall_time_s")),
            )
            for name, s in servers.items()
        ],
        caption="each server of the domain",
        table_id="servers",
    )


def _faults(summary: Mapping[str, Any]) -> Table | None:
    faults = summary.get("faults")
    if not isinstance(faults, list) or not faults:
        return None
    rows = []
    for number, fault in enumerate(faults[:FAULTS_SHOWN], start=1):
        if not isinstance(fault, dict):
            continue
        seq = fault.get("seq") or []
        rows.append(
            (
                str(number),
                str(fault.get("fault")),
                str(fault.get("server")),
                _count(len(seq)),
                _seq_text(seq),
            )
        )
    hidden = len(faults) - FAULTS_SHOWN
    return Table(
        ("#", "fault", "server", "frames", "seq"),
        rows,
        caption="faults the run injected",
        numeric_from=3,
        note=f"… and {hidden:,} more (the summary lists every one)" if hidden > 0 else "",
        table_id="faults",
    )


def _users_table(users: Mapping[str, Mapping[str, Any]], ident: str, who: str = "user") -> Table:
    fields = [f for f in BILL_FIELDS if any(t.get(f) for t in users.values())] or list(BILL_FIELDS)
    rows = [
        (name, *(_amount(totals.get(f, 0)) for f in fields))
        for name, totals in list(users.items())[:USERS_SHOWN]
    ]
    hidden = len(users) - len(rows)
    return Table(
        (who, *(USER_HEADERS[f] for f in fields)),
        rows,
        caption=f"{len(users):,} {who}{'' if len(users) == 1 else 's'}; "
        "the fields nobody has are left out",
        note=f"… and {hidden:,} more {who}s (the JSON lists every one)" if hidden > 0 else "",
        table_id=ident,
    )


# -- the add-in --------------------------------------------------------------------------------


def addin_sections(summary: Mapping[str, Any]) -> list[Section]:
    latency = summary.get("latency_ms") or {}
    figures = [
        ("frames committed", _count(summary.get("committed"))),
        ("stored", _count(summary.get("stored"))),
        ("duplicates", _count(summary.get("duplicates"))),
        ("rejects", _count(summary.get("rejects"))),
        ("without run and seq", _count(summary.get("without_seq"))),
        ("wall time", _seconds_text(summary.get("wall_time"))),
    ]
    blocks: list[Block] = [
        Table((), figures, caption="the add-in", table_id="addin-figures"),
        Table(
            ("class", "frames stored"),
            [(name, _count(n)) for name, n in (summary.get("frames") or {}).items()],
            caption="frames stored by class",
            table_id="stored-by-class",
        ),
    ]
    stores = summary.get("stores") or []
    if len(stores) > 1:
        blocks.append(
            Table(
                ("store", "stored", "duplicates", "rejects"),
                [
                    (
                        str(s.get("url")),
                        _count(s.get("stored")),
                        _count(s.get("duplicates")),
                        _count(s.get("rejects")),
                    )
                    for s in stores
                ],
                caption="each store",
                table_id="stores",
            )
        )
    if latency:
        blocks.append(
            Table(
                ("p50", "p90", "p99", "longest", "frames measured"),
                [
                    (
                        *(f"{latency.get(k, 0):,.1f} ms" for k in ("p50", "p90", "p99", "max")),
                        _count(latency.get("frames")),
                    )
                ],
                caption="publish-to-commit latency, over the whole run",
                numeric_from=0,
                table_id="latency",
            )
        )
    series = summary.get("series")
    if isinstance(series, dict) and series.get("t_s"):
        blocks.append(
            Picture(
                rates_chart(
                    series["t_s"],
                    series.get("stored_by_class", {}),
                    title="frames stored per second, by class",
                    unit="frames/s",
                    chart_id="addin-rates",
                ),
                "Frames the add-in committed to its first store per second of wall time "
                "(a redelivered frame is a duplicate, not counted).",
                "addin-rates-chart",
            )
        )
        blocks.append(
            Picture(
                latency_chart(
                    series["t_s"],
                    series.get("latency_ms", {}),
                    title="publish-to-commit latency per interval",
                    chart_id="addin-latency",
                ),
                "From each frame's sent property to the commit of the batch holding it; "
                "percentiles of the frames committed in each interval.",
                "addin-latency-chart",
            )
        )
    else:
        blocks.append(Note("No series over time in this add-in summary."))
    return [Section("The add-in", "addin", blocks)]


# -- the store ---------------------------------------------------------------------------------


def store_sections(store: StoreContent) -> list[Section]:
    by_class: Counter[str] = Counter()
    times: dict[str, list[float]] = {}
    received = all(
        row.get("received_at") not in (None, _EPOCH) for rows in store.rows.values() for row in rows
    )
    clock = "received_at" if received else "time_stamp"
    for name, rows in store.rows.items():
        if name == "rejects":
            continue
        for row in rows:
            bill_class = _KIND_CLASSES.get(int(row.get("StructType") or 0), "custom")
            by_class[bill_class] += 1
            moment = row.get(clock)
            if isinstance(moment, datetime):
                times.setdefault(bill_class, []).append(moment.timestamp())
    rejects = len(store.rows.get("rejects", ()))
    blocks: list[Block] = [
        Table(
            ("class", "records"),
            [
                *((name, _count(n)) for name, n in sorted(by_class.items())),
                ("rejects", _count(rejects)),
            ],
            caption=f"records in {store.url}",
            table_id="store-by-class",
        )
    ]
    if times:
        t_s, counts = _bucketed(times, _MIN_RECEIVED_BUCKET_S if received else 1e-3)
        label = "received" if received else "by their TimeStamp (virtual time)"
        blocks.append(
            Picture(
                rates_chart(
                    t_s,
                    counts,
                    title=f"records per second, {label}, by class",
                    chart_id="store-rates",
                    time_label="since the first record" + ("" if received else " (virtual time)"),
                ),
                "From the rows' received_at (when the add-in received each frame)"
                if received
                else "From the rows' TimeStamp: this store keeps no time of receipt.",
                "store-rates-chart",
            )
        )
    bill = _users_table(store.totals, "users-bill", store.by)
    return [
        Section("The store", "store", blocks),
        Section(f"The store's bill per {store.by}", "store-bill", [bill]),
    ]


def _bucketed(
    times: Mapping[str, list[float]], shortest: float
) -> tuple[list[float], dict[str, list[int]]]:
    """Cumulative counts per class at the edges of equal intervals from the first time to
    the last (at most `_STORE_BUCKETS` of them, at least `shortest` seconds each)."""
    first = min(min(v) for v in times.values())
    last = max(max(v) for v in times.values())
    width = max((last - first) / _STORE_BUCKETS, shortest)
    buckets = int((last - first) / width) + 1
    edges = [i * width for i in range(buckets + 1)]
    counts: dict[str, list[int]] = {}
    for name, values in times.items():
        per = [0] * buckets
        for value in values:
            per[min(int((value - first) / width), buckets - 1)] += 1
        running, cumulative = 0, [0]
        for n in per:
            running += n
            cumulative.append(running)
        counts[name] = cumulative
    return edges, counts


# -- the timeline ------------------------------------------------------------------------------


def timeline_section(source: TimelineSource | None) -> Section:
    """The lifecycles as `billsim timeline` draws them, from `source`: the frames given
    (written to a scratch .nbf file first), a frame file, or the scenario run again in
    memory with the run's seed for its virtual span — not when that would be a long run
    again (more than `TIMELINE_RECORDS` records): then a note says how to draw it. What
    the timeline cannot draw (no records, a file that does not read) is a note too: the
    rest of the report stands without it."""
    note = _timeline_note(source)
    if note is not None or source is None:
        return Section("Timeline", "timeline", [Note(note or "")])
    try:
        if source.frames:
            with tempfile.TemporaryDirectory(prefix="billsim-report-") as scratch:
                frames = Path(scratch) / "frames.nbf"
                frames.write_bytes(b"".join(source.frames))
                svg = _timeline_svg(
                    TimelineRequest(
                        str(frames),
                        _NO_FILE,
                        busiest=TIMELINE_SESSIONS,
                        layout=source.layout,
                        scenario=source.frames_scenario,
                        title=source.frames_title,  # not the scratch file's name
                        scenario_hint=source.scenario_hint,
                    )
                )
        elif source.frame_file is not None:
            svg = _timeline_svg(
                TimelineRequest(
                    source.frame_file,
                    _NO_FILE,
                    busiest=TIMELINE_SESSIONS,
                    layout=source.layout,
                    scenario=source.frames_scenario,
                    scenario_hint=source.scenario_hint,
                )
            )
        else:
            assert source.scenario is not None
            duration = None
            if source.duration_s:
                duration = format_duration(max(round(source.duration_s * 1e6), 1))
            request = TimelineRequest(
                source.scenario,
                _NO_FILE,
                busiest=TIMELINE_SESSIONS,
                duration=duration,
                seed=source.seed,
                notes_ini=source.notes_ini,
                layout=source.layout,
                faults=source.faults,
            )
            svg = _timeline_svg(request)
    except InputError as error:
        return Section("Timeline", "timeline", [Note(f"No timeline: {error}")])
    caption = "Sessions as bars from START to END with their STAMPs, databases' open "
    caption += "intervals beneath, server-task records as marks (as billsim timeline draws)."
    if source.frames_cut:
        caption += f" The first {len(source.frames):,} frames stored."
    return Section("Timeline", "timeline", [Picture(svg, caption, "timeline-figure")])


TIMELINE_RECORDS: Final = 200_000
"""A run of more records is not run again for its timeline."""
TIMELINE_SESSIONS: Final = 50
"""Sessions the report's timeline shows at most (the busiest, as `timeline --busiest`):
a picture of hundreds is a page of its own, which `billsim timeline` draws."""
_NO_FILE: Final = Path("report.svg")  # timeline_of never writes `out`


def _timeline_note(source: TimelineSource | None) -> str | None:
    if source is None:
        return (
            "No frames to draw the timeline from (a relational store keeps rows): "
            "billsim timeline draws it from the scenario or a frame file."
        )
    if source.scenario is None and source.frame_file is None and not source.frames:
        # The add-in stored nothing (it came up after the run had published, say).
        return "No frames were stored: no timeline to draw."
    if source.scenario is not None and source.records > TIMELINE_RECORDS:
        span = format_duration(round(source.duration_s or 0) * 1_000_000)
        faults = "".join(f" --fault {shlex.quote(fault)}" for fault in source.faults)
        return (
            f"{source.records:,} records are too many to run again for a timeline here: "
            f"billsim timeline {source.scenario} --seed {source.seed} --duration {span}"
            f"{faults} -o timeline.svg draws the busiest sessions."
        )
    return None


def _timeline_svg(request: TimelineRequest) -> str:
    """The timeline of `request` as inline SVG (what `billsim timeline` would write)."""
    timeline, text = timeline_of(request, io.StringIO())
    buffer = io.BytesIO()
    draw_timeline(timeline, buffer, PictureFormat.SVG, text)
    return inline_svg(buffer.getvalue().decode("utf-8"), "timeline")


# -- numbers for people ------------------------------------------------------------------------


def _share(part: int, total: int) -> str:
    """`part` of `total` in percent, one decimal; a share too small for it is < 0.1 %, not
    0.0 % (four replication records among 17,000 are not none)."""
    share = 100 * part / total
    return "< 0.1 %" if 0 < share < 0.05 else f"{share:.1f} %"


def _count(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def _seconds_text(value: Any) -> str:
    if value is None:
        return "-"
    seconds = float(value)
    if seconds >= 3600:
        return f"{seconds / 3600:,.2f} h ({seconds:,.0f} s)"
    if seconds >= 120:
        return f"{seconds / 60:,.1f} min ({seconds:,.0f} s)"
    return f"{seconds:,.3f} s"


def _seq_text(seq: Iterable[Any]) -> str:
    numbers = [int(n) for n in seq]
    return ", ".join(map(str, numbers[:8])) + (" …" if len(numbers) > 8 else "")
