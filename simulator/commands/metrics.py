"""`--metrics-port`: the figures of `run` (and of `replay`) and of `addin` on a Prometheus
endpoint (adapters/metrics/, docs/observability.md).

The wiring, in three pieces that any command can reuse:

- `metrics_endpoint(host, port, stderr)`: the endpoint opened before the work (a port
  that cannot be bound is bad input, exit 2, found at once), announced on stderr, and on
  the way out held open until Prometheus has scraped the final figures, then closed;
- `RunMetrics`: a publishing side's servers — each `watch`ed (a `Simulation` with
  `watch_simulation`, or any source of records, queue and virtual time: a replay),
  its drain attached once made (`attach_drain`, or `run_on_mqtt(on_drain=…)`), and
  `pumping()` around the run: figures posted a few times a second from the event loop,
  the final ones when the block ends;
- `AddinMetrics`: the add-in's tally and batcher, likewise.

A replay would do:

    with metrics_endpoint(request.metrics_host, request.metrics_port, stderr) as endpoint:
        metrics = RunMetrics(endpoint)                     # endpoint None: all of it off
        index = metrics.watch(Watched(server_cn, lambda: records_by_class_so_far,
                                      queue, lambda: capture_time_reached))
        async with metrics.pumping():
            drain = BillingDrain(…); metrics.attach_drain(index, drain)
            …

Nothing here runs per frame: the engine's and the drain's counters are read at each
post, and latencies wait in bucket arrays (adapters/metrics/histogram.py) until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, TextIO

from simulator.adapters.metrics.figures import (
    AddinFigures,
    AddinServerFigures,
    DrainFigures,
    FiguresLayout,
    ServerFigures,
    Slots,
)
from simulator.adapters.metrics.histogram import (
    BATCH_BOUNDS,
    LATENCY_BOUNDS_US,
    MICROSECONDS_PER_SECOND,
    Histogram,
)
from simulator.commands.summary import records_by_class
from simulator.domino.mq import MQStats
from simulator.domino.simulation import Simulation
from simulator.errors import InputError
from simulator.scenario.models import Scenario
from simulator.scenario.names import common_name
from simulator.wire import constants as c

if TYPE_CHECKING:
    # prometheus_client takes a while to import: only a command serving metrics pays for it.
    from simulator.adapters.metrics.exporter import MetricsEndpoint

DEFAULT_HOST: Final = "127.0.0.1"
# Seconds between two posts of the figures: well under any scrape interval.
POST_EVERY: Final = 0.25


def open_endpoint(host: str, port: int) -> MetricsEndpoint:
    """The endpoint on `host`:`port`; one that cannot be opened is bad input naming why."""
    from simulator.adapters.metrics.exporter import MetricsEndpoint  # noqa: PLC0415 -- slow

    try:
        return MetricsEndpoint(host, port)
    except OSError as error:
        reason = error.strerror or str(error)
        if isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL:
            raise InputError(
                f"cannot listen on {host!r}: {reason}", field="--metrics-host"
            ) from None
        raise InputError(
            f"cannot listen on {host}:{port}: {reason}", field="--metrics-port"
        ) from None


@contextlib.contextmanager
def metrics_endpoint(
    host: str | None, port: int | None, stderr: TextIO
) -> Iterator[MetricsEndpoint | None]:
    """The endpoint for the block (None without a port); when the block ends normally it
    stays open until Prometheus has scraped the final figures (see `linger`)."""
    if port is None:
        if host is not None:
            raise InputError("goes with --metrics-port", field="--metrics-host")
        yield None
        return
    endpoint = open_endpoint(host or DEFAULT_HOST, port)
    stderr.write(f"billsim: metrics at {endpoint.url}\n")
    stderr.flush()
    try:
        yield endpoint
        endpoint.linger(stderr)
    finally:
        endpoint.close()


# -- a publishing side: run, replay ----------------------------------------------------------


class DeliveryCounts(Protocol):
    """What the stats message and the live line read of an MQTT drain
    (adapters/mqtt/drain.py's BillingDrain)."""

    @property
    def delivered(self) -> int: ...
    @property
    def in_flight(self) -> int: ...


class DrainLike(DeliveryCounts, Protocol):
    """What the figures read of an MQTT drain."""

    ack_latency: Histogram | None

    @property
    def published(self) -> int: ...
    @property
    def resent(self) -> int: ...
    @property
    def refused(self) -> int: ...


class QueueLike(Protocol):
    """MQ$BILLING as the figures read it (domino/mq.py's MessageQueue)."""

    def stats(self) -> MQStats: ...


@dataclass
class Watched:
    """One publishing server: its common name, its records by class so far, its queue
    (depth and drops), the virtual time it has reached (Unix seconds) and, once attached,
    its drain and the drain's publish-to-ack histogram."""

    server: str
    records: Callable[[], Mapping[str, int]]
    queue: QueueLike
    virtual_time: Callable[[], float]
    drain: DrainLike | None = None
    ack_latency: Histogram | None = None

    def figures(self) -> ServerFigures:
        stats = self.queue.stats()
        drain = self.drain
        drain_figures = None
        if drain is not None and self.ack_latency is not None:
            drain_figures = DrainFigures(
                published=drain.published,
                delivered=drain.delivered,
                resent=drain.resent,
                refused=drain.refused,
                in_flight=drain.in_flight,
                ack_latency=self.ack_latency.fold(),
            )
        return ServerFigures(
            server=self.server,
            records=self.records(),
            queue_depth=stats.depth,
            dropped=stats.dropped,
            virtual_time=self.virtual_time(),
            drain=drain_figures,
        )


def watch_simulation(sim: Simulation) -> Watched:
    """A simulation's server as the metrics see it."""
    start = sim.scenario.start.timestamp()
    return Watched(
        server=common_name(sim.server_name),
        records=lambda: records_by_class(sim.writer.by_struct_type),
        queue=sim.queue,
        virtual_time=lambda: start + sim.virtual_now() / MICROSECONDS_PER_SECOND,
    )


class RunMetrics:
    """The figures of a publishing side's servers, posted from the event loop (`post`,
    or `pumping()` around the run) where the endpoint's collector — or, in a domain's
    child process, the parent through shared slots (`share`) — reads them."""

    def __init__(self, endpoint: MetricsEndpoint | None = None) -> None:
        self._watched: dict[int, Watched] = {}
        self._posted: tuple[ServerFigures, ...] = ()
        self._shared: tuple[FiguresLayout, Slots] | None = None
        if endpoint is not None:
            from simulator.adapters.metrics.exporter import RunCollector  # noqa: PLC0415

            endpoint.add(RunCollector(self.figures))

    def watch(self, watched: Watched, index: int | None = None) -> int:
        """Follow a server; its index (`index`: its place in a domain)."""
        if index is None:
            index = len(self._watched)
        self._watched[index] = watched
        return index

    def attach_drain(self, index: int, drain: DrainLike) -> None:
        """The server's drain, made: from now on its frames and publish-to-ack latencies
        count. Call before its first frame is published."""
        watched = self._watched[index]
        watched.ack_latency = drain.ack_latency = Histogram(
            LATENCY_BOUNDS_US, MICROSECONDS_PER_SECOND
        )
        watched.drain = drain

    def drain_hook(self, index: int) -> Callable[[Any], None]:
        """`attach_drain` for one server, as `run_on_mqtt(on_drain=…)` takes it."""
        return lambda drain: self.attach_drain(index, drain)

    def share(self, layout: FiguresLayout, slots: Slots) -> None:
        """Also post every server's figures into `slots` (a domain's, read by its parent)."""
        self._shared = (layout, slots)

    def post(self) -> None:
        """Read every server's counters now (on the event loop's thread)."""
        posted = tuple(watched.figures() for watched in self._watched.values())
        if self._shared is not None:
            layout, slots = self._shared
            for index, figures in zip(self._watched, posted, strict=True):
                layout.write(slots, index, figures)
        self._posted = posted  # one assignment: a scrape sees the old figures or the new

    def figures(self) -> tuple[ServerFigures, ...]:
        return self._posted

    @contextlib.asynccontextmanager
    async def pumping(self, every: float = POST_EVERY) -> AsyncIterator[RunMetrics]:
        """Post now and every `every` s while the block runs, and once more at its end
        (the final figures, which the run's summary holds too)."""
        async with _posting(self.post, every):
            yield self


@contextlib.asynccontextmanager
async def _posting(post: Callable[[], None], every: float) -> AsyncIterator[None]:
    async def pump() -> None:
        while True:
            await asyncio.sleep(every)
            post()

    post()
    task = asyncio.create_task(pump(), name="billsim-metrics-post")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        post()


@contextlib.asynccontextmanager
async def pumping(metrics: RunMetrics | AddinMetrics | None) -> AsyncIterator[None]:
    """`metrics.pumping()` around the block; nothing without metrics."""
    if metrics is None:
        yield
        return
    async with metrics.pumping():
        yield


def domain_layout(scenario: Scenario) -> FiguresLayout:
    """The slot layout of a domain's figures: every built-in class, then the scenario's
    custom types (`custom/N`, as the summary names them)."""
    builtin = [c.CLASS_TOPIC_NAME[key] for key in sorted(c.CLASS_TOPIC_NAME)]
    custom = [f"custom/{kind.struct_type}" for kind in scenario.custom_kinds()]
    return FiguresLayout([*builtin, *custom])


class SharedFigures:
    """A domain's figures as its child processes post them into shared slots (each child's
    `RunMetrics.share`): what the parent's endpoint serves."""

    def __init__(
        self,
        layout: FiguresLayout,
        slots: Slots,
        servers: Sequence[str],
        endpoint: MetricsEndpoint | None = None,
    ) -> None:
        self.layout = layout
        self.slots = slots
        self.servers = [common_name(server) for server in servers]
        if endpoint is not None:
            from simulator.adapters.metrics.exporter import RunCollector  # noqa: PLC0415

            endpoint.add(RunCollector(self.figures))

    def figures(self) -> list[ServerFigures]:
        read = (
            self.layout.read(self.slots, index, server) for index, server in enumerate(self.servers)
        )
        return [figures for figures in read if figures is not None]


# -- the add-in ------------------------------------------------------------------------------


class ServerTallyLike(Protocol):
    """What the figures read of one server's share of the tally (commands/addin.py's
    ServerTally)."""

    @property
    def committed(self) -> int: ...
    @property
    def stored(self) -> Mapping[str, int]: ...
    @property
    def duplicates(self) -> int: ...
    @property
    def rejects(self) -> int: ...
    @property
    def latency(self) -> Histogram | None: ...


class TallyLike(Protocol):
    """What the figures read of the add-in's tally (commands/addin.py's Tally): its servers,
    each with a latency histogram once `latency_by_server` is set."""

    latency_by_server: bool

    @property
    def servers(self) -> Mapping[str, ServerTallyLike]: ...


class AddinMetrics:
    """The add-in's figures: its tally by server (stored by class, committed, duplicates,
    rejects, the latency of each committed frame, which the tally keeps in a histogram of
    each server for the metrics), the messages it has not acknowledged yet, and each
    commit's size."""

    def __init__(self, endpoint: MetricsEndpoint | None = None) -> None:
        self._tally: TallyLike | None = None
        self._unacknowledged: Callable[[], int] = lambda: 0
        self._batches = Histogram(BATCH_BOUNDS)
        self._posted: AddinFigures | None = None
        if endpoint is not None:
            from simulator.adapters.metrics.exporter import AddinCollector  # noqa: PLC0415

            endpoint.add(AddinCollector(self.figures))

    def watch(self, tally: TallyLike, unacknowledged: Callable[[], int]) -> None:
        """Follow `tally` (before its first commit: from then on it keeps each server's
        latencies in a histogram) and the count of messages not yet acknowledged."""
        tally.latency_by_server = True
        self._tally = tally
        self._unacknowledged = unacknowledged

    def committed(self, items: Sequence[object]) -> None:
        """A batch was committed (the add-in's `on_committed`): its size counts."""
        self._batches.observe(len(items))

    def post(self) -> None:
        tally = self._tally
        if tally is None:
            return
        self._posted = AddinFigures(
            servers=tuple(
                AddinServerFigures(
                    server=name,
                    stored=dict(server.stored),
                    committed=server.committed,
                    duplicates=server.duplicates,
                    rejects=server.rejects,
                    latency=(server.latency or _NO_LATENCY).fold(),
                )
                for name, server in list(tally.servers.items())
            ),
            unacknowledged=self._unacknowledged(),
            batch_frames=self._batches.fold(),
        )

    def figures(self) -> AddinFigures | None:
        return self._posted

    @contextlib.asynccontextmanager
    async def pumping(self, every: float = POST_EVERY) -> AsyncIterator[AddinMetrics]:
        async with _posting(self.post, every):
            yield self


# A server's latency before the tally kept any (it never does for a reject's NO_SERVER).
_NO_LATENCY: Final = Histogram(LATENCY_BOUNDS_US, MICROSECONDS_PER_SECOND)
