"""The Prometheus endpoint (simulator/adapters/metrics/exporter.py): every name billsim
exports follows Prometheus' conventions, the collectors turn figures into the series a
scrape returns, and the endpoint waits for the scrape after the final figures."""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.error
import urllib.request
from array import array
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from series import LABELS, PREFIX, exported_names

from simulator.adapters.metrics.exporter import (
    ADDIN_METRICS,
    RUN_METRICS,
    AddinCollector,
    Kind,
    MetricsEndpoint,
    RunCollector,
)
from simulator.adapters.metrics.figures import (
    AddinFigures,
    AddinServerFigures,
    DrainFigures,
    ServerFigures,
)
from simulator.adapters.metrics.histogram import (
    BATCH_BOUNDS,
    LATENCY_BOUNDS_US,
    Histogram,
    HistogramSnapshot,
)

# Base units Prometheus names (seconds, bytes) and the things billsim counts.
UNITS = ("seconds", "bytes", "frames")


def latency(*values_us: int) -> HistogramSnapshot:
    histogram = Histogram(LATENCY_BOUNDS_US, 1_000_000)
    histogram.observe_many(array("q", values_us))
    return histogram.fold()


def server(name: str, *, drain: bool = True) -> ServerFigures:
    return ServerFigures(
        server=name,
        records={"session": 7, "custom/32001": 2},
        queue_depth=4,
        dropped=1,
        virtual_time=1_795_251_600.0,
        drain=DrainFigures(
            published=9, delivered=8, resent=1, refused=0, in_flight=1, ack_latency=latency(800)
        )
        if drain
        else None,
    )


ADDIN = AddinFigures(
    servers=(
        AddinServerFigures(
            server="Mail01",
            stored={"session": 5, "mail": 2},
            committed=8,
            duplicates=1,
            rejects=1,
            latency=latency(1_500, 2_000_000),
        ),
        AddinServerFigures(
            server="Mail02",
            stored={"session": 3},
            committed=3,
            duplicates=0,
            rejects=0,
            latency=latency(900),
        ),
        # Messages whose topic named no server: rejects, and nothing else.
        AddinServerFigures(
            server="", stored={}, committed=0, duplicates=0, rejects=2, latency=latency()
        ),
    ),
    unacknowledged=3,
    batch_frames=Histogram(BATCH_BOUNDS).fold(),
)


def every_family() -> Iterator[tuple[str, str, list[Sample]]]:
    """(name, type, samples) of every family the two collectors yield, with figures."""
    run = RunCollector(lambda: [server("Mail01")])
    addin = AddinCollector(lambda: ADDIN)
    for family in [*run.collect(), *addin.collect()]:
        yield family.name, family.type, family.samples


def test_every_exported_name_follows_prometheus_conventions() -> None:
    families = list(every_family())
    assert {name for name, _, _ in families} == {
        spec.name for spec in (*RUN_METRICS, *ADDIN_METRICS)
    }
    for name, kind, samples in families:
        assert name.startswith(PREFIX), name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert samples, f"{name}: no series from figures that have it"
        for sample in samples:
            assert set(sample.labels) - {"le"} <= set(LABELS), sample
            assert "user" not in sample.labels
            if kind == "counter":
                assert sample.name == name + "_total", sample.name
            elif kind == "gauge":
                assert not sample.name.endswith("_total"), sample.name
                assert sample.name == name
            else:
                assert kind == "histogram", name
                assert sample.name in {name + s for s in ("_bucket", "_sum", "_count")}
        if kind == "histogram" or "time" in name or "latency" in name:
            assert name.rsplit("_", 1)[1] in UNITS, f"{name}: no base unit"
        if "seconds" in name and kind == "histogram":
            bounds = {float(s.labels["le"]) for s in samples if s.name.endswith("_bucket")}
            assert {0.001, 10.0} <= bounds, f"{name}: does not resolve 1 ms to 10 s"


def test_the_exported_names_are_the_series_a_query_can_use() -> None:
    sampled = {sample.name for _, _, samples in every_family() for sample in samples}
    assert exported_names() == sampled


def test_run_and_addin_series_do_not_clash_and_are_labelled_by_server() -> None:
    run = {spec.name for spec in RUN_METRICS}
    addin = {spec.name for spec in ADDIN_METRICS}
    assert not run & addin
    assert all(name.startswith(PREFIX + "addin_") for name in addin)
    assert all("server" in spec.labels for spec in RUN_METRICS)
    assert {spec.kind for spec in RUN_METRICS} == set(Kind)
    # The add-in's too, but for what belongs to the add-in itself: a batch mixes servers.
    unlabelled = {spec.name for spec in ADDIN_METRICS if "server" not in spec.labels}
    assert unlabelled == {
        "billsim_addin_unacknowledged_frames",
        "billsim_addin_commit_batch_frames",
    }


def test_the_addin_s_series_are_by_server_and_a_reject_of_no_server_has_an_empty_one() -> None:
    by_name = {family.name: family for family in AddinCollector(lambda: ADDIN).collect()}

    def values(name: str, *labels: str) -> dict[tuple[str, ...], float]:
        return {
            tuple(sample.labels[label] for label in labels): sample.value
            for sample in by_name[name].samples
            if sample.name.endswith(("_total", "_count")) or sample.name == name
        }

    assert values("billsim_addin_frames_stored", "server", "class") == {
        ("Mail01", "mail"): 2,
        ("Mail01", "session"): 5,
        ("Mail02", "session"): 3,
    }
    assert values("billsim_addin_frames_committed", "server") == {("Mail01",): 8, ("Mail02",): 3}
    assert values("billsim_addin_duplicates", "server") == {("Mail01",): 1, ("Mail02",): 0}
    assert values("billsim_addin_rejects", "server") == {("Mail01",): 1, ("Mail02",): 0, ("",): 2}
    assert values("billsim_addin_end_to_end_latency_seconds", "server") == {
        ("Mail01",): 2,
        ("Mail02",): 1,
    }
    assert values("billsim_addin_unacknowledged_frames") == {(): 3}


def test_a_server_without_a_drain_has_no_drain_series() -> None:
    collector = RunCollector(lambda: [server("Mail01", drain=False), server("Mail02")])
    by_name = {family.name: family for family in collector.collect()}
    delivered = by_name["billsim_frames_delivered"].samples
    assert [sample.labels["server"] for sample in delivered] == ["Mail02"]
    records = by_name["billsim_records"].samples
    assert {(s.labels["server"], s.labels["class"], s.value) for s in records} == {
        ("Mail01", "custom/32001", 2),
        ("Mail01", "session", 7),
        ("Mail02", "custom/32001", 2),
        ("Mail02", "session", 7),
    }


def test_an_addin_not_yet_running_serves_its_metrics_without_series() -> None:
    for family in AddinCollector(lambda: None).collect():
        assert family.samples == []


# -- the HTTP endpoint -----------------------------------------------------------------------


@pytest.fixture
def endpoint() -> Iterator[MetricsEndpoint]:
    served = MetricsEndpoint("127.0.0.1", 0)
    try:
        yield served
    finally:
        served.close()


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        sample.name + str(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_scrape_reads_the_figures_of_that_moment(endpoint: MetricsEndpoint) -> None:
    figures = [server("Mail01")]
    endpoint.add(RunCollector(lambda: figures))
    endpoint.add(AddinCollector(lambda: ADDIN))
    assert endpoint.url == f"http://127.0.0.1:{endpoint.port}/metrics"
    first = scrape(endpoint.url)
    key = "billsim_frames_delivered_total[('server', 'Mail01')]"
    assert first[key] == 8
    assert first["billsim_addin_duplicates_total[('server', 'Mail01')]"] == 1
    assert first["billsim_publish_to_ack_seconds_count[('server', 'Mail01')]"] == 1
    # Only billsim's own series: no process or platform collectors.
    assert all(name.startswith(PREFIX) for name in first)
    figures.append(server("Mail02"))
    assert "billsim_frames_delivered_total[('server', 'Mail02')]" in scrape(endpoint.url)


def test_a_port_in_use_fails_at_once() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            MetricsEndpoint("127.0.0.1", taken.getsockname()[1])


def test_linger_returns_at_once_when_nobody_scrapes(endpoint: MetricsEndpoint) -> None:
    started = time.monotonic()
    assert endpoint.linger() is False
    assert time.monotonic() - started < 1


def test_linger_waits_for_the_scrape_after_the_final_figures(endpoint: MetricsEndpoint) -> None:
    endpoint.add(RunCollector(lambda: [server("Mail01")]))
    scrape(endpoint.url)
    scrape(endpoint.url)  # two scrapes: the endpoint knows their interval
    seen: list[dict[str, float]] = []

    def prometheus_comes_back() -> None:
        time.sleep(0.3)
        seen.append(scrape(endpoint.url))

    later = threading.Thread(target=prometheus_comes_back)
    later.start()
    assert endpoint.linger() is True
    later.join()
    assert seen  # answered in full before linger let the endpoint close
    endpoint.close()
    with pytest.raises(urllib.error.URLError):
        scrape(endpoint.url)


def test_linger_gives_up_after_twice_the_scrape_interval(endpoint: MetricsEndpoint) -> None:
    scrape(endpoint.url)
    time.sleep(0.2)
    scrape(endpoint.url)
    started = time.monotonic()
    assert endpoint.linger() is False
    assert 1.0 < time.monotonic() - started < 5.0
