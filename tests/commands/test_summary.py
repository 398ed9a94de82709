"""The run summary's text for people (commands/summary.py): its first line's rate."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from console import sh

from simulator.commands.summary import print_summary

RATE_LINE = re.compile(
    r"^lifecycle-demo on CN=Mail01/O=Acme: 12 records in \S+ \.\. \S+ "
    r"\(5400 s virtual, (\d+\.\d{3}) s wall, ([\d.,]+) records/s\)$"
)


@pytest.fixture(scope="module")
def demo_summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The summary of a real run of the demo, from the installed billsim."""
    directory = tmp_path_factory.mktemp("summary")
    result = sh("billsim run lifecycle-demo --out demo.nbf --summary s.json", directory)
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads((directory / "s.json").read_text())
    return summary


@pytest.mark.parametrize(
    ("wall", "rate", "shown"),
    [
        (9.302, 1.29, "1.29"),  # the demo at 580x
        (90.0, 0.133, "0.133"),  # the demo at 60x: not `0 records/s`
        (5400.0, 0.002, "0.002"),  # the demo in real time
        (0.002, 6102.4, "6,102"),
    ],
)
def test_the_first_line_shows_a_small_rate_to_three_figures(
    demo_summary: dict[str, Any], wall: float, rate: float, shown: str
) -> None:
    out = io.StringIO()
    print_summary({**demo_summary, "wall_time_s": wall, "rate_per_s": rate}, out)
    match = RATE_LINE.match(out.getvalue().splitlines()[0])
    assert match is not None, out.getvalue()
    assert match.group(2) == shown


def test_a_paced_demo_shows_its_rate_as_the_records_over_the_wall_time(tmp_path: Path) -> None:
    # 5400 s at 2000x: 2.7 s, some 4.4 records/s (a rate rounded to a whole number or
    # to 0 would be off by more than the 2% allowed).
    result = sh("billsim run lifecycle-demo --out demo.nbf --speed 2000x", tmp_path)
    assert result.returncode == 0, result.stderr
    match = RATE_LINE.match(result.stderr.splitlines()[0])
    assert match is not None, result.stderr
    wall, shown = float(match.group(1)), float(match.group(2))
    assert shown == pytest.approx(12 / wall, rel=0.02)
