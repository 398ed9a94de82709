"""`billsim addin`: the reference billing add-in, draining the broker into its stores.

Wiring: the MQTT consumer (adapters/mqtt/consumer.py) hands each message to
`BillingAddin`, which makes it a frame or a reject (addin/intake.py), batches it
(addin/batcher.py) and commits each batch to every store in turn before the batch's
messages are acknowledged, so killing the add-in at any instant loses nothing. Pacing
(addin/pacing.py): with `notes-ini` the add-in is connected only while awake; asleep it
is disconnected and the broker keeps the backlog in its persistent session. It ends on
Ctrl-C / SIGTERM (after committing what it took) or after `--until-idle` seconds awake
without a frame, and prints what it stored, the duplicates, the rejects and the
publish-to-commit latency; with `--summary` it writes the same as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

from simulator.adapters.atomic import AtomicFile
from simulator.adapters.metrics.histogram import (
    LATENCY_BOUNDS_US,
    MICROSECONDS_PER_SECOND,
    Histogram,
)
from simulator.adapters.mqtt.consumer import (
    Ack,
    Consumer,
    check_group,
    client_id,
    describe_filters,
    topic_filters,
)
from simulator.adapters.mqtt.options import DEFAULT_CONNECT_TIMEOUT, tls_context
from simulator.adapters.mqtt.url import DEFAULT_BROKER, parse_broker_url
from simulator.adapters.stores import open_store
from simulator.addin.batcher import MAX_BATCH_ITEMS, MAX_UNACKNOWLEDGED, Batcher
from simulator.addin.intake import Intake, Message
from simulator.addin.pacing import Pacing, Unpaced, WakeupPacing
from simulator.addin.rows import RowMaker
from simulator.addin.store import Committed, Received, Rejected, Store
from simulator.commands.garbage import collect_garbage_seldom
from simulator.commands.metrics import AddinMetrics, metrics_endpoint, pumping
from simulator.commands.run_live import LiveLine, RateMeter
from simulator.commands.series import LATENCIES, CounterSeries, addin_series_json, sampling
from simulator.commands.signals import stop_on_signals, summary_kept
from simulator.errors import EXIT_FAILED, EXIT_OK, BillsimError, InputError
from simulator.scenario.notes_ini import (
    BILLING_ADDIN_OUTPUT,
    NotesIniSettings,
    read_notes_ini,
    resolve_settings,
)
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder
from simulator.wire.layout import Layout
from simulator.wire.text import TextView

DEFAULT_GROUP: Final = "addins"
RELATIONAL_STORE: Final = "sqlite:///billing.db"  # the stand-in for billing.nsf
NBF_STORE: Final = "nbf:billing.nbf"
# BillingAddinOutput bits, as the Billing task reads them.
_OUTPUT_RELATIONAL: Final = 1
_OUTPUT_NBF: Final = 8
_OUTPUT_PRINT: Final = 2  # +2: each record also printed as tail shows it
_GOODBYE_TIMEOUT: Final = 2.0


class StoreError(BillsimError):
    """A store failed to commit: nothing of the batch was acknowledged; exit 1."""


def _open_store(url: str, rows: RowMaker) -> Store:
    """The store a `--store` URL names, taking the frames as `rows` (the intake's) read
    them; a bad URL, or a path no store can be at, is an error of that option."""
    try:
        return open_store(url, rows)
    except InputError as error:
        if error.field is None:
            raise InputError(
                error.message, file=error.file, line=error.line, field="--store"
            ) from None
        raise


def store_urls(
    stores: Sequence[str], settings: NotesIniSettings, notes_ini: Path | None
) -> list[str]:
    """`--store` as given, else where BillingAddinOutput sends records (1: the relational
    store, 8: billing.nbf, 9: both; +2 also prints them: `prints_records`), else the
    relational store."""
    if stores:
        return list(stores)
    text = settings.billing_addin_output
    if text is None:
        return [RELATIONAL_STORE]
    where = str(notes_ini) if notes_ini is not None else None
    try:
        bits = int(text, 0)
    except ValueError:
        raise InputError(
            f"expected a number (1, 8 or 9), got {text!r}", file=where, field=BILLING_ADDIN_OUTPUT
        ) from None
    urls = [RELATIONAL_STORE] if bits & _OUTPUT_RELATIONAL else []
    urls += [NBF_STORE] if bits & _OUTPUT_NBF else []
    if not urls:
        raise InputError(
            f"{bits} names no store (1: billing database, 8: billing.nbf, 9: both; "
            "+2: also printed)",
            file=where,
            field=BILLING_ADDIN_OUTPUT,
        )
    return urls


def prints_records(stores: Sequence[str], settings: NotesIniSettings) -> bool:
    """BillingAddinOutput +2 (with no --store): each record also printed as `tail` shows it."""
    text = settings.billing_addin_output
    if stores or text is None:
        return False
    try:
        return bool(int(text, 0) & _OUTPUT_PRINT)
    except ValueError:
        return False  # store_urls has said what is wrong with it


class RecordPrinter:
    """Each committed frame as `tail` shows it, on `out` (BillingAddinOutput +2)."""

    def __init__(self, codec: FrameCodec, out: TextIO) -> None:
        self.decoder = JsonDecoder(codec)
        self.view = TextView()
        self.out = out

    def __call__(self, items: Sequence[Received | Rejected]) -> None:
        for item in items:
            if isinstance(item, Received):
                obj = self.decoder(item.frame, 0, item.seq)
                date_line, line = self.view.lines(obj, server=item.server)
                if date_line is not None:
                    self.out.write(date_line + "\n")
                self.out.write(line + "\n")
        self.out.flush()


# -- what was stored -----------------------------------------------------------------------


@dataclass(slots=True)
class ServerTally:
    """What the add-in committed of one server (the topic's common name; `NO_SERVER` holds
    the rejects whose topic named none): frames committed (deliveries, duplicates
    included), stored by class (first store), duplicates, rejects; `latency`: its
    publish-to-commit latencies (µs), appended to only when the metrics keep them."""

    committed: int = 0
    stored: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    rejects: int = 0
    latency: Histogram | None = None


@dataclass
class Tally:
    """What the add-in committed: frames (deliveries) committed, frames stored by class
    (in the first store: a redelivery is not stored twice), each store's counts,
    latencies (µs); the first store's counts by server (`servers`), each with its own
    latency histogram when `latency_by_server` is set (the metrics' histograms)."""

    urls: Sequence[str]
    taken: int = 0
    frames: Counter[str] = field(default_factory=Counter)
    per_store: list[Committed] = field(default_factory=list)
    # Not in the repr: one entry a frame, and Python 3.11's asyncio.run ends by repr-ing
    # its main task (signal.signal words a ValueError about asyncio's SIGINT handler, a
    # partial holding that task), whose result is `serve`'s Tally: ~2k instructions a
    # frame of the run (callgrind), spent at the end.
    latencies_us: array[int] = field(default_factory=lambda: array("q"), repr=False)
    without_key: int = 0
    series: CounterSeries | None = None  # stored by class and latencies, over wall time
    servers: dict[str, ServerTally] = field(default_factory=dict)
    latency_by_server: bool = False

    def __post_init__(self) -> None:
        self.per_store = [Committed() for _ in self.urls]

    def server(self, name: str) -> ServerTally:
        """The tally of server `name`, made at its first frame."""
        found = self.servers.get(name)
        if found is None:
            latency = None
            if self.latency_by_server:
                latency = Histogram(LATENCY_BOUNDS_US, MICROSECONDS_PER_SECOND)
            found = self.servers[name] = ServerTally(latency=latency)
        return found

    def count(
        self, items: Sequence[Received | Rejected], results: Sequence[Committed], committed_us: int
    ) -> None:
        # Per frame only what the summary needs; a server's share is counted per run of
        # its frames in the batch (usually the whole batch: one server), its latencies
        # copied at the end of the run (the latencies of a run lie side by side).
        latencies = self.latencies_us
        keep = latencies.append
        name: str | None = None
        server: ServerTally | None = None
        start = committed = without_key = 0
        for item in items:
            if isinstance(item, Received):
                if item.server != name:
                    if server is not None:
                        self._close_run(server, committed, start)
                    name = item.server
                    server = self.server(name)
                    start, committed = len(latencies), 0
                committed += 1
                sent = item.sent_us
                if sent is not None:
                    keep(committed_us - sent)
                if item.run is None or item.seq is None:
                    without_key += 1
        if server is not None:
            self._close_run(server, committed, start)
        self.without_key += without_key
        first = results[0]
        self.frames.update(dict(first.stored_by_class))
        for (name, record_class), stored in first.stored_by:
            self.server(name).stored[record_class] += stored
        for name, duplicates in first.duplicates_by:
            self.server(name).duplicates += duplicates
        for name, rejects in first.rejected_by:
            self.server(name).rejects += rejects
        self.per_store = [
            Committed(
                total.stored + new.stored,
                total.duplicates + new.duplicates,
                total.rejected + new.rejected,
            )
            for total, new in zip(self.per_store, results, strict=True)
        ]

    def _close_run(self, server: ServerTally, committed: int, start: int) -> None:
        """A run of `committed` frames of `server`, whose latencies are from `start` on."""
        self.taken += committed
        server.committed += committed
        if server.latency is not None and len(self.latencies_us) > start:
            server.latency.observe_many(self.latencies_us[start:])

    @property
    def first(self) -> Committed:
        return self.per_store[0]

    def latency_ms(self) -> dict[str, float] | None:
        """p50, p90, p99 and max of publish-to-commit, None if no frame carried `sent`."""
        if not self.latencies_us:
            return None
        ordered = sorted(self.latencies_us)

        def rank(p: float) -> float:
            return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)] / 1000

        return {"p50": rank(50), "p90": rank(90), "p99": rank(99), "max": ordered[-1] / 1000}

    def summary(self, wall_time: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            "committed": self.taken,
            "frames": dict(sorted(self.frames.items())),
            "stored": self.first.stored,
            "duplicates": self.first.duplicates,
            "rejects": self.first.rejected,
            "stores": [
                {"url": url, "stored": c.stored, "duplicates": c.duplicates, "rejects": c.rejected}
                for url, c in zip(self.urls, self.per_store, strict=True)
            ],
            "without_seq": self.without_key,
            "wall_time": round(wall_time, 3),
        }
        latency = self.latency_ms()
        if latency is not None:
            out["latency_ms"] = {**latency, "frames": len(self.latencies_us)}
        if self.series is not None:
            out["series"] = addin_series_json(self.series, self.latencies_us)
        return out

    def sample_over_time(self) -> CounterSeries:
        """Sample what was stored by class, and how many latencies were measured, from now."""
        self.series = CounterSeries(lambda: {**self.frames, LATENCIES: len(self.latencies_us)})
        return self.series


class FrameKeeper:
    """The first `limit` frames committed, as bytes: the report's timeline is drawn
    from them (a few MB at most, however long the add-in runs)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.frames: list[bytes] = []
        self.cut = False

    def __call__(self, items: Sequence[Received | Rejected]) -> None:
        if len(self.frames) >= self.limit:
            self.cut = self.cut or any(isinstance(item, Received) for item in items)
            return
        for item in items:
            if isinstance(item, Received):
                if len(self.frames) >= self.limit:
                    self.cut = True
                    return
                self.frames.append(item.frame)


def print_summary(summary: dict[str, Any], out: TextIO) -> None:
    by_class = ", ".join(f"{name} {count:,}" for name, count in summary["frames"].items())
    out.write(
        f"billsim addin: {summary['committed']:,} frame(s) committed: stored "
        f"{summary['stored']:,}"
        + (f" ({by_class})" if by_class else "")
        + f", duplicates {summary['duplicates']:,}, rejects {summary['rejects']:,}\n"
    )
    if len(summary["stores"]) > 1:
        for store in summary["stores"]:
            out.write(
                f"  {store['url']}: stored {store['stored']:,}, duplicates "
                f"{store['duplicates']:,}, rejects {store['rejects']:,}\n"
            )
    latency = summary.get("latency_ms")
    if latency is not None:
        out.write(
            f"  publish-to-commit latency: p50 {latency['p50']:,.1f} ms, p90 "
            f"{latency['p90']:,.1f} ms, p99 {latency['p99']:,.1f} ms, max "
            f"{latency['max']:,.1f} ms ({latency['frames']:,} frames with sent)\n"
        )
    if summary["without_seq"]:
        out.write(
            f"  {summary['without_seq']:,} frame(s) came without run and seq (no MQTT 5 "
            "properties, no --topic-meta topic): duplicates among them cannot be told apart, "
            "each was stored\n"
        )
    out.flush()


# -- the add-in at work ------------------------------------------------------------------


def _wall_us() -> int:
    return time.time_ns() // 1000


class BillingAddin:
    """Takes messages while `accepting`, batches them, commits each batch to every store
    (on one thread of their own: a store is only ever used from it) and then
    acknowledges the batch's messages (`acknowledge`, given their tokens), in the order
    they arrived."""

    def __init__(
        self,
        stores: Sequence[Store],
        intake: Intake,
        executor: ThreadPoolExecutor,
        tally: Tally,
        stop: asyncio.Event,
        acknowledge: Callable[[list[Ack]], None],
        *,
        max_items: int = MAX_BATCH_ITEMS,
        clock: Callable[[], float] = time.monotonic,
        on_committed: Callable[[Sequence[Received | Rejected]], None] | None = None,
    ) -> None:
        self.stores = stores
        self.on_committed = on_committed
        self.intake = intake
        self.executor = executor
        self.tally = tally
        self.stop = stop
        self.acknowledge = acknowledge
        self.clock = clock
        self.batcher: Batcher[Ack] = Batcher(max_items)
        self.accepting = False
        self.last_frame = clock()
        self.failure: StoreError | None = None
        self._changed = asyncio.Event()
        self._settled = asyncio.Event()  # nothing waits for a commit
        self._settled.set()

    def on_messages(self, messages: list[Message | None], acks: list[Ack]) -> None:
        """The messages of one socket read and the tokens that acknowledge them, once
        committed. A message not taken (asleep, stopping, a store failed) is never
        acknowledged: the broker keeps it for the session's next connection."""
        if not self.accepting or not acks:
            return
        items = self.intake.take_all(messages, _wall_us())
        if any(message is not None for message in messages):
            self.last_frame = self.clock()
        if self.batcher.add_all(items, acks):
            self._changed.set()  # a batch to commit: the commit loop may be idle
        self._settled.clear()

    async def commit_loop(self) -> None:
        """Commit batch after batch (group commit: each takes what arrived while the one
        before committed), until cancelled or a store fails."""
        while self.failure is None:
            batch = self.batcher.take()
            if batch is None:
                self._settled.set()  # nothing received waits for a commit
                self._changed.clear()
                await self._changed.wait()
                continue
            if batch.items:
                try:
                    results = await asyncio.get_running_loop().run_in_executor(
                        self.executor, _commit_all, self.stores, batch.items
                    )
                except Exception as error:
                    # Nothing of it is acknowledged; nothing more is taken.
                    self.failure = StoreError(f"a store failed to commit: {error}")
                    self.accepting = False
                    self._settled.set()
                    self.stop.set()
                    return
                self.tally.count(batch.items, results, _wall_us())
                if self.on_committed is not None:
                    self.on_committed(batch.items)
                # Busy, not idle: while the add-in holds as many messages as it may, it
                # reads none (the consumer's flow control) however long the commit takes.
                self.last_frame = self.clock()
            self.acknowledge(self.batcher.committed(batch))

    async def settle(self) -> None:
        """Stop taking messages and wait until what was taken is committed and
        acknowledged (or a store has failed)."""
        self.accepting = False
        self._changed.set()
        while not self._settled.is_set():
            await self._settled.wait()


def _commit_all(stores: Sequence[Store], items: Sequence[Received | Rejected]) -> list[Committed]:
    results = []
    for store in stores:
        for item in items:
            store.add(item)
        results.append(store.commit())
    return results


@dataclass(frozen=True)
class AddinRequest:
    """Everything `billsim addin` was asked for (see the command's help)."""

    broker: str = DEFAULT_BROKER
    stores: tuple[str, ...] = ()
    group: str = DEFAULT_GROUP
    member: int = 1
    server: str = "+"
    pacing: str = "none"  # or "notes-ini"
    notes_ini: Path | None = None
    until_idle: float | None = None
    summary_path: Path | None = None
    layout: Layout = Layout.LINUX_X86_64
    scenario: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    metrics_port: int | None = None  # --metrics-port: the Prometheus endpoint's port
    metrics_host: str | None = None  # --metrics-host; None: 127.0.0.1
    report_path: Path | None = None  # --report: the HTML report of what it stored
    mqtt_version: str = "5"  # --mqtt-version: "5" (3.1.1 when refused) or "3.1.1" only


# Frames kept for the report's timeline: a picture of more sessions shows only the busiest.
REPORT_FRAMES = 20_000


class _Live(LiveLine):
    """The add-in's live line: frames committed, rate, stored, duplicates, rejects."""

    def __init__(self, addin: BillingAddin, stream: TextIO, state: Callable[[], str]) -> None:
        super().__init__(stream)
        self.addin = addin
        self.state = state
        self._rate = RateMeter(lambda: addin.tally.taken)

    def line(self) -> str:
        first = self.addin.tally.first
        return (
            f"{self.state()}  frames {self.addin.tally.taken:,}  {self._rate.per_second():,.0f}/s  "
            f"stored {first.stored:,}  duplicates {first.duplicates:,}  "
            f"rejects {first.rejected:,}  unacknowledged {self.addin.batcher.waiting:,}"
        )


async def _drain(
    request: AddinRequest,
    addin: BillingAddin,
    consumer: Consumer,
    pacing: Pacing,
    stderr: TextIO,
    stop: asyncio.Event,
) -> None:
    """Connect, subscribe and take messages while awake, until stopped, idle or failed."""
    address = consumer.url
    state = "connecting"

    def say(line: str) -> None:
        live.clear()
        stderr.write(f"billsim addin: {line}\n")
        stderr.flush()

    live = _Live(addin, stderr, lambda: state)
    live_task = asyncio.create_task(live.run())
    committer = asyncio.create_task(addin.commit_loop())
    deadline: float | None = time.monotonic() + request.connect_timeout
    note = "waiting for the broker at"
    try:
        while not stop.is_set() and addin.failure is None:
            now = addin.clock()
            if deadline is None and not pacing.awake(now):
                state = "asleep"
                change = pacing.next_change(now)
                timeout = None if change is None else max(change - now, 0.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout)
                continue

            def waiting(reason: str, note: str = note) -> None:
                say(f"{note} {address} ({reason})")

            # Taking messages from the CONNACK on: a session's backlog comes before the SUBACK.
            addin.accepting = pacing.awake(addin.clock())
            connected = await consumer.connect(
                deadline=deadline, stop=stop, on_waiting=waiting, waited=request.connect_timeout
            )
            if not connected:
                break
            filters = await consumer.subscribe(request.server, request.group)
            if deadline is not None:
                say(f"subscribed to {describe_filters(filters)} on {address} ({consumer.protocol})")
            deadline = None
            state = "awake" if addin.accepting else "asleep"
            ended = await _until_change(consumer, addin, pacing, stop, request.until_idle)
            await addin.settle()
            await consumer.disconnect(_GOODBYE_TIMEOUT)
            if ended == "lost":
                state = "reconnecting"
                say(f"lost the connection to {address}")
                note = "reconnecting to"
            elif ended == "idle":
                say(f"no frame for {request.until_idle:g} s: ending")
                break
    finally:
        addin.accepting = False
        await addin.settle()
        await consumer.disconnect(_GOODBYE_TIMEOUT)
        for task in (committer, live_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        live.clear()
    if addin.failure is not None:
        raise addin.failure


async def _until_change(
    consumer: Consumer,
    addin: BillingAddin,
    pacing: Pacing,
    stop: asyncio.Event,
    until_idle: float | None,
) -> str:
    """Wait while connected: "stop" (asked to, or a store failed), "sleep" (pacing),
    "idle" (`until_idle` seconds awake without a frame) or "lost"."""
    awake_since = addin.clock()
    while True:
        if stop.is_set() or addin.failure is not None:
            return "stop"
        now = addin.clock()
        if not addin.accepting or not pacing.awake(now):
            return "sleep"  # (connected while asleep only to subscribe) back at wake-up
        change = pacing.next_change(now)
        limits = [change] if change is not None else []
        if until_idle is not None and addin.accepting:
            idle_end = max(addin.last_frame, awake_since) + until_idle
            if now >= idle_end:
                return "idle"
            limits.append(idle_end)
        timeout = min(limits) - now if limits else None
        if await consumer.lost_within(stop, timeout):
            return "lost"


def run_addin(
    request: AddinRequest, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """`billsim addin`: drain the broker into the stores until stopped; the exit code."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    # gmqtt warns of what the add-in reports itself (a refused v5 CONNECT, a lost
    # connection, a PUBACK left unsent because its connection is gone).
    logging.getLogger("gmqtt").setLevel(logging.ERROR)
    collect_garbage_seldom(freeze=True)
    settings = (
        resolve_settings(read_notes_ini(request.notes_ini))
        if request.notes_ini is not None
        else NotesIniSettings()
    )
    urls = store_urls(request.stores, settings, request.notes_ini)
    kinds: tuple[Any, ...] = ()
    if request.scenario is not None:
        from simulator.scenario.bundled import resolve_scenario  # noqa: PLC0415
        from simulator.scenario.loader import load_scenario  # noqa: PLC0415

        kinds = load_scenario(resolve_scenario(request.scenario)).custom_kinds()
    summary_file = (
        AtomicFile(request.summary_path, "--summary") if request.summary_path is not None else None
    )
    if request.report_path is not None:
        from simulator.commands.html_report import check_writable  # noqa: PLC0415

        check_writable(request.report_path, "--report")
    keeper = FrameKeeper(REPORT_FRAMES) if request.report_path is not None else None
    with metrics_endpoint(request.metrics_host, request.metrics_port, stderr) as endpoint:
        started = time.monotonic()

        def sum_up(tally: Tally) -> dict[str, Any]:
            summary = tally.summary(time.monotonic() - started)
            if summary_file is not None:
                summary_file.commit(json.dumps(summary, indent=2) + "\n")
            print_summary(summary, stdout)
            return summary

        def quit_at_once(tally: Tally, left: int) -> int:
            # A second Ctrl-C leaves without the report: what it may not skip is the summary.
            try:
                sum_up(tally)
            finally:
                if summary_file is not None:
                    summary_file.discard()
            stdout.flush()  # os._exit follows: nothing flushes it then
            return EXIT_FAILED if left else EXIT_OK

        with summary_kept():
            try:
                intake = Intake(request.layout, kinds)
                tally = asyncio.run(
                    serve(
                        request,
                        # The stores take the frames as the intake read them (its codec: declared
                        # custom types get tables).
                        lambda: [_open_store(url, intake.rows) for url in urls],
                        settings=settings,
                        intake=intake,
                        stderr=stderr,
                        show=stdout if prints_records(request.stores, settings) else None,
                        metrics=AddinMetrics(endpoint) if endpoint is not None else None,
                        keeper=keeper,
                        on_quit=quit_at_once,
                    )
                )
                summary = sum_up(tally)
            finally:
                if summary_file is not None:
                    summary_file.discard()
    if request.report_path is not None and keeper is not None:
        _write_addin_report(request, summary, keeper, stdout)
    return EXIT_OK


def _write_addin_report(
    request: AddinRequest, summary: dict[str, Any], keeper: FrameKeeper, stdout: TextIO
) -> None:
    """`--report`: the add-in's HTML report; its timeline from the first frames it stored."""
    from simulator.commands.html_report import (  # noqa: PLC0415 -- matplotlib
        ReportParts,
        TimelineSource,
        write_report,
    )

    assert request.report_path is not None
    parts = ReportParts(
        title="billsim addin",
        addin=summary,
        timeline=TimelineSource(
            frames=keeper.frames,
            frames_cut=keeper.cut,
            frames_title="what the add-in stored",
            frames_scenario=request.scenario,  # its BillingSuppressTime and databases' paths
            scenario_hint="billsim addin --scenario gives it",
            layout=request.layout,
        ),
        sources=[f"add-in on {request.broker}"],
    )
    write_report(request.report_path, parts)
    stdout.write(f"billsim addin: report written to {request.report_path}\n")


async def serve(
    request: AddinRequest,
    open_stores: Callable[[], Sequence[Store]],
    *,
    settings: NotesIniSettings | None = None,
    intake: Intake | None = None,
    stderr: TextIO = sys.stderr,
    stop: asyncio.Event | None = None,
    show: TextIO | None = None,
    metrics: AddinMetrics | None = None,
    keeper: FrameKeeper | None = None,
    on_quit: Callable[[Tally, int], int] | None = None,
) -> Tally:
    """Open the stores (on the thread that will commit to them), drain the broker into
    them until `stop` is set, SIGINT / SIGTERM, `--until-idle` or a failure, close them;
    what was committed; with `show`, each committed frame is also printed there as `tail`
    shows it; with `metrics`, the figures are posted there meanwhile. On a second signal
    it leaves at once: `on_quit`, given what was committed and how many messages were
    taken and not committed, sums up and returns the exit code (else 1). ConsumerError
    (exit 1) if the broker cannot be used, StoreError (exit 1) if a store fails,
    InputError (exit 2) for bad options."""
    check_group(request.group)
    topic_filters(request.server, request.group)
    address = parse_broker_url(request.broker)
    if request.until_idle is not None and request.until_idle <= 0:
        raise InputError("must be a positive number of seconds", field="--until-idle")
    tls = tls_context(
        address, ca_file=request.ca_file, cert_file=request.cert_file, key_file=request.key_file
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1, thread_name_prefix="billsim-store") as executor:
        stores = await loop.run_in_executor(executor, _opened, open_stores)
        try:
            tally = Tally([store.url for store in stores])
            intake = intake or Intake(request.layout)
            printer = RecordPrinter(intake.codec, show) if show is not None else None
            consumer: Consumer | None = None

            def acknowledge(acks: list[Ack]) -> None:
                if consumer is not None:
                    consumer.acknowledge(acks)

            on_committed: Callable[[Sequence[Received | Rejected]], None] | None = printer
            if metrics is not None or keeper is not None:
                on_committed = _each(
                    printer, keeper, metrics.committed if metrics is not None else None
                )
            addin = BillingAddin(
                stores, intake, executor, tally, stop, acknowledge, on_committed=on_committed
            )
            if metrics is not None:
                metrics.watch(tally, lambda: addin.batcher.waiting)
            pacing: Pacing = Unpaced()
            if request.pacing == "notes-ini":
                pacing = WakeupPacing.from_settings(
                    settings or NotesIniSettings(), started=addin.clock()
                )
            consumer = Consumer(
                address,
                addin.on_messages,
                client_id=client_id(request.group, request.member),
                tls=tls,
                max_unacknowledged=MAX_UNACKNOWLEDGED,
                mqtt_version=request.mqtt_version,
            )

            def request_stop(signum: signal.Signals) -> None:
                stderr.write(
                    f"\nbillsim addin: {signum.name}: committing what was taken, then "
                    "stopping (again to quit at once: nothing unacknowledged is lost)\n"
                )
                stderr.flush()
                stop.set()

            def quit_now(_signum: signal.Signals) -> None:
                left = addin.batcher.waiting
                stderr.write(
                    f"\nbillsim addin: quitting at once: {left:,} frame(s) taken and not "
                    "committed (unacknowledged: the broker delivers them again)\n"
                )
                stderr.flush()
                code = on_quit(tally, left) if on_quit is not None else EXIT_FAILED
                os._exit(EXIT_FAILED if addin.failure is not None else code)

            with stop_on_signals(request_stop, quit_now):
                async with pumping(metrics), sampling(tally.sample_over_time()):
                    await _drain(request, addin, consumer, pacing, stderr, stop)
        finally:
            await loop.run_in_executor(executor, _close_all, stores)
    return tally


def _each(
    *calls: Callable[[Sequence[Received | Rejected]], None] | None,
) -> Callable[[Sequence[Received | Rejected]], None]:
    """One `on_committed` that makes each of `calls` (None: left out)."""

    def every(items: Sequence[Received | Rejected]) -> None:
        for call in calls:
            if call is not None:
                call(items)

    return every


def _opened(open_stores: Callable[[], Sequence[Store]]) -> list[Store]:
    opened: list[Store] = []
    try:
        opened.extend(open_stores())
    except BaseException:
        _close_all(opened)
        raise
    return opened


def _close_all(stores: Sequence[Store]) -> None:
    for store in stores:
        store.close()
