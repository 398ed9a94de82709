"""`billsim report STORE`: the bill of a store as a table, CSV or JSON (docs/addin.md), or
the HTML run report of the store with what else is given (commands/html_report.py)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from simulator.adapters.stores import read_rows
from simulator.addin.bill import BillBy, Totals, bill
from simulator.commands.columns import aligned
from simulator.commands.formats import ReportFormat
from simulator.domino.server import BILL_FIELDS
from simulator.errors import InputError
from simulator.wire.codec import FrameCodec
from simulator.wire.layout import Layout


def parse_time(text: str, flag: str) -> datetime:
    """An ISO-8601 time (`2026-11-21T09:00`, `…Z`, `…+01:00`); without a zone, UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"expected an ISO-8601 time like 2026-11-21T09:00:00Z, got {text!r}", field=flag
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _charges(value: float) -> str:
    # Sums of charges carry float noise (0.1 + 0.2); a millionth is far below a cent.
    return f"{round(value, 6):g}"


def write_report(
    url: str,
    out: TextIO,
    *,
    by: BillBy = BillBy.USER,
    report_format: ReportFormat = ReportFormat.TABLE,
    start: datetime | None = None,
    end: datetime | None = None,
    codec: FrameCodec | None = None,
) -> dict[str, Totals]:
    """Write the bill of the store at `url` to `out`; returns it."""
    totals = bill(read_rows(url, codec), by, start=start, end=end)
    if report_format is ReportFormat.JSON:
        json.dump({by.key: totals}, out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif report_format is ReportFormat.CSV:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow((by.value, *BILL_FIELDS))
        for name, fields in totals.items():
            writer.writerow((name, *(_cell(field, fields[field]) for field in BILL_FIELDS)))
    else:
        _write_table(totals, by, out)
    return totals


def _cell(field: str, value: float) -> str:
    return _charges(value) if field == "charges" else str(value)


def _write_table(totals: dict[str, Totals], by: BillBy, out: TextIO) -> None:
    """Columns for people; a field no entry has is left out, so the table stays narrow."""
    if not totals:
        out.write(f"no records: the bill has no {by.key}\n")
        return
    fields = [f for f in BILL_FIELDS if any(entry[f] for entry in totals.values())]
    headers = [by.value, *(f.replace("_", " ") for f in fields)]
    rows = [[name, *(_cell(f, entry[f]) for f in fields)] for name, entry in totals.items()]
    for line in aligned([headers, *rows]):
        out.write(line + "\n")


@dataclass(frozen=True)
class HtmlSources:
    """What `report --format html` shows beside the store: a verify result (its verdict on
    top), the run's summary and the add-in's."""

    verify: Path | None = None
    run_summary: Path | None = None
    addin_summary: Path | None = None


_VERIFY_RESULT = "a verify result (billsim verify --result FILE writes one)"
_RUN_SUMMARY = "a run summary (billsim run --summary FILE writes one)"
_ADDIN_SUMMARY = "an add-in summary (billsim addin --summary FILE writes one)"
# Every run's summary counts its records (a domain's its servers' sum); a replay of several
# runs has each run's count under servers. A REPORT or an add-in summary has neither.
_RUN_KEYS = ("records", "servers")


def _read_kind(path: Path, option: str, keys: tuple[str, ...], kind: str) -> dict[str, Any]:
    """The JSON object of ``path`` if it has one of ``keys``, those ``kind`` always has;
    else InputError naming the option and the key missing (the first of ``keys``)."""
    from simulator.commands.html_report import read_json_file  # noqa: PLC0415 -- matplotlib

    document = read_json_file(path, option)
    if not any(key in document for key in keys):
        raise InputError(f"not {kind}: no {keys[0]}", file=str(path), field=option)
    return document


def write_html_report(
    url: str,
    out: TextIO | Path,
    sources: HtmlSources,
    *,
    by: BillBy = BillBy.USER,
    start: datetime | None = None,
    end: datetime | None = None,
    codec: FrameCodec | None = None,
) -> None:
    """The HTML report of the store at `url` (its bill as `by`, `start` and `end` ask, its
    records over time), with the verdict and the summaries of `sources`, to `out`."""
    from simulator.adapters.report_html import render_html  # noqa: PLC0415
    from simulator.commands.html_report import (  # noqa: PLC0415 -- matplotlib
        ReportParts,
        StoreContent,
        TimelineSource,
        build_report,
        check_writable,
        write_report,
    )

    if isinstance(out, Path):
        check_writable(out, "--output")
    parts = ReportParts(title=f"billsim report: {url}", sources=[url])
    if sources.verify is not None:
        parts.verify = _read_kind(sources.verify, "--verify", ("passed",), _VERIFY_RESULT)
        parts.sources.append(f"verified: {sources.verify}")
    if sources.run_summary is not None:
        parts.run = _read_kind(sources.run_summary, "--summary", _RUN_KEYS, _RUN_SUMMARY)
        parts.sources.append(f"run: {sources.run_summary}")
    if sources.addin_summary is not None:
        parts.addin = _read_kind(
            sources.addin_summary, "--addin-summary", ("rejects",), _ADDIN_SUMMARY
        )
        parts.sources.append(f"add-in: {sources.addin_summary}")
    rows = read_rows(url, codec)
    parts.store = StoreContent(url, bill(rows, by, start=start, end=end), rows, by.value)
    if url.startswith("nbf:"):
        parts.timeline = TimelineSource(
            frame_file=url.removeprefix("nbf:"),
            layout=codec.layout if codec else Layout.LINUX_X86_64,
        )
    if isinstance(out, Path):
        write_report(out, parts)
    else:
        out.write(render_html(build_report(parts)))
