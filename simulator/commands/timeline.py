"""`billsim timeline SCENARIO|FILE -o out.svg|png`: the lifecycles of a run as a picture.

A scenario (a bundled name or a .yaml file) is run here, in memory, as `run --out` runs
it at `--speed max` — the same records, none of them written anywhere — and its frames
are read as they leave MQ$BILLING. A frame file (`run --out`'s .nbf, `run --stdout`'s
JSON lines, `-` for standard input) is read as `check` reads it. Either way the frames go
through `TimelineBuilder` (verify/timeline.py) and the timeline is drawn by
adapters/pictures.py.

Times are shown in the scenario's zone — its calendar's `timezone`, else the offset its
`start` is written with — or, for a frame file, in the zone its TIMEDATEs carry (GMT
unless they say otherwise).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from simulator.adapters.pictures import (
    PictureText,
    draw_timeline,
    picture_format,
)
from simulator.commands.check import stream_settings
from simulator.commands.loading import check_script, load
from simulator.commands.run import create, with_options, workload_of
from simulator.commands.run import run_to_sink as run_into
from simulator.domino.billing import SequencedFrame
from simulator.domino.domain import Domain, domain_servers
from simulator.domino.simulation import RunOptions, Simulation
from simulator.errors import InputError
from simulator.scenario.bundled import resolve_scenario
from simulator.scenario.loader import load_scenario
from simulator.scenario.models import Scenario
from simulator.scenario.speed import Speed
from simulator.verify.checker import Checker
from simulator.verify.timeline import DEFAULT_BUSIEST, Timeline, TimelineBuilder
from simulator.wire.codec import FrameCodec
from simulator.wire.layout import Layout
from simulator.wire.records import Frame
from simulator.wire.stream import (
    STDIN_NAME,
    FrameForm,
    detect_form,
    open_input,
    read_frames,
    read_json_lines,
    source_name,
)
from simulator.wire.timedate import MICROSECONDS_PER_TICK, TimeDate, absolute_ticks

_SCENARIO_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class TimelineRequest:
    """Everything `billsim timeline` was asked for (see the command's help)."""

    source: str  # a scenario (bundled name or .yaml) or a frame file; - is standard input
    out: Path
    busiest: int = DEFAULT_BUSIEST
    duration: str | None = None  # a scenario's run length instead of its own
    seed: int | None = None
    scenario: str | None = None  # a frame file's scenario: its settings and database names
    notes_ini: Path | None = None
    layout: Layout = Layout.LINUX_X86_64
    # --fault NAME=VALUE, each for the scenario's faults: entry NAME (a crash is drawn)
    faults: tuple[str, ...] = ()
    # A frame file: what the title calls it (None: its file name), and how to give the
    # scenario its settings come from (None: they are only said to be assumed).
    title: str | None = None
    scenario_hint: str | None = "give --scenario"


def is_scenario(source: str) -> bool:
    """A scenario: a .yaml file, a bundled name, or a name that is no file (which
    `resolve_scenario` then reports with the bundled names); any other file is frames."""
    if source == STDIN_NAME:
        return False
    path = Path(source)
    if path.is_file():
        return path.suffix.lower() in _SCENARIO_SUFFIXES
    return not path.exists()


def draw(request: TimelineRequest, stderr: TextIO | None = None) -> Timeline:
    """Draw the request's picture; says on `stderr` what it drew and where. Raises
    InputError (exit 2) for an output that is neither .svg nor .png or cannot be written,
    a scenario that does not load or runs forever, or a stream that cannot be read."""
    stderr = stderr or sys.stderr
    picture = picture_format(request.out)
    if picture is None:
        raise InputError(
            f"the picture's file name ends in .svg or .png, not {request.out.name!r}",
            field="--output",
        )
    timeline, text = timeline_of(request, stderr)
    with create(request.out, "wb", "--output") as stream:
        draw_timeline(timeline, stream, picture, text)
    shown = len(timeline.sessions)
    of = f" (the {shown:,} busiest drawn)" if timeline.hidden else ""
    stderr.write(
        f"billsim: timeline of {_count(timeline.frames, 'record')}, "
        f"{_count(timeline.total_sessions, 'session')}{of}, written to {request.out}\n"
    )
    return timeline


def timeline_of(
    request: TimelineRequest, stderr: TextIO | None = None
) -> tuple[Timeline, PictureText]:
    """The request's timeline and the words around its picture, not drawn (`request.out`
    is not looked at): what `draw` draws, and the HTML report shows. InputError (exit 2)
    as for `draw`."""
    stderr = stderr or sys.stderr
    if request.busiest < 1:
        raise InputError(f"must be at least 1, not {request.busiest}", field="--busiest")
    if is_scenario(request.source):
        if request.scenario is not None:
            raise InputError(
                "goes with a frame file (the scenario it was run from), not with a scenario",
                field="--scenario",
            )
        timeline, text = _from_scenario(request, stderr)
    else:
        flags = {"--duration": request.duration, "--seed": request.seed, "--fault": request.faults}
        for flag, given in flags.items():
            if given is not None and given != ():
                raise InputError(
                    "goes with a scenario, which is run; a frame file is read", field=flag
                )
        timeline, text = _from_frames(request)
    if not timeline.frames:
        # Nothing to draw is a mistake worth naming, not an empty picture (check says the
        # same of an empty stream); a scenario's usual cause is its BillingClass.
        raise InputError(
            "no records to draw: the run wrote none (is notes_ini's BillingClass on for "
            "the classes it makes?)",
            file=request.source,
        )
    return timeline, text


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


# -- a scenario, run in memory ---------------------------------------------------------------


class _TimelineSink:
    """A run's frames decoded into the builder as they leave the queue; nothing is kept."""

    def __init__(self, builder: TimelineBuilder, codec: FrameCodec) -> None:
        self.builder = builder
        self.decode = codec.decode

    def write_batch(self, batch: list[SequencedFrame]) -> None:
        feed, decode = self.builder.feed, self.decode
        for _seq, frame in batch:
            feed(decode(frame))

    def close(self) -> None:
        return None


def _from_scenario(request: TimelineRequest, stderr: TextIO) -> tuple[Timeline, PictureText]:
    scenario, settings = load(request.source, request.notes_ini)
    scenario = with_options(scenario, request.duration, request.faults)
    if scenario.duration is None:
        raise InputError(
            "the scenario runs forever: give --duration (e.g. 8h) for the span to draw",
            file=scenario.filename,
            field="duration",
        )
    # Max speed, no rate shaping: the records are the same at any pace (docs/workload.md).
    options = RunOptions(speed=Speed(None), seed=request.seed, layout=request.layout)
    check_script(scenario, settings, options)
    server: str = settings.server_name or scenario.server
    servers = domain_servers(server, workload_of(scenario).servers if scenario.workload else 1)
    builder: TimelineBuilder | None = None
    crashes: list[tuple[int, int]] = []
    for index in range(len(servers)):
        # A domain's servers one after another: each its own simulation, all in one picture.
        sim = Simulation(scenario, settings, options, domain=Domain(servers, index))
        if builder is None:
            builder = TimelineBuilder(
                suppress_minutes=settings.billing_suppress_time,
                origin=absolute_ticks(scenario.start),
                database_names={info.replica_id: path for path, info in sim.databases.items()},
            )
        asyncio.run(run_into(sim, _TimelineSink(builder, sim.codec), stderr))
        crashes += _crash_interval(scenario, sim.now)
    assert builder is not None
    timeline = builder.finish(busiest=request.busiest, crashes=sorted(set(crashes)))
    zone, zone_name = scenario_zone(scenario)
    policy = scenario.stamp_policy
    subtitle = f"BillingSuppressTime {timeline.suppress_minutes} min, {policy} stamps"
    title = f"{scenario.name} on {_server_names(timeline)}"
    return timeline, PictureText(title, zone, zone_name, subtitle)


def _crash_interval(scenario: Scenario, ended_us: int) -> list[tuple[int, int]]:
    """The scenario's `crash` fault as the ticks the server was down: from `at` to the
    restart, or to the end of the run when it never came back."""
    crash = scenario.faults.crash
    if crash is None or crash.at > ended_us:
        return []
    back = ended_us if crash.restart_after is None else crash.at + crash.restart_after
    origin = absolute_ticks(scenario.start)
    return [
        (
            origin + crash.at // MICROSECONDS_PER_TICK,
            origin + min(back, ended_us) // MICROSECONDS_PER_TICK,
        )
    ]


def scenario_zone(scenario: Scenario) -> tuple[tzinfo, str]:
    """The zone a scenario's times read in: its calendar's, else its `start`'s offset."""
    if scenario.workload:
        calendar = workload_of(scenario).calendar
        if calendar is not None and calendar.timezone != "UTC":
            return ZoneInfo(calendar.timezone), calendar.timezone
    return _fixed_zone(scenario.start_offset)


def _fixed_zone(offset: timedelta) -> tuple[tzinfo, str]:
    if not offset:
        return UTC, "UTC"
    zone = timezone(offset)
    return zone, zone.tzname(None) or str(zone)


def _server_names(timeline: Timeline) -> str:
    names = [name.split("/", 1)[0].removeprefix("CN=") for name in timeline.servers]
    if len(names) > 3:
        return f"{names[0]} … {names[-1]} ({len(names)} servers)"
    return ", ".join(names) or "no server"


# -- a frame file ----------------------------------------------------------------------------


def _from_frames(request: TimelineRequest) -> tuple[Timeline, PictureText]:
    settings = stream_settings(
        scenario=request.scenario, notes_ini=request.notes_ini, layout=request.layout
    )
    names: dict[TimeDate, str] = {}
    origin: int | None = None  # without a scenario, the grid starts at the first record
    if request.scenario is not None:
        loaded = load_scenario(resolve_scenario(request.scenario))
        names = {db.replica: path for path, db in loaded.databases.items() if db.replica_id}
        origin = absolute_ticks(loaded.start)
    builder = TimelineBuilder(
        suppress_minutes=settings.suppress_minutes, origin=origin, database_names=names
    )
    # `check`'s own reading of the stream, for the server restarts it names: each is a
    # band where the server was down, and the sessions it cut stop there.
    checker = Checker(suppress_time=settings.suppress_minutes, stamp_policy=settings.stamp_policy)
    source = source_name(request.source)
    codec = FrameCodec(settings.layout, custom_kinds=settings.custom_kinds)
    with open_input(request.source) as stream:
        form, prefix = detect_form(stream, source=source)
        if form is None:
            raise InputError("no frames: the input is empty", file=source)
        frames: Iterable[Frame]
        if form is FrameForm.JSON:
            # An undeclared custom type is drawn by its header, as in binary frames.
            json_lines = read_json_lines(
                stream, codec, source=source, prefix=prefix, unknown_fields_unread=True
            )
            frames = (line.frame for line in json_lines)
        else:
            frames = (f for _o, _d, f in read_frames(stream, codec, source=source, prefix=prefix))
        for frame in frames:
            builder.feed(frame)
            checker.feed(frame)
    checker.finish()
    timeline = builder.finish(busiest=request.busiest, crashes=checker.restart_intervals())
    zone, zone_name = _fixed_zone(timeline.zone)
    hint = f": {request.scenario_hint}" if request.scenario_hint else ""
    assumed = "" if settings.given else f" (assumed{hint})"
    subtitle = f"BillingSuppressTime {timeline.suppress_minutes} min{assumed}"
    title = f"{request.title or Path(source).name} from {_server_names(timeline)}"
    return timeline, PictureText(title, zone, zone_name, subtitle)
