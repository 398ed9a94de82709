"""`billsim run`: the request, the scenario loaded and checked, a local run, the summary."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, Protocol, TextIO, overload

from simulator.adapters.atomic import AtomicFile
from simulator.adapters.mqtt.options import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DRAIN_TIMEOUT,
    DEFAULT_QOS,
    DEFAULT_STATS_INTERVAL,
    MqttOptions,
)
from simulator.adapters.sinks import (
    BinaryFileSink,
    FrameSink,
    JsonLinesSink,
    TextLinesSink,
    drain_to_sink,
)
from simulator.commands.loading import check_script, load
from simulator.commands.metrics import RunMetrics, metrics_endpoint, pumping, watch_simulation
from simulator.commands.run_live import Progress, shutdown_on_signals
from simulator.commands.series import CounterSeries, sampled
from simulator.commands.signals import summary_kept
from simulator.commands.summary import (
    build_summary,
    print_summary,
    records_by_class,
    summary_json,
)
from simulator.domino.mq import DEFAULT_QUOTA, QuotaPolicy
from simulator.domino.simulation import RunOptions, Simulation
from simulator.errors import EXIT_FAILED, EXIT_OK, InputError
from simulator.scenario.bundled import bundled_scenarios
from simulator.scenario.durations import DurationError, parse_run_length
from simulator.scenario.faults import check_faults, parse_fault_option, with_overrides
from simulator.scenario.loader import parse_workload
from simulator.scenario.models import Scenario
from simulator.scenario.notes_ini import NotesIniSettings
from simulator.scenario.rate import RatePlan, parse_rate
from simulator.scenario.speed import Speed
from simulator.scenario.workload import Workload
from simulator.wire.layout import Framing, Layout

# `--out -`: the binary frames to standard output, for a pipe into `check -` or `decode -`.
STDOUT_NAME = "-"


def load_request(request: RunRequest) -> tuple[Scenario, NotesIniSettings]:
    """The request's scenario and settings, with `--duration` for the scenario's own and
    each `--fault` for the `faults:` entry of its name."""
    scenario, settings = load(request.scenario, request.notes_ini)
    return with_options(scenario, request.duration, request.faults), settings


def with_options(
    scenario: Scenario, duration: str | None, fault_options: Sequence[str]
) -> Scenario:
    """The scenario with `--duration` for its own and each `--fault NAME=VALUE` for the
    `faults:` entry of its name: the faults a run injects, which its timeline draws.
    InputError names a bad option, or a crash or clock step past the end of the run."""
    if duration is not None:
        scenario = with_duration(scenario, duration)
    overrides = [parse_fault_option(text) for text in fault_options]
    if overrides:
        faults = with_overrides(scenario.faults, overrides)
        scenario = scenario.model_copy(update={"faults": faults})
    if overrides or duration is not None:
        check_fault_times(scenario, {name for name, _ in overrides})
    return scenario


def check_fault_times(scenario: Scenario, from_options: Container[str]) -> None:
    """A crash or clock step must come before the end of the run (`--duration` may have
    moved it), and a clock step keep the clock within the years 1 to 9999; the first that
    does not is bad input, named where it was given."""

    def refuse(path: Sequence[Any], message: str) -> None:
        name = path[1]
        if name in from_options:
            raise InputError(message, field=f"--fault {'.'.join(str(part) for part in path[1:])}")
        raise InputError(
            message,
            file=scenario.filename,
            line=scenario.line_of(*path),
            field=".".join(str(part) for part in path),
        )

    check_faults(scenario.faults, scenario.start, scenario.duration, refuse)


def parse_speed(text: str) -> Speed:
    try:
        return Speed.parse(text)
    except ValueError as error:
        raise InputError(str(error), field="--speed") from None


def parse_rate_option(text: str) -> float:
    """`--rate`: records per second, more than 0 (at 0 the run would never move)."""
    try:
        rate = parse_rate(text)
    except ValueError as error:
        raise InputError(str(error), field="--rate") from None
    if rate <= 0:
        raise InputError(f"must be more than 0/s, not {text!r}", field="--rate")
    return rate


def with_duration(scenario: Scenario, text: str) -> Scenario:
    """The scenario with `--duration` (a duration or `forever`) for its own."""
    try:
        duration = parse_run_length(text)
    except DurationError as error:
        raise InputError(str(error), field="--duration") from None
    longer = scenario.model_copy(update={"duration": duration})
    try:
        longer.end  # noqa: B018 - computing it is the check
    except OverflowError:
        raise InputError("the run would end after the year 9999", field="--duration") from None
    return longer


def rate_plan(request: RunRequest, scenario: Scenario) -> RatePlan | None:
    """The run's rate shaping: `--rate`, else the scenario's `stages:`; None: paced by
    speed. Either excludes `--speed`."""
    if request.rate is not None:
        if request.speed is not None:
            raise InputError(
                "goes without --speed: --rate paces the records, --speed the virtual clock",
                field="--rate",
            )
        return RatePlan.constant(parse_rate_option(request.rate))
    plan = scenario.rate_plan
    if plan is not None and request.speed is not None:
        raise InputError(
            f"{scenario.filename} shapes the rate of records (stages:), which excludes "
            "--speed; --rate replaces its stages",
            field="--speed",
        )
    return plan


@dataclass(frozen=True)
class RunRequest:
    """Everything `billsim run` was asked for (see the command's help)."""

    scenario: str
    out: Path | None = None
    stdout: bool = False
    broker: str | None = None
    speed: str | None = None
    rate: str | None = None  # --rate: records per second; replaces the scenario's stages
    duration: str | None = None  # --duration: a duration or forever, for the scenario's
    seed: int | None = None
    layout: Layout = Layout.LINUX_X86_64
    framing: Framing = Framing.PAD_UNION
    payload: str = "binary"
    qos: int = DEFAULT_QOS
    mqtt_version: str = "5"
    topic_meta: bool = False  # --topic-meta: frames to …/{class}/{run}/{seq}
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    control: bool = False
    stats_interval: float = DEFAULT_STATS_INTERVAL
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    log_json: bool = False
    notes_ini: Path | None = None
    stamp_policy: str | None = None
    quota: int = DEFAULT_QUOTA
    queue_policy: QuotaPolicy = QuotaPolicy.BLOCK
    summary_path: Path | None = None
    text_format: str = "json"  # --stdout: json lines or tail's text view
    watch: bool | None = None  # None: on for a bundled demo on the embedded broker in a terminal
    start_after: float = 0.0  # seconds, connected, before the first frame
    embedded_port: int | None = None
    procs: int | None = None  # a domain's processes; None: one a server, at most the cores
    metrics_port: int | None = None  # --metrics-port: the Prometheus endpoint's port
    metrics_host: str | None = None  # --metrics-host; None: 127.0.0.1
    faults: tuple[str, ...] = ()  # --fault NAME=VALUE, each for the faults: entry NAME
    report_path: Path | None = None  # --report: the HTML run report

    @property
    def local(self) -> bool:
        return self.out is not None or self.stdout


def run(request: RunRequest, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run a scenario to a file, stdout or MQTT; prints the summary; returns the exit code.

    One server: a domain's scenario (`servers:` > 1) runs through commands/run_domain.py.
    """
    # Looked up per call, not bound at import: a test runner swaps sys.stdout per command.
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    scenario, settings = load_request(request)
    return run_loaded(request, scenario, settings, stdout, stderr)


def run_loaded(
    request: RunRequest,
    scenario: Scenario,
    settings: NotesIniSettings,
    stdout: TextIO,
    stderr: TextIO,
    on_summary: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """`run` of a scenario already loaded; with --metrics-port, its figures served meanwhile.
    `on_summary` is given the summary once it is printed (the HTML report is written so)."""
    sim = _simulation_for(request, scenario, settings)
    with metrics_endpoint(request.metrics_host, request.metrics_port, stderr) as endpoint:
        metrics = None
        if endpoint is not None:
            metrics = RunMetrics(endpoint)
            metrics.watch(watch_simulation(sim))
        return _run_simulation(sim, request, stdout, stderr, metrics, on_summary)


def _run_simulation(
    sim: Simulation,
    request: RunRequest,
    stdout: TextIO,
    stderr: TextIO,
    metrics: RunMetrics | None,
    on_summary: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    extras: dict[str, Any] = {}
    # Records by class over wall time, for the report's chart: the summary's `series`.
    series = records_series(sim)
    # Opened before the run, like --out: a path that cannot be written is bad input
    # (exit 2) found at once, not an error after the whole run.
    summary_file = (
        AtomicFile(request.summary_path, "--summary") if request.summary_path is not None else None
    )
    started = time.monotonic()

    def sum_up(delivered: int, extras: dict[str, Any]) -> dict[str, Any]:
        extras = {**extras, "series": series_json(series)}
        wall = time.monotonic() - started
        summary = build_summary(sim, delivered=delivered, extra=extras, wall_time=wall)
        if summary_file is not None:
            summary_file.commit(summary_json(summary))
        print_summary(summary, stderr)
        return summary

    def quit_at_once(delivered: int, extras: dict[str, Any]) -> int:
        # A second Ctrl-C leaves without the report: what it may not skip is the summary.
        try:
            sum_up(delivered, extras)
        finally:
            if summary_file is not None:
                summary_file.discard()
        return exit_code(extras.get("undelivered", 0), stderr)

    with summary_kept():
        try:
            if request.local:
                delivered = _run_local(sim, request, stdout, stderr, series, metrics, summary_file)
            else:
                # Watching, the frames are the show: only warnings and errors come between them.
                quiet = watches(request, stdout) and not request.log_json
                # structlog only for the broker's path: `--out` starts sooner without it.
                from simulator.adapters.logs import configure_logging  # noqa: PLC0415

                configure_logging(
                    json=request.log_json,
                    stream=stderr,
                    level=logging.WARNING if quiet else logging.INFO,
                )
                delivered, extras = asyncio.run(
                    sampled(series, _run_mqtt(sim, request, stdout, stderr, metrics, quit_at_once))
                )
            summary = sum_up(delivered, extras)
        finally:
            if summary_file is not None:
                summary_file.discard()  # killed or failed before the end: the file is untouched
    if on_summary is not None:
        on_summary(summary)
    return exit_code(extras.get("undelivered", 0), stderr)


def records_series(sim: Simulation) -> CounterSeries:
    """The simulation's records by class, sampled over wall time from now."""
    return CounterSeries(lambda: records_by_class(sim.writer.by_struct_type))


def series_json(series: CounterSeries) -> dict[str, Any]:
    """A run's `series` as its summary holds it (docs/cli.md)."""
    return series.as_json("records_by_class")


def exit_code(undelivered: int, stderr: TextIO) -> int:
    """A run's exit code: 1, said on stderr, when frames were left undelivered.

    What billsim knows is which frames the broker did not acknowledge (PUBACK): a frame
    whose PUBACK was lost may still have reached it, and a subscriber may have missed
    frames the broker did take. So the message says "not acknowledged", not "lost".
    """
    if undelivered:
        stderr.write(
            f"billsim: {undelivered} frame(s) were not acknowledged by the broker"
            " (no PUBACK, or one refusing them); a frame whose PUBACK was lost may"
            " still have reached subscribers\n"
        )
        return EXIT_FAILED
    return EXIT_OK


def workload_of(scenario: Scenario) -> Workload:
    """The scenario's `workload:` block checked as the model (it has one)."""
    assert scenario.workload is not None
    return parse_workload(scenario.workload, scenario.databases, scenario.filename)


def _simulation_for(
    request: RunRequest, scenario: Scenario, settings: NotesIniSettings
) -> Simulation:
    """The simulation the request asks for, its script checked."""
    options = run_options(request, scenario)
    check_script(scenario, settings, options)
    return Simulation(scenario, settings, options)


def run_options(request: RunRequest, scenario: Scenario) -> RunOptions:
    """What the command line sets over the scenario; the speed's default depends on where
    the frames go."""
    plan = rate_plan(request, scenario)
    if plan is not None:
        speed = Speed(None)  # unused: the records set the pace
    elif request.speed is not None:
        speed = parse_speed(request.speed)
    elif request.local:
        speed = Speed(None)
    else:
        speed = parse_speed(scenario.speed or "realtime")
    return RunOptions(
        speed=speed,
        rate=plan,
        seed=request.seed,
        layout=request.layout,
        framing=request.framing,
        stamp_policy=request.stamp_policy,
        quota=request.quota,
        policy=request.queue_policy,
    )


@overload
def create(path: Path, mode: Literal["w"], option: str = "--out") -> TextIO: ...
@overload
def create(path: Path, mode: Literal["wb"], option: str = "--out") -> BinaryIO: ...
def create(path: Path, mode: str, option: str = "--out") -> IO[Any]:
    """`path` (given by `option`) opened for writing; one that cannot be is bad input
    naming the file and the option."""
    try:
        if mode == "w":
            return open(path, "w", encoding="utf-8")
        return open(path, "wb")
    except OSError as error:
        raise InputError(error.strerror or str(error), file=str(path), field=option) from None


def _run_local(
    sim: Simulation,
    request: RunRequest,
    stdout: TextIO,
    stderr: TextIO,
    series: CounterSeries,
    metrics: RunMetrics | None = None,
    summary_file: AtomicFile | None = None,
) -> int:
    stream: BinaryIO | None = None
    try:
        if request.out is not None and str(request.out) == STDOUT_NAME:
            stdout.flush()
            sink: FrameSink = BinaryFileSink(stdout.buffer)
        elif request.out is not None:
            stream = create(request.out, "wb")
            sink = BinaryFileSink(stream)
        elif request.text_format == "text":
            sink = TextLinesSink(stdout, sim.codec)
        else:
            sink = JsonLinesSink(stdout, sim.codec)
        written = asyncio.run(
            sampled(series, run_to_sink(sim, sink, stderr, metrics, summary_file))
        )
    finally:
        if stream is not None:
            stream.close()
    return written


async def run_to_sink(
    sim: Simulation,
    sink: FrameSink,
    stderr: TextIO = sys.stderr,
    metrics: RunMetrics | None = None,
    summary_file: AtomicFile | None = None,
) -> int:
    """Run the simulation into a local sink; returns the number of frames written. A
    second Ctrl-C leaves no summary (what reached the sink is not known) but removes
    `summary_file`'s temporary file."""
    progress = Progress(sim, stderr)

    def discard(_left: int) -> int:
        if summary_file is not None:
            summary_file.discard()
        return EXIT_FAILED

    with shutdown_on_signals(sim, stderr, discard):
        progress_task = asyncio.create_task(progress.run())
        try:
            async with pumping(metrics):
                written, _ = await asyncio.gather(drain_to_sink(sim.queue, sink), sim.run())
        finally:
            progress_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await progress_task
            progress.clear()
    return written


def watches(request: RunRequest, stdout: TextIO) -> bool:
    """--watch as asked, else on when a bundled demo plays on the embedded broker with
    stdout on a terminal: the newcomer's first run shows its frames where it was started."""
    if request.watch is not None:
        return request.watch
    bundled = request.scenario in bundled_scenarios() and not Path(request.scenario).is_file()
    isatty = getattr(stdout, "isatty", None)
    return bundled and request.broker is None and bool(isatty and isatty())


async def _run_mqtt(
    sim: Simulation,
    request: RunRequest,
    stdout: TextIO,
    stderr: TextIO,
    metrics: RunMetrics | None = None,
    on_quit: Callable[[int, dict[str, Any]], int] | None = None,
) -> tuple[int, dict[str, Any]]:
    from simulator.commands.run_mqtt import run_on_mqtt  # noqa: PLC0415 -- gmqtt only when needed

    async with pumping(metrics):
        return await run_on_mqtt(
            sim,
            broker_url=request.broker,
            options=mqtt_options(request),
            control=request.control,
            stats_interval=request.stats_interval,
            drain_timeout=request.drain_timeout,
            log_json=request.log_json,
            stderr=stderr,
            connect_timeout=request.connect_timeout,
            watch=stdout if watches(request, stdout) else None,
            start_after=request.start_after,
            embedded_port=request.embedded_port,
            on_drain=metrics.drain_hook(0) if metrics is not None else None,
            on_quit=on_quit,
        )


class BrokerRequest(Protocol):
    """What a command that publishes frames (`run`, `replay`) asks of its broker connection."""

    @property
    def connect_timeout(self) -> float: ...
    @property
    def qos(self) -> int: ...
    @property
    def mqtt_version(self) -> str: ...
    @property
    def payload(self) -> str: ...
    @property
    def topic_meta(self) -> bool: ...
    @property
    def drain_timeout(self) -> float: ...
    @property
    def ca_file(self) -> Path | None: ...
    @property
    def cert_file(self) -> Path | None: ...
    @property
    def key_file(self) -> Path | None: ...


def mqtt_options(request: BrokerRequest) -> MqttOptions:
    """How to talk to the broker; a TLS file that is not there is bad input."""
    for option, path in (
        ("--ca-file", request.ca_file),
        ("--cert-file", request.cert_file),
        ("--key-file", request.key_file),
    ):
        if path is not None and not path.is_file():
            raise InputError("no such file", file=str(path), field=option)
    return MqttOptions(
        # Half the budget per attempt, so a broker that ignores an MQTT 5 CONNECT
        # leaves room for the MQTT 3.1.1 one within --connect-timeout.
        connect_timeout=request.connect_timeout / 2,
        qos=request.qos,
        version=request.mqtt_version,
        payload=request.payload,
        topic_meta=request.topic_meta,
        drain_timeout=request.drain_timeout,
        ca_file=str(request.ca_file) if request.ca_file else None,
        cert_file=str(request.cert_file) if request.cert_file else None,
        key_file=str(request.key_file) if request.key_file else None,
    )
