"""`--metrics-port` end to end (simulator/commands/metrics.py): a real run, a real add-in
and a domain of two processes against a private mosquitto (tests/broker_processes.py), scraped
while they work and once more after their summary is written; the final scrape must
agree with the summary, counter for counter. Bad options are bad input (exit 2)."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from broker_processes import MosquittoBroker, free_port
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from simulator.adapters.sinks import NullSink
from simulator.cli import app
from simulator.commands.metrics import AddinMetrics, RunMetrics, watch_simulation
from simulator.commands.run import RunRequest, load_request, run_options, run_to_sink
from simulator.commands.summary import records_by_class
from simulator.domino.simulation import Simulation

# Sessions, databases and documents of 20 users for 20 minutes: a few thousand frames,
# which `--rate` spreads over a few seconds, so that scrapes land in the middle.
SCENARIO = """\
name: metrics-stream
seed: 11
start: "2026-11-21T09:00:00Z"
duration: 20m
server: CN=Mail01/O=Acme
notes_ini: {BillingClass: "Session,Database,Document", BillingSuppressTime: 1}
databases:
  mail/a.nsf: {replica_id: "85258A3B:0052C1F0"}
  apps/b.nsf:
    replica_id: "85258A3B:0052C1F1"
    documents: {0x2306: {charge_read: 0.05, charge_write: 0.25}}
workload: {users: 20, think_time: 5s, session_length: 5m%s}
"""
START = 1_795_251_600.0  # 2026-11-21T09:00:00Z as Unix time


def billsim(*args: str) -> list[str]:
    return [sys.executable, "-m", "simulator", *args]


@dataclass
class Scrape:
    """One scrape: each sample's value by (series name, labels)."""

    values: dict[tuple[str, frozenset[tuple[str, str]]], float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Scrape:
        scrape = cls()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                scrape.values[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return scrape

    def get(self, name: str, **labels: str) -> float:
        return self.values[(name, frozenset(labels.items()))]

    def by(self, name: str, label: str, **labels: str) -> dict[str, float]:
        """The series of `name` with `labels`, by the value of `label`."""
        out = {}
        for (series, series_labels), value in self.values.items():
            found = dict(series_labels)
            if series == name and labels.items() <= found.items() and label in found:
                out[found[label]] = value
        return out


def read_summary(path: Path) -> dict[str, Any] | None:
    """The summary once written in full (it is written before the process ends)."""
    try:
        summary: dict[str, Any] = json.loads(path.read_text())
        return summary
    except (FileNotFoundError, ValueError):
        return None


def scrape_until_summed_up(
    process: subprocess.Popen[bytes],
    port: int,
    summary_path: Path,
    timeout: float = 90,
    stop_when: Callable[[Scrape], bool] | None = None,
) -> tuple[list[Scrape], Scrape, dict[str, Any]]:
    """Scrape as Prometheus would, every 0.1 s, until the summary is written; then the
    final scrape: one started after the summary was complete (the figures are posted for
    the last time before it is written), or, if the endpoint closed meanwhile, the scrape
    its linger waited for. With ``stop_when``, SIGTERM the process once a scrape (kept
    among those before) satisfies it. Returns (scrapes before, final, summary)."""
    url = f"http://127.0.0.1:{port}/metrics"
    scrapes: list[Scrape] = []
    stopped = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        summary = read_summary(summary_path)
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                scrape = Scrape.parse(response.read().decode())
        except (urllib.error.URLError, ConnectionError) as error:
            if summary is not None and scrapes:
                # Closed: its linger took our last scrape, which began after the end.
                return scrapes[:-1], scrapes[-1], summary
            if process.poll() is not None:
                _out, err = process.communicate()
                pytest.fail(f"ended before its metrics were scraped ({error}): {err.decode()}")
            time.sleep(0.05)
            continue
        if summary is not None:
            return scrapes, scrape, summary
        scrapes.append(scrape)
        if stop_when is not None and not stopped and stop_when(scrape):
            process.send_signal(signal.SIGTERM)
            stopped = True
        time.sleep(0.1)
    process.kill()
    pytest.fail("no summary within the timeout")


def finish(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    _out, err = process.communicate(timeout=60)
    return process.returncode, err.decode()


def assert_server_agrees(final: Scrape, server: str, summary: Mapping[str, Any]) -> None:
    """The final figures of one server are its summary's."""
    assert final.by("billsim_records_total", "class", server=server) == {
        name: float(count) for name, count in summary["records_by_class"].items()
    }
    delivered = summary["delivered"]
    assert delivered == summary["records"]  # nothing lost: the test's premise
    for name, expected in (
        ("billsim_frames_published_total", delivered),
        ("billsim_frames_delivered_total", delivered),
        ("billsim_frames_resent_total", summary["resent"]),
        ("billsim_frames_refused_total", summary["refused"]),
        ("billsim_frames_dropped_total", summary["dropped"]),
        ("billsim_queue_depth_frames", 0),
        ("billsim_in_flight_frames", 0),
        ("billsim_publish_to_ack_seconds_count", delivered),
    ):
        assert final.get(name, server=server) == expected, name
    assert final.get("billsim_publish_to_ack_seconds_bucket", server=server, le="+Inf") == delivered
    assert final.get("billsim_virtual_time_seconds", server=server) == pytest.approx(
        START + summary["virtual_span_s"]
    )


@pytest.mark.broker
def test_a_run_serves_its_counters_while_it_runs_and_ends_on_its_summary(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    scenario = tmp_path / "stream.yaml"
    scenario.write_text(SCENARIO % "")
    summary_path = tmp_path / "summary.json"
    port = free_port()
    process = subprocess.Popen(
        billsim(
            *("run", str(scenario), "--broker", mosquitto.url, "--rate", "1500/s"),
            *("--metrics-port", str(port), "--summary", str(summary_path)),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    during, final, summary = scrape_until_summed_up(process, port, summary_path)
    code, err = finish(process)
    assert code == 0, err
    assert f"billsim: metrics at http://127.0.0.1:{port}/metrics" in err

    assert_server_agrees(final, "Mail01", summary)
    # Scraped in the middle of the run: some records written, not all.
    total = summary["records"]
    written = [sum(s.by("billsim_records_total", "class").values()) for s in during]
    assert any(0 < count < total for count in written), written
    # Counters never go back.
    assert written == sorted(written)


@pytest.mark.broker
def test_a_domain_serves_every_servers_series_on_one_endpoint(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    scenario = tmp_path / "domain.yaml"
    scenario.write_text(SCENARIO % ", servers: 2")
    summary_path = tmp_path / "summary.json"
    port = free_port()
    process = subprocess.Popen(
        billsim(
            *("run", str(scenario), "--broker", mosquitto.url, "--rate", "1500/s", "--procs", "2"),
            *("--metrics-port", str(port), "--summary", str(summary_path)),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _during, final, summary = scrape_until_summed_up(process, port, summary_path)
    code, err = finish(process)
    assert code == 0, err
    assert set(final.by("billsim_frames_delivered_total", "server")) == {"Mail01", "Mail02"}
    for name in ("Mail01", "Mail02"):
        assert_server_agrees(final, name, summary["servers"][f"CN={name}/O=Acme"])


def test_a_domain_in_one_process_to_files_serves_its_servers_records(tmp_path: Path) -> None:
    """No broker: the records, queue and virtual time of each server, no frame series."""
    scenario = tmp_path / "domain.yaml"
    scenario.write_text(SCENARIO % ", servers: 2")
    summary_path = tmp_path / "summary.json"
    port = free_port()
    process = subprocess.Popen(
        billsim(
            *("run", str(scenario), "--out", str(tmp_path / "day.nbf"), "--rate", "1500/s"),
            *("--procs", "1", "--metrics-port", str(port), "--summary", str(summary_path)),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _during, final, summary = scrape_until_summed_up(process, port, summary_path)
    code, err = finish(process)
    assert code == 0, err
    for name in ("Mail01", "Mail02"):
        server_summary = summary["servers"][f"CN={name}/O=Acme"]
        assert final.by("billsim_records_total", "class", server=name) == {
            record_class: float(count)
            for record_class, count in server_summary["records_by_class"].items()
        }
        assert final.get("billsim_frames_dropped_total", server=name) == 0
        assert final.get("billsim_virtual_time_seconds", server=name) == pytest.approx(
            START + server_summary["virtual_span_s"]
        )
    assert not final.by("billsim_frames_delivered_total", "server")


def wait_subscribed(process: subprocess.Popen[bytes], broker: MosquittoBroker) -> None:
    deadline = time.monotonic() + 20
    while "SUBSCRIBE from billsim-addin-addins-1" not in broker.log_text():
        assert process.poll() is None, finish(process)
        assert time.monotonic() < deadline, "the add-in did not subscribe"
        time.sleep(0.05)


@pytest.mark.broker
def test_the_addin_serves_each_servers_counters_and_ends_on_its_summary(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    """A domain of two servers into one add-in: its series by server, which add up to its
    summary, each server's to what that server sent."""
    scenario = tmp_path / "domain.yaml"
    scenario.write_text(SCENARIO % ", servers: 2")
    summary_path = tmp_path / "addin.json"
    port = free_port()
    addin = subprocess.Popen(
        billsim(
            *("addin", "--broker", mosquitto.url, "--store", f"sqlite:///{tmp_path}/b.db"),
            *("--metrics-port", str(port), "--summary", str(summary_path)),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_subscribed(addin, mosquitto)
    run_summary = tmp_path / "run.json"
    publisher = subprocess.Popen(
        billsim(
            *("run", str(scenario), "--broker", mosquitto.url, "--rate", "1500/s"),
            *("--procs", "1", "--summary", str(run_summary)),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def stored_all(scrape: Scrape) -> bool:
        """The run has ended and the add-in stored every frame it sent: time to stop it
        (SIGTERM: it commits, writes its summary and ends), not to wait for an idle time."""
        if publisher.poll() is None:
            return False
        assert publisher.returncode == 0, finish(publisher)
        sent: int = sum(json.loads(run_summary.read_text())["records_by_class"].values())
        stored = "billsim_addin_frames_stored_total"  # by server and class
        return sum(value for (name, _), value in scrape.values.items() if name == stored) >= sent

    during, final, summary = scrape_until_summed_up(addin, port, summary_path, stop_when=stored_all)
    assert finish(publisher)[0] == 0
    code, err = finish(addin)
    assert code == 0, err

    sent = json.loads(run_summary.read_text())
    assert summary["frames"] == sent["records_by_class"]  # each frame stored once: the premise
    servers = {"Mail01", "Mail02"}
    for name in servers:
        records = sent["servers"][f"CN={name}/O=Acme"]["records_by_class"]
        assert final.by("billsim_addin_frames_stored_total", "class", server=name) == {
            record_class: float(count) for record_class, count in records.items()
        }, name
        assert final.get("billsim_addin_frames_committed_total", server=name) == sum(
            records.values()
        )
    for name, expected in (
        ("billsim_addin_frames_committed_total", summary["committed"]),
        ("billsim_addin_duplicates_total", summary["duplicates"]),
        ("billsim_addin_rejects_total", summary["rejects"]),
        ("billsim_addin_end_to_end_latency_seconds_count", summary["latency_ms"]["frames"]),
    ):
        by_server = final.by(name, "server")
        assert set(by_server) == servers, name
        assert sum(by_server.values()) == expected, name
    for name, expected in (
        ("billsim_addin_unacknowledged_frames", 0),
        # Every committed item was in one batch.
        ("billsim_addin_commit_batch_frames_sum", summary["committed"] + summary["rejects"]),
    ):
        assert final.get(name) == expected, name
    batches = final.get("billsim_addin_commit_batch_frames_count")
    assert 1 <= batches <= summary["committed"]
    # The latency histograms agree with the summary's max: every frame within its bucket.
    max_s = summary["latency_ms"]["max"] / 1000
    for name in servers:
        buckets = final.by("billsim_addin_end_to_end_latency_seconds_bucket", "le", server=name)
        count = final.get("billsim_addin_end_to_end_latency_seconds_count", server=name)
        assert all(value == count for le, value in buckets.items() if float(le) >= max_s)
    assert any(
        sum(s.by("billsim_addin_frames_committed_total", "server").values()) for s in during
    ), "never scraped while it stored"


# -- in-process: the pieces a command wires ---------------------------------------------------


def test_run_metrics_post_the_simulation_s_final_figures_at_the_end(tmp_path: Path) -> None:
    scenario_path = tmp_path / "stream.yaml"
    scenario_path.write_text(SCENARIO % "")
    request = RunRequest(scenario=str(scenario_path), out=tmp_path / "x.nbf")
    scenario, settings = load_request(request)
    sim = Simulation(scenario, settings, run_options(request, scenario))
    metrics = RunMetrics()
    metrics.watch(watch_simulation(sim))
    asyncio.run(run_to_sink(sim, NullSink(), io.StringIO(), metrics))
    (figures,) = metrics.figures()
    assert figures.server == "Mail01"
    assert figures.records == records_by_class(sim.writer.by_struct_type)
    assert sum(figures.records.values()) == sim.writer.frames > 0
    assert figures.drain is None  # to a file: no drain series
    assert figures.virtual_time == START + sim.virtual_now() / 1e6


def test_addin_metrics_keep_each_server_apart_and_fold_each_latency_once() -> None:
    from simulator.addin.store import NO_SERVER, Committed, Received, Rejected  # noqa: PLC0415
    from simulator.commands.addin import Tally  # noqa: PLC0415

    def received(server: str, seq: int, sent_us: int | None) -> Received:
        return Received(server, "run-1", seq, f"domino/billing/{server}/session", b"", sent_us, 0)

    tally = Tally(["nbf:billing.nbf"])
    metrics = AddinMetrics()
    metrics.post()
    assert metrics.figures() is None  # nothing watched yet
    metrics.watch(tally, lambda: 7)
    committed_us = 50_000_000
    first_batch = [received("Mail01", 1, committed_us - 1_000), received("Mail02", 1, None)]
    tally.count(
        first_batch,
        [Committed.tallied({("Mail01", "session"): 1, ("Mail02", "mail"): 1})],
        committed_us,
    )
    metrics.committed(first_batch)
    metrics.post()
    second_batch: list[Received | Rejected] = [
        received("Mail01", 2, committed_us - 2_000),
        received("Mail01", 1, committed_us - 30_000_000),  # delivered again
        Rejected(None, None, None, "domino/billing", b"?", "the topic names no server", 0),
    ]
    tally.count(
        second_batch,
        [Committed.tallied({("Mail01", "session"): 1}, {"Mail01": 1}, {NO_SERVER: 1})],
        committed_us,
    )
    metrics.committed(second_batch)
    metrics.post()
    figures = metrics.figures()
    assert figures is not None
    by_server = {server.server: server for server in figures.servers}
    assert list(by_server) == ["Mail01", "Mail02", NO_SERVER]
    mail01, mail02, nowhere = by_server.values()
    assert (mail01.committed, mail01.duplicates, mail01.rejects) == (3, 1, 0)
    assert mail01.stored == {"session": 2}
    assert mail01.latency.count == 3  # each folded once, across two posts
    assert mail01.latency.sum == pytest.approx(30.003)
    assert mail01.latency.counts[-1] == 1  # 30 s: above every bound
    assert (mail02.committed, mail02.stored, mail02.latency.count) == (1, {"mail": 1}, 0)
    assert (nowhere.rejects, nowhere.committed, nowhere.latency.count) == (1, 0, 0)
    assert (figures.unacknowledged, figures.batch_frames.count) == (7, 2)
    assert figures.batch_frames.sum == 5
    # What the summary says is their sum.
    summary = tally.summary(1.0)
    assert summary["committed"] == sum(server.committed for server in figures.servers)
    assert summary["latency_ms"]["frames"] == sum(s.latency.count for s in figures.servers)


# -- bad options -------------------------------------------------------------------------------


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_a_metrics_port_in_use_is_bad_input_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke(
            "run", "lifecycle-demo", "--out", str(tmp_path / "x.nbf"), "--metrics-port", str(port)
        )
    assert result.exit_code == 2, result.output
    assert "--metrics-port" in result.output
    assert f"127.0.0.1:{port}" in result.output


@pytest.mark.parametrize("command", ["run", "addin"])
def test_metrics_host_goes_with_a_port(command: str, tmp_path: Path) -> None:
    args = ["lifecycle-demo", "--out", str(tmp_path / "x.nbf")] if command == "run" else []
    result = invoke(command, *args, "--metrics-host", "0.0.0.0")
    assert result.exit_code == 2, result.output
    assert "--metrics-host" in result.output


def test_an_unknown_metrics_host_is_bad_input_named(tmp_path: Path) -> None:
    result = invoke(
        "run",
        "lifecycle-demo",
        "--out",
        str(tmp_path / "x.nbf"),
        "--metrics-port",
        "0",
        "--metrics-host",
        "no-such-host.invalid",
    )
    assert result.exit_code == 2, result.output
    assert "--metrics-host" in result.output


def test_a_run_to_a_file_announces_its_endpoint_and_ends_when_nobody_scrapes(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    result = invoke(
        "run", "lifecycle-demo", "--out", str(tmp_path / "x.nbf"), "--metrics-port", "0"
    )
    assert result.exit_code == 0, result.output
    assert "billsim: metrics at http://127.0.0.1:" in result.output
    assert time.monotonic() - started < 20


@pytest.mark.broker
def test_a_replay_serves_its_counters_and_ends_on_what_it_sent(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    scenario = tmp_path / "stream.yaml"
    scenario.write_text(SCENARIO % "")
    frames, truth = tmp_path / "run.nbf", tmp_path / "truth.json"
    subprocess.run(
        billsim("run", str(scenario), "--out", str(frames), "--summary", str(truth)),
        check=True,
        capture_output=True,
    )
    expected = json.loads(truth.read_text())
    summary_path = tmp_path / "replay.json"
    port = free_port()
    process = subprocess.Popen(
        billsim(
            *("replay", str(frames), "--broker", mosquitto.url, "--speed", "400x"),
            *("--metrics-port", str(port), "--summary", str(summary_path)),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    during, final, summary = scrape_until_summed_up(process, port, summary_path)
    code, err = finish(process)
    assert code == 0, err
    assert summary["frames"] == expected["records"]
    # The replayed server's series: the run's records by class, every one acknowledged.
    assert final.by("billsim_records_total", "class", server="Mail01") == {
        name: float(count) for name, count in expected["records_by_class"].items()
    }
    for name in ("billsim_frames_published_total", "billsim_frames_delivered_total"):
        assert final.get(name, server="Mail01") == expected["records"], name
    assert final.get("billsim_publish_to_ack_seconds_count", server="Mail01") == expected["records"]
    assert final.get("billsim_queue_depth_frames", server="Mail01") == 0
    assert final.get("billsim_virtual_time_seconds", server="Mail01") == pytest.approx(
        START + expected["virtual_span_s"], abs=0.01
    )
    written = [sum(s.by("billsim_records_total", "class").values()) for s in during]
    assert any(0 < count < expected["records"] for count in written), written
