"""The Prometheus endpoint (prometheus-client): the metrics billsim exports, the collectors
that read them at scrape time, and the HTTP server that serves them.

Nothing here runs per frame. The collectors are custom ones: at each scrape they read the
latest figures (figures.py), which the event loop posts a few times a second from the
counters the engine, the drain and the add-in keep anyway, and yield them as metric
families. The endpoint has a registry of its own (no process or platform collectors: every
name it serves is billsim's, `billsim_…`).

    endpoint = MetricsEndpoint("127.0.0.1", 9464)     # OSError if the port is taken
    endpoint.add(RunCollector(lambda: figures))
    ...
    endpoint.linger(stderr)                           # let Prometheus see the last figures
    endpoint.close()
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from socketserver import ThreadingMixIn
from typing import Any, Final, TextIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from simulator.adapters.metrics.figures import AddinFigures, ServerFigures
from simulator.adapters.metrics.histogram import HistogramSnapshot


class Kind(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its family name (a counter's without `_total`, which Prometheus adds),
    kind, help text and labels."""

    name: str
    kind: Kind
    help: str
    # `server` and `class` only: bounded sets of values (a user name never is one).
    labels: tuple[str, ...] = ()

    def scalar_family(self) -> CounterMetricFamily | GaugeMetricFamily:
        """An empty family of this counter or gauge, for `add_metric(labels, value)`."""
        if self.kind is Kind.COUNTER:
            return CounterMetricFamily(self.name, self.help, labels=list(self.labels))
        assert self.kind is Kind.GAUGE, self
        return GaugeMetricFamily(self.name, self.help, labels=list(self.labels))

    def histogram_family(self) -> HistogramMetricFamily:
        assert self.kind is Kind.HISTOGRAM, self
        return HistogramMetricFamily(self.name, self.help, labels=list(self.labels))


RECORDS = MetricSpec(
    "billsim_records",
    Kind.COUNTER,
    "Records the emulated server wrote through BillingWrite, by record class.",
    ("server", "class"),
)
PUBLISHED = MetricSpec(
    "billsim_frames_published",
    Kind.COUNTER,
    "Frames published to the broker for the first time (resends are counted apart).",
    ("server",),
)
DELIVERED = MetricSpec(
    "billsim_frames_delivered",
    Kind.COUNTER,
    "Frames the broker acknowledged (QoS 1) or that were written to it (QoS 0).",
    ("server",),
)
RESENT = MetricSpec(
    "billsim_frames_resent",
    Kind.COUNTER,
    "Frames published again, same seq, after a lost connection.",
    ("server",),
)
REFUSED = MetricSpec(
    "billsim_frames_refused",
    Kind.COUNTER,
    "Frames the broker refused (PUBACK reason code 0x80 or above): not delivered.",
    ("server",),
)
DROPPED = MetricSpec(
    "billsim_frames_dropped",
    Kind.COUNTER,
    "Records MQ$BILLING refused at its quota (queue policy drop): never sent.",
    ("server",),
)
QUEUE_DEPTH = MetricSpec(
    "billsim_queue_depth_frames",
    Kind.GAUGE,
    "Frames waiting in MQ$BILLING to be taken by the drain.",
    ("server",),
)
IN_FLIGHT = MetricSpec(
    "billsim_in_flight_frames",
    Kind.GAUGE,
    "Frames taken from MQ$BILLING and not yet acknowledged by the broker.",
    ("server",),
)
VIRTUAL_TIME = MetricSpec(
    "billsim_virtual_time_seconds",
    Kind.GAUGE,
    "The virtual clock of the emulated server, as Unix time.",
    ("server",),
)
ACK_LATENCY = MetricSpec(
    "billsim_publish_to_ack_seconds",
    Kind.HISTOGRAM,
    "From a frame's first publish to the broker's PUBACK (QoS 1).",
    ("server",),
)
RUN_METRICS: Final = (
    RECORDS,
    PUBLISHED,
    DELIVERED,
    RESENT,
    REFUSED,
    DROPPED,
    QUEUE_DEPTH,
    IN_FLIGHT,
    VIRTUAL_TIME,
    ACK_LATENCY,
)

STORED = MetricSpec(
    "billsim_addin_frames_stored",
    Kind.COUNTER,
    "Frames the add-in stored (in its first store), by record class; duplicates left out.",
    ("server", "class"),
)
COMMITTED = MetricSpec(
    "billsim_addin_frames_committed",
    Kind.COUNTER,
    "Frames the add-in committed and acknowledged: every delivery, duplicates included.",
    ("server",),
)
DUPLICATES = MetricSpec(
    "billsim_addin_duplicates",
    Kind.COUNTER,
    "Frames delivered again (same server, run and seq) and not stored twice.",
    ("server",),
)
REJECTS = MetricSpec(
    "billsim_addin_rejects",
    Kind.COUNTER,
    "Messages that are no frame the add-in can read, kept in the rejects; "
    'server "" when the topic named none.',
    ("server",),
)
UNACKNOWLEDGED = MetricSpec(
    "billsim_addin_unacknowledged_frames",
    Kind.GAUGE,
    "Messages received and not yet acknowledged: waiting for their batch to commit.",
)
BATCH = MetricSpec(
    "billsim_addin_commit_batch_frames",
    Kind.HISTOGRAM,
    "Frames per committed batch (at most 500; no batch waits for more).",
)
E2E_LATENCY = MetricSpec(
    "billsim_addin_end_to_end_latency_seconds",
    Kind.HISTOGRAM,
    "From a frame's first publish (its sent property) to the add-in's commit.",
    ("server",),
)
ADDIN_METRICS: Final = (STORED, COMMITTED, DUPLICATES, REJECTS, UNACKNOWLEDGED, BATCH, E2E_LATENCY)


def _le(bound: float) -> str:
    """A bucket's `le` label as Prometheus' clients write it: `0.005`, `1.0`, `+Inf`."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


class _Families:
    """An empty family of each metric of `specs`, filled by a collector, then yielded."""

    def __init__(self, specs: Sequence[MetricSpec]) -> None:
        self.specs = specs
        self.scalars = {s.name: s.scalar_family() for s in specs if s.kind is not Kind.HISTOGRAM}
        self.histograms = {s.name: s.histogram_family() for s in specs if s.kind is Kind.HISTOGRAM}

    def add(self, spec: MetricSpec, labels: list[str], value: float) -> None:
        self.scalars[spec.name].add_metric(labels, value)

    def add_histogram(
        self, spec: MetricSpec, labels: list[str], snapshot: HistogramSnapshot
    ) -> None:
        buckets = [(_le(bound), count) for bound, count in snapshot.cumulative()]
        self.histograms[spec.name].add_metric(labels, buckets, snapshot.sum)

    def __iter__(self) -> Iterator[Metric]:
        for spec in self.specs:
            yield self.scalars.get(spec.name) or self.histograms[spec.name]


class RunCollector:
    """The figures of a run's servers (one, or a domain's), read at each scrape."""

    def __init__(self, figures: Callable[[], Iterable[ServerFigures]]) -> None:
        self._figures = figures

    def collect(self) -> Iterator[Metric]:
        families = _Families(RUN_METRICS)
        add = families.add
        for server in self._figures():
            name = server.server
            for record_class, count in sorted(server.records.items()):
                add(RECORDS, [name, record_class], count)
            add(DROPPED, [name], server.dropped)
            add(QUEUE_DEPTH, [name], server.queue_depth)
            add(VIRTUAL_TIME, [name], server.virtual_time)
            drain = server.drain
            if drain is None:
                continue
            add(PUBLISHED, [name], drain.published)
            add(DELIVERED, [name], drain.delivered)
            add(RESENT, [name], drain.resent)
            add(REFUSED, [name], drain.refused)
            add(IN_FLIGHT, [name], drain.in_flight)
            families.add_histogram(ACK_LATENCY, [name], drain.ack_latency)
        yield from families


class AddinCollector:
    """The add-in's figures, read at each scrape (None: not yet running: no series)."""

    def __init__(self, figures: Callable[[], AddinFigures | None]) -> None:
        self._figures = figures

    def collect(self) -> Iterator[Metric]:
        families = _Families(ADDIN_METRICS)
        figures = self._figures()
        if figures is not None:
            add = families.add
            for server in figures.servers:
                name = server.server
                add(REJECTS, [name], server.rejects)
                if not name:
                    continue  # rejects whose topic named no server: nothing else
                for record_class, count in sorted(server.stored.items()):
                    add(STORED, [name, record_class], count)
                add(COMMITTED, [name], server.committed)
                add(DUPLICATES, [name], server.duplicates)
                families.add_histogram(E2E_LATENCY, [name], server.latency)
            add(UNACKNOWLEDGED, [], figures.unacknowledged)
            families.add_histogram(BATCH, [], figures.batch_frames)
        yield from families


# -- the HTTP endpoint -------------------------------------------------------------------------


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress never holds up the exit


class _Scrapes:
    """Scrapes of the endpoint: each numbered as it starts; which have finished."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.started = 0
        self.started_at: list[float] = []
        self.latest_done = 0  # the number of the latest scrape that has been answered

    def start(self) -> int:
        with self._changed:
            self.started += 1
            self.started_at = [*self.started_at[-1:], time.monotonic()]
            return self.started

    def done(self, number: int) -> None:
        with self._changed:
            self.latest_done = max(self.latest_done, number)
            self._changed.notify_all()

    def interval(self) -> float | None:
        """Seconds between the last two scrapes (None before two)."""
        with self._changed:
            if len(self.started_at) < 2:
                return None
            return self.started_at[1] - self.started_at[0]

    def wait_done_after(self, number: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.latest_done > number, timeout)


def _handler_for(scrapes: _Scrapes) -> type[WSGIRequestHandler]:
    class Handler(WSGIRequestHandler):
        def handle(self) -> None:
            number = scrapes.start()
            try:
                super().handle()
            finally:
                scrapes.done(number)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a scrape every few seconds is no news for the terminal

    return Handler


# How long `linger` waits, at most, for the scrape after the last figures.
_LINGER_CAP: Final = 60.0
_LINGER_UNKNOWN_INTERVAL: Final = 30.0  # when only one scrape came: twice Prometheus' default


class MetricsEndpoint:
    """An HTTP endpoint serving billsim's metrics on `host`:`port` from a thread of its
    own, at `/metrics` (and any other path: Prometheus' convention is `/metrics`).
    Binding fails with OSError (port taken, no such address) in the constructor."""

    def __init__(self, host: str, port: int) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.scrapes = _Scrapes()
        family, _type, _proto, _name, _address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )[0]

        class Server(_Server):
            address_family = family

        self._server = make_server(
            host,
            port,
            make_wsgi_app(self.registry),
            server_class=Server,
            handler_class=_handler_for(self.scrapes),
        )
        self.host = host
        self.port: int = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="billsim-metrics", daemon=True
        )
        self._thread.start()
        self._closed = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def add(self, collector: Collector) -> None:
        self.registry.register(collector)

    def linger(self, say: TextIO | None = None) -> bool:
        """After the last figures were posted: if anyone has been scraping, wait for one
        more scrape, so the final counts reach Prometheus (at most twice the interval
        between the last two scrapes, plus a second; 60 s at most). Returns whether that
        scrape came; at once False when nobody scraped. Ctrl-C ends the wait."""
        scrapes = self.scrapes
        last = scrapes.started
        if last == 0:
            return False
        interval = scrapes.interval()
        timeout = _LINGER_UNKNOWN_INTERVAL if interval is None else 2 * interval + 1
        timeout = min(timeout, _LINGER_CAP)
        if say is not None:
            say.write(
                f"billsim: metrics: waiting for the last scrape of {self.url} "
                f"(at most {timeout:.0f} s)\n"
            )
            say.flush()
        try:
            return scrapes.wait_done_after(last, timeout)
        except KeyboardInterrupt:
            return False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
