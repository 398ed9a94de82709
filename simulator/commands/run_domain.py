"""`billsim run` of a domain (`workload: servers: N`): its servers side by side, one summary.

Each server is a Simulation of its own — its ServerName, MQ$BILLING, session slots and
output file or MQTT connection — built with `Domain(servers, index)`, so it generates
only the users homed on it. `--procs` processes share the servers out in order (the
first process Mail01, Mail02 …); a process runs its servers on one asyncio loop. With one
process the servers run here; else this process starts the others (the spawn context:
nothing of this process is copied, each child builds its simulations from the request),
starts the embedded broker once for all of them, shows one live line and merges their
summaries (commands/domain_summary.py).

This process and its children share a board: per server the records written and the
virtual time reached (for the live line), and this process's word — run, stop, quit —
which every child reads ten times a second. Ctrl-C reaches the children through it: they
start with SIGINT ignored, so a key pressed while they start cannot kill one half-built.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from array import array
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TextIO

from simulator.adapters.atomic import AtomicFile
from simulator.adapters.logs import configure_logging, get_logger
from simulator.adapters.metrics.figures import FiguresLayout
from simulator.adapters.sinks import BinaryFileSink, FrameSink, NullSink, drain_to_sink
from simulator.commands.domain_summary import merge_summaries, print_domain_summary
from simulator.commands.garbage import collect_garbage_seldom
from simulator.commands.loading import BILLS_NOTHING, check_script
from simulator.commands.metrics import (
    RunMetrics,
    SharedFigures,
    domain_layout,
    metrics_endpoint,
    pumping,
    watch_simulation,
)
from simulator.commands.run import (
    STDOUT_NAME,
    RunRequest,
    create,
    exit_code,
    load_request,
    mqtt_options,
    records_series,
    run_loaded,
    run_options,
    series_json,
    workload_of,
)
from simulator.commands.run_live import LiveLine, RateMeter
from simulator.commands.series import sampled
from simulator.commands.signals import stop_on_signals, summary_kept
from simulator.commands.summary import build_summary, summary_json
from simulator.domino.domain import Domain, domain_servers
from simulator.domino.simulation import Simulation
from simulator.errors import EXIT_FAILED, BillsimError, InputError
from simulator.scenario.models import Scenario
from simulator.scenario.names import common_name
from simulator.scenario.notes_ini import NotesIniSettings

if TYPE_CHECKING:
    from simulator.adapters.metrics.exporter import MetricsEndpoint

_RUN, _STOP, _QUIT = 0, 1, 2
_BOARD_EVERY = 0.1  # seconds between a process's looks at the board
# After a quit, how long the children have to leave before they are killed.
_QUIT_GRACE = 5.0

Summaries = list[tuple[int, dict[str, Any]]]
"""A process's result: (server index, that server's summary) for each of its servers."""


class Slots(Protocol):
    """64-bit integers by index: an `array('q')` here, a shared RawArray between processes."""

    def __getitem__(self, index: int, /) -> int: ...

    def __setitem__(self, index: int, value: int, /) -> None: ...


class Board:
    """Per server the records written and the virtual µs reached; then the parent's word."""

    def __init__(self, slots: Slots, servers: int) -> None:
        self.slots = slots
        self.servers = servers

    @staticmethod
    def size(servers: int) -> int:
        return 2 * servers + 1

    @classmethod
    def local(cls, servers: int) -> Board:
        return cls(array("q", bytes(8 * cls.size(servers))), servers)

    def post(self, index: int, records: int, virtual_us: int) -> None:
        self.slots[2 * index] = records
        self.slots[2 * index + 1] = virtual_us

    def records(self, index: int) -> int:
        return int(self.slots[2 * index])

    def total_records(self) -> int:
        return sum(self.records(index) for index in range(self.servers))

    def virtual_us(self, index: int) -> int:
        return int(self.slots[2 * index + 1])

    @property
    def word(self) -> int:
        return int(self.slots[2 * self.servers])

    @word.setter
    def word(self, value: int) -> None:
        self.slots[2 * self.servers] = value


@dataclass(frozen=True)
class ServerGroup:
    """What one process runs: the request (on MQTT, its broker the one to use), the
    domain's servers, the indices of its own, and — in a local run — where each server of
    the domain writes (a file, or None: a null sink, for benchmarks)."""

    request: RunRequest
    servers: tuple[str, ...]
    indices: tuple[int, ...]
    outputs: tuple[Path | None, ...] = ()


# -- the plan ------------------------------------------------------------------------------


def available_cores() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def process_count(asked: int | None, servers: int) -> int:
    """`--procs` (default: the cores), never more than the servers: a process with no
    server would do nothing."""
    if asked is not None and asked < 1:
        raise InputError(f"at least 1, not {asked}", field="--procs")
    return max(1, min(servers, asked if asked is not None else available_cores()))


def share_out(servers: int, processes: int) -> list[tuple[int, ...]]:
    """The server indices of each process: in order, as even as they come (5 over 2:
    0-2 and 3-4)."""
    share, extra = divmod(servers, processes)
    groups: list[tuple[int, ...]] = []
    first = 0
    for number in range(processes):
        size = share + (1 if number < extra else 0)
        groups.append(tuple(range(first, first + size)))
        first += size
    return groups


def server_output(out: Path, server: str) -> Path:
    """Where one server of a domain writes `--out`: day.nbf → day.Mail01.nbf (day → day.Mail01)."""
    name = common_name(server)
    if out.suffix:
        return out.with_name(f"{out.stem}.{name}{out.suffix}")
    return out.with_name(f"{out.name}.{name}")


def _check_request(request: RunRequest, servers: int) -> None:
    """What a domain cannot do: one stream on stdout, one server's frames on the terminal."""
    one_stream = f"a domain of {servers} servers writes a stream per server: use --out FILE"
    if request.stdout:
        raise InputError(one_stream + " (FILE.<server> each) or MQTT", field="--stdout")
    if request.out is not None and str(request.out) == STDOUT_NAME:
        raise InputError(one_stream + " (FILE.<server> each) or MQTT", field="--out")
    if request.watch:
        raise InputError(
            f"shows one server's frames; watch a domain of {servers} servers with "
            "`billsim tail --broker URL` (every server)",
            field="--watch",
        )


# -- the command ---------------------------------------------------------------------------


def run_scenario(
    request: RunRequest, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """`billsim run`: a scenario of one server (commands/run.py) or of a domain; prints the
    summary, returns the exit code."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    scenario, settings = load_request(request)
    if not settings.billing_class and not request.control:
        stderr.write(f"billsim: note: {BILLS_NOTHING}\n")
    collect_garbage_seldom()
    on_summary = None
    if request.report_path is not None:
        # matplotlib (the report's charts) only for a run that writes a report.
        from simulator.commands.html_report import (  # noqa: PLC0415
            check_writable,
            write_run_report,
        )

        check_writable(request.report_path, "--report")

        def on_summary(summary: dict[str, Any]) -> None:
            write_run_report(request, summary, stderr)

    if scenario.workload and workload_of(scenario).servers > 1:
        return run_domain(request, scenario, settings, stdout, stderr, on_summary)
    return run_loaded(request, scenario, settings, stdout, stderr, on_summary)


def run_domain(
    request: RunRequest,
    scenario: Scenario,
    settings: NotesIniSettings,
    stdout: TextIO,
    stderr: TextIO,
    on_summary: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """`billsim run` of a scenario whose workload has `servers:` > 1; the exit code.
    `on_summary` is given the domain's summary once it is printed."""
    del stdout  # a domain writes files or MQTT only (see _check_request)
    servers = domain_servers(settings.server_name or scenario.server, workload_of(scenario).servers)
    _check_request(request, len(servers))
    check_script(scenario, settings, run_options(request, scenario))
    outputs: tuple[Path | None, ...] = ()
    if request.out is not None:
        outputs = tuple(server_output(request.out, server) for server in servers)
        for path in outputs:  # a path that cannot be written is bad input found at once
            assert path is not None
            create(path, "wb").close()
    with metrics_endpoint(request.metrics_host, request.metrics_port, stderr) as endpoint:
        return _run_and_sum_up(request, scenario, servers, outputs, stderr, endpoint, on_summary)


def _run_and_sum_up(
    request: RunRequest,
    scenario: Scenario,
    servers: tuple[str, ...],
    outputs: tuple[Path | None, ...],
    stderr: TextIO,
    endpoint: MetricsEndpoint | None,
    on_summary: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    summary_file = AtomicFile(request.summary_path, "--summary") if request.summary_path else None

    def sum_up(by_server: dict[str, dict[str, Any]]) -> dict[str, Any]:
        summary = merge_summaries(by_server)
        if summary_file is not None:
            summary_file.commit(summary_json(summary))
        print_domain_summary(summary, stderr)
        return summary

    def quit_at_once(by_server: dict[str, dict[str, Any]] | None) -> NoReturn:
        # A second Ctrl-C leaves without the report: what it may not skip is the summary
        # (None: the servers write files, and what reached them is not known).
        code = EXIT_FAILED
        try:
            if by_server is not None:
                code = exit_code(sum_up(by_server).get("undelivered", 0), stderr)
        finally:
            if summary_file is not None:
                summary_file.discard()
            stderr.flush()
            os._exit(code)

    with summary_kept():
        try:
            by_server = asyncio.run(
                run_servers(request, scenario, servers, outputs, stderr, endpoint, quit_at_once)
            )
            summary = sum_up(by_server)
        finally:
            if summary_file is not None:
                summary_file.discard()
    if on_summary is not None:
        on_summary(summary)
    return exit_code(summary.get("undelivered", 0), stderr)


async def run_servers(
    request: RunRequest,
    scenario: Scenario,
    servers: tuple[str, ...],
    outputs: tuple[Path | None, ...],
    stderr: TextIO,
    endpoint: MetricsEndpoint | None = None,
    on_quit: Callable[[dict[str, dict[str, Any]] | None], NoReturn] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every server of the domain run to its end (in `request.procs` processes); their
    summaries by server name, in domain order. `outputs` (a local run): each server's
    file, None for a null sink. `endpoint`: serves every server's figures. `on_quit`: on
    a second Ctrl-C with the servers in this process, given their summaries then (None
    for a local run); it leaves."""

    def by_name(summaries: Summaries) -> dict[str, dict[str, Any]]:
        return {servers[index]: summary for index, summary in sorted(summaries, key=lambda s: s[0])}

    def quit_here(summaries: Summaries | None) -> NoReturn:
        assert on_quit is not None
        on_quit(None if summaries is None else by_name(summaries))

    groups = share_out(len(servers), process_count(request.procs, len(servers)))
    async with _broker_for_the_domain(request, servers, stderr) as each_request:
        plans = [ServerGroup(each_request, servers, indices, outputs) for indices in groups]
        live = not request.log_json
        if len(plans) == 1:
            board = Board.local(len(servers))
            metrics = RunMetrics(endpoint) if endpoint is not None else None
            async with _live_line(board, scenario, servers, stderr, live):
                summaries = await run_group(
                    plans[0],
                    board,
                    stderr,
                    announce=True,
                    metrics=metrics,
                    on_quit=quit_here if on_quit is not None else None,
                )
        else:
            summaries = await _run_children(plans, scenario, stderr, live, endpoint)
    return by_name(summaries)


@contextlib.asynccontextmanager
async def _broker_for_the_domain(
    request: RunRequest, servers: tuple[str, ...], stderr: TextIO
) -> AsyncIterator[RunRequest]:
    """The request each server runs: on the embedded broker, that broker's URL, the broker
    started here once for every server (and stopped on the way out)."""
    if request.local:
        yield request
        return
    from simulator.commands.run_mqtt import broker_for_the_run  # noqa: PLC0415 -- gmqtt

    configure_logging(json=request.log_json, stream=stderr)
    if request.broker is not None:
        yield request
        return
    async with broker_for_the_run(
        None,
        mqtt_options(request),
        common_name(servers[0]),
        get_logger("billsim"),
        stderr,
        request.embedded_port,
    ) as (url, options):
        # The URL without its user: each server takes it from the environment again.
        host = f"[{url.host}]" if ":" in url.host else url.host
        yield replace(
            request, broker=f"{url.scheme}://{host}:{url.port}", mqtt_version=options.version
        )


# -- one process's servers -----------------------------------------------------------------


async def run_group(
    group: ServerGroup,
    board: Board,
    stderr: TextIO,
    *,
    announce: bool,
    parent: int | None = None,
    metrics: RunMetrics | None = None,
    on_quit: Callable[[Summaries | None], NoReturn] | None = None,
) -> Summaries:
    """The group's servers run side by side on this loop; their summaries. `announce`: say
    on stderr what Ctrl-C does (the process a user started does). `parent`: the pid of
    the process that started this one; if it goes, the servers stop. `metrics`: where
    the servers' figures are posted while they run. `on_quit`: on a second Ctrl-C (or the
    parent's word), given the summaries then, the frames left counted as undelivered
    (None for a local run: what reached the files is not known); it leaves."""
    request = group.request
    scenario, settings = load_request(request)
    options = run_options(request, scenario)
    sims = [
        Simulation(scenario, settings, options, domain=Domain(group.servers, index))
        for index in group.indices
    ]
    runs: list[Coroutine[Any, Any, tuple[int, dict[str, Any], float]]] = []
    series = [records_series(sim) for sim in sims]
    reports: list[Callable[[int], tuple[int, dict[str, Any]]] | None] = [None] * len(sims)
    started = time.monotonic()
    for sim, index, samples in zip(sims, group.indices, series, strict=True):
        if metrics is not None:
            metrics.watch(watch_simulation(sim), index)
        if request.local:
            runs.append(sampled(samples, _to_sink(sim, group.outputs[index])))
        else:
            on_drain = metrics.drain_hook(index) if metrics is not None else None
            runs.append(
                sampled(samples, _to_broker(sim, request, stderr, on_drain, reports, len(runs)))
            )

    def quit_at_once() -> NoReturn:
        lefts = _say_quitting(sims, stderr)
        if on_quit is None:
            os._exit(EXIT_FAILED)
        if request.local:
            on_quit(None)
        summaries = []
        wall = time.monotonic() - started
        for index, sim, samples, report, left in zip(
            group.indices, sims, series, reports, lefts, strict=True
        ):
            # A server still waiting for its first connection has delivered nothing.
            delivered, extra = report(left) if report is not None else (0, {"undelivered": left})
            extra = {**extra, "series": series_json(samples)}
            summaries.append(
                (index, build_summary(sim, delivered=delivered, extra=extra, wall_time=wall))
            )
        on_quit(summaries)

    with _stop_on_signals(sims, stderr, quit_at_once, announce=announce):
        follower = asyncio.create_task(
            _follow_board(sims, group.indices, board, parent, quit_at_once)
        )
        try:
            async with pumping(metrics):
                results = await _all_or_stop(sims, runs)
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            _post(sims, group.indices, board)
    return [
        (
            index,
            build_summary(
                sim,
                delivered=delivered,
                extra={**extra, "series": series_json(samples)},
                wall_time=wall,
            ),
        )
        for index, sim, samples, (delivered, extra, wall) in zip(
            group.indices, sims, series, results, strict=True
        )
    ]


async def _all_or_stop(
    sims: Sequence[Simulation],
    runs: Sequence[Coroutine[Any, Any, tuple[int, dict[str, Any], float]]],
) -> list[tuple[int, dict[str, Any], float]]:
    """Every run to its end; when one fails the others are stopped (shut down, drained),
    then the first failure, in server order, is raised."""
    tasks = [asyncio.create_task(run) for run in runs]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        if any(task.done() and task.exception() is not None for task in tasks):
            for sim in sims:
                sim.request_stop()
        await asyncio.wait(tasks)
    finally:
        for task in tasks:
            task.cancel()
    return [task.result() for task in tasks]


async def _to_sink(sim: Simulation, path: Path | None) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    stream = create(path, "wb") if path is not None else None
    sink: FrameSink = BinaryFileSink(stream) if stream is not None else NullSink()
    try:
        written, _ = await asyncio.gather(drain_to_sink(sim.queue, sink), sim.run())
    finally:
        if stream is not None:
            stream.close()
    return written, {}, time.monotonic() - started


async def _to_broker(
    sim: Simulation,
    request: RunRequest,
    stderr: TextIO,
    on_drain: Callable[[Any], None] | None = None,
    reports: list[Callable[[int], tuple[int, dict[str, Any]]] | None] | None = None,
    at: int = 0,
) -> tuple[int, dict[str, Any], float]:
    """The server's run on the broker; `reports[at]` tells what it is at any moment once
    its drain is made (for a second Ctrl-C)."""
    from simulator.commands.run_mqtt import run_on_mqtt  # noqa: PLC0415 -- gmqtt

    def on_report(report: Callable[[int], tuple[int, dict[str, Any]]]) -> None:
        if reports is not None:
            reports[at] = report

    started = time.monotonic()
    delivered, extras = await run_on_mqtt(
        sim,
        broker_url=request.broker,
        options=mqtt_options(request),
        control=request.control,
        stats_interval=request.stats_interval,
        drain_timeout=request.drain_timeout,
        log_json=request.log_json,
        stderr=stderr,
        connect_timeout=request.connect_timeout,
        start_after=request.start_after,
        signals=False,
        live=False,
        on_drain=on_drain,
        on_report=on_report,
    )
    return delivered, extras, time.monotonic() - started


def _post(sims: Sequence[Simulation], indices: Sequence[int], board: Board) -> None:
    for sim, index in zip(sims, indices, strict=True):
        board.post(index, sim.writer.frames, sim.virtual_now())


async def _follow_board(
    sims: Sequence[Simulation],
    indices: Sequence[int],
    board: Board,
    parent: int | None,
    quit_at_once: Callable[[], NoReturn],
) -> None:
    """Post the servers' progress and obey the parent's word, until cancelled."""
    stopped = False
    while True:
        _post(sims, indices, board)
        word = board.word
        orphaned = parent is not None and os.getppid() != parent
        if (word >= _STOP or orphaned) and not stopped:
            stopped = True
            for sim in sims:
                sim.request_stop()
        if word >= _QUIT:
            quit_at_once()
        await asyncio.sleep(_BOARD_EVERY)


def _stop_on_signals(
    sims: Sequence[Simulation],
    stderr: TextIO,
    quit_at_once: Callable[[], NoReturn],
    *,
    announce: bool,
) -> contextlib.AbstractContextManager[None]:
    """Ctrl-C / SIGTERM shut every server down; a second one leaves at once."""

    def shut_down(signum: signal.Signals) -> None:
        if announce:
            sessions = sum(len(sim.server.sessions) for sim in sims)
            stderr.write(
                f"\nbillsim: {signum.name}: shutting down {len(sims)} servers: ending "
                f"{sessions} open session(s), draining the queues (Ctrl-C again to quit "
                "at once)\n"
            )
            stderr.flush()
        for sim in sims:
            sim.request_stop()

    return stop_on_signals(shut_down, lambda _: quit_at_once())


def _say_quitting(sims: Sequence[Simulation], stderr: TextIO) -> list[int]:
    """Say how many frames the servers leave; how many each does."""
    lefts = [sim.frames_left for sim in sims]
    names = ", ".join(common_name(sim.server_name) for sim in sims)
    stderr.write(
        f"\nbillsim: {names}: quitting at once: {sum(lefts)} frame(s) not acknowledged by "
        "the broker\n"
    )
    stderr.flush()
    return lefts


def serve_group(
    group: ServerGroup,
    slots: Slots,
    results: Connection,
    shared_figures: tuple[FiguresLayout, Slots] | None = None,
) -> None:
    """A child process's work: its servers run, then their summaries (or what went wrong)
    sent back on `results`. `shared_figures`: where to post the servers' figures for the
    parent's metrics endpoint."""
    collect_garbage_seldom()  # as its parent's, which this spawned process does not inherit
    board = Board(slots, len(group.servers))
    metrics = None
    if shared_figures is not None:
        metrics = RunMetrics()
        metrics.share(*shared_figures)
    message: tuple[Any, ...]

    def quit_at_once(summaries: Summaries | None) -> NoReturn:
        # The parent sums the domain up: these servers' summaries as they are now (none
        # for a local run: the parent then says the summary is lost).
        if summaries is not None:
            results.send(("done", summaries))
        results.close()
        sys.stderr.flush()
        os._exit(EXIT_FAILED)

    try:
        if not group.request.local:
            configure_logging(json=group.request.log_json, stream=sys.stderr)
        summaries = asyncio.run(
            run_group(
                group,
                board,
                sys.stderr,
                announce=False,
                parent=os.getppid(),
                metrics=metrics,
                on_quit=quit_at_once,
            )
        )
        message = ("done", summaries)
    except BillsimError as error:
        message = ("error", error.exit_code, str(error))
    except Exception:  # a bug: its traceback goes to the parent, which reports it
        message = ("error", EXIT_FAILED, traceback.format_exc())
    results.send(message)
    results.close()


# -- the children --------------------------------------------------------------------------


@dataclass
class _Child:
    group: ServerGroup
    process: BaseProcess
    results: Connection
    message: tuple[Any, ...] | None = None

    @property
    def names(self) -> str:
        return ", ".join(self.group.servers[index] for index in self.group.indices)

    def collect(self) -> bool:
        """Whether the child is done: its message in, or gone without one."""
        if self.message is not None:
            return True
        if self.results.poll():
            try:
                self.message = self.results.recv()
            except EOFError:
                self.message = ("gone", self.process.exitcode)
            return True
        if not self.process.is_alive():
            self.message = ("gone", self.process.exitcode)
            return True
        return False


async def _run_children(
    plans: Sequence[ServerGroup],
    scenario: Scenario,
    stderr: TextIO,
    live: bool,
    endpoint: MetricsEndpoint | None = None,
) -> Summaries:
    context = multiprocessing.get_context("spawn")
    servers = plans[0].servers
    slots = context.RawArray("q", Board.size(len(servers)))
    board = Board(slots, len(servers))
    shared_figures = None
    if endpoint is not None:  # the children post their figures, this process serves them
        layout = domain_layout(scenario)
        figure_slots = context.RawArray("q", layout.slots_for(len(servers)))
        SharedFigures(layout, figure_slots, servers, endpoint)
        shared_figures = (layout, figure_slots)
    children: list[_Child] = []
    try:
        _start_children(context, plans, slots, children, shared_figures)
        async with _live_line(board, scenario, servers, stderr, live):
            with stop_on_signals(_ask(board, _STOP, stderr), _ask(board, _QUIT, stderr)):
                await _wait_for(children, board)
    finally:
        for child in children:
            if child.process.is_alive():
                child.process.kill()
            child.process.join()
            child.results.close()
    return _results(children, board)


def _start_children(
    context: Any,
    plans: Sequence[ServerGroup],
    slots: Slots,
    children: list[_Child],
    shared_figures: tuple[FiguresLayout, Slots] | None = None,
) -> None:
    """Each plan's process started, added to `children` (so that all that started are
    waited for, whatever fails)."""
    # Children inherit an ignored SIGINT (an exec keeps SIG_IGN) and keep it until their
    # own handlers are set: a Ctrl-C meanwhile reaches them through the board.
    ignore = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if ignore else None
    try:
        for plan in plans:
            results, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=serve_group,
                args=(plan, slots, sender, shared_figures),
                name="billsim " + ",".join(common_name(plan.servers[i]) for i in plan.indices),
            )
            process.start()
            sender.close()
            children.append(_Child(plan, process, results))
    finally:
        if ignore:
            signal.signal(signal.SIGINT, previous)


def _ask(board: Board, word: int, stderr: TextIO) -> Callable[[signal.Signals], None]:
    def ask(signum: signal.Signals) -> None:
        if board.word >= word:
            return
        board.word = word
        if word == _STOP:
            stderr.write(
                f"\nbillsim: {signum.name}: shutting down {board.servers} servers: ending their "
                "sessions, draining the queues (Ctrl-C again to quit at once)\n"
            )
        else:
            stderr.write("\nbillsim: quitting at once\n")
        stderr.flush()

    return ask


async def _wait_for(children: Sequence[_Child], board: Board) -> None:
    """Until every child is done. One that fails stops the others; after a quit, those
    still there after a grace period are killed."""
    quit_since: float | None = None
    while not all([child.collect() for child in children]):
        failed = any(child.message is not None and child.message[0] != "done" for child in children)
        if failed and board.word == _RUN:
            board.word = _STOP
        if board.word >= _QUIT:
            quit_since = quit_since or time.monotonic()
            if time.monotonic() - quit_since > _QUIT_GRACE:
                return
        await asyncio.sleep(_BOARD_EVERY / 2)


def _results(children: Sequence[_Child], board: Board) -> Summaries:
    """Every server's summary; else the first failure, in server order."""
    summaries: Summaries = []
    for child in children:
        message = child.message or ("gone", child.process.exitcode)
        if message[0] == "done":
            summaries.extend(message[1])
            continue
        if message[0] == "error":
            _, code, text = message
            if code == InputError.exit_code:
                raise InputError(text)
            raise BillsimError(f"{child.names}: {text}")
        if board.word >= _QUIT:
            raise BillsimError("quit at once: the run's summary is lost")
        raise BillsimError(f"{child.names}: the process ended (exit code {message[1]}) early")
    return summaries


# -- the live line -------------------------------------------------------------------------


class DomainProgress(LiveLine):
    """The domain's live line: the slowest server's virtual time, the records, the rate,
    and each server's records."""

    def __init__(
        self, board: Board, start: datetime, servers: Sequence[str], stream: TextIO
    ) -> None:
        super().__init__(stream)
        self.board = board
        self.start = start
        self.names = [common_name(server) for server in servers]
        self._rate = RateMeter(board.total_records)

    def line(self) -> str:
        board = self.board
        rate = self._rate.per_second()
        slowest = min(board.virtual_us(index) for index in range(board.servers))
        at = (self.start + timedelta(microseconds=slowest)).strftime("%Y-%m-%d %H:%M:%S")
        each = "  ".join(
            f"{name} {board.records(index):,}" for index, name in enumerate(self.names)
        )
        return f"{at}  records {board.total_records():,}  {rate:,.0f}/s  [{each}]"


@contextlib.asynccontextmanager
async def _live_line(
    board: Board, scenario: Scenario, servers: Sequence[str], stderr: TextIO, live: bool
) -> AsyncIterator[None]:
    progress = DomainProgress(board, scenario.start, servers, stderr)
    progress.enabled = progress.enabled and live
    task = asyncio.create_task(progress.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        progress.clear()
