"""`billsim verify` with thresholds: a run's summary verified against itself (equal), the
add-in's summary held against --max-p99, --max-lag and --max-rejects; each met or missed
sets the exit code and each missed is named, in the text and in the JSON; a threshold
without the add-in's summary is bad input; --result writes the JSON outcome to a file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from simulator import cli

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(cli.app, list(args))


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    summary = tmp_path_factory.mktemp("run") / "truth.json"
    result = invoke(
        "run", "all-classes", "--out", str(summary.with_suffix(".nbf")), "--summary", str(summary)
    )
    assert result.exit_code == 0, result.stderr
    return summary


@pytest.fixture
def addin_summary(tmp_path: Path) -> Path:
    """An add-in's summary as `billsim addin --summary` writes it: p99 40 ms, the longest
    latency 2.5 s, 1 reject."""
    path = tmp_path / "addin.json"
    path.write_text(
        json.dumps(
            {
                "committed": 21,
                "frames": {"session": 6},
                "stored": 21,
                "duplicates": 0,
                "rejects": 1,
                "stores": [],
                "without_seq": 0,
                "wall_time": 3.0,
                "latency_ms": {"p50": 5.0, "p90": 20.0, "p99": 40.0, "max": 2500.0, "frames": 21},
            }
        )
    )
    return path


def verify(truth: Path, addin: Path, *limits: str, as_json: bool = False) -> Any:
    args = ["verify", "--expected", str(truth), "--actual", str(truth)]
    args += ["--addin-summary", str(addin), *limits]
    return invoke(*args, *(("--format", "json") if as_json else ()))


# (option, value met, value missed, the figure as the text names it)
LIMITS = [
    ("--max-p99", "40ms", "39.9ms", "p99 latency 40 ms, at most 39.9 ms"),
    ("--max-lag", "2.5s", "2s", "lag 2.5 s, at most 2 s"),
    ("--max-rejects", "1", "0", "rejects 1, at most 0"),
]


@pytest.mark.parametrize(("option", "met", "missed", "named"), LIMITS)
def test_each_threshold_met_passes_and_missed_fails_naming_it(
    truth: Path, addin_summary: Path, option: str, met: str, missed: str, named: str
) -> None:
    name = option.removeprefix("--")
    result = verify(truth, addin_summary, option, met)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("EQUAL")
    assert re.search(rf"^  met  +{name}  ", result.stdout, re.MULTILINE)
    assert result.stdout.endswith("THRESHOLDS MET: 1 of 1\n")

    result = verify(truth, addin_summary, option, missed)
    assert result.exit_code == 1, result.output
    assert re.search(rf"^  MISSED  {name}  ", result.stdout, re.MULTILINE)
    assert result.stdout.endswith(f"THRESHOLDS MISSED: {name} ({named})\n")

    outcome = json.loads(verify(truth, addin_summary, option, missed, as_json=True).stdout)
    assert outcome["equal"] is True
    assert outcome["passed"] is False
    assert outcome["thresholds_missed"] == [name]
    (check,) = outcome["thresholds"]
    assert (check["name"], check["met"]) == (name, False)


def test_every_threshold_missed_is_named_and_the_met_ones_are_not(
    truth: Path, addin_summary: Path
) -> None:
    result = verify(
        truth, addin_summary, "--max-p99", "10ms", "--max-lag", "5s", "--max-rejects", "0"
    )
    assert result.exit_code == 1
    last = result.stdout.splitlines()[-1]
    assert last.startswith("THRESHOLDS MISSED: max-p99 (")
    assert "; max-rejects (" in last
    assert "max-lag" not in last
    outcome = json.loads(
        verify(
            truth,
            addin_summary,
            "--max-p99",
            "10ms",
            "--max-lag",
            "5s",
            "--max-rejects",
            "0",
            as_json=True,
        ).stdout
    )
    assert outcome["thresholds_missed"] == ["max-p99", "max-rejects"]
    assert [c["met"] for c in outcome["thresholds"]] == [False, True, False]
    assert outcome["thresholds"][1] == {
        "name": "max-lag",
        "figure": "lag",
        "unit": "ms",
        "limit": 5000.0,
        "actual": 2500.0,
        "met": True,
        "note": "",
    }


def test_a_bill_that_differs_fails_even_with_every_threshold_met(
    truth: Path, addin_summary: Path, tmp_path: Path
) -> None:
    document = json.loads(truth.read_text())
    first = next(iter(document["users"].values()))
    first["sessions"] += 1
    other = tmp_path / "other.json"
    other.write_text(json.dumps(document))
    result = invoke(
        "verify",
        "--expected",
        str(truth),
        "--actual",
        str(other),
        "--addin-summary",
        str(addin_summary),
        "--max-rejects",
        "5",
    )
    assert result.exit_code == 1
    assert "DIFFERENT" in result.stdout
    assert result.stdout.endswith("THRESHOLDS MET: 1 of 1\n")


def test_a_threshold_without_the_addin_summary_exits_2_saying_what_to_give(truth: Path) -> None:
    result = invoke("verify", "--expected", str(truth), "--actual", str(truth), "--max-lag", "5s")
    assert result.exit_code == 2
    assert "--addin-summary" in result.stderr
    assert "--max-lag" in result.stderr
    assert "billsim addin --summary FILE" in result.stderr


def test_an_unreadable_addin_summary_or_a_bad_duration_exits_2(
    truth: Path, tmp_path: Path, addin_summary: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"users": {}}')
    result = verify(truth, broken, "--max-rejects", "0")
    assert result.exit_code == 2
    assert f"{broken}:1: rejects: not an add-in summary" in result.stderr
    result = verify(truth, tmp_path / "absent.json", "--max-rejects", "0")
    assert result.exit_code == 2
    result = verify(truth, addin_summary, "--max-p99", "fast")
    assert result.exit_code == 2
    assert "--max-p99" in result.stderr


def test_result_writes_the_json_outcome_beside_the_table(
    truth: Path, addin_summary: Path, tmp_path: Path
) -> None:
    out = tmp_path / "result.json"
    result = verify(truth, addin_summary, "--max-p99", "10ms", "--result", str(out))
    assert result.exit_code == 1
    assert result.stdout.startswith("EQUAL")
    outcome = json.loads(out.read_text())
    assert outcome["verdict"].startswith("EQUAL: ")
    assert outcome["thresholds_missed"] == ["max-p99"]
    assert outcome["addin_summary"] == str(addin_summary)
    as_json = verify(truth, addin_summary, "--max-p99", "10ms", as_json=True)
    assert json.loads(as_json.stdout) == outcome


@pytest.mark.parametrize(
    ("latency", "named"),
    [
        ('"p99": NaN, "max": 1', "latency_ms.p99: a number of milliseconds, not NaN"),
        (f'"p99": {"9" * 400}, "max": 1', "latency_ms.p99: a whole number of 400 digits"),
        ('"p99": 1, "max": 1, "frames": -3', "latency_ms.frames: a whole number of at least 0"),
    ],
)
def test_an_addin_summary_with_a_figure_that_is_none_is_bad_input(
    truth: Path, tmp_path: Path, latency: str, named: str
) -> None:
    addin = tmp_path / "addin.json"
    addin.write_text(f'{{"rejects": 0, "latency_ms": {{{latency}}}}}')
    result = verify(truth, addin, "--max-p99", "100ms")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"billsim: {addin}"), result.stderr
    assert named in result.stderr
