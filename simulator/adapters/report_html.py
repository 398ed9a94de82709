"""The HTML run report: one self-contained page from a `Report` (what to show, made by
commands/html_report.py).

The page needs nothing but itself: its style is inline, its pictures are inline SVG (the
charts of adapters/charts.py, the timeline), it runs no script and loads no font, image
or stylesheet, so it opens the same in any browser, offline, attached to a ticket. It
reads from the top: the verdict (when a `verify` result was given) with what failed,
then a section per part of the run, each of tables and pictures. Every text is escaped;
only the SVG of the pictures, made by billsim itself, goes in as it is.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final


@dataclass(frozen=True)
class Table:
    """Rows of text under a caption; the columns from `numeric_from` on are right-aligned
    (numbers). `note`: a line under it (what was left out)."""

    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    caption: str = ""
    numeric_from: int = 1
    note: str = ""
    table_id: str = ""


@dataclass(frozen=True)
class Picture:
    """An SVG picture (the `<svg>` element's text) with its caption."""

    svg: str
    caption: str = ""
    picture_id: str = ""


@dataclass(frozen=True)
class Note:
    """A paragraph of text."""

    text: str


Block = Table | Picture | Note


@dataclass(frozen=True)
class Section:
    title: str
    section_id: str
    blocks: Sequence[Block] = ()


@dataclass(frozen=True)
class Verdict:
    """The outcome on top: passed or not, its headline (`verify`'s verdict line), the
    lines that say what failed, and the tables of it (differences, thresholds)."""

    passed: bool
    headline: str
    lines: Sequence[str] = ()
    blocks: Sequence[Block] = ()


@dataclass(frozen=True)
class Report:
    title: str
    subtitle: str = ""
    verdict: Verdict | None = None
    sections: Sequence[Section] = field(default_factory=list)
    footer: str = ""


_STYLE: Final = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
  color: #1a1a1a; background: #fafafa; margin: 0; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 48px; background: #fff;
  min-height: 100vh; box-sizing: border-box; }
h1 { font-size: 1.6em; margin: 0 0 2px; }
.subtitle { color: #555; margin: 0 0 16px; }
nav { margin: 0 0 20px; font-size: 0.92em; }
nav a { margin-right: 14px; color: #0057a0; text-decoration: none; }
nav a:hover { text-decoration: underline; }
h2 { font-size: 1.2em; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #ddd; }
.verdict { border-radius: 6px; padding: 14px 18px; margin: 0 0 8px; border: 2px solid; }
.verdict.passed { background: #e8f5ec; border-color: #1e8a4c; }
.verdict.failed { background: #fdecea; border-color: #c62828; }
.verdict .word { font-size: 1.5em; font-weight: 700; letter-spacing: 0.04em; }
.verdict.passed .word { color: #1e6b3c; }
.verdict.failed .word { color: #b71c1c; }
.verdict .headline { font-weight: 600; margin: 4px 0; overflow-wrap: anywhere; }
.verdict ul { margin: 6px 0 0; padding-left: 20px; }
.tables { display: flex; flex-wrap: wrap; gap: 4px 36px; align-items: flex-start; }
.table-wrap { overflow-x: auto; margin: 6px 0 14px; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.86em; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { padding: 3px 7px; border-bottom: 1px solid #e6e6e6; white-space: nowrap; }
th { background: #f2f2f2; text-align: left; vertical-align: bottom; }
/* A wide table's headings wrap (db open (1/100 s)), so that its numbers fit the page. */
thead th { white-space: normal; min-width: 3.5em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.missed td { background: #fdecea; }
tr.met td { background: #f1f8f3; }
.note { color: #555; font-size: 0.9em; margin: 2px 0 12px; }
figure { margin: 10px 0 18px; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: 0.9em; }
footer { margin-top: 36px; color: #777; font-size: 0.85em; }
"""


def render_html(report: Report) -> str:
    """The page's text."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(report.title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{_e(report.title)}</h1>",
    ]
    if report.subtitle:
        parts.append(f'<p class="subtitle">{_e(report.subtitle)}</p>')
    if report.verdict is not None:
        parts.append(_verdict(report.verdict))
    if report.sections:
        links = "".join(
            f'<a href="#{_e(section.section_id)}">{_e(section.title)}</a>'
            for section in report.sections
        )
        parts.append(f"<nav>{links}</nav>")
    for section in report.sections:
        parts.append(f'<section id="{_e(section.section_id)}">')
        parts.append(f"<h2>{_e(section.title)}</h2>")
        parts.extend(_blocks(section.blocks))
        parts.append("</section>")
    if report.footer:
        parts.append(f"<footer>{_e(report.footer)}</footer>")
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


def _verdict(verdict: Verdict) -> str:
    state = "passed" if verdict.passed else "failed"
    lines = "".join(f"<li>{_e(line)}</li>" for line in verdict.lines)
    blocks = "".join(_blocks(verdict.blocks))
    return (
        f'<section id="verdict" class="verdict {state}">'
        f'<div class="word">{"PASSED" if verdict.passed else "FAILED"}</div>'
        f'<div class="headline">{_e(verdict.headline)}</div>'
        + (f"<ul>{lines}</ul>" if lines else "")
        + "</section>"
        + blocks
    )


def _blocks(blocks: Sequence[Block]) -> list[str]:
    """The blocks in order; tables that follow one another side by side, as room allows."""
    out: list[str] = []
    tables: list[str] = []
    for block in [*blocks, None]:
        if isinstance(block, Table):
            tables.append(_table(block))
            continue
        if tables:
            out.append('<div class="tables">' + "".join(tables) + "</div>")
            tables = []
        if block is not None:
            out.append(_block(block))
    return out


def _block(block: Block) -> str:
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Picture):
        ident = f' id="{_e(block.picture_id)}"' if block.picture_id else ""
        caption = f"<figcaption>{_e(block.caption)}</figcaption>" if block.caption else ""
        return f"<figure{ident}>{block.svg}{caption}</figure>"
    return f'<p class="note">{_e(block.text)}</p>'


def _table(table: Table) -> str:
    ident = f' id="{_e(table.table_id)}"' if table.table_id else ""
    caption = f"<caption>{_e(table.caption)}</caption>" if table.caption else ""

    def cell(tag: str, index: int, text: str) -> str:
        numeric = ' class="num"' if index >= table.numeric_from else ""
        return f"<{tag}{numeric}>{_e(text)}</{tag}>"

    head = "".join(cell("th", i, text) for i, text in enumerate(table.headers))
    thead = f"<thead><tr>{head}</tr></thead>" if table.headers else ""
    rows = []
    for row in table.rows:
        # A row whose first cell says met or MISSED (a threshold) is coloured so.
        state = {"met": ' class="met"', "MISSED": ' class="missed"'}.get(row[0] if row else "")
        rows.append(
            f"<tr{state or ''}>" + "".join(cell("td", i, t) for i, t in enumerate(row)) + "</tr>"
        )
    note = f'<p class="note">{_e(table.note)}</p>' if table.note else ""
    return (
        f'<div class="table-wrap"><table{ident}>{caption}{thead}'
        f"<tbody>{''.join(rows)}</tbody></table>{note}</div>"
    )


def _e(text: str) -> str:
    return html.escape(text, quote=True)
