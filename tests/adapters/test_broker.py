"""The embedded broker (simulator/adapters/broker.py) and the bundled queue/mosquitto.conf.

Never on port 1883: the machine's own broker may hold it. Each test asks for a port it
knows to be free, or one it holds busy itself. A missing mosquitto fails the test.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50, MQTTv311
from paths import REPO

import simulator.adapters.broker as broker_module
from simulator.adapters.broker import (
    DELIVERY_LINGER,
    MOSQUITTO_LOAD_SETTINGS,
    BrokerStartError,
    EmbeddedBroker,
    Prefer,
    find_mosquitto,
    free_port,
    mosquitto_config,
    start_embedded_broker,
)
from simulator.adapters.mqtt.gmqtt_glue import receive_maximum

CONF = REPO / "queue" / "mosquitto.conf"
HOST = "127.0.0.1"


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port this test holds with a listening socket of its own."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        sock.listen()
        yield sock.getsockname()[1]


def require_mosquitto() -> str:
    found = find_mosquitto()
    if found is None:
        pytest.fail("mosquitto is not installed: these tests need it (apt-get install mosquitto)")
    return found


def require_amqtt() -> None:
    """amqtt is the fallback broker (docs/mqtt.md): an environment without it is broken."""
    if not broker_module.amqtt_available():
        pytest.fail(
            "amqtt is not installed: billsim's fallback broker (docs/architecture.md) needs it "
            "(pip install amqtt; it belongs in pyproject.toml's dependencies)"
        )


class Log:
    """An EventLog that keeps what it is told: its info events, and the rest by level."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.others: list[tuple[str, str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    def debug(self, event: str, **fields: Any) -> None:
        self.others.append(("debug", event, fields))

    def warning(self, event: str, **fields: Any) -> None:
        self.others.append(("warning", event, fields))

    def error(self, event: str, **fields: Any) -> None:
        self.others.append(("error", event, fields))


async def round_trip(broker: EmbeddedBroker, version: int) -> tuple[bytes, dict[str, Any]]:
    """Subscribe, publish one message with MQTT 5 properties, and return what arrived."""
    received: asyncio.Future[tuple[bytes, dict[str, Any]]] = (
        asyncio.get_running_loop().create_future()
    )
    subscribed = asyncio.Event()

    def on_message(client: Any, topic: str, payload: bytes, qos: int, props: Any) -> int:
        if not received.done():
            received.set_result((bytes(payload), props))
        return 0

    sub = Client(f"sub-{broker.port}")
    sub.on_message = on_message
    sub.on_subscribe = lambda *args: subscribed.set()
    pub = Client(f"pub-{broker.port}")
    await asyncio.wait_for(sub.connect(broker.host, broker.port, version=version), 10)
    sub.subscribe("domino/billing/Mail01/#", qos=1)
    await asyncio.wait_for(subscribed.wait(), 10)
    await asyncio.wait_for(pub.connect(broker.host, broker.port, version=version), 10)
    pub.publish(
        "domino/billing/Mail01/session",
        b"\x00frame\xff",
        qos=1,
        content_type="application/x-domino-billmsg",
        user_property=[("seq", "1")],
    )
    try:
        return await asyncio.wait_for(received, 10)
    finally:
        for client in (pub, sub):
            await asyncio.wait_for(client.disconnect(), 5)


def assert_gone(broker: EmbeddedBroker) -> None:
    assert broker.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(broker.pid, 0)  # reaped: no such process any more


# --- mosquitto -----------------------------------------------------------------------------


async def test_mosquitto_on_the_preferred_port_when_free() -> None:
    require_mosquitto()
    port = free_port()
    log = Log()
    broker = await start_embedded_broker(preferred_port=port, log=log)
    try:
        assert (broker.kind, broker.host, broker.port) == ("mosquitto", HOST, port)
        assert broker.url == f"mqtt://127.0.0.1:{port}"
        assert broker.mqtt_version == "5"
        assert re.fullmatch(r"\d+\.\d+\.\d+", broker.version)
        assert broker.running
        payload, props = await round_trip(broker, MQTTv50)
        assert payload == b"\x00frame\xff"
        assert props["content_type"] == ["application/x-domino-billmsg"]
        assert props["user_property"] == [("seq", "1")]
        # The load tuning is in force: the Receive Maximum the broker grants.
        client = Client("probe")
        await asyncio.wait_for(client.connect(HOST, port, version=MQTTv50), 10)
        assert receive_maximum(client) == 1000
        await client.disconnect()
    finally:
        await broker.stop()
    assert_gone(broker)
    assert [event for event, _ in log.events] == [
        "embedded broker started",
        "embedded broker stopped",
    ]
    assert log.events[0][1]["url"] == broker.url
    assert log.others == []  # a broker that starts and stops says so at info, nothing more


@pytest.mark.parametrize("prefer", ["mosquitto", "amqtt"])
async def test_a_busy_preferred_port_gives_a_free_one(busy_port: int, prefer: Prefer) -> None:
    if prefer == "mosquitto":
        require_mosquitto()
    else:
        require_amqtt()
    log = Log()
    async with await start_embedded_broker(
        preferred_port=busy_port, prefer=prefer, log=log
    ) as broker:
        assert broker.port != busy_port
        assert broker.kind == prefer
        taken = {"taken": busy_port, "port": broker.port}
        assert ("port taken, embedded broker uses a free one", taken) in log.events
        with socket.create_connection((HOST, broker.port), timeout=5):
            pass
    assert_gone(broker)


async def test_a_port_taken_after_it_was_chosen_is_given_up(
    busy_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race between choosing a port and the child binding it: the child fails with
    "address in use", and the next attempt takes another free port."""
    require_mosquitto()
    monkeypatch.setattr(broker_module, "port_is_free", lambda host, port: True)
    async with await start_embedded_broker(preferred_port=busy_port) as broker:
        assert broker.port != busy_port
        assert broker.running


async def test_stop_leaves_no_process_and_no_files() -> None:
    require_mosquitto()
    broker = await start_embedded_broker(preferred_port=free_port())
    workdir = broker.workdir
    assert (workdir / "mosquitto.conf").is_file()
    assert await broker.stop() == 0  # SIGTERM: a clean exit
    assert_gone(broker)
    assert not workdir.exists()
    assert await broker.stop() == 0  # again: nothing to do
    assert repr(broker) == f"<EmbeddedBroker mosquitto {broker.url} pid {broker.pid} exited 0>"


async def test_a_lingering_stop_serves_its_subscribers_first_and_stops_even_if_cut_short() -> None:
    """A run's embedded broker is left running DELIVERY_LINGER s before SIGTERM, so that a
    tail gets the offline status the run published last; a second Ctrl-C in that time
    still stops it."""
    require_mosquitto()
    broker = await start_embedded_broker(preferred_port=free_port())
    stopping = asyncio.create_task(broker.stop(linger=30.0))
    await asyncio.sleep(0.1)
    assert broker.running  # lingering: it still serves
    assert (await round_trip(broker, 5))[0] == b"\x00frame\xff"
    assert not stopping.done()
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert_gone(broker)
    assert not broker.workdir.exists()
    assert DELIVERY_LINGER < 1  # a run's end waits no longer than that


async def test_stop_kills_a_broker_that_ignores_sigterm() -> None:
    require_mosquitto()
    broker = await start_embedded_broker(preferred_port=free_port())
    os.kill(broker.pid, signal.SIGSTOP)  # a stopped process cannot act on SIGTERM
    started = time.monotonic()
    code = await broker.stop(timeout=0.5)
    assert code == -signal.SIGKILL
    assert time.monotonic() - started < 5
    assert_gone(broker)


async def test_the_broker_is_out_of_reach_of_ctrl_c_and_not_root() -> None:
    require_mosquitto()
    async with await start_embedded_broker(preferred_port=free_port()) as broker:
        # Its own session: a Ctrl-C in the terminal goes to billsim, which drains to it.
        assert os.getsid(broker.pid) == broker.pid != os.getsid(0)
        status = Path(f"/proc/{broker.pid}/status").read_text()
        match = re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE)
        assert match is not None
        uid = int(match.group(1))
        if os.geteuid() == 0:
            assert uid != 0  # switched to `mosquitto` (or `nobody`) before exec
        else:
            assert uid == os.geteuid()


@pytest.mark.parametrize("prefer", ["mosquitto", "amqtt"])
def test_a_killed_parent_leaves_no_broker(prefer: Prefer) -> None:
    """SIGKILL to billsim cannot run `stop()`: the kernel's parent-death signal does."""
    if prefer == "mosquitto":
        require_mosquitto()
    else:
        require_amqtt()
    script = (
        "import asyncio, sys\n"
        "from simulator.adapters.broker import start_embedded_broker, free_port\n"
        "async def main():\n"
        f"    b = await start_embedded_broker(preferred_port=free_port(), prefer={prefer!r})\n"
        "    print(b.pid, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        # Its working directory is the temporary one with its config, which only stop()
        # removes: here nobody calls it, so the test does.
        workdir = Path(os.readlink(f"/proc/{pid}/cwd"))
        assert workdir.name.startswith(f"billsim-{prefer}-")
    finally:
        parent.kill()
        parent.wait()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)  # ours to clean up: this test started it
        pytest.fail(f"the {prefer} broker (pid {pid}) outlived its killed parent")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def test_mosquitto_that_dies_at_start_is_reported_with_its_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_mosquitto()
    monkeypatch.setattr(
        broker_module,
        "mosquitto_config",
        lambda host, port: mosquitto_config(host, port) + "no_such_option 1\n",
    )
    with pytest.raises(BrokerStartError) as caught:
        await start_embedded_broker(preferred_port=free_port(), prefer="mosquitto")
    message = str(caught.value)
    assert "exited with code" in message
    assert "no_such_option" in message  # mosquitto's own words


def test_generated_config_is_loopback_only_with_the_bundled_tuning() -> None:
    text = mosquitto_config(HOST, 12345)
    assert "listener 12345 127.0.0.1\n" in text
    assert re.findall(r"^listener .*$", text, re.MULTILINE) == ["listener 12345 127.0.0.1"]
    for key, value in MOSQUITTO_LOAD_SETTINGS:
        assert f"\n{key} {value}\n" in text
    assert "\npersistence false\n" in text
    assert "\nallow_anonymous true\n" in text


def test_bundled_config_has_the_same_tuning() -> None:
    settings = dict(
        line.split(None, 1)
        for line in CONF.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    # The tuning lines of queue/mosquitto.conf, named here: an empty or shorter tuple in the
    # code would otherwise compare nothing.
    tuning = ("max_inflight_messages", "max_queued_messages", "max_queued_bytes", "set_tcp_nodelay")
    assert dict(MOSQUITTO_LOAD_SETTINGS) == {key: settings[key] for key in tuning}
    assert settings["persistence"] == "false"
    assert settings["allow_anonymous"] == "true"
    assert settings["listener"] == "1883 0.0.0.0"
    assert int(settings["max_inflight_messages"]) > 20
    assert int(settings["max_queued_messages"]) > 1000


async def test_bundled_config_loads_in_this_mosquitto(tmp_path: Path) -> None:
    """queue/mosquitto.conf as it is, but for a listener on a free loopback port."""
    mosquitto = require_mosquitto()
    port = free_port()
    text = CONF.read_text().replace("listener 1883 0.0.0.0", f"listener {port} {HOST}")
    assert f"listener {port} {HOST}" in text
    config = tmp_path / "mosquitto.conf"
    config.write_text(text)
    config.chmod(0o644)
    tmp_path.chmod(0o755)  # mosquitto may read it after switching away from root
    log = tmp_path / "log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [mosquitto, "-c", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        client = Client("bundled-config")
        for _ in range(100):
            try:
                await asyncio.wait_for(client.connect(HOST, port, version=MQTTv50), 5)
                break
            except OSError:
                assert process.poll() is None, log.read_text()
                await asyncio.sleep(0.05)
        assert receive_maximum(client) == 1000
        await client.disconnect()
    finally:
        process.terminate()
        process.wait(10)
    output = log.read_text()
    assert "Error" not in output, output
    assert f"Opening ipv4 listen socket on port {port}." in output


# --- amqtt ----------------------------------------------------------------------------------


async def test_amqtt_when_asked() -> None:
    require_amqtt()
    log = Log()
    broker = await start_embedded_broker(preferred_port=free_port(), prefer="amqtt", log=log)
    try:
        assert broker.kind == "amqtt"
        assert broker.mqtt_version == "3.1.1"
        assert re.fullmatch(r"\d+\.\d+\.\d+", broker.version)
        payload, props = await round_trip(broker, MQTTv311)
        assert payload == b"\x00frame\xff"
        assert "content_type" not in props  # 3.1.1 carries no properties
        assert os.getsid(broker.pid) == broker.pid
    finally:
        await broker.stop()
    assert broker.process.returncode == 0  # it shut down on SIGTERM
    assert_gone(broker)


async def test_without_mosquitto_amqtt_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    require_amqtt()
    monkeypatch.setattr(broker_module, "find_mosquitto", lambda: None)
    async with await start_embedded_broker(preferred_port=free_port()) as broker:
        assert broker.kind == "amqtt"


async def test_with_neither_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(broker_module, "find_mosquitto", lambda: None)
    monkeypatch.setattr(broker_module, "amqtt_available", lambda: False)
    with pytest.raises(BrokerStartError) as caught:
        await start_embedded_broker(preferred_port=free_port())
    message = str(caught.value)
    assert "apt-get install mosquitto" in message
    assert "pip install amqtt" in message
    assert caught.value.exit_code == 1
    with pytest.raises(BrokerStartError, match="install mosquitto"):
        await start_embedded_broker(preferred_port=free_port(), prefer="mosquitto")
    with pytest.raises(BrokerStartError, match=r"amqtt is not installed for .*: pip install amqtt"):
        await start_embedded_broker(preferred_port=free_port(), prefer="amqtt")


# --- what billsim prints for a person to paste ----------------------------------------------


async def test_subscribe_command(monkeypatch: pytest.MonkeyPatch) -> None:
    require_mosquitto()
    async with await start_embedded_broker(preferred_port=free_port()) as broker:
        port = broker.port
        monkeypatch.setattr(broker_module, "find_mosquitto_sub", lambda: "/usr/bin/mosquitto_sub")
        assert broker.subscribe_command("Mail01") == (
            f"mosquitto_sub -h 127.0.0.1 -p {port} -t 'domino/billing/Mail01/#' -v"
        )
        monkeypatch.setattr(broker_module, "find_mosquitto_sub", lambda: None)
        assert broker.subscribe_command("Mail01") == (
            f"billsim tail --broker mqtt://127.0.0.1:{port} --server Mail01"
        )
        assert broker.tail_command() == f"billsim tail --broker mqtt://127.0.0.1:{port}"
        assert broker.tail_command("Mail 01") == (
            f"billsim tail --broker mqtt://127.0.0.1:{port} --server 'Mail 01'"
        )
