"""`billsim run` on MQTT: the simulation, the drain to a broker, stats, control and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from dataclasses import replace
from typing import Any, TextIO

from simulator.adapters.broker import DEFAULT_PORT, start_embedded_broker
from simulator.adapters.logs import get_logger
from simulator.adapters.mqtt.drain import BillingDrain
from simulator.adapters.mqtt.url import parse_broker_url
from simulator.commands.runner import Progress, shutdown_signals
from simulator.commands.summary import records_by_class
from simulator.domino.control import Controller
from simulator.domino.mq import MQQuittingError
from simulator.domino.simulation import Simulation
from simulator.errors import InputError
from simulator.scenario.names import common_name
from simulator.wire.timedate import format_timedate

_STOP_POLL = 0.05  # seconds between looks at whether the run is stopping


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
    """The numbers of the stats topic and the live view; rate over the last interval."""

    def __init__(self, sim: Simulation, drain: Any, run_id: str) -> None:
        self.sim = sim
        self.drain = drain
        self.run_id = run_id
        self._last_frames = 0
        self._last_time = time.monotonic()
        self.rate = 0.0

    def sample(self) -> dict[str, Any]:
        now = time.monotonic()
        frames = self.sim.writer.frames
        elapsed = now - self._last_time
        if elapsed > 0.05:
            self.rate = (frames - self._last_frames) / elapsed
            self._last_frames, self._last_time = frames, now
        stats = self.sim.queue.stats()
        return {
            "virtual_time": format_timedate(self.sim.writer.stamp(self.sim.virtual_now())),
            "records": records_by_class(self.sim.writer.by_struct_type),
            "queue_depth": stats.depth,
            "in_flight": self.drain.in_flight,
            "delivered": self.drain.delivered,
            "dropped": stats.dropped,
            "rate": round(self.rate, 1),
            "run": self.run_id,
        }


async def run_on_mqtt(
    sim: Simulation,
    *,
    broker_url: str | None,
    options: Any,
    control: bool,
    stats_interval: float,
    drain_timeout: float,
    log_json: bool,
    stderr: TextIO,
) -> tuple[int, dict[str, Any]]:
    """Run the simulation with its frames drained to MQTT; returns (delivered, summary extras).

    With no broker URL an embedded broker is started for the run and stopped after it.
    """
    log = get_logger("billsim")
    run_id = uuid.uuid4().hex[:12]
    server_cn = common_name(sim.server_name)
    broker = None
    if broker_url is None:
        prefer = os.environ.get("BILLSIM_EMBEDDED_BROKER", "auto")
        if prefer not in ("auto", "mosquitto", "amqtt"):
            raise InputError(
                f"must be auto, mosquitto or amqtt, not {prefer!r}", field="BILLSIM_EMBEDDED_BROKER"
            )
        broker = await start_embedded_broker(
            log=log,
            prefer=prefer,  # type: ignore[arg-type]
            preferred_port=embedded_port(os.environ.get("BILLSIM_EMBEDDED_PORT")),
        )
        broker_url = broker.url
        if broker.mqtt_version == "3.1.1" and options.version != "3.1.1":
            options = replace(options, version="3.1.1")
            log.warning(
                "embedded broker speaks MQTT 3.1.1 only: the MQTT 5 properties "
                "(content type, seq, run, structtype) are off",
                broker=broker.kind,
            )
        stderr.write(
            f"billsim: embedded {broker.kind} broker at {broker.url}\n"
            f"billsim: watch it with:  {broker.tail_command(server_cn)}\n"
            f"billsim:            or:  {broker.subscribe_command(server_cn)}\n"
        )
        stderr.flush()
    url = parse_broker_url(broker_url)
    controller: Controller | None = None
    meter: StatsMeter | None = None

    async def on_control(payload: bytes) -> dict[str, Any]:
        assert controller is not None
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
    meter = StatsMeter(sim, drain, run_id)
    controller = Controller(sim, stats=meter.sample, on_quit=sim.request_stop)
    log.info(
        "run",
        scenario=sim.scenario.name,
        server=sim.server_name,
        broker=url.redacted(),
        qos=options.qos,
        mqtt=options.version,
        speed=str(sim.pacer.speed),
        run=run_id,
    )
    progress = Progress(sim, stderr, extra=lambda: _live_extra(meter))
    if log_json:
        progress.enabled = False
    undelivered = 0
    try:
        await drain.start()
        with shutdown_signals(sim, stderr):
            background = [
                asyncio.create_task(_publish_stats(drain, meter, stats_interval, log, log_json)),
                asyncio.create_task(progress.run()),
            ]
            drain_task = asyncio.create_task(drain.run())
            sim_task = asyncio.create_task(sim.run())
            watchdog = asyncio.create_task(
                _bound_shutdown(sim, sim_task, drain_task, drain_timeout, log)
            )
            try:
                # A broker that refuses us for good (bad password, untrusted certificate)
                # ends the drain early: stop the simulation rather than fill the queue.
                await asyncio.wait({sim_task, drain_task}, return_when=asyncio.FIRST_COMPLETED)
                if drain_task.done() and not sim_task.done():
                    sim.request_stop()
                with contextlib.suppress(MQQuittingError):  # the watchdog gave up on it
                    await sim_task
                gave_up = await watchdog
                undelivered = await drain.close(0.0 if gave_up else drain_timeout)
                # Records the server wrote while MQ$BILLING was full never got into it.
                stats = sim.queue.stats()
                undelivered += sim.writer.frames - stats.put - stats.dropped
                # Frames the broker refused (PUBACK reason >= 0x80) or the drain could not
                # send (no topic, no JSON form) left the queue but reached no one.
                undelivered += drain.refused + drain.rejected
                await asyncio.wait_for(drain_task, timeout=5)
            finally:
                for task in (*background, drain_task, sim_task, watchdog):
                    task.cancel()
                for task in background:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                progress.clear()
    finally:
        if broker is not None:
            await broker.stop()
    extras = {
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
    log.info(
        "finished",
        delivered=drain.delivered,
        undelivered=undelivered,
        refused=drain.refused,
        rejected=drain.rejected,
        run=run_id,
    )
    return drain.delivered, extras


async def _bound_shutdown(
    sim: Simulation,
    sim_task: asyncio.Task[None],
    drain_task: asyncio.Task[None],
    timeout: float,
    log: Any,
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


def _live_extra(meter: StatsMeter) -> str:
    sample = meter.sample()
    by_class = " ".join(f"{name} {count:,}" for name, count in sorted(sample["records"].items()))
    return f"delivered {sample['delivered']:,}  [{by_class}]"


async def _publish_stats(
    drain: Any, meter: StatsMeter, interval: float, log: Any, log_json: bool
) -> None:
    while True:
        await asyncio.sleep(interval)
        sample = meter.sample()
        await drain.publish_stats(sample)
        if log_json:
            log.info("stats", **sample)
