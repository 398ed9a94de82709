"""The HTML run report, end to end, opened in a real headless chromium (tests/browser.py).

`run --report` of a generated workload, and the whole chain a user runs on a broker:
`run --broker --summary --report`, `addin --summary --report`, `verify --result` with a
threshold missed and a consumer's bill that differs, then `report STORE --format html
--verify --summary --addin-summary`. Each page must load with no console error and no
request but its own file, show its tables and pictures, and hold nothing that fetches
(no http(s) src or href, no script, no stylesheet link). A screenshot of each is left in
the test's tmp_path, to look at.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from broker_processes import MosquittoBroker
from browser import FETCHES, Chromium, Page
from test_addin import stop_when_stored, wait_subscribed
from typer.testing import CliRunner

from simulator import cli

runner = CliRunner()
# Half a day of the typical-mail workload, paced so that the run lasts about a second
# and a half: enough samples for a chart, little time.
SCENARIO = ("typical-mail", "--duration", "12h", "--rate", "20000/s")


def invoke(*args: str) -> Any:
    return runner.invoke(cli.app, list(args))


def billsim(*args: str) -> list[str]:
    return [sys.executable, "-m", "simulator", *args]


def fetches(text: str) -> list[str]:
    return FETCHES.findall(text)


@pytest.fixture(scope="module")
def run_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("run")
    report, summary = directory / "run.html", directory / "truth.json"
    result = invoke(
        "run",
        *SCENARIO,
        "--out",
        str(directory / "frames.nbf"),
        "--summary",
        str(summary),
        "--report",
        str(report),
    )
    assert result.exit_code == 0, result.stderr
    assert f"report written to {report}" in result.stderr
    return report, json.loads(summary.read_text())


def visible(page: Page, selector: str) -> dict[str, float]:
    """The box of the first element `selector` finds (width 0 if none or hidden)."""
    box: dict[str, float] = page.evaluate(
        f"""(() => {{
            const e = document.querySelector({json.dumps(selector)});
            if (!e) return {{width: 0, height: 0, top: 0}};
            const r = e.getBoundingClientRect();
            const s = getComputedStyle(e);
            const shown = s.display !== 'none' && s.visibility !== 'hidden';
            return {{width: shown ? r.width : 0, height: shown ? r.height : 0,
                     top: r.top + window.scrollY}};
        }})()"""
    )
    return box


def assert_loads_cleanly(page: Page, path: Path) -> None:
    assert page.errors == [], page.errors
    assert set(page.requests) == {path.resolve().as_uri()}, page.requests


def test_the_run_summary_samples_records_by_class_over_time(
    run_report: tuple[Path, dict[str, Any]],
) -> None:
    _, summary = run_report
    series = summary["series"]
    assert series["t_s"][0] == 0.0
    assert len(series["t_s"]) >= 4, series["t_s"]
    for name, total in summary["records_by_class"].items():
        counts = series["records_by_class"][name]
        assert counts == sorted(counts)  # cumulative
        assert counts[-1] == total  # the last sample is taken at the end


def test_the_run_report_opens_in_a_browser_with_its_tables_and_chart(
    run_report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    report, summary = run_report
    assert not fetches(report.read_text())
    with Chromium(tmp_path, width=1280) as browser:  # a laptop's screen
        page = browser.open(report)
        assert_loads_cleanly(page, report)
        assert page.evaluate("document.title") == "billsim run: typical-mail"
        assert page.evaluate("document.querySelector('#verdict')") is None  # nothing verified
        for table in ("run-figures", "records-by-class", "records-by-type", "users-truth"):
            box = visible(page, f"#{table}")
            assert box["width"] > 100 and box["height"] > 40, table
        # The users' table of every field fits the page: no column hidden off to the right
        # (the 15 of typical-mail: every class of record).
        wrap = "document.querySelector('#users-truth').parentElement"
        assert page.evaluate(f"{wrap}.scrollWidth <= {wrap}.clientWidth"), "users-truth is cut"
        rows = page.evaluate("document.querySelectorAll('#records-by-class tbody tr').length")
        assert rows == len(summary["records_by_class"])
        chart = visible(page, "svg#run-rates")
        assert chart["width"] > 600 and chart["height"] > 150, chart
        for name in summary["records_by_class"]:
            assert page.evaluate(f"!!document.getElementById('run-rates-{name}')"), name
        # The timeline, as billsim timeline draws it: a bar per session it shows.
        timeline = visible(page, "svg#timeline")
        assert timeline["width"] > 600 and timeline["height"] > 150, timeline
        bars = page.evaluate("document.querySelectorAll('[id^=\"timeline-session-bar-\"]').length")
        assert 1 <= bars <= summary["sessions_started"]
        page.screenshot(tmp_path / "run-report.png")
    assert (tmp_path / "run-report.png").stat().st_size > 20_000


def test_the_run_report_draws_the_crash_a_fault_option_injected(tmp_path: Path) -> None:
    """The timeline of `run --report` is the run's: `--fault` given on the command line,
    not only the scenario's faults: block, makes its crash band."""

    def crash_bands(*fault: str) -> int:
        report = tmp_path / "run.html"
        result = invoke(
            "run",
            "lifecycle-demo",
            "--speed",
            "max",
            "--out",
            str(tmp_path / "frames.nbf"),
            "--report",
            str(report),
            *fault,
        )
        assert result.exit_code == 0, result.output
        page = report.read_text()
        assert 'id="timeline' in page
        return page.count('id="timeline-crash-')

    assert crash_bands() == 0
    assert crash_bands("--fault", "crash={at: 30m, restart_after: 10m}") == 1


def test_a_run_too_big_to_draw_again_names_the_timeline_command_with_its_faults() -> None:
    from simulator.adapters.report_html import render_html  # noqa: PLC0415
    from simulator.commands.html_report import (  # noqa: PLC0415
        TIMELINE_RECORDS,
        ReportParts,
        TimelineSource,
        build_report,
    )

    source = TimelineSource(
        scenario="typical-mail",
        seed=7,
        duration_s=12 * 3600,
        records=TIMELINE_RECORDS + 1,
        faults=("crash={at: 2h, restart_after: 5m}", "duplicate=0.01"),
    )
    page = render_html(build_report(ReportParts(title="big", timeline=source)))
    command = (
        "billsim timeline typical-mail --seed 7 --duration 12h --fault "
        "&#x27;crash={at: 2h, restart_after: 5m}&#x27; --fault duplicate=0.01 -o timeline.svg"
    )
    assert command in page, page


def test_a_report_that_cannot_be_written_is_bad_input_before_the_run(tmp_path: Path) -> None:
    for path, what in ((tmp_path / "no" / "r.html", "no such folder"), (tmp_path / "r.txt", "")):
        result = invoke(
            "run", "all-classes", "--out", str(tmp_path / "f.nbf"), "--report", str(path)
        )
        assert result.exit_code == 2, result.output
        assert "--report" in result.stderr and what in result.stderr
        assert not (tmp_path / "f.nbf").exists()


def test_report_html_options_are_checked(
    run_report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    store = f"nbf:{run_report[0].with_name('frames.nbf')}"
    result = invoke("report", store, "--verify", str(tmp_path / "v.json"))
    assert result.exit_code == 2 and "--verify: goes with --format html" in result.stderr
    summary = run_report[0].with_name("truth.json")
    result = invoke("report", store, "--format", "html", "--verify", str(summary))
    assert result.exit_code == 2 and "not a verify result" in result.stderr
    result = invoke("report", store, "--format", "html", "-o", str(tmp_path / "r.txt"))
    assert result.exit_code == 2 and "--output" in result.stderr
    result = invoke("report", store, "--format", "html")
    assert result.exit_code == 0
    assert result.stdout.startswith("<!DOCTYPE html>")
    assert 'id="store-rates"' in result.stdout  # a frame file's records over virtual time
    assert re.search(r'<svg[^>]* id="timeline"', result.stdout)  # a frame file's timeline
    assert not fetches(result.stdout)


@pytest.mark.broker
def test_a_load_test_on_a_broker_reported_with_its_verdict_on_top(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    truth, addin_summary = tmp_path / "truth.json", tmp_path / "addin.json"
    run_html, addin_html, full_html = (tmp_path / f"{n}.html" for n in ("run", "addin", "full"))
    store = f"sqlite:///{tmp_path / 'billing.db'}"
    addin = subprocess.Popen(
        billsim(
            "addin",
            "--broker",
            mosquitto.url,
            "--store",
            store,
            "--summary",
            str(addin_summary),
            "--report",
            str(addin_html),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_subscribed(addin, mosquitto)
        run = subprocess.run(
            billsim(
                "run",
                *SCENARIO,
                "--broker",
                mosquitto.url,
                "--summary",
                str(truth),
                "--report",
                str(run_html),
                "--log-json",
            ),
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr.decode()
        sent = json.loads(truth.read_text())["records"]
        [(code, out, err)] = stop_when_stored([addin], [store], sent)
    finally:
        if addin.poll() is None:
            addin.kill()
            addin.wait(10)
    assert code == 0, err
    assert f"report written to {addin_html}" in out
    series = json.loads(addin_summary.read_text())["series"]
    assert (
        sum(n for n in series["latency_ms"]["frames"] if n)
        == json.loads(addin_summary.read_text())["latency_ms"]["frames"]
    )

    # A consumer's bill with one user's mail count off by one.
    bill = json.loads(truth.read_text())["users"]
    user = next(name for name, fields in bill.items() if fields["mail"])
    bill[user]["mail"] += 1
    consumer = tmp_path / "consumer.json"
    consumer.write_text(json.dumps({"users": bill}))
    result_path = tmp_path / "verify.json"
    verified = invoke(
        "verify",
        "--expected",
        str(truth),
        "--actual",
        str(consumer),
        "--addin-summary",
        str(addin_summary),
        "--max-p99",
        "1ms",
        "--max-rejects",
        "0",
        "--result",
        str(result_path),
    )
    assert verified.exit_code == 1
    reported = invoke(
        "report",
        store,
        "--format",
        "html",
        "--verify",
        str(result_path),
        "--summary",
        str(truth),
        "--addin-summary",
        str(addin_summary),
        "-o",
        str(full_html),
    )
    assert reported.exit_code == 0, reported.output
    for page_path in (run_html, addin_html, full_html):
        assert not fetches(page_path.read_text()), page_path
    # The add-in's timeline is called what it is, not by the scratch file it was drawn from.
    assert "<!-- what the add-in stored from " in addin_html.read_text()
    assert "frames.nbf" not in addin_html.read_text()

    with Chromium(tmp_path) as browser:
        page = browser.open(full_html)
        assert_loads_cleanly(page, full_html)
        # The verdict first: the first thing under the title, at the top of the page.
        first = page.evaluate(
            "document.querySelector('h1').nextElementSibling.nextElementSibling.id"
        )
        assert first == "verdict"
        verdict = visible(page, "#verdict")
        assert verdict["top"] < 200 and verdict["height"] > 40
        text = page.evaluate("document.querySelector('#verdict').innerText")
        assert "FAILED" in text and "max-p99" in text and user in text
        assert page.evaluate(
            "[...document.querySelectorAll('#thresholds tbody tr')].map(r => r.className)"
        ) == ["missed", "met"]
        assert user in page.evaluate("document.querySelector('#differences').innerText")
        for table in (
            "thresholds",
            "differences",
            "store-by-class",
            "run-figures",
            "addin-figures",
            "stored-by-class",
            "latency",
            "users-bill",
        ):
            assert visible(page, f"#{table}")["height"] > 20, table
        for chart in ("store-rates", "run-rates", "addin-rates", "addin-latency"):
            box = visible(page, f"svg#{chart}")
            assert box["width"] > 600 and box["height"] > 150, chart
        assert page.evaluate("!!document.getElementById('addin-latency-p99')")
        # A relational store keeps rows, not frames: the timeline says how to draw one.
        assert "billsim timeline" in page.evaluate("document.querySelector('#timeline').innerText")
        page.screenshot(tmp_path / "full-report.png")

        for path in (run_html, addin_html):
            page = browser.open(path)
            assert_loads_cleanly(page, path)
            assert visible(page, "svg#timeline")["height"] > 150, path  # from its frames
            page.screenshot(tmp_path / f"{path.stem}-report.png")
        assert visible(page, "svg#addin-latency")["width"] > 600


def test_a_class_s_share_too_small_to_show_is_not_shown_as_none() -> None:
    from simulator.adapters.report_html import render_html  # noqa: PLC0415
    from simulator.commands.html_report import ReportParts, build_report  # noqa: PLC0415

    by_class = {"mail": 17_000, "replication": 4, "agent": 0}
    page = render_html(build_report(ReportParts(title="t", run={"records_by_class": by_class})))
    shares = re.findall(r'<td class="num">([^<]*%)</td>', page)
    assert shares == ["100.0 %", "&lt; 0.1 %", "0.0 %"]


def test_an_addin_that_stored_nothing_still_writes_its_report(tmp_path: Path) -> None:
    """Found by hand: an add-in that came up after the run had published stored no frame,
    and writing its report failed on an assertion after the summary was printed."""
    from simulator.adapters.report_html import render_html  # noqa: PLC0415
    from simulator.commands.html_report import (  # noqa: PLC0415
        ReportParts,
        TimelineSource,
        build_report,
    )

    nothing = TimelineSource(frames=[], frames_title="what the add-in stored")
    page = render_html(build_report(ReportParts(title="billsim addin", timeline=nothing)))
    assert "No frames were stored: no timeline to draw." in page
