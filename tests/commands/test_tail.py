"""`billsim tail`: the one-line rendering of each record kind, the message handling, and the
command itself against a private mosquitto (the `mosquitto` fixture of tests/broker_processes.py,
exposed by conftest.py), never the system broker.

The expected lines are written out by hand from the frames' values.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from broker_processes import BrokerFactory, MosquittoBroker, free_port, make_tls_files
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50, MQTTv311
from paths import REPO
from samples import ALICE, HTTP_REC, SERVER, STAMP
from samples import FRAMES as SAMPLE_FRAMES
from typer.testing import CliRunner

from simulator.adapters.broker import amqtt_available, start_embedded_broker
from simulator.cli import app
from simulator.commands.tail import TailPrinter
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder
from simulator.wire.layout import Layout
from simulator.wire.records import (
    Frame,
    RawRec,
    SessionID,
    SessionRec,
)
from simulator.wire.text import frame_line
from simulator.wire.timedate import TimeDate

CODEC = FrameCodec()
DECODE = JsonDecoder(CODEC)

# The shared sample of each kind, by its topic's name.
FRAMES: dict[str, Frame] = {
    "session": SAMPLE_FRAMES["SESSIONREC"],
    "database": SAMPLE_FRAMES["DBREC"],
    "document": SAMPLE_FRAMES["DOCUMENT"],
    "mail": SAMPLE_FRAMES["MAILREC"],
    "replication": SAMPLE_FRAMES["REPLREC"],
    "agent": SAMPLE_FRAMES["AGENTREC"],
    # An authenticated request (the sample's AuthUser is None): the user column shows
    # AuthUser, a branch nothing else renders.
    "httprequest": SAMPLE_FRAMES["HTTPREQREC"]._replace(rec=HTTP_REC._replace(AuthUser=ALICE)),
}

EXPECTED_LINES: dict[str, str] = {
    "session": "09:15:00.00 Mail01   session     START     Alice Smith/Acme       "
    "sid 3.1  in 400  out 2,200  10.1.2.3  #7",
    "database": "09:15:00.00 Mail01   database    CLOSE     Alice Smith/Acme       "
    "sid 3.1  db 85258A3B:0052C1F0  open 20:34.56  #7",
    "document": "09:15:00.00 Mail01   document    READ      Zoë Müller/Acme        "
    "db 85258A3B:0052C1F1  charge 0.05  #7",
    "mail": "09:15:00.00 Mail01   mail        PENDING   Alice Smith/Acme       "
    "Memo  to 2 recipients  48,213 bytes  normal  report basic  via Hub01/Acme  #7",
    "replication": "09:15:00.00 Mail01   replication REPLICATE Hub01/Acme             "
    "sid 4.2  to Mail01/Acme  db 85258A3B:0052C1F1  in 90,000  out 1,200  medium  #7",
    "agent": "09:15:00.00 Mail01   agent       RUN       Alice Smith/Acme       "
    "AMgr  apps/orders.nsf  ran 0:03.50  public  #7",
    "httprequest": "09:15:00.00 Mail01   httprequest GET       Alice Smith/Acme       "
    "/apps/orders.nsf/byDate?OpenView  200  5,120 bytes  35 ms  from 10.1.2.9  #7",
}


def frame_bytes(name: str) -> bytes:
    return CODEC.encode(FRAMES[name])


def printer(*, json_lines: bool = False) -> tuple[TailPrinter, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return TailPrinter(out, err, json_lines=json_lines, color=False), out, err


def v5_props(seq: int, content_type: str = "application/x-domino-billmsg") -> dict[str, Any]:
    """As gmqtt hands received MQTT 5 properties to on_message: each value a list."""
    return {
        "content_type": [content_type],
        "user_property": [("seq", str(seq)), ("run", "r1"), ("structtype", "1")],
    }


# --- rendering ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FRAMES))
def test_frame_line_of_each_kind(name: str) -> None:
    obj = DECODE(frame_bytes(name), 0, 7)
    assert frame_line(obj) == EXPECTED_LINES[name]


def test_frame_line_of_unknown_and_odd_values() -> None:
    raw = Frame(32001, 0x01, SERVER, STAMP, RawRec(b"\x01\x02\x03"))
    obj = DECODE(CODEC.encode(raw))
    assert frame_line(obj, server="Mail01") == (
        "09:15:00.00 Mail01   session     type 32001                        3 bytes of record"
    )
    # Values outside the tables are named by number, not refused.
    odd = Frame(1, 0x01, SERVER, STAMP, SessionRec(SessionID(1, 1), 9, "x", 0, 0, ""))
    assert "action 9" in frame_line(DECODE(CODEC.encode(odd)))
    # A time stamp with zone bits stays in its lossless id form.
    zoned = FRAMES["session"]._replace(TimeStamp=TimeDate(0x006CDCC0, 0x852563FC))
    assert frame_line(DECODE(CODEC.encode(zoned))).startswith("852563FC:006CDCC0 Mail01 ")


# --- message handling ----------------------------------------------------------------------


def test_printer_pretty() -> None:
    p, out, err = printer()
    p.handle("domino/billing/Mail01/status", b"online", {"retain": 1})
    p.handle("domino/billing/Mail01/session", frame_bytes("session"), v5_props(7))
    # The JSON form sent with --payload json: with its content type, and without (3.1.1).
    json_form = json.dumps(DECODE(frame_bytes("database"), 0, 7)).encode()
    p.handle("domino/billing/Mail01/database", json_form, v5_props(7, "application/json"))
    p.handle("domino/billing/Mail01/database", json_form, {})
    stats = {
        "virtual_time": "2026-11-21T09:15:00.00Z",
        "records": {"session": 3, "database": 2},
        "queue_depth": 4,
        "in_flight": 1,
        "delivered": 5,
        "dropped": 0,
        "rate": 2.5,
        "run": "r1",
    }
    p.handle("domino/billing/Mail01/stats", json.dumps(stats).encode(), {})
    p.handle("domino/billing/Mail01/control/reply", b'{"ok": true,\n "cmd": "pause"}', {})
    p.handle("domino/billing/Mail01/session", b"\x05\x00garbage", {})
    assert out.getvalue().splitlines() == [
        "-- Mail01 status online",
        "-- 2026-11-21",
        EXPECTED_LINES["session"],
        EXPECTED_LINES["database"],
        EXPECTED_LINES["database"],
        "-- Mail01 stats time 2026-11-21T09:15:00.00Z  records 5  delivered 5  queued 4  "
        "in flight 1  dropped 0  rate 2.5/s",
        '-- Mail01 control/reply {"ok":true,"cmd":"pause"}',
    ]
    assert err.getvalue() == (
        "billsim tail: domino/billing/Mail01/session: not a frame (9 bytes): "
        "Len 5 is smaller than the BILLMSG header (276)\n"
    )
    assert (p.frames, p.bad) == (3, 1)


def test_printer_json_lines() -> None:
    p, out, err = printer(json_lines=True)
    p.handle("domino/billing/Mail01/status", b"online", {})
    p.handle("domino/billing/Mail01/stats", b'{"delivered": 1}', {})
    p.handle("domino/billing/Mail01/session", frame_bytes("session"), v5_props(7))
    p.handle("domino/billing/Mail01/mail", frame_bytes("mail"), {})  # 3.1.1: no seq known
    pretty = json.dumps(DECODE(frame_bytes("agent"), 0, 9), indent=2).encode()
    p.handle("domino/billing/Mail01/agent", pretty, {})
    # 3.1.1 with --topic-meta: the seq is the topic's last level.
    p.handle("domino/billing/Mail01/mail/3f9c1a2b4d5e/11", frame_bytes("mail"), {})
    lines = out.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == [
        DECODE(frame_bytes("session"), 0, 7),
        DECODE(frame_bytes("mail")),
        DECODE(frame_bytes("agent"), 0, 9),
        DECODE(frame_bytes("mail"), 0, 11),
    ]
    assert err.getvalue() == ""


def test_printer_dims_side_lines_on_a_terminal() -> None:
    out = io.StringIO()
    p = TailPrinter(out, io.StringIO(), color=True)
    p.handle("domino/billing/Mail01/status", b"offline", {})
    assert out.getvalue() == "\x1b[2m-- Mail01 status offline\x1b[0m\n"


def test_the_run_ends_with_the_server_whose_going_offline_left_none_online() -> None:
    p = TailPrinter(io.StringIO(), io.StringIO())
    p.handle("domino/billing/Mail01/status", b"offline", {"retain": 1})  # an old run's
    p.handle("domino/billing/Mail01/status", b"online", {})
    p.handle("domino/billing/Mail02/status", b"online", {})
    p.handle("domino/billing/Mail03/status", b"offline", {})  # never seen online
    p.handle("domino/billing/Mail01/status", b"offline", {})
    assert p.ended is None
    p.handle("domino/billing/Mail02/status", b"offline", {})
    assert p.ended == "Mail02"


def test_bad_broker_url_and_server_exit_2() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["tail", "--broker", "http://example.com"])
    assert result.exit_code == 2
    assert "--broker" in result.output
    # An empty name once watched every server.
    for server in ("Mail#1", ""):
        result = runner.invoke(app, ["tail", "--server", server, "--broker", "mqtt://127.0.0.1:1"])
        assert result.exit_code == 2, (server, result.output)
        assert "--server" in result.output


# --- the command against a broker ------------------------------------------------------------


class TailProcess:
    """`python -m simulator tail …` as a child process, its output read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stderr: list[str] = []

    @classmethod
    async def start(cls, *args: str) -> TailProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "simulator",
            "tail",
            *args,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return cls(process)

    async def err_line(self, timeout: float = 15.0) -> str:
        assert self.process.stderr is not None
        line = (await asyncio.wait_for(self.process.stderr.readline(), timeout)).decode()
        self.stderr.append(line)
        return line

    async def wait_subscribed(self) -> str:
        while True:
            line = await self.err_line()
            assert line, f"tail exited: {''.join(self.stderr)}"
            if "subscribed to" in line:
                return line

    async def out_lines(self, count: int, timeout: float = 15.0) -> list[str]:
        assert self.process.stdout is not None
        lines: list[str] = []
        for _ in range(count):
            raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
            assert raw, f"tail's output ended after {lines}"
            lines.append(raw.decode().rstrip("\n"))
        return lines

    async def interrupt(self) -> tuple[int, str, str]:
        """Ctrl-C; (exit code, the rest of stdout, the rest of stderr)."""
        self.process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(self.process.communicate(), 15)
        assert self.process.returncode is not None
        return self.process.returncode, out.decode(), err.decode()

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


@pytest.fixture
async def tails() -> AsyncIterator[list[TailProcess]]:
    started: list[TailProcess] = []
    yield started
    for tail in started:
        tail.kill()
        await tail.process.wait()


async def publisher(port: int, version: int = MQTTv50, tls: ssl.SSLContext | bool = False) -> Any:
    client = Client(f"test-pub-{port}")
    await asyncio.wait_for(client.connect("127.0.0.1", port, ssl=tls, version=version), 10)
    return client


async def goodbye(client: Any) -> None:
    """Disconnect a test publisher. Over TLS the broker may still be writing when the
    socket's close_notify arrives (APPLICATION_DATA_AFTER_CLOSE_NOTIFY): a race of the
    test's own client, not of billsim, which already treats that OSError as a closed link."""
    with contextlib.suppress(ssl.SSLError):
        await client.disconnect()


def publish_frame(client: Any, server: str, name: str, seq: int) -> None:
    frame = frame_bytes(name)
    client.publish(
        f"domino/billing/{server}/{name}",
        frame,
        qos=1,
        content_type="application/x-domino-billmsg",
        user_property=[("seq", str(seq)), ("run", "r1"), ("structtype", str(frame[2]))],
    )


@pytest.mark.broker
async def test_tail_prints_frames_as_they_arrive(
    mosquitto: MosquittoBroker, tails: list[TailProcess]
) -> None:
    pub = await publisher(mosquitto.port)
    pub.publish("domino/billing/Mail01/status", b"online", qos=1, retain=True)
    tail = await TailProcess.start("--broker", mosquitto.url)
    tails.append(tail)
    assert "(MQTT 5)" in await tail.wait_subscribed()
    assert await tail.out_lines(1) == ["-- Mail01 status online"]  # retained, shown at once
    publish_frame(pub, "Mail01", "session", 7)
    assert await tail.out_lines(2) == ["-- 2026-11-21", EXPECTED_LINES["session"]]
    for name in ("database", "mail", "agent"):
        publish_frame(pub, "Mail01", name, 7)
    json_form = json.dumps(DECODE(frame_bytes("document"), 0, 7))
    pub.publish("domino/billing/Mail01/document", json_form, qos=1, content_type="application/json")
    pub.publish("domino/billing/Mail01/stats", json.dumps({"delivered": 5, "rate": 1.0}), qos=1)
    assert await tail.out_lines(5) == [
        EXPECTED_LINES["database"],
        EXPECTED_LINES["mail"],
        EXPECTED_LINES["agent"],
        EXPECTED_LINES["document"],
        "-- Mail01 stats delivered 5  rate 1.0/s",
    ]
    await goodbye(pub)
    code, rest, err = await tail.interrupt()
    assert (code, rest) == (0, "")
    assert "Traceback" not in err


@pytest.mark.broker
async def test_tail_json_one_server(mosquitto: MosquittoBroker, tails: list[TailProcess]) -> None:
    tail = await TailProcess.start("--broker", mosquitto.url, "--json", "--server", SERVER)
    tails.append(tail)
    assert "domino/billing/Mail01/#" in await tail.wait_subscribed()
    pub = await publisher(mosquitto.port)
    pub.publish("domino/billing/Mail01/status", b"online", qos=1, retain=True)
    publish_frame(pub, "Mail02", "session", 1)  # another server: not asked for
    publish_frame(pub, "Mail01", "session", 1)
    publish_frame(pub, "Mail01", "httprequest", 2)
    lines = await tail.out_lines(2)
    assert [json.loads(line) for line in lines] == [
        DECODE(frame_bytes("session"), 0, 1),
        DECODE(frame_bytes("httprequest"), 0, 2),
    ]
    await goodbye(pub)
    code, rest, _ = await tail.interrupt()
    assert (code, rest) == (0, "")


@pytest.mark.broker
async def test_tail_survives_a_broker_restart(
    mosquitto: MosquittoBroker, tails: list[TailProcess]
) -> None:
    tail = await TailProcess.start("--broker", mosquitto.url)
    tails.append(tail)
    await tail.wait_subscribed()
    await mosquitto.astop()
    assert "lost the connection" in await tail.err_line()
    await mosquitto.astart()
    await tail.wait_subscribed()
    pub = await publisher(mosquitto.port)
    publish_frame(pub, "Mail01", "session", 7)
    assert await tail.out_lines(2) == ["-- 2026-11-21", EXPECTED_LINES["session"]]
    await goodbye(pub)
    code, _, _ = await tail.interrupt()
    assert code == 0


@pytest.mark.broker
async def test_tail_over_tls_with_a_client_certificate(
    mosquitto_factory: BrokerFactory, tails: list[TailProcess], tmp_path: Path
) -> None:
    tls = make_tls_files(tmp_path / "tls")
    broker = mosquitto_factory(tls=tls, require_certificate=True)
    assert broker.url.startswith("mqtts://127.0.0.1:")
    files = ("--cert-file", str(tls.client_cert), "--key-file", str(tls.client_key))
    tail = await TailProcess.start("--broker", broker.url, "--ca-file", str(tls.ca_cert), *files)
    tails.append(tail)
    assert f"on {broker.url} (MQTT 5)" in await tail.wait_subscribed()
    pub = await publisher(broker.port, tls=broker.client_ssl())
    publish_frame(pub, "Mail01", "session", 7)
    assert await tail.out_lines(2) == ["-- 2026-11-21", EXPECTED_LINES["session"]]
    await goodbye(pub)
    code, rest, err = await tail.interrupt()
    assert (code, rest) == (0, "")
    assert "Traceback" not in err

    # Without the test CA the broker's certificate is not trusted: exit 1, saying why.
    untrusting = await TailProcess.start("--broker", broker.url, "--wait", "0", *files)
    tails.append(untrusting)
    out, err_bytes = await asyncio.wait_for(untrusting.process.communicate(), 20)
    assert untrusting.process.returncode == 1
    assert out == b""
    assert f"billsim: cannot connect to the broker {broker.url}: " in err_bytes.decode()
    assert "certificate verify failed" in err_bytes.decode()


def test_tls_files_with_a_plain_broker_exit_2(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("not used\n")
    result = CliRunner().invoke(
        app, ["tail", "--broker", "mqtt://127.0.0.1:1", "--ca-file", str(ca_file)]
    )
    assert result.exit_code == 2
    assert "--ca-file needs an mqtts:// broker" in result.output


async def test_tail_unreachable_broker_exits_1(tails: list[TailProcess]) -> None:
    port = free_port()  # nothing listens there
    tail = await TailProcess.start("--broker", f"mqtt://127.0.0.1:{port}", "--wait", "1")
    tails.append(tail)
    out, err = await asyncio.wait_for(tail.process.communicate(), 20)
    assert tail.process.returncode == 1
    assert out == b""
    text = err.decode()
    assert f"waiting for the broker at mqtt://127.0.0.1:{port}" in text
    assert f"billsim: cannot connect to the broker mqtt://127.0.0.1:{port} within " in text
    assert "Traceback" not in text


async def test_tail_on_amqtt_falls_back_to_3_1_1(tails: list[TailProcess]) -> None:
    if not amqtt_available():
        pytest.fail(
            "amqtt is not installed (docs/architecture.md's fallback broker): pip install amqtt"
        )
    async with await start_embedded_broker(preferred_port=free_port(), prefer="amqtt") as broker:
        tail = await TailProcess.start("--broker", broker.url)
        tails.append(tail)
        assert "(MQTT 3.1.1)" in await tail.wait_subscribed()
        pub = await publisher(broker.port, MQTTv311)
        publish_frame(pub, "Mail01", "session", 7)  # 3.1.1 drops the properties: no seq
        lines = await tail.out_lines(2)
        assert lines == ["-- 2026-11-21", EXPECTED_LINES["session"].removesuffix("  #7")]
        await goodbye(pub)
        code, _, err = await tail.interrupt()
        assert code == 0
        assert "CONNACK" not in err  # gmqtt's own warning is kept quiet


def test_frames_of_the_win32_layout() -> None:
    codec = FrameCodec(Layout.WIN32)
    out = io.StringIO()
    p = TailPrinter(out, io.StringIO(), layout=Layout.WIN32, color=False)
    p.handle("domino/billing/Mail01/session", codec.encode(FRAMES["session"]), v5_props(7))
    assert out.getvalue().splitlines()[-1] == EXPECTED_LINES["session"]
