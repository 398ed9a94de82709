"""The user's documentation stays inside the repository and agrees with the codec.

Run as a script (`PYTHONPATH=.:tests python tests/test_docs.py`) it prints the layout
tables of docs/wire-format.md, computed from the codec's field tables.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from paths import REPO
from pydantic import BaseModel
from typer.testing import CliRunner

from simulator import cli
from simulator.scenario.bundled import bundled_scenarios
from simulator.scenario.loader import load_scenario, load_scenario_text, parse_workload
from simulator.scenario.models import (
    ACTION_MODELS,
    CustomType,
    Database,
    DocumentCharges,
    Scenario,
    User,
)
from simulator.scenario.workload import CalendarSpec, DatabasesSpec, SessionSpec, Workload
from simulator.wire.codec import frame_geometry
from simulator.wire.layout import Field, Framing, Layout, compile_fields
from simulator.wire.records import BUILTIN_KINDS, HEADER_FIELDS, RecordKind

DOCS = REPO / "docs"
README = REPO / "README.md"
# The project's own files: none of them may send a reader outside the repository.
SELF_CONTAINED = (
    README,
    DOCS,
    REPO / "queue",
    REPO / "scenarios",
    REPO / "simulator",
    REPO / "tests",
    REPO / "bench",
    REPO / "pyproject.toml",
    REPO / "Dockerfile",
    REPO / "docker-compose.yml",
    REPO / ".ci",
)
OUTSIDE_POINTERS = ("../shared", "shared/seeds", "DESIGN.md", "DESIGN §")
SETUP_COMMANDS = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install . && "
    "billsim run lifecycle-demo     # the demo, on an embedded broker",
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && "
    "python -m pytest    # the tests",
)
# [text](target) and [text]: target; images too. Code spans are stripped first.
_INLINE_LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")


def markdown_pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def relative_links(page: Path) -> list[str]:
    """Link targets of a Markdown page that are not URLs or in-page anchors."""
    text = _CODE_SPAN.sub("", _FENCE.sub("", page.read_text(encoding="utf-8")))
    targets = _INLINE_LINK.findall(text) + _REFERENCE_LINK.findall(text)
    return [t for t in targets if not urlsplit(t).scheme and not t.startswith(("#", "//"))]


# --- layout tables ----------------------------------------------------------------------


def layout_table(fields: tuple[Field, ...], start: dict[Layout, int]) -> str:
    """A Markdown table of a field table: C type, size, offset under each layout.

    Offsets are counted from `start` (the struct's own first byte in the frame), so a
    record's offsets are relative to `rec` and the header's to the frame.
    """
    compiled = {layout: compile_fields(fields, layout, start=start[layout]) for layout in Layout}
    lines = [
        "| field | C type | size | offset `linux-x86_64` | offset `win32` |",
        "|---|---|---:|---:|---:|",
    ]
    for name, ctype in fields:
        offsets = " | ".join(str(compiled[layout].offsets[name]) for layout in Layout)
        lines.append(f"| {name} | {ctype.name} | {ctype.size} | {offsets} |")
    sizes = " | ".join(f"**{compiled[layout].size}**" for layout in Layout)
    lines.append(f"| *sizeof* | | | {sizes} |")
    return "\n".join(lines)


def header_table() -> str:
    return layout_table(HEADER_FIELDS, dict.fromkeys(Layout, 0))


def record_table(kind: RecordKind) -> str:
    return layout_table(
        kind.fields, {layout: frame_geometry(layout).rec_offset for layout in Layout}
    )


def frame_size_table() -> str:
    """Per record kind: struct size and the length of a frame without variable data."""
    lines = [
        "| record | StructType | Class | sizeof `linux-x86_64` | sizeof `win32` "
        "| frame `linux-x86_64` pad-union / compact | frame `win32` pad-union / compact |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in BUILTIN_KINDS:
        sizes, frames = [], []
        for layout in Layout:
            geometry = frame_geometry(layout)
            size = compile_fields(kind.fields, layout, start=geometry.rec_offset).size
            compact = geometry.rec_offset + size
            by_framing = {Framing.PAD_UNION: max(compact, geometry.billmsg_size)}
            by_framing[Framing.COMPACT] = compact
            sizes.append(str(size))
            frames.append(f"{by_framing[Framing.PAD_UNION]} / {by_framing[Framing.COMPACT]}")
        lines.append(
            f"| {kind.name} | {kind.struct_type} | {kind.bill_class:#04x} | "
            f"{' | '.join(sizes)} | {' | '.join(frames)} |"
        )
    return "\n".join(lines)


def geometry_table() -> str:
    lines = [
        "| layout | alignment | header size | offset of `rec` | sizeof(BILLMSG) |",
        "|---|---|---:|---:|---:|",
    ]
    for layout in Layout:
        geometry = frame_geometry(layout)
        alignment = "packed (1)" if layout.packed else "natural"
        lines.append(
            f"| `{layout.value}` | {alignment} | {geometry.header.size} | "
            f"{geometry.rec_offset} | {geometry.billmsg_size} |"
        )
    return "\n".join(lines)


def notecreate_table() -> str:
    scenario = load_scenario(bundled_scenarios()["notecreate"])
    (kind,) = scenario.custom_kinds()
    return record_table(kind)


def all_tables() -> dict[str, str]:
    """Every table docs/wire-format.md shows, by a name for messages."""
    tables = {
        "geometry": geometry_table(),
        "frame sizes": frame_size_table(),
        "header": header_table(),
    }
    tables.update({kind.name: record_table(kind) for kind in BUILTIN_KINDS})
    tables["NOTECREATEREC"] = notecreate_table()
    return tables


# --- tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("page", markdown_pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves_to_a_file_in_the_repository(page: Path) -> None:
    for target in relative_links(page):
        path = unquote(urlsplit(target).path)
        resolved = (page.parent / path).resolve()
        assert resolved.is_relative_to(REPO), f"{page.name}: {target} leaves the repository"
        assert resolved.exists(), f"{page.name}: {target} does not exist"


def heading_anchors(page: Path) -> set[str]:
    """The anchors a page's headings get, as GitHub makes them: lower case, punctuation
    but hyphens dropped, spaces as hyphens, a repeated one numbered."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE):
        anchor = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower())
        anchor = anchor.replace(" ", "-")
        count = seen[anchor] = seen.get(anchor, -1) + 1
        anchors.add(f"{anchor}-{count}" if count else anchor)
    return anchors


@pytest.mark.parametrize("page", markdown_pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_fence_is_closed_and_every_anchor_is_a_heading(page: Path) -> None:
    """A fence left open turns the rest of the page into code (its headings, tables and
    the anchors that point at them)."""
    # As CommonMark reads them: a fence closes only on a line of its marker alone.
    opened: str | None = None
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        marker = line[:3]
        if opened is None and marker in ("```", "~~~"):
            opened = marker
        elif opened is not None and line.rstrip() == opened:
            opened = None
        elif opened is not None and line.startswith(opened):
            raise AssertionError(f"{page.name}:{number}: a fence closed with text after it")
    assert opened is None, f"{page.name}: a code fence is not closed"
    for target in _INLINE_LINK.findall(_CODE_SPAN.sub("", _FENCE.sub("", page.read_text()))):
        path, _, anchor = target.partition("#")
        if not anchor or urlsplit(target).scheme:
            continue
        linked = (page.parent / unquote(path)) if path else page
        if linked.suffix == ".md":
            assert anchor in heading_anchors(linked), f"{page.name}: {target}: no such heading"


def test_the_pages_have_links_to_check() -> None:
    # A link pattern that matched nothing would make the test above pass vacuously.
    assert len(relative_links(README)) >= 5
    assert len(relative_links(DOCS / "index.md")) >= 7


def test_the_readme_opens_with_the_two_setup_commands() -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^```[a-z]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert match is not None, "README.md has no code block"
    assert tuple(match[1].splitlines()) == SETUP_COMMANDS


def test_nothing_points_outside_the_repository() -> None:
    offenders = []
    for root in SELF_CONTAINED:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if path == Path(__file__).resolve() or "__pycache__" in path.parts:
                continue  # the pointers are spelled out here
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue  # golden frames
            offenders += [
                f"{path.relative_to(REPO)}: {pointer}"
                for pointer in OUTSIDE_POINTERS
                if pointer in text
            ]
    assert offenders == []


# What the script examples of docs/scenario.md refer to: a user, a database, a custom type.
EXAMPLE_BASE = """\
name: example
start: "2026-11-21T09:00:00Z"
duration: 90m
server: CN=Mail01/O=Acme
notes_ini: {BillingClass: "Session,Database,Document,Mail,Replication,Agent,HttpRequest"}
databases:
  apps/orders.nsf:
    replica_id: "85258A3B:0052C1F1"
    documents: {0x2306: {charge_read: 0.05, charge_write: 0.25}}
users:
  alice: {name: "CN=Alice Smith/O=Acme", address: "10.1.2.3"}
"""
EXAMPLE_CUSTOM_TYPES = """\
custom_types:
  NOTECREATEREC: {struct_type: 32001, class: Database,
                  fields: [[Username, "char[257]"], [dbNoteID, NOTEID], [ReplicaID, DBID]]}
"""


def yaml_blocks(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return re.findall(r"^```yaml\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def example_scenario(block: str) -> str:
    """A yaml block of the page as a whole scenario: complete ones stand alone, the
    others (a script line, a custom_types block) are set into EXAMPLE_BASE."""
    if block.startswith("name:"):
        return block
    if block.startswith("custom_types:"):
        return EXAMPLE_BASE + block
    return EXAMPLE_BASE + EXAMPLE_CUSTOM_TYPES + "script:\n" + block


def scenario_page_examples() -> list[str]:
    return yaml_blocks(DOCS / "scenario.md")


@pytest.mark.parametrize("block", scenario_page_examples(), ids=lambda b: b.split("\n")[0][:40])
def test_the_scenario_pages_examples_load(block: str) -> None:
    scenario = load_scenario_text(example_scenario(block), "docs/scenario.md")
    assert scenario.name


def _console_after(text: str, command: str, start: int = 0) -> str:
    """The output a console block of the page shows after `$ command`."""
    at = text.index(f"$ {command}\n", start) + len(command) + 3
    return text[at : text.index("```", at)]


def test_the_walk_through_shows_what_validate_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first scenario of the page, with its three typos, then corrected: the output
    shown is validate's, line for line."""
    text = (DOCS / "scenario.md").read_text(encoding="utf-8")
    morning = next(block for block in yaml_blocks(DOCS / "scenario.md") if "name: morning" in block)
    typed = text[text.index("went wrong as they were typed:\n\n```\n") :].split("```")[1]
    broken = morning
    for line in typed.strip("\n").splitlines():
        at = line[: line.index(",")]  # "  - {at: 2m"
        [original] = [old for old in morning.splitlines() if old.startswith(at)]
        broken = broken.replace(original, line)
    assert broken.count("\n") == morning.count("\n") and broken != morning
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    (tmp_path / "morning.yaml").write_text(broken)
    result = runner.invoke(cli.app, ["validate", "morning.yaml"])
    assert result.exit_code == 2
    shown = _console_after(text, "billsim validate morning.yaml")
    assert result.stderr == shown
    (tmp_path / "morning.yaml").write_text(morning)
    result = runner.invoke(cli.app, ["validate", "morning.yaml"])
    assert result.exit_code == 0, result.output
    corrected = text.index("Corrected, it says what it found")
    assert result.stdout == _console_after(text, "billsim validate morning.yaml", corrected)


def test_the_scenario_page_shows_every_script_action() -> None:
    # Every action the loader accepts has its example on the page, checked by the test above.
    shown = set(re.findall(r"action: (\w+)", "\n".join(scenario_page_examples())))
    assert shown == set(ACTION_MODELS)


@pytest.mark.parametrize(
    "model",
    [Scenario, Database, DocumentCharges, User, CustomType, *ACTION_MODELS.values()],
    ids=lambda m: m.__name__,
)
def test_the_scenario_page_names_every_key(model: type[BaseModel]) -> None:
    """The scenario reference (issue 15): every key a file may write, each action's too."""
    text = (DOCS / "scenario.md").read_text(encoding="utf-8")
    keys = [
        field.alias or name
        for name, field in model.model_fields.items()
        if name not in ("line", "index")  # where the file wrote an action, not keys
    ]
    assert [key for key in keys if f"`{key}`" not in text] == []


def workload_page_examples() -> list[str]:
    return yaml_blocks(DOCS / "workload.md")


@pytest.mark.parametrize("block", workload_page_examples(), ids=lambda b: b.split("\n")[0][:40])
def test_the_workload_pages_examples_load(block: str) -> None:
    """Whole scenarios stand alone; a `workload:` block is set into EXAMPLE_BASE."""
    text = block if block.startswith("name:") else EXAMPLE_BASE + block
    scenario = load_scenario_text(text, "docs/workload.md")
    assert scenario.workload
    parse_workload(scenario.workload, scenario.databases, scenario.filename)


@pytest.mark.parametrize(
    "model", [Workload, CalendarSpec, SessionSpec, DatabasesSpec], ids=lambda m: m.__name__
)
def test_the_workload_page_names_every_key(model: type[BaseModel]) -> None:
    text = (DOCS / "workload.md").read_text(encoding="utf-8")
    keys = [field.alias or name for name, field in model.model_fields.items()]
    assert [key for key in keys if f"`{key}`" not in text] == []


@pytest.mark.parametrize("name", list(all_tables()))
def test_wire_format_tables_match_the_codec(name: str) -> None:
    text = (DOCS / "wire-format.md").read_text(encoding="utf-8")
    assert all_tables()[name] in text, (
        f"the {name} table of docs/wire-format.md differs from the codec's: "
        "regenerate it with `PYTHONPATH=.:tests python tests/test_docs.py`"
    )


if __name__ == "__main__":
    for title, table in all_tables().items():
        print(f"<!-- {title} -->\n{table}\n")
