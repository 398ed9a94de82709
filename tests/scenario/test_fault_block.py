"""The `faults:` block and `--fault NAME=VALUE` (docs/faults.md): what they take, and each
mistake named by file, line and field (or by the option)."""

from __future__ import annotations

import re

import pytest
from paths import REPO

from simulator.errors import InputError
from simulator.scenario.faults import (
    DEFAULT_QUEUED_US,
    FAULT_NAMES,
    ClockStepFault,
    CrashFault,
    Faults,
    ReorderFault,
    parse_fault_option,
    with_overrides,
)
from simulator.scenario.loader import ScenarioError, load_scenario_text

MINUTE = 60_000_000
HOUR = 60 * MINUTE
BASE = """\
name: f
start: "2026-11-21T09:00:00Z"
duration: 3h
server: CN=Mail01/O=Acme
"""


def crash(**values: str) -> CrashFault:
    """A crash as a scenario writes it (a bare number would be seconds)."""
    return CrashFault.model_validate(values)


def load(block: str) -> Faults:
    return load_scenario_text(BASE + block, "f.yaml").faults


def problems(block: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(BASE + block, "f.yaml")
    return [str(error) for error in caught.value.errors]


def test_every_fault_as_the_docs_write_it() -> None:
    faults = load(
        "faults:\n"
        "  duplicate: 0.001\n"
        "  reorder: {share: 0.01, window: 50}\n"
        "  corrupt: 0.0001\n"
        "  truncate: 0.0001\n"
        "  crash: {at: 2h, restart_after: 5m}\n"
        "  clock_step: {at: 150m, by: -1h}\n"
        "  dst: true\n"
        "  wrap: true\n"
    )
    assert faults == Faults(
        duplicate=0.001,
        reorder=ReorderFault(share=0.01, window=50),
        corrupt=0.0001,
        truncate=0.0001,
        crash=crash(at="2h", restart_after="5m", queued=f"{DEFAULT_QUEUED_US}us"),
        clock_step=ClockStepFault.model_validate({"at": "150m", "by": "-1h"}),
        dst=True,
        wrap=True,
    )
    assert faults.any and faults.frame_faults


def test_no_block_an_empty_block_and_zero_shares_inject_nothing() -> None:
    assert not load("").any
    assert not load("faults:\n").any
    quiet = load("faults: {duplicate: 0, reorder: {share: 0, window: 5}, dst: false}")
    assert quiet.any  # a reorder was asked for, of no frames
    assert not quiet.frame_faults


def test_dst_takes_a_zone_and_says_which_it_uses() -> None:
    assert load("faults: {dst: Australia/Sydney}").dst_zone(None) == "Australia/Sydney"
    assert load("faults: {dst: true}").dst_zone("America/New_York") == "America/New_York"
    assert load("faults: {dst: true}").dst_zone(None) == "Europe/Berlin"
    assert load("faults: {dst: false}").dst_zone("UTC") is None


def test_each_mistake_is_named_by_line_and_field() -> None:
    found = problems(
        "faults:\n"  # line 5
        "  duplicate: 1.5\n"
        "  reorder: {share: 0.1}\n"
        "  crash: {at: soon}\n"
        "  clock_step: {at: 1h, by: 0}\n"
        "  dst: Mars/Olympus\n"
        "  wrap: maybe\n"
        "  jitter: 1\n"
    )
    assert found == [
        "f.yaml:6: faults.duplicate: must be ≤ 1",
        "f.yaml:7: faults.reorder.window: required field missing",
        "f.yaml:8: faults.crash.at: expected a duration like 350ms, 3.5s, 15m, 2h, 1d or a "
        "number of seconds, got 'soon'",
        "f.yaml:9: faults.clock_step.by: a clock step of 0 changes nothing: give a duration "
        "like -1h or 30m",
        "f.yaml:10: faults.dst: expected true, false or an IANA time zone like "
        "Europe/Berlin, got 'Mars/Olympus'",
        "f.yaml:11: faults.wrap: must be true or false",
        "f.yaml:12: faults.jitter: unknown field",
    ]


def test_a_zone_folder_is_no_zone() -> None:
    """`America` is a folder of the zone database: ZoneInfo raised IsADirectoryError, and
    the loader ended in a traceback (found by bench/fuzz.py scenario)."""
    assert problems("faults:\n  dst: America\n") == [
        "f.yaml:6: faults.dst: expected true, false or an IANA time zone like "
        "Europe/Berlin, got 'America'",
    ]


def test_a_crash_or_clock_step_must_come_before_the_end_of_the_run() -> None:
    assert problems("faults:\n  crash: {at: 3h}\n  clock_step: {at: 4h, by: 1m}\n") == [
        "f.yaml:6: faults.crash.at: 3h is not before the end of the run (duration 3h)",
        "f.yaml:7: faults.clock_step.at: 4h is not before the end of the run (duration 3h)",
    ]


def test_a_clock_step_must_keep_the_clock_within_the_years_a_timestamp_reads_back() -> None:
    """A step of 99999999d wrote TimeStamps of the year 275,000 that `check` read as a step
    back: the years 1 to 9999 are what a datetime, so each reader, holds."""
    assert problems("faults:\n  clock_step: {at: 1h, by: 99999999d}\n") == [
        "f.yaml:6: faults.clock_step.by: 99999999d would put the server's clock after the "
        "year 9999",
    ]
    assert problems("faults:\n  clock_step: {at: 1h, by: -999999d}\n") == [
        "f.yaml:6: faults.clock_step.by: -999999d would put the server's clock before the year 1",
    ]
    assert load("faults:\n  clock_step: {at: 1h, by: -99999d}\n").clock_step is not None


@pytest.mark.parametrize(
    ("text", "name", "value"),
    [
        ("duplicate=0.001", "duplicate", 0.001),
        ("reorder={share: 0.5, window: 3}", "reorder", ReorderFault(share=0.5, window=3)),
        (
            "crash={at: 2h, restart_after: 5m}",
            "crash",
            crash(at="2h", restart_after="5m"),
        ),
        (
            "clock_step={at: 1h, by: -90s}",
            "clock_step",
            ClockStepFault.model_validate({"at": "1h", "by": "-90s"}),
        ),
        ("dst=true", "dst", True),
        ("dst=Europe/London", "dst", "Europe/London"),
        ("wrap=yes", "wrap", True),
    ],
)
def test_a_fault_option_is_read_as_the_blocks_yaml(text: str, name: str, value: object) -> None:
    assert parse_fault_option(text) == (name, value)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("duplicate", "--fault: expected NAME=VALUE"),
        ("=1", "--fault: expected NAME=VALUE"),
        (
            "jitter=1",
            "--fault jitter: unknown fault (one of duplicate, reorder, corrupt, truncate, "
            "crash, clock_step, dst, wrap)",
        ),
        ("duplicate=2", "--fault duplicate: must be ≤ 1"),
        ("wrap=2", "--fault wrap: must be true or false"),
        (
            "crash=10:00",
            "--fault crash: must be a mapping, like 'crash={at: 2h, restart_after: 5m}'",
        ),
        ("crash={at: 2h", "--fault crash: invalid YAML"),
        ("crash={restart_after: 5m}", "--fault crash.at: required field missing"),
        (
            "reorder={share: 0.1, window: 0}",
            "--fault reorder.window: must be ≥ 1",
        ),
    ],
)
def test_a_bad_fault_option_names_the_option_and_the_fault(text: str, shown: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_fault_option(text)
    assert str(caught.value).startswith(shown), str(caught.value)


def test_an_option_replaces_the_blocks_entry_and_keeps_the_rest() -> None:
    block = load("faults: {duplicate: 0.5, crash: {at: 1h, restart_after: 1m}}")
    changed = with_overrides(block, [parse_fault_option("crash={at: 2h}")])
    assert changed.duplicate == 0.5
    assert changed.crash == crash(at="2h")
    assert changed.crash is not None and changed.crash.at == 2 * HOUR


def test_the_faults_page_example_loads_and_names_every_fault() -> None:
    page = (REPO / "docs" / "faults.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"^```yaml\n(.*?)^```", page, re.MULTILINE | re.DOTALL)
    faults = load_scenario_text(block, "docs/faults.md").faults
    assert all(getattr(faults, name) for name in FAULT_NAMES)
    assert [name for name in FAULT_NAMES if f"**`{name}`**" not in page] == []
