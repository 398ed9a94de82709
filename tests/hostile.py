"""Hostile input against billsim's readers: one target per reader, each taking raw bytes.

A target runs the reader as the command would and returns quietly when billsim handled
the input: read it, or refused it as bad input (an InputError, exit code 2) that names
the file and a place in it (a line, or a byte offset) in at most 51 lines a strict UTF-8
stream can take. Anything else escapes as the exception it is: a traceback is a finding.

Used by the property tests (tests/test_hostile.py, hypothesis, bounded) and by the
coverage-guided fuzzers run by hand (bench/fuzz.py, atheris); keep them in step by
keeping the targets here.
"""

from __future__ import annotations

import functools
import io
import math
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from simulator.addin.intake import Intake, Message
from simulator.addin.rows import reject_row
from simulator.addin.store import Received
from simulator.commands.check import StreamSettings, check_file
from simulator.commands.decode import decode_stream
from simulator.commands.loading import check_script, load, with_dry_run
from simulator.commands.replay import ReplayRequest, replay
from simulator.domino.simulation import RunOptions, Simulation
from simulator.errors import EXIT_BAD_INPUT, InputError
from simulator.scenario import yamlsource
from simulator.scenario.loader import (
    ScenarioError,
    load_scenario_text,
    parse_workload,
)
from simulator.scenario.notes_ini import read_notes_ini, resolve_settings
from simulator.wire.layout import Layout

# How far a mutated scenario is run once it loads: enough events to start every kind of
# activity, few enough that each input takes milliseconds.
RUN_EVENTS = 2_000
# ScenarioError's 50 problems, the count of the rest, and a line on the script's dry run.
MAX_ERROR_LINES = 52
MAX_LINE_LENGTH = 2_000
_PLACE = re.compile(r"^[^:]+:\d+: |: byte offset \d+ \(frame \d+\)|: line \d+|\(byte \d+\)")


class _Scratch:
    """One temporary directory for the files the targets write (a reader takes a path)."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="billsim-hostile-")
        self.root = Path(self._dir.name)

    def write(self, name: str, data: bytes) -> Path:
        path = self.root / name
        path.write_bytes(data)
        return path


_SCRATCH: _Scratch | None = None


def scratch() -> _Scratch:
    global _SCRATCH  # noqa: PLW0603 - one directory for the whole process
    if _SCRATCH is None:
        _SCRATCH = _Scratch()
    return _SCRATCH


def assert_bad_input(error: InputError, *, needs_place: bool = True) -> None:
    """A refusal as docs/cli.md promises it: exit 2, the file named, a place in it, short,
    and writable on a strict UTF-8 stream."""
    assert error.exit_code == EXIT_BAD_INPUT, error
    text = str(error)
    text.encode("utf-8")  # strict: a lone surrogate here would crash the error's own print
    lines = text.splitlines()
    assert 1 <= len(lines) <= MAX_ERROR_LINES, len(lines)
    assert all(len(line) <= MAX_LINE_LENGTH for line in lines), max(map(len, lines))
    errors = error.errors if isinstance(error, ScenarioError) else (error,)
    for each in errors:
        assert each.file is not None, each
        if needs_place:
            assert each.line is not None or _PLACE.search(str(each)), each


def _encodable(message: str) -> None:
    message.encode("utf-8")  # a warning goes to stderr: it must be writable too


def _strict_text() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)


def decode_target(data: bytes) -> None:
    """`billsim decode` (JSON lines and the text view) of a frame stream, both layouts."""
    for layout in Layout:
        for text in (False, True):
            try:
                decode_stream(
                    io.BytesIO(data),
                    _strict_text(),
                    layout=layout,
                    source="fuzz.nbf",
                    warn=_encodable,
                    text=text,
                )
            except InputError as error:
                assert_bad_input(error, needs_place=bool(data))


def check_target(data: bytes) -> None:
    """`billsim check FILE` of a frame stream, its findings on a strict UTF-8 stream."""
    path = scratch().write("check.nbf", data)
    for layout in Layout:
        try:
            check_file(str(path), _strict_text(), StreamSettings(layout=layout))
        except InputError as error:
            assert_bad_input(error, needs_place=bool(data))


_PROPERTIES: tuple[dict[str, str], ...] = (
    {},
    {"seq": "7", "run": "r1", "sent": "1795000000000000"},
    {"seq": "x", "run": "r1"},
    {"seq": "9" * 30, "sent": "-1"},
)


@functools.cache
def _intake(layout: Layout) -> Intake:
    """One intake per layout, as the add-in keeps one for its whole run."""
    return Intake(layout)


def intake_target(data: bytes) -> None:
    """The add-in's intake of one MQTT message: never raises, whatever the payload, its
    content type or its user properties; a frame taken makes its store row."""
    for layout in Layout:
        intake = _intake(layout)
        for declared_json in (None, True, False):
            for props in _PROPERTIES:
                message = Message("domino/billing/Mail01/x", "Mail01", data, declared_json, props)
                item = intake.take(message, 1_795_000_000_000_000)
                if isinstance(item, Received):
                    _store_row(intake, item)
                else:
                    reject_row(item)


def replay_target(data: bytes) -> None:
    """`billsim replay FILE --out` of a capture, an .nbf or JSON lines: every time moved
    (`--rebase`), played twice (`--loop 2`: seqs and SessionIDs renumbered), its ground
    truth billed (`--summary`); its summary and warnings on strict UTF-8 streams."""
    root = scratch().root
    path = scratch().write("replay.in", data)
    request = ReplayRequest(
        source=str(path),
        out=root / "replayed.nbf",
        rebase="2027-01-04T09:00:00Z",
        loop="2",
        summary_path=root / "replayed-summary.json",
    )
    try:
        replay(request, _strict_text(), _strict_text())
    except InputError as error:
        assert_bad_input(error, needs_place=bool(data))


def _store_row(intake: Intake, item: Received) -> None:
    """The row a relational store writes: every text in it encodable (SQLite and
    PostgreSQL take strict UTF-8); a frame the intake could not read into a row may only
    fail as the ValueError the store turns into a reject."""
    try:
        _table, row = intake.rows.row(item)
    except ValueError:
        assert item.frame_row is None, "the intake read this frame, its row must follow"
        return
    for value in row:
        if isinstance(value, str):
            value.encode("utf-8")


def scenario_target(data: bytes) -> None:
    """`billsim validate` of a scenario file, then the first RUN_EVENTS events of its run."""
    path = scratch().write("fuzz.yaml", data)
    try:
        scenario, settings = load(str(path), None)  # a refusal dry-runs the rest
        check_script(scenario, settings, RunOptions())
        if scenario.workload:
            parse_workload(scenario.workload, scenario.databases, scenario.filename)
    except InputError as error:
        assert_bad_input(error)
        return
    sim = Simulation(scenario, settings, RunOptions())
    sim.writer.put = lambda _item: None
    for _ in range(RUN_EVENTS):
        if not sim.step():
            break


def notes_ini_target(data: bytes) -> None:
    """`--notes-ini FILE`: read and resolved as `run` does."""
    path = scratch().write("notes.ini", data)
    try:
        resolve_settings(read_notes_ini(path))
    except InputError as error:
        assert_bad_input(error, needs_place=False)
        assert error.file is not None and (error.line is not None or error.field), error


# --- lighter targets for the coverage-guided fuzzer: one reader each, one layout per input ---


def frame_decoder_target(data: bytes) -> None:
    """The frame decoder as `decode` runs it, and the add-in's intake of the same bytes.
    The first byte picks the layout, the text view, and the content type declared."""
    if not data:
        return
    choice, data = data[0], data[1:]
    layout = (Layout.LINUX_X86_64, Layout.WIN32)[choice & 1]
    try:
        decode_stream(
            io.BytesIO(data),
            _strict_text(),
            layout=layout,
            source="fuzz.nbf",
            warn=_encodable,
            text=bool(choice & 2),
        )
    except InputError as error:
        assert_bad_input(error, needs_place=bool(data))
    intake = _intake(layout)
    declared_json = (None, True, False)[(choice >> 2) % 3]
    props = _PROPERTIES[(choice >> 4) % len(_PROPERTIES)]
    item = intake.take(
        Message("domino/billing/Mail01/x", "Mail01", data, declared_json, props),
        1_795_000_000_000_000,
    )
    if isinstance(item, Received):
        _store_row(intake, item)
    else:
        reject_row(item)


def scenario_loader_target(data: bytes) -> None:
    """The scenario loader and the script's dry run (what `validate` does), from text."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return  # read_yaml refuses it by byte offset before the loader sees it
    try:
        try:
            scenario = load_scenario_text(text, "fuzz.yaml")
        except ScenarioError as error:
            raise with_dry_run(error, None) from None  # what `validate` reports
        check_script(scenario, scenario.settings_with(), RunOptions())
    except InputError as error:
        assert_bad_input(error)


def yaml_readers_target(data: bytes) -> None:
    """The scenario's YAML reader (`load_yaml`, built from libyaml's events when it can)
    and the composing loader it falls back on agree: the same values, of the same types,
    on the same lines, or the same refusal."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return
    outcomes = []
    for read in (yamlsource.load_yaml, yamlsource.load_composed):
        try:
            outcomes.append(read(text, "fuzz.yaml"))
        except InputError as error:
            outcomes.append(str(error))
    assert_same_yaml(*outcomes)


def assert_same_yaml(got: Any, expected: Any, path: tuple[Any, ...] = ()) -> None:
    """Equal as YAML values (NaN equal to itself), of the same types, keys in the same
    order, and with the same lines on every mapping, list, entry and item."""
    assert type(got) is type(expected), (path, got, expected)
    if isinstance(got, yamlsource.LinedDict):
        assert (got.line, list(got.lines.items())) == (expected.line, list(expected.lines.items()))
        assert [type(key) for key in got] == [type(key) for key in expected], path
        assert list(got) == list(expected), path
        for key in got:
            assert_same_yaml(got[key], expected[key], (*path, key))
    elif isinstance(got, yamlsource.LinedList):
        assert (got.line, got.lines, len(got)) == (expected.line, expected.lines, len(expected))
        for index, (item, other) in enumerate(zip(got, expected, strict=True)):
            assert_same_yaml(item, other, (*path, index))
    elif isinstance(got, float) and math.isnan(got):
        assert math.isnan(expected), path
    else:
        assert got == expected, (path, got, expected)
        if isinstance(got, datetime):
            assert got.tzinfo == expected.tzinfo, path
