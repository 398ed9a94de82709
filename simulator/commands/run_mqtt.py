"""`billsim run` on MQTT: the simulation, the drain to a broker, stats, control and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from typing import Any, TextIO

from simulator.adapters.broker import (
    DEFAULT_PORT,
    DELIVERY_LINGER,
    EmbeddedBroker,
    Prefer,
    start_embedded_broker,
)
from simulator.adapters.logs import EventLog, get_logger
from simulator.adapters.mqtt.drain import BillingDrain, BrokerError
from simulator.adapters.mqtt.options import DEFAULT_CONNECT_TIMEOUT, MqttOptions, tls_context
from simulator.adapters.mqtt.subscriber import Subscriber
from simulator.adapters.mqtt.topics import subscription_topic
from simulator.adapters.mqtt.url import BrokerUrl, parse_broker_url
from simulator.commands.metrics import DeliveryCounts
from simulator.commands.run_live import Progress, RateMeter, shutdown_on_signals
from simulator.commands.summary import records_by_class
from simulator.commands.tail import TailPrinter
from simulator.domino.control import Controller
from simulator.domino.mq import MQQuittingError
from simulator.domino.simulation import Simulation
from simulator.errors import InputError
from simulator.scenario.names import common_name
from simulator.wire.timedate import format_timedate

_STOP_POLL = 0.05  # seconds between looks at whether the run is stopping
# How long --watch waits, after the run, for the last messages (the `offline`) to come back.
_WATCH_LAST_MESSAGES_S = 5.0


def embedded_port(value: str | None) -> int:
    """The embedded broker's preferred port: BILLSIM_EMBEDDED_PORT, default 1883 (a free
    port is taken instead when that one is in use)."""
    if value is None or not value.strip():
        return DEFAULT_PORT
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise InputError(
            f"must be a port number, 1 to 65535, not {value!r}", field="BILLSIM_EMBEDDED_PORT"
        )
    return int(text)


class StatsMeter:
    """The stats message (docs/mqtt.md) for one consumer: its `rate` is over the time since
    that consumer's previous message (the stats topic's: --stats-interval)."""

    def __init__(
        self,
        sim: Simulation,
        drain: DeliveryCounts,
        run_id: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sim = sim
        self.drain = drain
        self.run_id = run_id
        self._rate = RateMeter(lambda: sim.writer.frames, clock)

    def sample(self) -> dict[str, Any]:
        stats = self.sim.queue.stats()
        target = self.sim.target_rate()
        return {
            "virtual_time": format_timedate(self.sim.writer.stamp(self.sim.virtual_now())),
            "records": records_by_class(self.sim.writer.by_struct_type),
            "queue_depth": stats.depth,
            "in_flight": self.drain.in_flight,
            "delivered": self.drain.delivered,
            "dropped": stats.dropped,
            "rate": round(self._rate.per_second(), 1),
            "target_rate": None if target is None else round(target, 1),
            "run": self.run_id,
        }


def live_view(
    sim: Simulation,
    drain: DeliveryCounts,
    stream: TextIO,
    clock: Callable[[], float] = time.monotonic,
) -> Progress:
    """The live line of a run on MQTT: the local one, then the frames delivered and the
    records written by class."""

    def delivered_and_classes() -> str:
        records = records_by_class(sim.writer.by_struct_type)
        by_class = " ".join(f"{name} {count:,}" for name, count in sorted(records.items()))
        return f"delivered {drain.delivered:,}  [{by_class}]"

    return Progress(sim, stream, extra=delivered_and_classes, clock=clock)


async def run_on_mqtt(
    sim: Simulation,
    *,
    broker_url: str | None,
    options: MqttOptions,
    control: bool,
    stats_interval: float,
    drain_timeout: float,
    log_json: bool,
    stderr: TextIO,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    watch: TextIO | None = None,
    start_after: float = 0.0,
    embedded_port: int | None = None,
    signals: bool = True,
    live: bool = True,
    on_drain: Callable[[BillingDrain], None] | None = None,
    on_quit: Callable[[int, dict[str, Any]], int] | None = None,
    on_report: Callable[[Callable[[int], tuple[int, dict[str, Any]]]], None] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Run the simulation with its frames drained to MQTT; returns (delivered, summary extras).

    With no broker URL an embedded broker is started for the run and stopped after it.
    Raises BrokerError (exit 1) when the first connection fails or does not succeed
    within `connect_timeout` s: no frame is written before the broker is there. `watch`:
    print every message of the run's topics there, as `tail` does, from the first frame
    on (subscribed before it is written). `start_after`: seconds to wait, connected, before
    the first frame, so that a `tail` started by hand sees it too. `signals` and `live`
    off: a domain's runner handles Ctrl-C and shows the live line for all its servers.
    `on_drain`: told of the drain once made, before its first frame (the metrics).
    `on_quit`: on a second Ctrl-C, given what `run_on_mqtt` would have returned, the frames
    left counted as undelivered; it sums the run up and returns the exit code.
    `on_report`: given, once the drain is made, what tells that at any moment (given the
    frames left): a domain's runner, which handles the second Ctrl-C itself.
    """
    log = get_logger("billsim")
    run_id = uuid.uuid4().hex[:12]
    server_cn = common_name(sim.server_name)
    async with broker_for_the_run(
        broker_url, options, server_cn, log, stderr, embedded_port
    ) as broker:
        url, broker_options = broker
        drain = await _connect_drain(sim, url, broker_options, server_cn, run_id, control, log)
        if on_drain is not None:
            on_drain(drain)
        await first_connection(drain, url, connect_timeout)

        def report_now(left: int) -> tuple[int, dict[str, Any]]:
            undelivered = left + drain.refused + drain.rejected
            return drain.delivered, _report(drain, url, broker_options, run_id, undelivered, log)

        def sum_up(left: int) -> int:
            assert on_quit is not None
            return on_quit(*report_now(left))

        if on_report is not None:
            on_report(report_now)

        # Around the watcher too: its wait for the last messages is a wait for the broker,
        # which a second Ctrl-C cuts short.
        with (
            shutdown_on_signals(sim, stderr, sum_up if on_quit is not None else None)
            if signals
            else contextlib.nullcontext()
        ):
            async with _watching(url, broker_options, server_cn, watch, stderr, connect_timeout):
                await _wait_before_the_first_frame(sim, start_after, stderr)
                async with _stats_and_live_view(
                    sim,
                    drain,
                    run_id,
                    stats_interval,
                    log_json,
                    log,
                    stderr,
                    live=live and watch is None,
                ):
                    undelivered = await _run_and_shut_down(sim, drain, drain_timeout, log)
    return drain.delivered, _report(drain, url, broker_options, run_id, undelivered, log)


@contextlib.asynccontextmanager
async def broker_for_the_run(
    broker_url: str | None,
    options: MqttOptions,
    server_cn: str,
    log: EventLog,
    stderr: TextIO,
    embedded_port: int | None = None,
) -> AsyncIterator[tuple[BrokerUrl, MqttOptions]]:
    """The broker's URL and the options it can take: --broker's as given, else those of an
    embedded broker started here (on `embedded_port` if free), announced on stderr and
    stopped on the way out."""
    if broker_url is not None:
        yield parse_broker_url(broker_url), options
        return
    broker = await _start_embedded_broker(log, embedded_port)
    try:
        if broker.mqtt_version == "3.1.1" and options.version != "3.1.1":
            options = replace(options, version="3.1.1")
            # The drain says what goes without MQTT 5 (mqtt.properties_off).
            log.info("embedded broker speaks MQTT 3.1.1 only", broker=broker.kind)
        stderr.write(
            f"billsim: embedded {broker.kind} broker at {broker.url}\n"
            f"billsim: watch it with:  {broker.tail_command(server_cn)}\n"
            f"billsim:            or:  {broker.subscribe_command(server_cn)}\n"
        )
        stderr.flush()
        yield parse_broker_url(broker.url), options
    finally:
        await broker.stop(linger=DELIVERY_LINGER)


# BILLSIM_EMBEDDED_BROKER's values, each the broker choice it names.
_PREFER: dict[str, Prefer] = {"auto": "auto", "mosquitto": "mosquitto", "amqtt": "amqtt"}


async def _start_embedded_broker(log: EventLog, port: int | None = None) -> EmbeddedBroker:
    """The broker BILLSIM_EMBEDDED_BROKER names (auto, mosquitto or amqtt), preferring
    `port` (--embedded-port), else the port BILLSIM_EMBEDDED_PORT names, else 1883."""
    text = os.environ.get("BILLSIM_EMBEDDED_BROKER", "auto")
    prefer = _PREFER.get(text)
    if prefer is None:
        raise InputError(
            f"must be auto, mosquitto or amqtt, not {text!r}", field="BILLSIM_EMBEDDED_BROKER"
        )
    return await start_embedded_broker(
        log=log,
        prefer=prefer,
        preferred_port=port
        if port is not None
        else embedded_port(os.environ.get("BILLSIM_EMBEDDED_PORT")),
    )


async def _connect_drain(
    sim: Simulation,
    url: BrokerUrl,
    options: MqttOptions,
    server_cn: str,
    run_id: str,
    control: bool,
    log: EventLog,
) -> BillingDrain:
    """The drain from MQ$BILLING to the broker, connected; with `control`, it also obeys
    the commands of the control topic."""
    controller: Controller | None = None

    async def on_control(payload: bytes) -> dict[str, Any]:
        assert controller is not None  # set below, before the drain connects
        reply = controller.handle(payload)
        if reply["ok"]:
            log.info("control", cmd=reply.get("cmd"))
        else:
            log.warning("control command refused", error=reply["error"], payload=payload[:200])
        return reply

    drain = BillingDrain(
        url,
        options,
        sim.queue,
        server_cn=server_cn,
        run_id=run_id,
        codec=sim.codec,
        on_control=on_control if control else None,
        log=log,
    )
    # The control `stats` reply has a meter of its own: a command must not shorten the
    # interval the stats topic's next rate covers.
    controller = Controller(
        sim, stats=StatsMeter(sim, drain, run_id).sample, on_quit=sim.request_stop
    )
    log.info(
        "run",
        scenario=sim.scenario.name,
        server=sim.server_name,
        broker=url.redacted(),
        qos=options.qos,
        mqtt=options.version,
        speed=sim.pace,
        run=run_id,
    )
    await drain.start()
    return drain


@contextlib.asynccontextmanager
async def _watching(
    url: BrokerUrl,
    options: MqttOptions,
    server_cn: str,
    out: TextIO | None,
    err: TextIO,
    connect_timeout: float,
) -> AsyncIterator[None]:
    """With `out`: subscribed to the run's topics for the block, each message printed as
    `tail` prints it; on the way out, until the run's `offline` has come (or briefly)."""
    if out is None:
        yield
        return
    printer = TailPrinter(out, err)
    offline = asyncio.Event()

    def on_message(topic: str, payload: bytes, properties: Mapping[str, Any]) -> None:
        printer.handle(topic, payload, properties)
        if printer.ended is not None:
            offline.set()

    tls = tls_context(
        url, ca_file=options.ca_file, cert_file=options.cert_file, key_file=options.key_file
    )
    subscriber = Subscriber(url, on_message, tls=tls, name="billsim-watch")
    connected = await subscriber.connect(
        deadline=time.monotonic() + connect_timeout, stop=asyncio.Event(), on_waiting=lambda _: None
    )
    if connected:
        await subscriber.subscribe(subscription_topic(server_cn))
    try:
        yield
    finally:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(offline.wait(), _WATCH_LAST_MESSAGES_S)
        await subscriber.disconnect(1)


async def _wait_before_the_first_frame(sim: Simulation, seconds: float, stderr: TextIO) -> None:
    """--start-after: wait, connected and announced, before the first frame; Ctrl-C (which
    asks the simulation to stop) ends the wait."""
    if seconds <= 0:
        return
    stderr.write(f"billsim: the first frame in {seconds:g} s\n")
    stderr.flush()
    deadline = time.monotonic() + seconds
    while not sim.stopping and time.monotonic() < deadline:
        await asyncio.sleep(min(_STOP_POLL, deadline - time.monotonic()))


async def first_connection(drain: BillingDrain, url: BrokerUrl, timeout: float) -> None:
    """Wait for the drain's first connection; BrokerError naming the URL and the reason if
    the broker refuses it for good (credentials, TLS) or is not there within `timeout` s.
    Once connected, an outage is retried without end, as the drain does."""
    try:
        if await drain.wait_connected(timeout):
            return
    except BrokerError:
        await drain.close(0)
        raise
    await drain.close(0)
    reason = drain.last_error or "no answer"
    raise BrokerError(
        f"cannot connect to the broker {url.redacted()} within {timeout:g} s: {reason}"
    )


@contextlib.asynccontextmanager
async def _stats_and_live_view(
    sim: Simulation,
    drain: BillingDrain,
    run_id: str,
    stats_interval: float,
    log_json: bool,
    log: EventLog,
    stderr: TextIO,
    *,
    live: bool = True,
) -> AsyncIterator[None]:
    """While the block runs: the stats topic every `stats_interval` s (also logged with
    --log-json) and, on a terminal without --log-json, the live line (not with --watch,
    whose lines it would overwrite)."""
    progress = live_view(sim, drain, stderr)
    if log_json or not live:
        progress.enabled = False
    tasks = [
        asyncio.create_task(
            _publish_stats(drain, StatsMeter(sim, drain, run_id), stats_interval, log, log_json)
        ),
        asyncio.create_task(progress.run()),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        progress.clear()


async def _run_and_shut_down(
    sim: Simulation, drain: BillingDrain, drain_timeout: float, log: EventLog
) -> int:
    """The simulation run while the drain delivers, then the shutdown, bounded by
    `drain_timeout`; returns the number of frames that reached no one."""
    drain_task = asyncio.create_task(drain.run())
    sim_task = asyncio.create_task(sim.run())
    watchdog = asyncio.create_task(_bound_shutdown(sim, sim_task, drain_task, drain_timeout, log))
    try:
        await _run_simulation(sim, sim_task, drain_task)
        gave_up = await watchdog
        undelivered = await _close_drain(sim, drain, 0.0 if gave_up else drain_timeout)
        await asyncio.wait_for(drain_task, timeout=5)
        return undelivered
    finally:
        for task in (drain_task, sim_task, watchdog):
            task.cancel()


async def _run_simulation(
    sim: Simulation, sim_task: asyncio.Task[None], drain_task: asyncio.Task[None]
) -> None:
    """Until the simulation ends: by itself, by a signal or a quit, or because the drain did.
    A broker that refuses us for good (bad password, untrusted certificate) ends the drain
    early: stop the simulation rather than fill the queue."""
    await asyncio.wait({sim_task, drain_task}, return_when=asyncio.FIRST_COMPLETED)
    if drain_task.done() and not sim_task.done():
        sim.request_stop()
    with contextlib.suppress(MQQuittingError):  # the watchdog gave up on it
        await sim_task


async def _close_drain(sim: Simulation, drain: BillingDrain, timeout: float) -> int:
    """Deliver what is still queued within `timeout` s; the frames that reached no one."""
    undelivered = await drain.close(timeout)
    # Records the server wrote while MQ$BILLING was full never got into it.
    stats = sim.queue.stats()
    undelivered += sim.frames_handed - stats.put - stats.dropped
    # Frames the broker refused (PUBACK reason >= 0x80) or the drain could not send (no
    # topic, no JSON form) left the queue but reached no one.
    return undelivered + drain.refused + drain.rejected


def _report(
    drain: BillingDrain,
    url: BrokerUrl,
    options: MqttOptions,
    run_id: str,
    undelivered: int,
    log: EventLog,
) -> dict[str, Any]:
    """The run's MQTT figures for the summary, also logged."""
    log.info(
        "finished",
        delivered=drain.delivered,
        undelivered=undelivered,
        refused=drain.refused,
        rejected=drain.rejected,
        run=run_id,
    )
    return {
        "run": run_id,
        "broker": url.redacted(),
        "mqtt_version": drain.protocol,
        "qos": options.qos,
        "undelivered": undelivered,
        "refused": drain.refused,
        "rejected": drain.rejected,
        "resent": drain.resent,
        "reconnects": drain.reconnects,
    }


async def _bound_shutdown(
    sim: Simulation,
    sim_task: asyncio.Task[None],
    drain_task: asyncio.Task[None],
    timeout: float,
    log: EventLog,
) -> bool:
    """Once the run is stopping, its shutdown may wait for room in a full MQ$BILLING (block
    policy) for at most `timeout` s, and not at all once the drain has given up: then the
    queue quits, which ends the wait (and the run). Without this a broker that is down or
    refuses us would keep a full queue full and the shutdown would never end. True if the
    queue had to be quit."""
    while not sim.stopping and not sim_task.done():
        await asyncio.sleep(_STOP_POLL)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not sim_task.done():
        remaining = deadline - loop.time()
        if drain_task.done() or remaining <= 0:
            log.warning(
                "shutdown: MQ$BILLING stays full, giving up on the records still to write",
                queued=sim.queue.depth + sim.queue.held,
            )
            sim.queue.quit()
            await asyncio.wait({sim_task})
            return True
        await asyncio.wait(
            {sim_task, drain_task}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
        )
    return False


async def _publish_stats(
    drain: BillingDrain,
    meter: StatsMeter,
    interval: float,
    log: EventLog,
    log_json: bool,
) -> None:
    while True:
        await asyncio.sleep(interval)
        sample = meter.sample()
        await drain.publish_stats(sample)
        if log_json:
            log.info("stats", **sample)
