"""The `billsim` command line (docs/cli.md).

Each command is one small function here that parses its options and calls the code that
does the work (`simulator.commands`, …), which knows nothing of typer. To add one:

    @app.command("check")
    def check_command(file: InputArgument, layout: LayoutOption = Layout.LINUX_X86_64) -> None:
        \"\"\"One line for the command list (the rest of the docstring is its --help).\"\"\"
        check_file(file, sys.stdout, layout=layout)

To fail, raise a `BillsimError` (`InputError` for bad input): `BillsimGroup` turns it into
one line on stderr and its exit code (0 ok, 1 failed, 2 bad input), never a traceback,
under `main()` and typer's `CliRunner` alike. Options that several commands take are
declared once below (`LayoutOption`, `InputArgument`). A command that needs heavy imports
(asyncio networking, gmqtt) imports them inside its function (`# noqa: PLC0415`), so that
`billsim --help` and `billsim decode` stay fast.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from simulator import __version__
from simulator.adapters.mqtt.options import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DRAIN_TIMEOUT,
    DEFAULT_QOS,
    DEFAULT_STATS_INTERVAL,
)
from simulator.addin.bill import BillBy
from simulator.commands.formats import ReportFormat
from simulator.domino.mq import DEFAULT_QUOTA, QuotaPolicy
from simulator.errors import EXIT_OK, BillsimError, InputError
from simulator.scenario.notes_ini import MAX_NUMBER
from simulator.scenario.yamlsource import MAX_DIGITS
from simulator.wire.layout import Framing, Layout

PROG_NAME = "billsim"


class StampPolicy(StrEnum):
    TIMER = "timer"
    ACTIVITY = "activity"


def report_error(error: BillsimError) -> None:
    """One line on stderr, after what was already written to stdout (so they read in order)."""
    with contextlib.suppress(BrokenPipeError, ValueError):
        sys.stdout.flush()
    typer.echo(f"{PROG_NAME}: {error}", err=True)


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the final flush cannot complain."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (typer's CliRunner): nothing is flushed to a pipe at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


_BOUND_WORDS = (
    ("Input should be greater than or equal to ", "must be ≥ "),
    ("Input should be less than or equal to ", "must be ≤ "),
    ("Input should be greater than ", "must be > "),
    ("Input should be less than ", "must be < "),
)


class BillsimGroup(TyperGroup):
    """Runs a command; a BillsimError becomes its message and exit code, a closed pipe exit 0."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BillsimError as error:
            report_error(error)
            raise typer.Exit(error.exit_code) from None
        except BrokenPipeError:
            # The reader went away (`billsim decode f | head`): what it wanted, it got.
            _silence_stdout()
            raise typer.Exit(EXIT_OK) from None
        except typer.BadParameter as error:
            # Pydantic's words for an option's bounds and own checks, in the loader's:
            # "Invalid value for '--layout': 'win64' is not one of …", "--seed: must be ≥ 0".
            message = error.message.removeprefix("Value error, ")
            for pydantic_words, ours in _BOUND_WORDS:
                message = message.replace(pydantic_words, ours)
            error.message = message
            raise

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list with each summary whole, wrapped to the terminal, never cut
        short with `...` (click's default on a narrow terminal)."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    name=PROG_NAME,
    cls=BillsimGroup,
    help="Simulate a Domino server's billing: BILLMSG frames from MQ$BILLING to MQTT.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,  # plain help and one-line errors; paragraphs rewrap
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Options and arguments more than one command takes.
# TLS to the broker (mqtts://), for every command that connects to one.
CaFileOption = Annotated[
    Path | None, typer.Option("--ca-file", help="CA certificates for mqtts://.")
]
CertFileOption = Annotated[
    Path | None, typer.Option("--cert-file", help="Client certificate (PEM) for mqtts://.")
]
KeyFileOption = Annotated[
    Path | None, typer.Option("--key-file", help="Client certificate's key (PEM).")
]
# The Prometheus endpoint (docs/observability.md), for `run`, `addin` (and `replay`).
MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        metavar="PORT",
        min=0,
        max=65535,
        help="Serve Prometheus metrics on this port (http://HOST:PORT/metrics) while "
        "running; at the end, wait for one more scrape so the final counts are seen.",
        show_default=False,
    ),
]
MetricsHostOption = Annotated[
    str | None,
    typer.Option(
        "--metrics-host",
        metavar="HOST",
        help="The address the metrics endpoint listens on (0.0.0.0: every interface, as "
        "in a container). [default: 127.0.0.1]",
        show_default=False,
    ),
]
LayoutOption = Annotated[
    Layout,
    typer.Option(
        "--layout",
        help="Struct layout of the frames: natural alignment (also Win64) or packed.",
        show_default=True,
    ),
]
InputArgument = Annotated[
    str,
    typer.Argument(
        metavar="FILE|-",
        help="Binary frames back to back (the .nbf form) or JSON lines; - reads standard input.",
        show_default=False,
    ),
]


class TextFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


FormatOption = Annotated[
    TextFormat,
    typer.Option(
        "--format",
        help="json: the JSON form, one frame a line; text: tail's one-line view of each frame.",
    ),
]


def _seconds(text: str, flag: str) -> float:
    """A duration option (`10s`, `1m`, a bare number of seconds) in seconds."""
    from simulator.scenario.durations import DurationError, parse_duration  # noqa: PLC0415

    try:
        return parse_duration(text) / 1e6
    except DurationError as error:
        raise InputError(str(error), field=flag) from None


def _microseconds(text: str, flag: str) -> int:
    """A duration option (`100ms`, `5s`, a bare number of seconds) in whole microseconds."""
    from simulator.scenario.durations import DurationError, parse_duration  # noqa: PLC0415

    try:
        return parse_duration(text)
    except DurationError as error:
        raise InputError(str(error), field=flag) from None


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"{PROG_NAME} {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    # The group's own options; its help is the app's `help` above.
    pass


@app.command("decode")
def decode_command(
    file: InputArgument,
    layout: LayoutOption = Layout.LINUX_X86_64,
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            metavar="SCENARIO",
            help="A scenario file or bundled name whose custom_types name the custom records.",
        ),
    ] = None,
    text_format: FormatOption = TextFormat.JSON,
) -> None:
    """Decode a frame stream to JSON lines or text lines.

    One line per frame.
    FILE holds binary frames (run --out) or JSON lines (run --stdout); - reads stdin. The
    JSON form carries seq from 1; --format text prints tail's one-line view instead.
    Custom struct types (32001-65535) decode field by field when --scenario declares them,
    else as the header plus "raw" (the hex of the bytes after the header). Exit 2 at a
    frame that cannot be read, naming its byte offset, or at the end if any frame had an
    unknown struct type.
    """
    from simulator.commands.decode import decode_file  # noqa: PLC0415

    kinds: tuple[Any, ...] = ()
    if scenario is not None:
        from simulator.scenario.bundled import resolve_scenario  # noqa: PLC0415
        from simulator.scenario.loader import load_scenario  # noqa: PLC0415

        kinds = load_scenario(resolve_scenario(scenario)).custom_kinds()
    decode_file(
        file,
        sys.stdout,
        sys.stderr,
        layout=layout,
        custom_kinds=kinds,
        text=text_format is TextFormat.TEXT,
    )


@app.command("header")
def header_command(
    scenario: Annotated[
        str,
        typer.Argument(
            metavar="SCENARIO",
            help="A scenario file, or the name of a bundled one (see `billsim scenarios`).",
            show_default=False,
        ),
    ],
) -> None:
    """Print a C header for the scenario's custom record types.

    For each type of custom_types: its struct with the C field types, #define
    BILL_<NAME> <struct type>, its billing class, and static size and offset checks for
    both layouts. It includes queue/billmsg.h and, like it, packs the structs when
    BILLSIM_WIN32_LAYOUT is defined. Exit 2 if the scenario is not valid.
    """
    from simulator.commands.header import scenario_header  # noqa: PLC0415
    from simulator.scenario.bundled import resolve_scenario  # noqa: PLC0415
    from simulator.scenario.loader import load_scenario  # noqa: PLC0415

    path = resolve_scenario(scenario)
    sys.stdout.write(scenario_header(load_scenario(path), path.name))


ScenarioArgument = Annotated[
    str,
    typer.Argument(
        metavar="SCENARIO",
        help="A scenario file, or the name of a bundled one (see `billsim scenarios`).",
        show_default=False,
    ),
]


class Payload(StrEnum):
    BINARY = "binary"
    JSON = "json"


class MqttVersion(StrEnum):
    V5 = "5"
    V311 = "3.1.1"


# How `run` and `replay` publish frames.
PayloadOption = Annotated[
    Payload, typer.Option("--payload", help="MQTT payload: the binary frame or its JSON form.")
]
QosOption = Annotated[
    int, typer.Option("--qos", help="MQTT QoS of the frames (0 or 1).", min=0, max=1)
]
MqttVersionOption = Annotated[
    MqttVersion, typer.Option("--mqtt-version", help="MQTT protocol version.")
]
# How `addin`, `tail` and `record` connect.
ConsumerMqttVersionOption = Annotated[
    MqttVersion,
    typer.Option(
        "--mqtt-version",
        help="MQTT protocol version: 5 falls back to 3.1.1 when the broker will not have 5; "
        "3.1.1 sends no MQTT 5 CONNECT at all (RabbitMQ before 3.13 logs an error report "
        "for each).",
    ),
]
TopicMetaOption = Annotated[
    bool,
    typer.Option(
        "--topic-meta",
        help="Publish each frame to domino/billing/{server}/{class}/{run}/{seq} (custom "
        "types: …/custom/{structtype}/{run}/{seq}), so that a consumer without MQTT 5 "
        "properties (NATS, RabbitMQ before 3.13) can key on run and seq. Subscribers of "
        "…/{class}/# see both forms; those of the exact …/{class} see none: off by "
        "default.",
    ),
]


# The bounds of the scenario's `seed:`, so that an option takes what a file takes.
SeedOption = Annotated[
    int | None,
    typer.Option(help="Override the scenario's seed.", min=0, max=10**MAX_DIGITS - 1),
]


@app.command("run")
def run_command(
    scenario: ScenarioArgument,
    *,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the frames back to back (the .nbf form) to this file (- for stdout).",
        ),
    ] = None,
    stdout: Annotated[
        bool,
        typer.Option(
            "--stdout", help="Write the frames to stdout as JSON lines (or text: --format)."
        ),
    ] = False,
    text_format: Annotated[
        TextFormat | None,
        typer.Option(
            "--format",
            help="With --stdout: json (the JSON form, one frame a line) or text (tail's "
            "one-line view). [default: json]",
            show_default=False,
        ),
    ] = None,
    broker: Annotated[
        str | None,
        typer.Option(
            "--broker",
            help="mqtt://[user[:password]@]host[:port] or mqtts://… (password also from "
            "BILLSIM_MQTT_PASSWORD). Default: an embedded broker on 127.0.0.1:1883 "
            "(a free port if taken).",
        ),
    ] = None,
    speed: Annotated[
        str | None,
        typer.Option(
            help="realtime, Nx (e.g. 60x) or max. Default: max with --out/--stdout; on MQTT "
            "the scenario's own speed, else realtime."
        ),
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option(
            "--rate",
            metavar="N/s",
            help="Pace the run by its output: N records a second (e.g. 5000/s), whatever "
            "the virtual clock does. Replaces the scenario's stages; not with --speed.",
        ),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration",
            metavar="DURATION|forever",
            help="Run this long in virtual time (e.g. 8h) instead of the scenario's "
            "duration; forever runs until stopped (Ctrl-C, SIGTERM, a quit command).",
        ),
    ] = None,
    seed: SeedOption = None,
    layout: LayoutOption = Layout.LINUX_X86_64,
    frame: Annotated[
        Framing,
        typer.Option("--frame", help="pad-union: at least sizeof(BILLMSG); compact: no padding."),
    ] = Framing.PAD_UNION,
    payload: PayloadOption = Payload.BINARY,
    qos: QosOption = DEFAULT_QOS,
    mqtt_version: MqttVersionOption = MqttVersion.V5,
    topic_meta: TopicMetaOption = False,
    ca_file: CaFileOption = None,
    cert_file: CertFileOption = None,
    key_file: KeyFileOption = None,
    control: Annotated[
        bool,
        typer.Option(
            "--control", help="Take commands on domino/billing/{server}/control (off by default)."
        ),
    ] = False,
    stats_interval: Annotated[
        float, typer.Option("--stats-interval", help="Seconds between stats messages.", min=0.1)
    ] = DEFAULT_STATS_INTERVAL,
    watch: Annotated[
        bool | None,
        typer.Option(
            "--watch/--no-watch",
            help="Print each frame as tail does, in this terminal, from the first one. "
            "[default: on for a bundled scenario on the embedded broker with stdout on a "
            "terminal]",
            show_default=False,
        ),
    ] = None,
    start_after: Annotated[
        str | None,
        typer.Option(
            "--start-after",
            metavar="DURATION",
            help="Wait this long (e.g. 10s), connected, before the first frame: time to "
            "start a tail by hand after the broker URL is printed.",
        ),
    ] = None,
    embedded_port: Annotated[
        int | None,
        typer.Option(
            "--embedded-port",
            metavar="PORT",
            min=1,
            max=65535,
            help="The embedded broker's port (a free one if it is taken). "
            "[default: BILLSIM_EMBEDDED_PORT, else 1883]",
            show_default=False,
        ),
    ] = None,
    connect_timeout: Annotated[
        float,
        typer.Option(
            "--connect-timeout",
            metavar="SECONDS",
            min=0.1,
            help="How long to wait for the first connection to the broker: if it fails "
            "(refused, unknown host, TLS, login), run exits 1 naming the reason before a "
            "single frame is written. Later outages are retried.",
        ),
    ] = DEFAULT_CONNECT_TIMEOUT,
    drain_timeout: Annotated[
        float,
        typer.Option(
            "--drain-timeout", help="Seconds to deliver what is queued at shutdown.", min=0
        ),
    ] = DEFAULT_DRAIN_TIMEOUT,
    log_json: Annotated[
        bool, typer.Option("--log-json", help="structlog JSON lines instead of the live view.")
    ] = False,
    notes_ini: Annotated[
        Path | None,
        typer.Option("--notes-ini", help="A notes.ini file; its settings win over the scenario's."),
    ] = None,
    stamp_policy: Annotated[
        StampPolicy | None,
        typer.Option("--stamp-policy", help="Override the scenario's stamp_policy."),
    ] = None,
    quota: Annotated[
        int, typer.Option(help="MQ$BILLING quota in messages.", min=1, max=1_000_000)
    ] = DEFAULT_QUOTA,
    queue_policy: Annotated[
        QuotaPolicy,
        typer.Option(
            "--queue-policy",
            help="When the queue is full: block (the virtual clock waits) or drop (counted).",
        ),
    ] = QuotaPolicy.BLOCK,
    summary: Annotated[
        Path | None,
        typer.Option("--summary", help="Also write the run summary as JSON to this file."),
    ] = None,
    procs: Annotated[
        int | None,
        typer.Option(
            "--procs",
            metavar="N",
            min=1,
            help="Processes for a domain (workload servers: N), each running a share of "
            "the servers; never more than the servers. [default: one a server, at most "
            "the cores]",
            show_default=False,
        ),
    ] = None,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            metavar="NAME=VALUE",
            help="Inject a fault (docs/faults.md), as the scenario's faults: block does and "
            "in place of its entry NAME; VALUE is YAML. Repeatable: --fault duplicate=0.001 "
            "--fault 'crash={at: 2h, restart_after: 5m}'. Faults: duplicate, reorder, "
            "corrupt, truncate, crash, clock_step, dst, wrap.",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            metavar="FILE.html",
            help="Also write the run's HTML report to FILE.html: one self-contained page "
            "with the summary's tables, records per second over time by class, and the "
            "timeline.",
        ),
    ] = None,
) -> None:
    """Run a scenario: BILLMSG frames to MQTT, a file or stdout.

    An emulated server writes them through MQ$BILLING.
    Frames go to MQTT (the embedded broker unless --broker), or with --out / --stdout to
    a file or standard output.
    """
    from simulator.commands.run import RunRequest  # noqa: PLC0415
    from simulator.commands.run_domain import run_scenario  # noqa: PLC0415

    chosen = [
        name
        for name, on in (
            ("--out", out is not None),
            ("--stdout", stdout),
            ("--broker", broker is not None),
        )
        if on
    ]
    if len(chosen) > 1:
        raise InputError(
            f"choose one of --out, --stdout and --broker, not {' and '.join(chosen)}",
            field=chosen[1],
        )
    if text_format is not None and not stdout:
        raise InputError("goes with --stdout (what it formats)", field="--format")
    local = out is not None or stdout
    for name, given in (
        ("--watch", watch),
        ("--start-after", start_after is not None),
        ("--embedded-port", embedded_port is not None),
        ("--topic-meta", topic_meta),
    ):
        if given and (local or (name == "--embedded-port" and broker is not None)):
            raise InputError(
                "goes with a run on MQTT"
                + (" on the embedded broker" if name == "--embedded-port" else ""),
                field=name,
            )
    # These do nothing to a file or stdout: one changed from its default was meant for a
    # run on MQTT. A default passes, as a script may give it either way.
    for name, changed in (
        ("--payload", payload is not Payload.BINARY),
        ("--qos", qos != DEFAULT_QOS),
        ("--mqtt-version", mqtt_version is not MqttVersion.V5),
        ("--ca-file", ca_file is not None),
        ("--cert-file", cert_file is not None),
        ("--key-file", key_file is not None),
        ("--control", control),
        ("--stats-interval", stats_interval != DEFAULT_STATS_INTERVAL),
        ("--connect-timeout", connect_timeout != DEFAULT_CONNECT_TIMEOUT),
        ("--drain-timeout", drain_timeout != DEFAULT_DRAIN_TIMEOUT),
    ):
        if changed and local:
            raise InputError("goes with a run on MQTT", field=name)
    request = RunRequest(
        scenario=scenario,
        out=out,
        stdout=stdout,
        broker=broker,
        speed=speed,
        rate=rate,
        duration=duration,
        seed=seed,
        layout=layout,
        framing=frame,
        payload=payload.value,
        qos=qos,
        mqtt_version=mqtt_version.value,
        topic_meta=topic_meta,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        control=control,
        stats_interval=stats_interval,
        drain_timeout=drain_timeout,
        connect_timeout=connect_timeout,
        log_json=log_json,
        notes_ini=notes_ini,
        stamp_policy=stamp_policy.value if stamp_policy else None,
        quota=quota,
        queue_policy=queue_policy,
        summary_path=summary,
        text_format=(text_format or TextFormat.JSON).value,
        watch=watch,
        start_after=_seconds(start_after, "--start-after") if start_after is not None else 0.0,
        embedded_port=embedded_port,
        procs=procs,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        faults=tuple(fault or ()),
        report_path=report,
    )
    raise typer.Exit(run_scenario(request))


@app.command("validate")
def validate_command(
    scenarios: Annotated[
        list[str],
        typer.Argument(
            metavar="SCENARIO...", help="Scenario files or bundled names.", show_default=False
        ),
    ],
    notes_ini: Annotated[
        Path | None,
        typer.Option("--notes-ini", help="A notes.ini file to validate the settings with."),
    ] = None,
) -> None:
    """Check scenarios without running them.

    Schema, names, times, and a dry run of the script: every problem of a file is listed
    as file:line: field: message (exit 2 if any).
    """
    from simulator.commands.validate import validate  # noqa: PLC0415

    # The interpreter's last collection at exit would walk every object the loads and
    # dry runs left (a simulation is a cycle: its handlers are bound methods), a sixth
    # of the CPU time of validating a big scenario; the memory goes back to the system
    # anyway. Nothing validate leaves needs a finalizer: it writes only to stdout and
    # stderr, which are flushed at exit all the same.
    atexit.register(gc.freeze)
    raise typer.Exit(validate(scenarios, notes_ini))


@app.command("check")
def check_command(
    file: InputArgument,
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            metavar="SCENARIO",
            help="The scenario file or bundled name the stream was run from: its "
            "BillingSuppressTime, stamp policy and custom types are what the stream is "
            "checked against.",
        ),
    ] = None,
    notes_ini: Annotated[
        Path | None,
        typer.Option(
            "--notes-ini",
            help="The notes.ini file the stream was run with (it wins over the scenario's).",
        ),
    ] = None,
    layout: LayoutOption = Layout.LINUX_X86_64,
    suppress_time: Annotated[
        int | None,
        typer.Option(
            "--suppress-time",
            metavar="MINUTES",
            min=0,
            max=MAX_NUMBER,
            help="BillingSuppressTime the stream was written with, in whole minutes "
            "(0 means the default, 15, as in notes.ini). Wins over --scenario. "
            "[default: the scenario's, else 15]",
            show_default=False,
        ),
    ] = None,
    stamp_policy: Annotated[
        StampPolicy | None,
        typer.Option(
            "--stamp-policy",
            help="The policy the stream was written with. Both: no STAMP closer than "
            "BillingSuppressTime to the previous SESSIONREC. timer also: STAMPs fall on "
            "boundaries every BillingSuppressTime after START (DB STAMPs after the "
            "database's first OPEN). activity also: no DB STAMP closer than "
            "BillingSuppressTime to the database's previous DBREC. Wins over --scenario. "
            "[default: the scenario's, else timer]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check a frame stream against the lifecycle invariants.

    Binary frames or JSON lines.
    FILE is what `run --out` or `run --stdout` wrote (`-` reads stdin; the first byte
    tells the two forms apart). Give --scenario (and --notes-ini) as given to run, so the
    stream is checked against the settings it was written with. Lists each violation on
    stdout with its frame number (from 1) and the rule broken, then a count: exit 0
    clean (one OK line), 1 violations, 2 unreadable or empty input.
    """
    from simulator.commands.check import check_file, stream_settings  # noqa: PLC0415

    settings = stream_settings(
        scenario=scenario,
        notes_ini=notes_ini,
        layout=layout,
        suppress_time=suppress_time,
        stamp_policy=None if stamp_policy is None else stamp_policy.value,
    )
    report = check_file(file, sys.stdout, settings)
    raise typer.Exit(report.exit_code)


@app.command("timeline")
def timeline_command(
    source: Annotated[
        str,
        typer.Argument(
            metavar="SCENARIO|FILE",
            help="A scenario (bundled name or .yaml file), run here in memory at max speed; "
            "or a frame file (run --out, run --stdout; - reads stdin).",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            metavar="FILE.svg|FILE.png",
            help="The picture to write.",
            show_default=False,
        ),
    ],
    busiest: Annotated[
        int,
        typer.Option(
            "--busiest",
            metavar="N",
            help="Draw at most N sessions: those with the most "
            "records (the picture says how many were left out).",
        ),
    ] = 200,
    duration: Annotated[
        str | None,
        typer.Option("--duration", metavar="DURATION", help="Run the scenario this long instead."),
    ] = None,
    seed: SeedOption = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            metavar="SCENARIO",
            help="With a frame file: the scenario it was run "
            "from (BillingSuppressTime, custom types, database names).",
        ),
    ] = None,
    notes_ini: Annotated[
        Path | None,
        typer.Option("--notes-ini", help="A notes.ini file; its settings win over the scenario's."),
    ] = None,
    layout: LayoutOption = Layout.LINUX_X86_64,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            metavar="NAME=VALUE",
            help="With a scenario: a fault as billsim run --fault injects it, in place of "
            "the faults: entry NAME (a crash is drawn as a band, the sessions it cut "
            "stopping there). Repeatable.",
        ),
    ] = None,
) -> None:
    """Draw the lifecycles of a run as a picture (SVG or PNG).

    A bar per session from START to END with a tick per STAMP, its databases' open
    intervals under it, mail, replication, agent and HTTP records on lanes of their own,
    the BillingSuppressTime grid behind; times in the scenario's zone (a frame file: its
    TIMEDATEs'). Exit 2 for bad input: an unknown scenario, an unreadable stream, a FILE
    that is neither .svg nor .png.
    """
    from simulator.commands.timeline import TimelineRequest, draw  # noqa: PLC0415

    draw(
        TimelineRequest(
            source=source,
            out=output,
            busiest=busiest,
            duration=duration,
            seed=seed,
            scenario=scenario,
            notes_ini=notes_ini,
            layout=layout,
            faults=tuple(fault or ()),
        )
    )


class VerifyFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@app.command("verify")
def verify_command(
    expected: Annotated[
        str,
        typer.Option(
            "--expected",
            metavar="SUMMARY.json",
            help="The ground truth: the run's --summary file (or any REPORT); its faults, "
            "if the run injected any, explain differences.",
            show_default=False,
        ),
    ],
    actual: Annotated[
        str,
        typer.Option(
            "--actual",
            metavar="STORE|REPORT.json|REPORT.csv",
            help="The consumer's bill, in a REPORT form of docs/verification.md, or the store "
            "billsim addin wrote (sqlite:///…, postgresql://…, nbf:…): its bill, and the seq "
            "numbers of the summary's run it lacks or holds twice.",
            show_default=False,
        ),
    ],
    output_format: Annotated[
        VerifyFormat,
        typer.Option(
            "--format", help="table: the differences for people; json: the whole outcome."
        ),
    ] = VerifyFormat.TABLE,
    result: Annotated[
        Path | None,
        typer.Option(
            "--result",
            metavar="FILE",
            help="Also write the whole outcome as JSON (what --format json prints) to FILE: "
            "billsim report --verify FILE puts its verdict on top of the HTML report.",
        ),
    ] = None,
    addin_summary: Annotated[
        str | None,
        typer.Option(
            "--addin-summary",
            metavar="FILE",
            help="The add-in's summary (billsim addin --summary FILE): what --max-p99, "
            "--max-lag and --max-rejects are held against.",
        ),
    ] = None,
    max_p99: Annotated[
        str | None,
        typer.Option(
            "--max-p99",
            metavar="DURATION",
            help="Fail (exit 1) when the p99 of the add-in's publish-to-commit latency is "
            "above DURATION (100ms, 1.5s).",
        ),
    ] = None,
    max_lag: Annotated[
        str | None,
        typer.Option(
            "--max-lag",
            metavar="DURATION",
            help="Fail (exit 1) when the add-in fell further behind than DURATION: its "
            "longest publish-to-commit latency, the age its backlog's oldest frame reached.",
        ),
    ] = None,
    max_rejects: Annotated[
        int | None,
        typer.Option(
            "--max-rejects",
            metavar="N",
            min=0,
            help="Fail (exit 1) when the add-in rejected more than N messages (no frame).",
        ),
    ] = None,
) -> None:
    """Check a consumer's bill against a run's ground truth.

    Per user and bill field: expected, actual and difference (charges within half a
    cent, the rest exactly), the users on one side only and, with a store, the seq
    numbers of the run missing or stored twice. When the summary lists injected faults,
    the differences they explain are printed apart, each with its fault and seq numbers.
    With --max-p99, --max-lag or --max-rejects (load tools' thresholds), the add-in's
    summary (--addin-summary) is held against each and every one missed is named.
    Exit 0 equal or every difference explained, and every threshold met; 1 any other
    difference (each user and field named) or a threshold missed; 2 unreadable input
    (file:line: field) or a threshold without --addin-summary.
    """
    from simulator.commands.verify import verify_files  # noqa: PLC0415
    from simulator.verify.thresholds import Thresholds  # noqa: PLC0415

    thresholds = Thresholds(
        max_p99_us=None if max_p99 is None else _microseconds(max_p99, "--max-p99"),
        max_lag_us=None if max_lag is None else _microseconds(max_lag, "--max-lag"),
        max_rejects=max_rejects,
    )
    code = verify_files(
        expected,
        actual,
        sys.stdout,
        as_json=output_format is VerifyFormat.JSON,
        thresholds=thresholds,
        addin_summary=addin_summary,
        result_path=result,
    )
    raise typer.Exit(code)


@app.command("scenarios")
def scenarios_command() -> None:
    """List the bundled scenarios, one a line."""
    from simulator.commands.scenarios import list_scenarios  # noqa: PLC0415

    list_scenarios(sys.stdout)


@app.command("tail")
def tail_command(
    broker: Annotated[
        str,
        typer.Option(
            "--broker",
            metavar="URL",
            help="mqtt://[user[:password]@]host[:port] or mqtts://… to watch (user and "
            "password also from BILLSIM_MQTT_USERNAME / BILLSIM_MQTT_PASSWORD).",
        ),
    ] = "mqtt://127.0.0.1:1883",
    json_lines: Annotated[
        bool, typer.Option("--json", help="The JSON form, one frame a line; nothing else.")
    ] = False,
    server: Annotated[
        str | None,
        typer.Option("--server", metavar="CN", help="Only this server's topics (Mail01)."),
    ] = None,
    layout: LayoutOption = Layout.LINUX_X86_64,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="Keep watching when the server goes offline (its run ended), for the next run.",
        ),
    ] = False,
    connect_timeout: Annotated[
        float,
        typer.Option(
            "--connect-timeout",
            "--wait",
            metavar="SECONDS",
            min=0,
            help="How long to retry an unreachable broker at start (refused, unknown host); "
            "a refused login or a TLS error ends tail at once.",
        ),
    ] = DEFAULT_CONNECT_TIMEOUT,
    ca_file: CaFileOption = None,
    cert_file: CertFileOption = None,
    key_file: KeyFileOption = None,
    mqtt_version: ConsumerMqttVersionOption = MqttVersion.V5,
) -> None:
    """Watch a broker's billing topics, one line a message.

    Each frame decoded on one line, as it arrives.
    Subscribes to domino/billing/+/# (or one server's). Frames, binary or JSON, come out
    as one readable line each (--json: the JSON form); status, stats and control
    messages as lines starting "--". If the broker cannot be reached, tail retries for
    --connect-timeout seconds and exits 1 naming the reason; once connected it reconnects
    without end. When the server it watches goes offline (its run ended), tail says so and
    exits 0, unless --follow. Ctrl-C: exit 0.
    """
    from simulator.commands.tail import run_tail  # noqa: PLC0415

    raise typer.Exit(
        run_tail(
            broker,
            json_lines=json_lines,
            server=server,
            layout=layout,
            wait=connect_timeout,
            ca_file=str(ca_file) if ca_file else None,
            cert_file=str(cert_file) if cert_file else None,
            key_file=str(key_file) if key_file else None,
            follow=follow,
            mqtt_version=mqtt_version.value,
        )
    )


@app.command("report")
def report_command(
    store: Annotated[
        str,
        typer.Argument(
            metavar="STORE",
            help="sqlite:///PATH, postgresql://… or nbf:PATH (what addin --store wrote, "
            "or the frames of run --out).",
            show_default=False,
        ),
    ],
    by: Annotated[BillBy, typer.Option("--by", help="Whom the totals are for.")] = BillBy.USER,
    report_format: Annotated[
        ReportFormat,
        typer.Option(
            "--format",
            help='table for people; csv (header user,sessions,…) or json ({"users": {…}}) '
            "for billsim verify; html: the HTML run report (with --verify, --summary, "
            "--addin-summary).",
        ),
    ] = ReportFormat.TABLE,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="TIME",
            help="Only records with a TimeStamp at or after TIME (ISO-8601; UTC if no zone).",
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", metavar="TIME", help="Only records with a TimeStamp before TIME."),
    ] = None,
    layout: LayoutOption = Layout.LINUX_X86_64,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="--format html: write the page to FILE (.html) instead of standard output.",
        ),
    ] = None,
    verify_result: Annotated[
        Path | None,
        typer.Option(
            "--verify",
            metavar="RESULT.json",
            help="--format html: the verdict on top, from billsim verify --result FILE.",
        ),
    ] = None,
    run_summary: Annotated[
        Path | None,
        typer.Option(
            "--summary",
            metavar="FILE",
            help="--format html: the run's summary (run --summary FILE): its tables and "
            "records per second over time.",
        ),
    ] = None,
    addin_summary: Annotated[
        Path | None,
        typer.Option(
            "--addin-summary",
            metavar="FILE",
            help="--format html: the add-in's summary (addin --summary FILE): what it "
            "stored and its latency over time.",
        ),
    ] = None,
) -> None:
    """Print the bill of a store: totals per user, database or server.

    Per user: sessions; bytes in and out (per session its END, else its last stored
    record); DB open time (per session and database the last DBOpenTime); charges and
    charged documents; mail count and bytes (the sender's); replication bytes in and out
    (billed to the other server's name); agent runs and run time (the signer's); web
    requests and bytes (AuthUser, else Anonymous). The fields are those of the run
    summary's users, so billsim verify compares the two. --by database: by replica ID
    (agents by their database's path); --by server: by the server's common name.
    --format html writes the HTML run report of the store (to --output), with the
    verdict of a verify result (--verify) on top and the run's and add-in's summaries.
    Exit 2 for a store that does not exist or an unknown URL, 1 when a database cannot
    be reached.
    """
    from simulator.commands.report import (  # noqa: PLC0415
        HtmlSources,
        parse_time,
        write_html_report,
        write_report,
    )
    from simulator.wire.codec import FrameCodec  # noqa: PLC0415

    html_only = [
        name
        for name, given in (
            ("--output", output),
            ("--verify", verify_result),
            ("--summary", run_summary),
            ("--addin-summary", addin_summary),
        )
        if given is not None
    ]
    since = None if start is None else parse_time(start, "--from")
    until = None if end is None else parse_time(end, "--to")
    if since is not None and until is not None and since >= until:
        # A window with nothing in it would read as a bill of nothing: a user's slip.
        raise InputError(
            f"{start} is not before --to {end}: no record can be in it", field="--from"
        )
    if report_format is ReportFormat.HTML:
        write_html_report(
            store,
            output if output is not None else sys.stdout,
            HtmlSources(verify_result, run_summary, addin_summary),
            by=by,
            start=since,
            end=until,
            codec=FrameCodec(layout),
        )
        return
    if html_only:
        raise InputError("goes with --format html", field=html_only[0])
    write_report(
        store,
        sys.stdout,
        by=by,
        report_format=report_format,
        start=since,
        end=until,
        codec=FrameCodec(layout),
    )


class Pacing(StrEnum):
    NONE = "none"
    NOTES_INI = "notes-ini"


@app.command("addin")
def addin_command(
    broker: Annotated[
        str,
        typer.Option(
            "--broker",
            metavar="URL",
            help="mqtt://[user[:password]@]host[:port] or mqtts://… to drain (user and "
            "password also from BILLSIM_MQTT_USERNAME / BILLSIM_MQTT_PASSWORD).",
        ),
    ] = "mqtt://127.0.0.1:1883",
    store: Annotated[
        list[str] | None,
        typer.Option(
            "--store",
            metavar="URL",
            help="Where records go: sqlite:///PATH, postgresql://…, nbf:PATH (frames back to "
            "back). Repeat it to write several stores, each committing before any frame is "
            "acknowledged. [default: from BillingAddinOutput of --notes-ini (1: "
            "sqlite:///billing.db, 8: nbf:billing.nbf, 9: both), else sqlite:///billing.db]",
            show_default=False,
        ),
    ] = None,
    group: Annotated[
        str,
        typer.Option(
            "--group",
            metavar="NAME",
            help="The shared-subscription group: add-ins of one group share the stream.",
        ),
    ] = "addins",
    member: Annotated[
        int,
        typer.Option(
            "--member",
            min=1,
            help="This add-in's number in its group: its client id, and so its broker "
            "session, is billsim-addin-{group}-{member}.",
        ),
    ] = 1,
    server: Annotated[
        str,
        typer.Option("--server", metavar="CN|+", help="Only this server's frames; + for all."),
    ] = "+",
    pacing: Annotated[
        Pacing,
        typer.Option(
            "--pacing",
            help="none: drain as fast as it can; notes-ini: as NBILLSES, wake up every "
            "BillingAddinWakeup seconds and drain for BillingAddinRuntime seconds "
            "(disconnected in between: the backlog waits at the broker).",
        ),
    ] = Pacing.NONE,
    notes_ini: Annotated[
        Path | None,
        typer.Option(
            "--notes-ini",
            help="A notes.ini: BillingAddinWakeup, BillingAddinRuntime (defaults 60 and 10) "
            "and BillingAddinOutput.",
        ),
    ] = None,
    until_idle: Annotated[
        str | None,
        typer.Option(
            "--until-idle",
            metavar="DURATION",
            help="End after this long awake without a frame (e.g. 10s).",
        ),
    ] = None,
    summary: Annotated[
        Path | None,
        typer.Option("--summary", help="Also write the summary as JSON to FILE."),
    ] = None,
    layout: LayoutOption = Layout.LINUX_X86_64,
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            metavar="SCENARIO",
            help="A scenario file or bundled name whose custom_types the frames may hold.",
        ),
    ] = None,
    connect_timeout: Annotated[
        float,
        typer.Option(
            "--connect-timeout",
            metavar="SECONDS",
            min=0.1,
            help="How long to wait for the first connection: if it fails (refused, unknown "
            "host, TLS, login) the add-in exits 1 naming the reason. Later outages are "
            "retried.",
        ),
    ] = DEFAULT_CONNECT_TIMEOUT,
    ca_file: CaFileOption = None,
    cert_file: CertFileOption = None,
    key_file: KeyFileOption = None,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            metavar="FILE.html",
            help="Also write the add-in's HTML report to FILE.html: what it stored, frames "
            "per second and latency percentiles over time, the timeline.",
        ),
    ] = None,
    mqtt_version: ConsumerMqttVersionOption = MqttVersion.V5,
) -> None:
    """Run the reference billing add-in: store each frame from the broker.

    Drains MQTT into stores, acknowledging a frame only once it is committed.
    Subscribes at QoS 1 with a persistent session to
    $share/{group}/domino/billing/{server}/{class}/# for each class and .../custom/#
    (a plain subscription under MQTT 3.1.1), which take frames published with and
    without --topic-meta. Binary and JSON
    payloads are stored as frames; a message that is no frame goes to the rejects. A
    frame delivered again (same server, run and seq) is counted as a duplicate, never
    stored twice. Ends on Ctrl-C / SIGTERM after committing, or after --until-idle;
    prints frames by class, duplicates, rejects and publish-to-commit latency.
    """
    from simulator.commands.addin import AddinRequest, run_addin  # noqa: PLC0415

    request = AddinRequest(
        broker=broker,
        stores=tuple(store or ()),
        group=group,
        member=member,
        server=server,
        pacing=pacing.value,
        notes_ini=notes_ini,
        until_idle=_seconds(until_idle, "--until-idle") if until_idle is not None else None,
        summary_path=summary,
        layout=layout,
        scenario=scenario,
        connect_timeout=connect_timeout,
        ca_file=str(ca_file) if ca_file else None,
        cert_file=str(cert_file) if cert_file else None,
        key_file=str(key_file) if key_file else None,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        report_path=report,
        mqtt_version=mqtt_version.value,
    )
    raise typer.Exit(run_addin(request))


@app.command("record")
def record_command(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="The capture file to write (JSON lines, docs/record-replay.md).",
            show_default=False,
        ),
    ],
    broker: Annotated[
        str,
        typer.Option(
            "--broker",
            metavar="URL",
            help="mqtt://[user[:password]@]host[:port] or mqtts://… to record from (user and "
            "password also from BILLSIM_MQTT_USERNAME / BILLSIM_MQTT_PASSWORD).",
        ),
    ] = "mqtt://127.0.0.1:1883",
    server: Annotated[
        str,
        typer.Option("--server", metavar="CN|+", help="Only this server's frames; + for all."),
    ] = "+",
    until_idle: Annotated[
        str | None,
        typer.Option(
            "--until-idle",
            metavar="DURATION",
            help="End after this long without a frame (e.g. 10s).",
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="Keep recording when the servers go offline (their run ended), for the next run.",
        ),
    ] = False,
    layout: LayoutOption = Layout.LINUX_X86_64,
    connect_timeout: Annotated[
        float,
        typer.Option(
            "--connect-timeout",
            metavar="SECONDS",
            min=0,
            help="How long to retry an unreachable broker at start; a refused login or a "
            "TLS error ends record at once (exit 1).",
        ),
    ] = DEFAULT_CONNECT_TIMEOUT,
    ca_file: CaFileOption = None,
    cert_file: CertFileOption = None,
    key_file: KeyFileOption = None,
    mqtt_version: ConsumerMqttVersionOption = MqttVersion.V5,
) -> None:
    """Record a broker's billing frames to a capture file, for billsim replay.

    One JSON line a frame: receive time, topic, seq, the frame in base64, the MQTT 5 user
    properties.
    Subscribes to domino/billing/+/# (or one server's topics) as tail does. JSON payloads
    are recorded as the binary frames they stand for. Ends on Ctrl-C / SIGTERM, after
    --until-idle, or when every server seen online has gone offline (unless --follow).
    """
    from simulator.commands.record import RecordRequest, run_record  # noqa: PLC0415

    request = RecordRequest(
        out=out,
        broker=broker,
        server=server,
        layout=layout,
        until_idle=_seconds(until_idle, "--until-idle") if until_idle is not None else None,
        follow=follow,
        connect_timeout=connect_timeout,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        mqtt_version=mqtt_version.value,
    )
    raise typer.Exit(run_record(request))


@app.command("replay")
def replay_command(
    source: Annotated[
        str,
        typer.Argument(
            metavar="FILE|NBF",
            help="A capture (billsim record), frames back to back (.nbf, run --out) or JSON "
            "lines (run --stdout).",
            show_default=False,
        ),
    ],
    *,
    broker: Annotated[
        str | None,
        typer.Option(
            "--broker",
            help="mqtt://[user[:password]@]host[:port] or mqtts://… (password also from "
            "BILLSIM_MQTT_PASSWORD). Default: an embedded broker, as for run.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the frames back to back (the .nbf form) to this file (- for stdout) "
            "instead of MQTT.",
        ),
    ] = None,
    speed: Annotated[
        str | None,
        typer.Option(
            "--speed",
            metavar="Nx|max",
            help="Pace: the capture's receive times (an .nbf: its TimeStamps) N times as "
            "fast, or as fast as it goes. Default: 1x on MQTT, max with --out.",
            show_default=False,
        ),
    ] = None,
    rebase: Annotated[
        str | None,
        typer.Option(
            "--rebase",
            metavar="TIME",
            help="Move every time in every frame by one offset so the first frame is at TIME "
            "(ISO-8601; UTC if no zone).",
        ),
    ] = None,
    server_name: Annotated[
        str | None,
        typer.Option(
            "--server-name",
            metavar="NAME",
            help="Send as this server (e.g. CN=Mail02/O=Acme): its ServerName, topic and "
            "the fields that named the recorded server.",
        ),
    ] = None,
    loop: Annotated[
        str,
        typer.Option(
            "--loop",
            metavar="N|forever",
            help="Play the stream N times (or until stopped), each pass after the last: times "
            "moved on by the stream's span, SessionID SeqNo, message ids and seq renumbered.",
        ),
    ] = "1",
    summary: Annotated[
        Path | None,
        typer.Option(
            "--summary",
            help="Write what was sent as JSON, with its bill (as billsim report computes it "
            "from a store) for billsim verify --expected.",
        ),
    ] = None,
    layout: LayoutOption = Layout.LINUX_X86_64,
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            metavar="SCENARIO",
            help="A scenario file or bundled name whose custom_types the frames may hold "
            "(their TIMEDATE fields are moved too).",
        ),
    ] = None,
    payload: PayloadOption = Payload.BINARY,
    qos: QosOption = 1,
    mqtt_version: MqttVersionOption = MqttVersion.V5,
    topic_meta: TopicMetaOption = False,
    ca_file: CaFileOption = None,
    cert_file: CertFileOption = None,
    key_file: KeyFileOption = None,
    connect_timeout: Annotated[
        float,
        typer.Option(
            "--connect-timeout",
            metavar="SECONDS",
            min=0.1,
            help="How long to wait for the first connection to the broker: if it fails, "
            "replay exits 1 naming the reason before a frame is sent.",
        ),
    ] = DEFAULT_CONNECT_TIMEOUT,
    drain_timeout: Annotated[
        float,
        typer.Option(
            "--drain-timeout", help="Seconds to deliver what is queued at the end.", min=0
        ),
    ] = 30.0,
    embedded_port: Annotated[
        int | None,
        typer.Option(
            "--embedded-port",
            metavar="PORT",
            min=1,
            max=65535,
            help="The embedded broker's port, as for run.",
            show_default=False,
        ),
    ] = None,
    log_json: Annotated[
        bool, typer.Option("--log-json", help="structlog JSON lines for the log.")
    ] = False,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = None,
) -> None:
    """Replay a capture or an .nbf file to MQTT or a file, moved in time, renamed, looped.

    Frames go out as run sends them: one MQ$BILLING and drain per server and run.
    Each frame keeps its recorded run and seq (an .nbf gets a new run), so a replay
    verifies against the recorded run's summary. --rebase moves every time (header
    TimeStamp, PostedDate, OID SequenceTime, the HTTP time string); --loop renumbers each
    pass so a consumer sees new sessions and messages. Exit 0 done, 1 frames left
    undelivered or the broker unreachable, 2 bad input (file, line, field).
    """
    from simulator.commands.replay import ReplayRequest, replay  # noqa: PLC0415

    if embedded_port is not None and (broker is not None or out is not None):
        raise InputError("goes with a replay on the embedded broker", field="--embedded-port")
    if metrics_port is not None and out is not None:
        raise InputError("goes with a replay to MQTT, not --out", field="--metrics-port")
    if topic_meta and out is not None:
        raise InputError("goes with a replay to MQTT, not --out", field="--topic-meta")
    request = ReplayRequest(
        source=source,
        out=out,
        broker=broker,
        speed=speed,
        rebase=rebase,
        server_name=server_name,
        loop=loop,
        summary_path=summary,
        layout=layout,
        scenario=scenario,
        payload=payload.value,
        qos=qos,
        mqtt_version=mqtt_version.value,
        topic_meta=topic_meta,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        connect_timeout=connect_timeout,
        drain_timeout=drain_timeout,
        embedded_port=embedded_port,
        log_json=log_json,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
    )
    raise typer.Exit(replay(request))


def main(argv: Sequence[str] | None = None) -> None:
    """The console script `billsim` and `python -m simulator`: exits with the command's code."""
    try:
        app(args=argv, prog_name=PROG_NAME)
    except BillsimError as error:  # raised outside a command, e.g. by an option's callback
        report_error(error)
        sys.exit(error.exit_code)
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(EXIT_OK)
