"""The bundled scenarios: each validates, each scripted one is pinned by a golden trace, each
passes check.

The generated ones (a `workload:` preset, no script) are pinned by their statistical and
determinism tests (tests/domino/test_workload.py) instead: thousands of drawn records
derive from no hand-written rule one by one.

The golden traces in tests/golden/ (`<scenario>.jsonl`, exactly what `billsim run <scenario>
--stdout` must print) were derived by hand from the lifecycle rules of docs/lifecycles.md (the
comments in each scenario file say which record every script line causes), not copied
from the program's output. One part of them was computed with the program's own code:
a DOCUMENT's OriginatorID File and Note come from `simulator.domino.server.derive_timedate`
(SHA-256 of seed and identity, docs/wire-format.md), because they are identifiers, not behaviour;
`test_golden_originator_ids_are_the_derived_ones` below says exactly which.

Where the program and a golden disagree and the rules side with the golden, the golden
stays as it is and the scenario goes into ENGINE_BUGS (an xfail that must keep failing).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from bundled_runs import BundledLines, BundledOut, run_bundled
from paths import GOLDEN_TRACES
from typer.testing import CliRunner

from simulator import cli
from simulator.commands.loading import load
from simulator.commands.validate import validate
from simulator.domino.server import derive_timedate
from simulator.scenario.bundled import bundled_scenarios
from simulator.scenario.loader import load_scenario
from simulator.verify.checker import check_stream
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder
from simulator.wire.layout import Layout
from simulator.wire.stream import iter_decoded
from simulator.wire.timedate import format_timedate, parse_timedate_id

GOLDEN = GOLDEN_TRACES
SCENARIOS = bundled_scenarios()
NAMES = sorted(SCENARIOS)
GENERATED = [name for name in NAMES if load_scenario(SCENARIOS[name]).workload]
SCRIPTED = [name for name in NAMES if name not in GENERATED]

# Scenario name -> what the engine gets wrong against docs/lifecycles.md (the golden is right).
ENGINE_BUGS: dict[str, str] = {}

runner = CliRunner()


def golden_lines(name: str) -> list[str]:
    return (GOLDEN / f"{name}.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)


def golden_params() -> list[Any]:
    return [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(strict=True, reason=ENGINE_BUGS[name])]
            if name in ENGINE_BUGS
            else [],
            id=name,
        )
        for name in SCRIPTED
    ]


def run(name: str, out: Path | None = None, layout: Layout = Layout.LINUX_X86_64) -> str:
    """`billsim run NAME --stdout` (or `--out OUT --layout LAYOUT`) in-process: its stdout."""
    return run_bundled(name, out, layout)


def run_to_file(name: str, path: Path, layout: Layout) -> Path:
    assert run(name, path, layout) == ""
    return path


def decoded(path: Path, layout: Layout, name: str | None = None) -> list[dict[str, Any]]:
    """The frames of `path`; custom types by name when `name` is a scenario declaring them."""
    kinds = load_scenario(SCENARIOS[name]).custom_kinds() if name is not None else ()
    codec = FrameCodec(layout, custom_kinds=kinds)
    with path.open("rb") as stream:
        return [frame.obj for frame in iter_decoded(stream, JsonDecoder(codec), source=str(path))]


def test_the_bundle_holds_the_demo_and_at_least_four_more() -> None:
    assert "lifecycle-demo" in NAMES
    assert len(SCRIPTED) >= 5


def test_the_bundle_holds_a_day_of_each_preset() -> None:
    presets = {name: load_scenario(SCENARIOS[name]).workload.get("preset") for name in GENERATED}
    assert presets == {"typical-mail": "typical-mail", "app-server": "app-server", "web": "web"}


@pytest.mark.parametrize("name", NAMES)
def test_scenario_validates(name: str) -> None:
    stream = io.StringIO()
    assert validate([str(SCENARIOS[name])], None, stream) == 0
    assert stream.getvalue().startswith(f"ok  {SCENARIOS[name]}: {name},")


@pytest.mark.parametrize("name", NAMES)
def test_scenario_is_a_readable_demo(name: str) -> None:
    """Named as its file, one line of description, and a watchable pace of its own."""
    scenario = load_scenario(SCENARIOS[name])
    assert scenario.name == name
    assert scenario.description.strip()
    assert "\n" not in scenario.description
    assert scenario.speed is not None
    assert scenario.speed.endswith("x")


def test_every_scripted_bundled_scenario_has_a_golden_trace() -> None:
    assert sorted(path.stem for path in GOLDEN.glob("*.jsonl")) == SCRIPTED


@pytest.mark.parametrize("name", golden_params())
def test_run_stdout_matches_the_golden_trace(name: str) -> None:
    assert run(name).splitlines(keepends=True) == golden_lines(name)


def test_cli_runs_twice_in_one_process() -> None:
    for _ in range(2):
        result = runner.invoke(cli.app, ["run", "lifecycle-demo", "--stdout"])
        assert result.exit_code == 0, repr(result.exception)
        assert result.stdout.splitlines(keepends=True) == golden_lines("lifecycle-demo")


# Only these have DOCUMENT records to check: a scenario without charged documents would pass
# the test below by checking nothing.
DOCUMENT_NAMES = [
    name
    for name in SCRIPTED
    if any(
        charges.charge_read or charges.charge_write
        for database in load_scenario(SCENARIOS[name]).databases.values()
        for charges in database.documents.values()
    )
]


@pytest.mark.parametrize("name", DOCUMENT_NAMES)
def test_golden_originator_ids_are_the_derived_ones(name: str) -> None:
    """The only golden values not derived by hand: each DOCUMENT's OriginatorID File and
    Note are derive_timedate(seed, "document-file"/"document-note", "<db path>|<note id>")
    of a document the scenario declares in the database of the record's ReplicaID."""
    scenario = load_scenario(SCENARIOS[name])
    by_replica: dict[str, set[tuple[str, str]]] = {}
    for path, database in scenario.databases.items():
        for note_id in database.documents:
            key = f"{path}|{note_id:#x}"
            file = derive_timedate(scenario.seed, "document-file", key)
            note = derive_timedate(scenario.seed, "document-note", key)
            ids = (f"{file.day_zone:08X}:{file.ticks:08X}", f"{note.day_zone:08X}:{note.ticks:08X}")
            by_replica.setdefault(str(database.replica_id), set()).add(ids)
    documents = [obj for obj in map(json.loads, golden_lines(name)) if obj["StructType"] == 2001]
    assert documents, f"{name} declares documents but its golden trace charges none"
    for obj in documents:
        oid = obj["rec"]["OriginatorID"]
        assert (oid["File"], oid["Note"]) in by_replica[obj["rec"]["ReplicaID"]], obj
        # Before any write the OID's SequenceTime is its File time (a derived identifier too).
        if oid["Sequence"] == 1:
            assert oid["SequenceTime"] == format_timedate(parse_timedate_id(oid["File"])), obj


@pytest.mark.parametrize("layout", list(Layout), ids=[layout.value for layout in Layout])
@pytest.mark.parametrize("name", NAMES)
def test_run_out_passes_check(
    name: str, layout: Layout, bundled_out: BundledOut, bundled_lines: BundledLines
) -> None:
    scenario, settings = load(name, None)
    out = bundled_out(name, layout)
    with out.open("rb") as stream:
        report = check_stream(
            stream,
            layout=layout,
            suppress_time=settings.billing_suppress_time,
            stamp_policy=scenario.stamp_policy,
            source=str(out),
        )
    assert report.frames == frame_count(name, bundled_lines)
    assert report.violations == [], "\n".join(map(str, report.violations))


def frame_count(name: str, lines: BundledLines) -> int:
    """The golden trace's length, or for a generated scenario what `--stdout` prints."""
    if name in GENERATED:
        return len(lines(name).splitlines())
    return len(golden_lines(name))


@pytest.mark.parametrize("name", NAMES)
def test_both_layouts_decode_to_the_same_json_but_len(
    name: str, bundled_out: BundledOut, bundled_lines: BundledLines
) -> None:
    natural = decoded(bundled_out(name, Layout.LINUX_X86_64), Layout.LINUX_X86_64, name)
    packed = decoded(bundled_out(name, Layout.WIN32), Layout.WIN32, name)
    # Padded to sizeof(BILLMSG), unless variable data (a MAILREC's recipients) runs past it.
    natural_lens = [obj.pop("Len") for obj in natural]
    packed_lens = [obj.pop("Len") for obj in packed]
    for obj, natural_len, packed_len in zip(natural, natural_lens, packed_lens, strict=True):
        if obj["StructType"] == 3001:
            variable = obj["rec"]["RecipientSize"]
            assert natural_len == max(1000, 280 + 716 + variable)
            assert packed_len == max(983, 273 + 710 + variable)
        else:
            assert (natural_len, packed_len) == (1000, 983)
    assert natural == packed
    assert len(natural) == frame_count(name, bundled_lines)
