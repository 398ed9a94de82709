"""`billsim replay FILE`: a capture or an .nbf file played again, to MQTT or a file
(docs/record-replay.md).

The file is read twice or more: once to plan (simulator/domino/replay.py: the first time
stamp, the span, the SeqNo each SessionID slot reached, the seqs of each run), then once
per pass, each frame rewritten (simulator/wire/rewrite.py) and handed, at its time, to
the place frames go: an MQ$BILLING queue per server and run drained to the broker by the
drain `run` uses (QoS, the user properties `seq`, `run`, `structtype`, `sent`), or a
`.nbf` file. `--summary` writes the bill of what was sent, computed as `billsim report`
computes it from a store (simulator/addin/bill.py), so `billsim verify` judges a
consumer against any replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from simulator.adapters.atomic import AtomicFile
from simulator.adapters.capture import read_stream
from simulator.adapters.logs import configure_logging, get_logger
from simulator.adapters.mqtt.options import DEFAULT_CONNECT_TIMEOUT
from simulator.adapters.mqtt.topics import topic_level
from simulator.adapters.sinks import BinaryFileSink, drain_to_sink
from simulator.addin.bill import Totals, bill
from simulator.addin.intake import Intake, Message, frame_class
from simulator.addin.store import Received
from simulator.commands.metrics import RunMetrics, Watched, metrics_endpoint, pumping
from simulator.commands.report import parse_time
from simulator.commands.run import STDOUT_NAME, create, exit_code, mqtt_options, parse_speed
from simulator.commands.signals import stop_on_signals, summary_kept
from simulator.commands.summary import summary_json, user_table_lines
from simulator.domino.billing import SequencedFrame
from simulator.domino.mq import MessageQueue, MQExceededQuotaError, MQQuittingError
from simulator.domino.replay import ReplayPlan, ReplayScan, SourceFrame
from simulator.domino.server import BILL_FIELDS
from simulator.errors import InputError, printable, quoted
from simulator.scenario.bundled import resolve_scenario
from simulator.scenario.loader import load_scenario
from simulator.scenario.names import server_name as check_server_name
from simulator.scenario.speed import Speed
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.layout import Layout
from simulator.wire.records import RecordKind
from simulator.wire.rewrite import (
    FrameEdit,
    FrameRewriter,
    RewriteError,
    beyond_readable,
    shown_shift,
)
from simulator.wire.stream import STDIN_NAME
from simulator.wire.timedate import (
    TICKS_PER_DAY,
    datetime_from_timedate,
    format_timedate,
    readable_day,
)

Group = tuple[str, str]  # (server common name, run): one MQTT connection, one run
Put = Callable[[Group, SequencedFrame], Awaitable[None]]
Offer = Callable[[Group, SequencedFrame], bool]
_YIELD_EVERY = 512  # frames put between two yields to the event loop at --speed max


@dataclass(frozen=True)
class ReplayRequest:
    """Everything `billsim replay` was asked for (see the command's help)."""

    source: str
    out: Path | None = None
    broker: str | None = None
    speed: str | None = None
    rebase: str | None = None
    server_name: str | None = None
    loop: str = "1"
    summary_path: Path | None = None
    layout: Layout = Layout.LINUX_X86_64
    scenario: str | None = None
    payload: str = "binary"
    qos: int = 1
    mqtt_version: str = "5"
    topic_meta: bool = False  # --topic-meta: frames to …/{class}/{run}/{seq}
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    drain_timeout: float = 30.0
    embedded_port: int | None = None
    log_json: bool = False
    metrics_port: int | None = None  # --metrics-port: the Prometheus endpoint's port
    metrics_host: str | None = None  # --metrics-host; None: 127.0.0.1


def parse_loop(text: str) -> int | None:
    """`--loop`: a number of passes (at least 1), or None for `forever`."""
    if text.strip().lower() == "forever":
        return None
    try:
        passes = int(text)
    except ValueError:
        passes = 0
    if passes < 1:
        raise InputError(f"a number of passes (1 or more) or forever, not {text!r}", field="--loop")
    return passes


def parse_server_name(text: str) -> str:
    try:
        return check_server_name(text)
    except ValueError as error:
        raise InputError(str(error), field="--server-name") from None


def replay_speed(request: ReplayRequest) -> Speed:
    """`--speed`; by default the capture's own pace on MQTT, as fast as it goes to a file."""
    if request.speed is not None:
        return parse_speed(request.speed)
    return Speed(None) if request.out is not None else Speed(1.0)


def custom_kinds(scenario: str | None) -> tuple[RecordKind, ...]:
    if scenario is None:
        return ()
    return load_scenario(resolve_scenario(scenario)).custom_kinds()


# -- planning ---------------------------------------------------------------------------


def plan_replay(request: ReplayRequest, codec: FrameCodec) -> ReplayPlan:
    """Read the stream once and plan its passes; InputError for a stream or options that
    cannot be replayed."""
    if request.source == STDIN_NAME:
        raise InputError(
            "replay reads its file more than once (to plan, then to send): name a file, not -"
        )
    rebase = parse_time(request.rebase, "--rebase") if request.rebase is not None else None
    name = parse_server_name(request.server_name) if request.server_name is not None else None
    passes = parse_loop(request.loop)
    scan = ReplayScan(FrameRewriter(codec), seqnos=passes != 1)
    for item in read_stream(request.source, codec):
        scan.add(item)
    if rebase is not None and scan.first_stamp is None:
        raise InputError("no frame has a TimeStamp to move", file=request.source, field="--rebase")
    if name is not None and (len(scan.server_names) > 1 or len(scan.servers) > 1):
        servers = ", ".join(printable(server) for server in sorted(scan.servers))
        raise InputError(
            f"the stream holds more than one server ({servers}): a replay renames one",
            field="--server-name",
        )
    if name is None and request.out is None:
        for server in sorted(scan.servers):
            if not _usable_topic_level(server):
                raise InputError(
                    f"its server {quoted(server)} cannot be a level of an MQTT topic "
                    "(it is empty, has a +, # or NUL, or bytes that are not UTF-8): replay it "
                    "under another name (--server-name) or to a file (--out)",
                    file=request.source,
                    field="--server-name",
                )
    plan = ReplayPlan(scan, new_run=uuid.uuid4().hex[:12], rebase=rebase, server_name=name)
    fits = plan.passes_readable()
    if fits == 0:
        low = (scan.min_stamp or 0) + plan.rebase_ticks
        outside = scan.latest if readable_day(low // TICKS_PER_DAY) else scan.earliest
        assert outside is not None
        raise InputError(
            f"{outside.where}: {past_readable(plan, outside, 0)}",
            file=request.source,
            field="--rebase",
        )
    if fits is not None and passes is not None and passes > fits:
        assert scan.latest is not None
        raise InputError(
            f"pass {fits + 1} would move the frame at {scan.latest.where}: "
            f"{past_readable(plan, scan.latest, fits)}; at most {fits} pass(es) fit",
            file=request.source,
            field="--loop",
        )
    return plan


def past_readable(plan: ReplayPlan, item: SourceFrame, pass_index: int) -> str:
    """What a pass would do to the frame's TimeStamp that no tool could read back."""
    stamp = plan.scan.rewriter.time_stamp(item.frame)
    assert stamp is not None
    shift = plan.shift_ticks(pass_index)
    day = (stamp.julian_day * TICKS_PER_DAY + stamp.ticks + shift) // TICKS_PER_DAY
    return (
        f"its TimeStamp {format_timedate(stamp)} moved by {shown_shift(shift)} would be "
        f"{beyond_readable(day)}"
    )


def _usable_topic_level(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a byte of the frame's ServerName that is not UTF-8
        return False
    return topic_level(text)


# -- what was sent -------------------------------------------------------------------------


@dataclass
class SentLedger:
    """What a replay sent: frames, the seqs of each run, the time stamps, and with `bill`
    the bill of the frames, as an add-in's store would hold them (one row per server, run
    and seq; a frame the add-in would reject is in no bill). Billed a pass at a time: the
    passes share no session or message, so the bill of all is the sum of theirs."""

    intake: Intake | None
    frames: int = 0
    passes: int = 0
    first_frame: bytes = b""
    last_frame: bytes = b""
    seqs: dict[Group, int] = field(default_factory=dict)  # distinct seqs sent per run
    rejected: int = 0
    users: dict[str, Totals] = field(default_factory=dict)
    played_out: bool = False  # every pass asked for was played to its end
    _pass_seqs: dict[Group, set[int]] = field(default_factory=dict, init=False)
    _rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict, init=False)

    def add(self, group: Group, seq: int, frame: bytes) -> None:
        self.frames += 1
        if not self.first_frame:
            self.first_frame = frame
        self.last_frame = frame
        try:  # not setdefault, which makes an empty set for every frame
            seen = self._pass_seqs[group]
        except KeyError:
            seen = self._pass_seqs[group] = set()
        if seq in seen:
            return  # a store keeps one row per seq: the copy is a duplicate
        seen.add(seq)
        if self.intake is None:
            return
        server, run = group
        message = Message("", server, frame, False, {"seq": str(seq), "run": run})
        taken = self.intake.take(message, 0)
        if not isinstance(taken, Received):
            self.rejected += 1
            return
        try:
            table, values = self.intake.rows.row(taken)
        except ValueError:
            self.rejected += 1
            return
        self._rows.setdefault(table.name, []).append(
            dict(zip(table.column_names, values, strict=True))
        )

    def end_pass(self) -> None:
        for group, seen in self._pass_seqs.items():
            self.seqs[group] = self.seqs.get(group, 0) + len(seen)
        self._pass_seqs.clear()
        self.passes += 1
        if self.intake is not None and self._rows:
            for user, totals in bill(self._rows).items():
                held = self.users.setdefault(user, dict.fromkeys(BILL_FIELDS, 0))
                for name in BILL_FIELDS:
                    held[name] += totals[name]
            self._rows.clear()


# -- playing -------------------------------------------------------------------------------


class Pacer:
    """Holds each frame until its time: `due` seconds after the replay began, at `speed`
    (none at max); a frame due before the one before it goes right after it."""

    def __init__(self, speed: Speed) -> None:
        self.factor = speed.factor
        self._started: float | None = None
        self._last_due = 0.0
        self._count = 0

    @property
    def paced(self) -> bool:
        """False at max speed: no frame waits for its time, and `wait` needs none."""
        return self.factor is not None

    async def wait(self, due: float | None, stop: asyncio.Event) -> None:
        """Until the frame's time, or until `stop` is set (Ctrl-C during a long gap)."""
        self._count += 1
        if self.factor is None:
            if self._count % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        if self._started is None:
            self._started = loop.time()
        if due is not None and due > self._last_due:
            self._last_due = due
        delay = self._started + self._last_due / self.factor - loop.time()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


async def play(
    request: ReplayRequest,
    plan: ReplayPlan,
    passes: int | None,
    put: Put,
    ledger: SentLedger,
    stop: asyncio.Event,
    speed: Speed,
    offer: Offer | None = None,
) -> None:
    """Every pass of the stream, frame by frame, rewritten, put at its time; until the
    passes are done or `stop` is set.

    `offer` puts a frame at once when its queue has room (False when it has none, and
    `put` waits for it): at max speed most frames go without an await."""
    rewriter = plan.scan.rewriter
    pacer = Pacer(speed)
    paced = pacer.paced
    count = 0
    pass_index = 0
    while (passes is None or pass_index < passes) and not stop.is_set():
        edit = plan.edit(pass_index)
        unchanged = edit.changes_nothing
        start = pass_index * plan.pass_seconds
        for item in read_stream(request.source, rewriter.codec):
            if paced:
                offset = plan.pass_offset(item)
                await pacer.wait(None if offset is None else start + offset, stop)
            else:
                count += 1
                if count % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # the drains' turn
            if stop.is_set():
                break
            frame = (
                item.frame
                if unchanged
                else _rewritten(rewriter, item, edit, request.source, pass_index)
            )
            group, seq = plan.route(item, pass_index)
            try:
                if offer is None or not offer(group, (seq, frame)):
                    await put(group, (seq, frame))
            except MQQuittingError:
                stop.set()  # the drain gave up (a refused broker): nothing more goes out
                break
            ledger.add(group, seq, frame)
        ledger.end_pass()
        pass_index += 1
    ledger.played_out = passes is not None and pass_index >= passes and not stop.is_set()


def _offered(queue: MessageQueue[SequencedFrame], item: SequencedFrame) -> bool:
    """`item` into `queue` now if it has room: False when it has none (`put` waits)."""
    try:
        queue.put_nowait(item)
    except MQExceededQuotaError:
        return False
    return True


def _rewritten(
    rewriter: FrameRewriter, item: SourceFrame, edit: FrameEdit, source: str, pass_index: int
) -> bytes:
    try:
        return rewriter.rewrite(item.frame, edit)
    except RewriteError as error:
        # The first pass is moved by --rebase alone; a later one by --loop's span too.
        option = "--loop" if pass_index else "--rebase"
        where = f"pass {pass_index + 1}, {item.where}" if pass_index else item.where
        raise InputError(f"{where}: {error}", file=source, field=option) from None


# -- the command -----------------------------------------------------------------------------


def replay(
    request: ReplayRequest, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """`billsim replay`: plan, play every pass, print (and write) the summary; the exit code."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if request.out is not None and request.broker is not None:
        raise InputError("choose one of --out and --broker, not both", field="--out")
    passes = parse_loop(request.loop)
    speed = replay_speed(request)
    kinds = custom_kinds(request.scenario)
    codec = FrameCodec(request.layout, custom_kinds=kinds)
    plan = plan_replay(request, codec)
    # `forever` ends at the last pass whose times billsim can read back, as `run` does.
    last_readable = plan.passes_readable() if passes is None else None
    if last_readable is not None:
        passes = last_readable
    summary_file = (
        AtomicFile(request.summary_path, "--summary") if request.summary_path is not None else None
    )
    ledger = SentLedger(Intake(request.layout, kinds) if summary_file is not None else None)
    started = time.monotonic()
    with summary_kept():
        try:
            if request.out is not None:
                extras = asyncio.run(_to_file(request, plan, passes, ledger, speed, stdout))
            else:
                configure_logging(json=request.log_json, stream=stderr, level=logging.INFO)
                with metrics_endpoint(
                    request.metrics_host, request.metrics_port, stderr
                ) as endpoint:
                    metrics = RunMetrics(endpoint) if endpoint is not None else None
                    extras = asyncio.run(
                        _to_mqtt(request, plan, passes, ledger, speed, stderr, metrics)
                    )
            summary = build_replay_summary(
                request, plan, ledger, speed, extras, time.monotonic() - started
            )
            if summary_file is not None:
                summary_file.commit(summary_json(summary))
            print_replay_summary(summary, stderr)
        finally:
            if summary_file is not None:
                summary_file.discard()  # killed or failed before the end: the file is untouched
    if last_readable is not None and ledger.played_out:
        assert plan.scan.latest is not None
        raise InputError(
            f"pass {last_readable + 1} would move the frame at {plan.scan.latest.where}: "
            f"{past_readable(plan, plan.scan.latest, last_readable)}; stopped after "
            f"{last_readable} whole pass(es)",
            file=request.source,
            field="--loop",
        )
    return exit_code(int(extras.get("undelivered", 0)), stderr)


async def _to_file(
    request: ReplayRequest,
    plan: ReplayPlan,
    passes: int | None,
    ledger: SentLedger,
    speed: Speed,
    stdout: TextIO,
) -> dict[str, Any]:
    """The frames back to back into `--out` (the .nbf form; - is standard output)."""
    assert request.out is not None
    queue: MessageQueue[SequencedFrame] = MessageQueue(c.BILL_QUEUE_NAME)
    stream = None
    if str(request.out) == STDOUT_NAME:
        stdout.flush()
        sink = BinaryFileSink(stdout.buffer)
    else:
        stream = create(request.out, "wb")
        sink = BinaryFileSink(stream)

    async def put(_group: Group, item: SequencedFrame) -> None:
        await queue.put(item)

    def offer(_group: Group, item: SequencedFrame) -> bool:
        return _offered(queue, item)

    stop = asyncio.Event()
    try:
        with stop_on_signals(lambda _signum: stop.set()):
            writer = asyncio.create_task(drain_to_sink(queue, sink))
            try:
                await play(request, plan, passes, put, ledger, stop, speed, offer)
            finally:
                queue.quit()
                written = await writer
    finally:
        if stream is not None:
            stream.close()
    return {"out": str(request.out), "written": written}


async def _to_mqtt(
    request: ReplayRequest,
    plan: ReplayPlan,
    passes: int | None,
    ledger: SentLedger,
    speed: Speed,
    stderr: TextIO,
    metrics: RunMetrics | None = None,
) -> dict[str, Any]:
    """One MQ$BILLING and drain per server and run, as `run` publishes a server's frames;
    with `metrics`, each is a server of the Prometheus endpoint's figures."""
    # gmqtt only for a replay to MQTT.
    from simulator.adapters.mqtt.drain import BillingDrain, BrokerError  # noqa: PLC0415
    from simulator.commands.run_mqtt import broker_for_the_run, first_connection  # noqa: PLC0415

    log = get_logger("billsim")
    groups = plan.groups()
    options = mqtt_options(request)
    if options.topic_meta:
        for server, run in groups:
            if not topic_level(run):
                raise InputError(
                    f"{server}'s recorded run {run!r} cannot be a topic level (it has a /, "
                    "+, # or nothing): replay it without --topic-meta",
                    field="--topic-meta",
                )
    async with broker_for_the_run(
        request.broker, options, groups[0][0], log, stderr, request.embedded_port
    ) as (url, broker_options):
        queues: dict[Group, MessageQueue[SequencedFrame]] = {}
        drains: dict[Group, BillingDrain] = {}
        sent: dict[Group, _SentFigures] = {}
        for group in groups:
            server, run = group
            queues[group] = MessageQueue(c.BILL_QUEUE_NAME)
            # A client id of its own: a replay may run beside the run it recorded, or itself.
            client = f"billsim-replay-{server}-{run}-{uuid.uuid4().hex[:6]}"
            drains[group] = BillingDrain(
                url,
                replace(broker_options, client_id=client),
                queues[group],
                server_cn=server,
                run_id=run,
                codec=plan.scan.rewriter.codec,
                log=log,
            )
            if metrics is not None:
                sent[group] = figures = _SentFigures(plan)
                index = metrics.watch(
                    Watched(server, figures.records, queues[group], figures.virtual_time)
                )
                metrics.attach_drain(index, drains[group])
        log.info(
            "replay",
            source=request.source,
            broker=url.redacted(),
            servers=[f"{server} run {run}" for server, run in groups],
            qos=broker_options.qos,
            speed=str(speed),
        )
        for drain in drains.values():
            await drain.start()
        try:
            for drain in drains.values():
                await first_connection(drain, url, request.connect_timeout)
        except BrokerError:
            for drain in drains.values():
                await drain.close(0)
            raise
        tasks = [asyncio.create_task(drain.run()) for drain in drains.values()]

        async def put(group: Group, item: SequencedFrame) -> None:
            await queues[group].put(item)

        async def put_counted(group: Group, item: SequencedFrame) -> None:
            await queues[group].put(item)
            sent[group].add(item[1])

        def offer(group: Group, item: SequencedFrame) -> bool:
            return _offered(queues[group], item)

        def offer_counted(group: Group, item: SequencedFrame) -> bool:
            if not offer(group, item):
                return False
            sent[group].add(item[1])
            return True

        stop = asyncio.Event()

        def quit_now(_signum: object) -> None:
            stop.set()
            for queue in queues.values():
                queue.quit()

        try:
            async with pumping(metrics):
                with stop_on_signals(lambda _signum: stop.set(), quit_now):
                    player = asyncio.create_task(
                        play(
                            request, plan, passes, put if metrics is None else put_counted,
                            ledger, stop, speed, offer if metrics is None else offer_counted,
                        )
                    )  # fmt: skip
                    await asyncio.wait({player, *tasks}, return_when=asyncio.FIRST_COMPLETED)
                    if not player.done():  # a drain ended first: the broker refused us
                        quit_now(None)
                    await player
        finally:
            for queue in queues.values():
                queue.quit()
            undelivered = 0
            for drain in drains.values():
                undelivered += await drain.close(request.drain_timeout)
                undelivered += drain.refused + drain.rejected
            if metrics is not None:
                metrics.post()  # the final figures, acknowledgements included
            done, _ = await asyncio.wait(tasks, timeout=5)
        for task in done:
            task.result()  # a BrokerError (refused at the start) is the run's failure
        return {
            "broker": url.redacted(),
            "mqtt_version": next(iter(drains.values())).protocol,
            "qos": broker_options.qos,
            "delivered": sum(drain.delivered for drain in drains.values()),
            "undelivered": undelivered,
            "resent": sum(drain.resent for drain in drains.values()),
        }


class _SentFigures:
    """What the metrics read of one server's replayed frames: records by class so far and
    the virtual time reached (the TimeStamp of its latest frame, read only when posted)."""

    def __init__(self, plan: ReplayPlan) -> None:
        self._plan = plan
        self._by_class: dict[str, int] = {}
        self._last: bytes | None = None

    def add(self, frame: bytes) -> None:
        name = frame_class(frame)
        self._by_class[name] = self._by_class.get(name, 0) + 1
        self._last = frame

    def records(self) -> dict[str, int]:
        return dict(self._by_class)

    def virtual_time(self) -> float:
        stamp = None if self._last is None else self._plan.scan.rewriter.time_stamp(self._last)
        return 0.0 if stamp is None else datetime_from_timedate(stamp).timestamp()


# -- the summary ----------------------------------------------------------------------------


def build_replay_summary(
    request: ReplayRequest,
    plan: ReplayPlan,
    ledger: SentLedger,
    speed: Speed,
    extras: dict[str, Any],
    wall: float,
) -> dict[str, Any]:
    """The replay's summary (`--summary FILE`): what was sent and, as the ground truth
    `billsim verify` reads, its bill under `users` and each server's run and `records`
    (the seqs 1..records it sent)."""
    # A ServerName byte that is not UTF-8 shown as `\udcXX`, as everywhere.
    runs = {
        f"{printable(server)} {run}": {"server": printable(server), "run": run, "records": count}
        for (server, run), count in sorted(ledger.seqs.items())
    }
    summary: dict[str, Any] = {
        "replay": request.source,
        "passes": ledger.passes,
        "frames": ledger.frames,
        "speed": str(speed),
        "rebase": request.rebase,
        "shift_s": plan.shift_ticks(0) / 100,
        "span_s": plan.span_ticks / 100,
        "server_name": request.server_name,
        "first_time_stamp": _time_stamp(plan, ledger.first_frame),
        "last_time_stamp": _time_stamp(plan, ledger.last_frame),
        "wall_time_s": round(wall, 6),
    }
    if len(runs) == 1:
        summary.update(next(iter(runs.values())))
    else:
        summary["servers"] = runs
    summary.update(extras)
    if ledger.intake is not None:
        summary["rejected_by_the_addin"] = ledger.rejected
        summary["users"] = ledger.users
    return summary


def _time_stamp(plan: ReplayPlan, frame: bytes) -> str | None:
    stamp = plan.scan.rewriter.time_stamp(frame)
    return None if stamp is None else format_timedate(stamp)


def print_replay_summary(summary: dict[str, Any], stream: TextIO) -> None:
    """A few lines for people: what went where, and the bill when it was computed."""
    runs = summary.get("servers") or {"": summary}
    where = ", ".join(f"{s['server']} run {s['run']} seq 1..{s['records']}" for s in runs.values())
    stream.write(
        f"replayed {summary['frames']:,} frames of {summary['replay']} in "
        f"{summary['passes']} pass(es) ({where}), "
        f"{summary['first_time_stamp']} .. {summary['last_time_stamp']}, "
        f"{summary['wall_time_s']:.3f} s wall\n"
    )
    if "delivered" in summary:
        stream.write(f"delivered {summary['delivered']:,} to {summary['broker']}\n")
    users = summary.get("users")
    if users:
        rows = [
            (
                name,
                *(f"{totals[f]:.2f}" if f == "charges" else str(totals[f]) for f in BILL_FIELDS),
            )
            for name, totals in list(users.items())[:25]
        ]
        stream.write("per user (the bill of the frames sent)\n")
        for line in user_table_lines(rows, 160):
            stream.write(line + "\n")
    stream.flush()
