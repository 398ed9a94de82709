"""Brokers and subscribers for the MQTT tests: a private mosquitto per test, never the system's.

    def test_x(mosquitto_factory):
        broker = mosquitto_factory(settings={"max_inflight_messages": 10})
        ...; broker.stop(); broker.start()      # same port, same config, same data

Each broker listens on a free 127.0.0.1 port with a config written into the test's
tmp_path, so a test never touches the system broker on 1883. It is stopped by its PID
(SIGTERM, then SIGKILL), and a missing `mosquitto` binary fails the test: the MQTT
drain is a product feature, and a silent skip would hide that it was never tested.

The broker matrix (docs/brokers.md) has fixtures of its own, on the same terms:
`mosquitto_bridge_factory` (two mosquittos, near bridged to far), `nats` (one nats-server,
JetStream and its MQTT listener) and `nats_cluster` (three of them routed together, MQTT's
streams replicated three times). A missing `nats-server` fails the test too. `rabbitmq`
(a RabbitMQ node with its MQTT plugin) is for the tests marked `rabbitmq`, run only when
asked for (`pytest --rabbitmq`): it is slow to start.

`Collector` is a gmqtt subscriber that keeps every message as (topic, payload, qos,
retain, properties), for asserting on what a consumer would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

import pytest
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50, MQTTv311

from simulator.adapters.broker import free_port

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

# Settings every test broker gets (a test may override them): enough room that a test
# subscriber which falls behind for a moment loses nothing.
BASE_SETTINGS: dict[str, str | int] = {
    "max_inflight_messages": 1000,
    "max_queued_messages": 200_000,
    "max_queued_bytes": 0,
    "set_tcp_nodelay": "true",
}


def find_program(name: str, package: str = "mosquitto") -> str:
    """A program's path (mosquitto's tools, nats-server, openssl); fails (never skips) the
    test when it is not installed, naming the Debian package that has it."""
    found = shutil.which(name)
    if found is None:
        for directory in ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"):
            candidate = Path(directory) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                found = str(candidate)
                break
    if found is None:
        pytest.fail(f"{name} is not installed: the MQTT tests need it (apt-get install {package})")
    return found


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _spawn(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """A server process of the test's own, its output appended to `log_path`, in a session
    of its own (a Ctrl-C at the terminal reaches pytest, not it)."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )


def _end(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM to our child's PID, SIGKILL if it lingers; nothing if it has ended."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


def _read_log(log_path: Path) -> str:
    try:
        return log_path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """Make the CA and certificates with the openssl CLI (EC P-256 keys: fast to make)."""
    openssl = find_program("openssl", "openssl")
    directory.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=directory, check=True, capture_output=True, timeout=30)

    key_args = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    run("req", "-x509", *key_args, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=billsim test CA")  # fmt: skip
    for name, subject, extension in (
        ("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("client", "/CN=billsim-client", "extendedKeyUsage=clientAuth"),
    ):
        (directory / f"{name}.ext").write_text(extension + "\n")
        run("req", *key_args, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
            "-extfile", f"{name}.ext")  # fmt: skip
    return TlsFiles(
        ca_cert=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )


@dataclass(frozen=True)
class BridgeTo:
    """A bridge from the broker that has it to ``remote``: what is published on ``topic``
    here goes on there, at QoS 1 over MQTT 5 (the user properties too), in a persistent
    session on both sides (cleansession false), reconnecting after a second."""

    remote: MosquittoBroker
    name: str = "billsim-bridge"
    topic: str = "domino/billing/# out 1"
    settings: Mapping[str, str | int] = field(default_factory=dict)

    def config_lines(self) -> list[str]:
        lines = [
            f"connection {self.name}",
            f"address {self.remote.host}:{self.remote.port}",
            f"topic {self.topic}",
            "bridge_protocol_version mqttv50",
            "cleansession false",
            f"remote_clientid {self.name}",
            f"local_clientid {self.name}-local",
            "restart_timeout 1",
            "notifications false",
        ]
        return lines + [f"{key} {value}" for key, value in self.settings.items()]


class MosquittoBroker:
    """One mosquitto child process on a fixed loopback port; stop() and start() again keep
    the port, the config and (with ``persistence``) the sessions and retained messages."""

    def __init__(
        self,
        directory: Path,
        *,
        port: int | None = None,
        settings: Mapping[str, str | int] | None = None,
        tls: TlsFiles | None = None,
        require_certificate: bool = False,
        passwords: Mapping[str, str] | None = None,
        persistence: bool = False,
        base_settings: bool = True,
        bridge: BridgeTo | None = None,
    ) -> None:
        self.directory = directory
        self.host = HOST
        self.port = port if port is not None else free_port()
        self.tls = tls
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        directory.mkdir(parents=True, exist_ok=True)
        self.config_path = directory / "mosquitto.conf"
        self.log_path = directory / "mosquitto.log"
        lines = [f"listener {self.port} {HOST}"]
        if tls is not None:
            lines += [
                f"cafile {tls.ca_cert}",
                f"certfile {tls.server_cert}",
                f"keyfile {tls.server_key}",
                f"require_certificate {'true' if require_certificate else 'false'}",
            ]
        if passwords is not None:
            password_file = directory / "passwd"
            passwd = find_program("mosquitto_passwd")
            for i, (user, password) in enumerate(passwords.items()):
                create = ["-c"] if i == 0 else []
                subprocess.run(
                    [passwd, *create, "-b", str(password_file), user, password],
                    check=True,
                    capture_output=True,
                    timeout=30,
                )
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        if persistence:
            lines += ["persistence true", f"persistence_location {directory}/"]
        else:
            lines.append("persistence false")
        if os.geteuid() == 0:
            # As root, mosquitto would switch to the `mosquitto` user, which cannot read
            # the test's files; stay who we are.
            lines.append("user root")
        base = BASE_SETTINGS if base_settings else {}
        for key, value in {**base, **(settings or {})}.items():
            lines.append(f"{key} {value}")
        lines += ["log_dest stderr", "log_type all", "connection_messages true"]
        if bridge is not None:  # last: what follows `connection` belongs to the bridge
            lines += bridge.config_lines()
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        mosquitto = find_program("mosquitto")
        self.process = _spawn([mosquitto, "-c", str(self.config_path)], self.log_path)
        self.starts += 1
        deadline = time.monotonic() + START_TIMEOUT
        while not _accepts(self.host, self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"mosquitto did not start on port {self.port}:\n{self.log_text()}")
            time.sleep(0.01)

    def stop(self) -> None:
        """SIGTERM to our child's PID (mosquitto saves its state and closes connections),
        SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGCONT)  # in case a test paused it
        _end(process)

    def kill(self) -> None:
        """SIGKILL to our child's PID: the broker dies without closing its connections."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT)

    def pause(self) -> None:
        """SIGSTOP: the broker holds its connections but answers nothing until resume()."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    def log_text(self) -> str:
        return _read_log(self.log_path)

    def client_ssl(self) -> ssl.SSLContext | bool:
        """A test client's TLS context (trusting the test CA, with the client
        certificate), or False for a plain listener."""
        if self.tls is None:
            return False
        context = ssl.create_default_context(cafile=str(self.tls.ca_cert))
        context.load_cert_chain(str(self.tls.client_cert), str(self.tls.client_key))
        return context


_AMQTT_SCRIPT = """
import asyncio, logging, signal, sys
from amqtt.broker import Broker

async def main(port):
    logging.basicConfig(level=logging.ERROR)
    broker = Broker({
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    })
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await broker.start()
    await stop.wait()
    await broker.shutdown()

asyncio.run(main(int(sys.argv[1])))
"""


class _PlainListener:
    """A broker (or proxy) listening for plain MQTT at ``host:port``: its URL, and no TLS
    for its clients."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def client_ssl(self) -> bool:
        return False


class AmqttBroker(_PlainListener):
    """amqtt, which speaks MQTT 3.1.1 only, as a child process on a free loopback port."""

    def __init__(self, directory: Path) -> None:
        self.host = HOST
        self.port = free_port()
        self.log_path = directory / "amqtt.log"
        directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = _spawn([sys.executable, "-c", _AMQTT_SCRIPT, str(self.port)], self.log_path)
        deadline = time.monotonic() + START_TIMEOUT
        while not _accepts(self.host, self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"amqtt did not start: {self.log_path.read_text(errors='replace')}")
            time.sleep(0.01)

    def stop(self) -> None:
        process, self.process = self.process, None
        _end(process)


def _log_count(broker: MosquittoBroker, text: str) -> int:
    return broker.log_text().count(text)


@dataclass(frozen=True)
class MosquittoBridge:
    """Two mosquittos, ``near`` bridged to ``far``: publish on near, subscribe on far."""

    near: MosquittoBroker
    far: MosquittoBroker

    def wait_bridged(self, connects: int = 1, timeout: float = START_TIMEOUT) -> None:
        """Until near has had ``connects`` CONNACKs from far on the bridge (the first: the
        bridge is up; after a restart of either, one more)."""
        deadline = time.monotonic() + timeout
        while _log_count(self.near, "Received CONNACK on connection") < connects:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the bridge did not connect:\n{self.near.log_text()}\n{self.far.log_text()}"
                )
            time.sleep(0.02)


# -- NATS ---------------------------------------------------------------------------------

NATS_START_TIMEOUT = 30.0  # a cluster elects its JetStream leaders before MQTT works


def nats_request(port: int, subject: str, payload: bytes = b"", timeout: float = 5.0) -> Any:
    """A request on the NATS protocol (client port ``port``) and its JSON reply: the
    JetStream API (`$JS.API.STREAM.INFO.<stream>`, `…LEADER.STEPDOWN…`) without a client."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        reader = sock.makefile("rb")
        if not reader.readline().startswith(b"INFO"):
            raise RuntimeError(f"no NATS server on port {port}")
        inbox = f"_INBOX.billsim{os.getpid()}x{time.monotonic_ns()}"
        sock.sendall(
            b'CONNECT {"verbose":false,"pedantic":false}\r\n'
            + f"SUB {inbox} 1\r\nPUB {subject} {inbox} {len(payload)}\r\n".encode()
            + payload
            + b"\r\n"
        )
        while True:
            line = reader.readline()
            if not line:
                raise RuntimeError(f"NATS closed the connection before answering {subject}")
            if line.startswith(b"MSG"):
                data = reader.read(int(line.split()[-1]) + 2)[:-2]
                return json.loads(data)
            if line.startswith(b"PING"):
                sock.sendall(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise RuntimeError(f"NATS refused {subject}: {line.decode().strip()}")


def mqtt_connack(host: str, port: int, timeout: float = 5.0) -> int | None:
    """An MQTT 3.1.1 CONNECT (clean session) and DISCONNECT: the CONNACK's return code
    (0 accepted), None when the broker closed or did not answer."""
    client_id = f"billsim-probe-{os.getpid()}-{time.monotonic_ns()}".encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x0a" + len(client_id).to_bytes(2, "big") + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(bytes([0x10, len(body)]) + body)
            answer = b""
            while len(answer) < 4:
                chunk = sock.recv(4 - len(answer))
                if not chunk:
                    return None
                answer += chunk
            with contextlib.suppress(OSError):
                sock.sendall(b"\xe0\x00")
            return answer[3] if answer[0] == 0x20 else None
    except OSError:
        return None


class NatsBroker(_PlainListener):
    """One nats-server child process: JetStream with its store in its own directory, the
    MQTT listener (MQTT 3.1.1 only, as NATS speaks it), free loopback ports; in a cluster,
    routes to its peers. stop() and start() again keep the ports, config and store."""

    def __init__(
        self,
        directory: Path,
        *,
        name: str = "billsim-test",
        cluster: str | None = None,
        cluster_port: int | None = None,
        routes: Sequence[int] = (),
        mqtt: Mapping[str, str | int] | None = None,
    ) -> None:
        self.directory = directory
        self.name = name
        self.host = HOST
        self.port = free_port()  # MQTT: what billsim connects to
        self.client_port = free_port()  # NATS protocol: the JetStream API
        self.tls = None
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        directory.mkdir(parents=True, exist_ok=True)
        self.config_path = directory / "nats.conf"
        self.log_path = directory / "nats.log"
        mqtt_lines = [f'listen: "{HOST}:{self.port}"']
        mqtt_lines += [f"{key}: {value}" for key, value in (mqtt or {}).items()]
        lines = [
            f"server_name: {name}",
            f'listen: "{HOST}:{self.client_port}"',
            "jetstream {",
            f'  store_dir: "{directory / "jetstream"}"',
            "  max_memory_store: 64MB",
            "  max_file_store: 1GB",
            "}",
            "mqtt {",
            *(f"  {line}" for line in mqtt_lines),
            "}",
        ]
        if cluster is not None:
            assert cluster_port is not None
            lines += [
                "cluster {",
                f"  name: {cluster}",
                f'  listen: "{HOST}:{cluster_port}"',
                "  routes: [" + ", ".join(f'"nats-route://{HOST}:{p}"' for p in routes) + "]",
                "}",
            ]
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> None:
        """Start the process; it listens soon, but serves MQTT only once JetStream is up
        (`wait_ready`; in a cluster, once its peers are there too)."""
        if self.running:
            return
        nats_server = find_program("nats-server", "nats-server")
        self.process = _spawn([nats_server, "-c", str(self.config_path)], self.log_path)
        self.starts += 1

    def wait_ready(self, timeout: float = NATS_START_TIMEOUT) -> None:
        """Until an MQTT client is accepted (CONNACK 0)."""
        deadline = time.monotonic() + timeout
        while mqtt_connack(self.host, self.port, timeout=2.0) != 0:
            self._fail_if_exited_or_late(deadline, "serves no MQTT")
            time.sleep(0.1)

    def wait_jetstream(self, timeout: float = NATS_START_TIMEOUT) -> None:
        """Until JetStream answers an account info request on the NATS protocol (in a
        cluster: once there is a metadata leader)."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                if "error" not in nats_request(self.client_port, "$JS.API.INFO", timeout=0.5):
                    return
            self._fail_if_exited_or_late(deadline, "no JetStream")
            time.sleep(0.05)

    def _fail_if_exited_or_late(self, deadline: float, not_yet: str) -> None:
        """A wait's end without what it waits for: the node exited (stopped, its log
        shown), or `deadline` passed (`not_yet` says what is missing)."""
        if self.process is None or self.process.poll() is not None:
            self.stop()
            pytest.fail(f"nats-server {self.name} exited:\n{self.log_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"nats-server {self.name}: {not_yet}:\n{self.log_text()}")

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def stop(self) -> None:
        """SIGTERM to our child's PID, SIGKILL if it lingers."""
        process, self.process = self.process, None
        _end(process)

    def request(self, subject: str, payload: bytes = b"") -> Any:
        return nats_request(self.client_port, subject, payload)

    def log_text(self) -> str:
        return _read_log(self.log_path)


class NatsCluster:
    """Three (or ``size``) nats-servers routed to each other, JetStream replicated: MQTT's
    streams get ``stream_replicas`` copies, so one node may stop without a loss."""

    def __init__(self, directory: Path, size: int = 3, stream_replicas: int = 3) -> None:
        cluster_ports = [free_port() for _ in range(size)]
        self.nodes = [
            NatsBroker(
                directory / f"nats-{i + 1}",
                name=f"n{i + 1}",
                cluster="billsim",
                cluster_port=port,
                routes=cluster_ports,
                mqtt={"stream_replicas": stream_replicas},
            )
            for i, port in enumerate(cluster_ports)
        ]

    def start(self) -> None:
        """Launch every node; ready once each serves MQTT. A node's first MQTT client makes
        it create (or look up) the MQTT streams: one that comes before the routes are up
        waits 4 s for JetStream to answer (nats-server 2.9), and so do nodes asked at
        once, racing to create them. So JetStream is first asked over the NATS protocol
        until it answers on every node, and then the nodes are probed one after another."""
        for node in self.nodes:
            node.launch()
        for node in self.nodes:
            node.wait_jetstream()
        for node in self.nodes:
            node.wait_ready()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def stream_leader(self, stream: str) -> str | None:
        """The node (server_name) leading a JetStream stream; None while there is none."""
        for node in self.nodes:
            if node.running:
                with contextlib.suppress(OSError, RuntimeError):
                    info = node.request(f"$JS.API.STREAM.INFO.{stream}")
                    leader: str | None = info.get("cluster", {}).get("leader")
                    return leader
        return None

    def make_leader(self, stream: str, node: NatsBroker, attempts: int = 30) -> None:
        """Ask a stream's leader to step down until ``node`` leads it."""
        for _ in range(attempts):
            leader = self.stream_leader(stream)
            if leader == node.name:
                return
            if leader is not None:
                with contextlib.suppress(OSError, RuntimeError):
                    node.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}")
            time.sleep(0.3)
        pytest.fail(f"{node.name} did not become the leader of {stream}")

    def log_text(self) -> str:
        return "\n".join(f"--- {node.name}\n{node.log_text()}" for node in self.nodes)


class ClosesOnMqtt5(_PlainListener):
    """A loopback TCP proxy in front of a broker that closes any connection whose first
    packet is an MQTT 5 CONNECT, as RabbitMQ's MQTT plugin before 3.13 does (no CONNACK,
    the socket closed); every other connection is passed through to ``upstream``."""

    def __init__(self, upstream: MosquittoBroker | NatsBroker) -> None:
        self.upstream = upstream
        self.host = HOST
        self.tls = None
        self.closed = 0  # MQTT 5 CONNECTs turned away
        self._server = socket.create_server((HOST, 0))
        self.port: int = self._server.getsockname()[1]
        self._sockets: list[socket.socket] = [self._server]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            self._sockets.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            first = client.recv(65536)
            # CONNECT: 0x10, the remaining length (1 to 4 bytes), "\0\4MQTT", the level.
            at = 1
            while at < len(first) and first[at] & 0x80:
                at += 1
            name, level = first[at + 1 : at + 7], first[at + 7 : at + 8]
            if first[:1] == b"\x10" and name == b"\x00\x04MQTT" and level == b"\x05":
                self.closed += 1
                client.close()
                return
            upstream = socket.create_connection((self.upstream.host, self.upstream.port))
            self._sockets.append(upstream)
            upstream.sendall(first)
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
            self._pump(client, upstream)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()


RABBITMQ_START_TIMEOUT = 120.0  # a RabbitMQ node takes about 20 s to start


class RabbitNode(_PlainListener):
    """A RabbitMQ node of our own, with its MQTT plugin (MQTT 3.1.1 only before 3.13):
    AMQP, MQTT, Erlang distribution and epmd on free loopback ports; its config, data,
    logs, plugins file and Erlang cookie (HOME) in ``directory``; never the machine's
    RabbitMQ. Anonymous, and ``mqtt.prefetch`` 1000 as docs/brokers.md advises. Stopped by
    the PIDs it started (the node, and the epmd it launched)."""

    def __init__(self, directory: Path, *, prefetch: int = 1000) -> None:
        self.directory = directory
        self.host = HOST
        self.port = free_port()
        self.epmd_port = free_port()
        self.tls = None
        self.process: subprocess.Popen[bytes] | None = None
        (directory / "home").mkdir(parents=True, exist_ok=True)
        (directory / "env.conf").write_text("")  # not the machine's rabbitmq-env.conf
        (directory / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
        (directory / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = {HOST}:{free_port()}\n"
            f"mqtt.listeners.tcp.default = {HOST}:{self.port}\n"
            "mqtt.allow_anonymous = true\n"
            f"mqtt.prefetch = {prefetch}\n"
        )
        self.env = {
            **os.environ,
            "HOME": str(directory / "home"),
            "RABBITMQ_CONF_ENV_FILE": str(directory / "env.conf"),
            "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
            "RABBITMQ_NODENAME": f"billsim-test-{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": HOST,
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(directory / "log"),
            "RABBITMQ_PID_FILE": str(directory / "rabbit.pid"),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": HOST,
        }

    def start(self) -> None:
        """Start the node and wait until its MQTT listener accepts a 3.1.1 client."""
        server = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")  # not the user-switching wrapper
        if not server.exists():
            pytest.fail("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
        with (self.directory / "out.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(server)],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + RABBITMQ_START_TIMEOUT
        while mqtt_connack(HOST, self.port) != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"RabbitMQ did not start:\n{self.log_text()[-4000:]}")
            time.sleep(0.5)

    def pids(self) -> tuple[int, ...]:
        """The Erlang VM's PID (the one that does the work)."""
        return (int((self.directory / "rabbit.pid").read_text().strip()),)

    def log_text(self) -> str:
        """The node's log (and what its launcher wrote)."""
        logs = [*sorted((self.directory / "log").glob("*.log")), self.directory / "out.log"]
        return "".join(_read_log(path) for path in logs)

    def stop(self) -> None:
        """SIGTERM to the node's VM and the launcher (rabbitmq-server stops the node), then
        the epmd this node started: the one listening on our epmd port."""
        with contextlib.suppress(OSError, ValueError):
            os.kill(self.pids()[0], signal.SIGTERM)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        listening = ["ss", "-Hltnp", f"sport = :{self.epmd_port}"]
        epmd = subprocess.run(listening, check=False, capture_output=True, text=True).stdout
        for pid in {int(p) for p in re.findall(r"pid=(\d+)", epmd)}:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)


BrokerFactory = Callable[..., MosquittoBroker]


class _Process(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


_P = TypeVar("_P", bound=_Process)


def _started_in_turn(
    kind: Callable[..., _P], directory: Path, name: str
) -> Iterator[Callable[..., _P]]:
    """A factory fixture's body: each call makes a ``kind`` in a directory of its own
    (``{name}-0``, ``{name}-1``, …) and starts it; all are stopped at the end."""
    made: list[_P] = []

    def make(**kwargs: Any) -> _P:
        process = kind(directory / f"{name}-{len(made)}", **kwargs)
        made.append(process)
        process.start()
        return process

    yield make
    for process in made:
        process.stop()


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[BrokerFactory]:
    """Make and start brokers (keyword arguments of MosquittoBroker); all stopped at the end."""
    yield from _started_in_turn(MosquittoBroker, tmp_path, "mosquitto")


@pytest.fixture
def mosquitto(mosquitto_factory: BrokerFactory) -> MosquittoBroker:
    """A plain mosquitto (anonymous, MQTT 5, load settings) on a free loopback port."""
    return mosquitto_factory()


BridgeFactory = Callable[..., MosquittoBridge]


@pytest.fixture
def mosquitto_bridge_factory(mosquitto_factory: BrokerFactory) -> BridgeFactory:
    """Make two mosquittos bridged near → far (frames published on near reach subscribers
    of far), up and connected. ``far`` and ``near`` are keyword arguments of
    MosquittoBroker for each; ``bridge`` those of BridgeTo."""

    def make(
        *,
        far: Mapping[str, Any] | None = None,
        near: Mapping[str, Any] | None = None,
        bridge: Mapping[str, Any] | None = None,
    ) -> MosquittoBridge:
        far_broker = mosquitto_factory(**(far or {}))
        near_broker = mosquitto_factory(
            bridge=BridgeTo(far_broker, **(bridge or {})), **(near or {})
        )
        pair = MosquittoBridge(near_broker, far_broker)
        pair.wait_bridged()
        return pair

    return make


NatsFactory = Callable[..., NatsBroker]


@pytest.fixture
def nats_factory(tmp_path: Path) -> Iterator[NatsFactory]:
    """Make and start nats-servers with the MQTT listener (keyword arguments of
    NatsBroker); all stopped at the end."""
    yield from _started_in_turn(NatsBroker, tmp_path, "nats")


@pytest.fixture
def nats(nats_factory: NatsFactory) -> NatsBroker:
    """One nats-server with JetStream and MQTT on free loopback ports."""
    return nats_factory()


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """Three nats-servers in a cluster, MQTT streams replicated 3 times, all serving MQTT."""
    cluster = NatsCluster(tmp_path / "cluster")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def rabbitmq(tmp_path: Path) -> Iterator[RabbitNode]:
    """A RabbitMQ node of the test's own with the MQTT plugin. Slow to start (about 20 s):
    its tests are marked `rabbitmq` and run only with `pytest --rabbitmq` (tests/conftest.py;
    `.ci/run` with BILLSIM_CI_RABBITMQ=1)."""
    node = RabbitNode(tmp_path / "rabbitmq")
    try:
        node.start()
        yield node
    finally:
        node.stop()


class Received(NamedTuple):
    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: dict[str, Any]

    def prop(self, name: str) -> Any:
        """A property's first value (gmqtt gives each as a list), None when absent."""
        values = self.properties.get(name)
        return values[0] if values else None

    @property
    def user_properties(self) -> dict[str, str]:
        return dict(self.properties.get("user_property", []))


class Collector:
    """A subscriber that records what it receives. With ``session_expiry`` it keeps a
    broker session, so a broker restart (with persistence) or a reconnect loses nothing."""

    def __init__(
        self,
        broker: MosquittoBroker,
        topics: Sequence[str] = ("domino/billing/#",),
        *,
        qos: int = 1,
        version: int = MQTTv50,
        client_id: str | None = None,
        session_expiry: int | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.broker = broker
        self.topics = tuple(topics)
        self.qos = qos
        self.version = version
        self.messages: list[Received] = []
        self._changed = asyncio.Event()
        self._subscribed = asyncio.Event()
        kwargs: dict[str, Any] = {}
        if session_expiry is not None and version == MQTTv50:
            kwargs["session_expiry_interval"] = session_expiry
        self.client: Any = Client(
            client_id or f"collector-{id(self):x}",
            clean_session=session_expiry is None,
            **kwargs,
        )
        self.client.set_config({"reconnect_delay": 0.1})
        if username is not None:
            self.client.set_auth_credentials(username, password)
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    def _on_message(
        self, _client: Any, topic: str, payload: bytes, qos: int, properties: dict[str, Any]
    ) -> int:
        self.messages.append(
            Received(topic, bytes(payload), qos, bool(properties.get("retain")), properties)
        )
        self._changed.set()
        return 0

    def _on_subscribe(self, *_args: Any) -> None:
        self._subscribed.set()

    async def start(self) -> Collector:
        await asyncio.wait_for(
            self.client.connect(
                self.broker.host,
                self.broker.port,
                ssl=self.broker.client_ssl(),
                version=self.version,
                keepalive=30,
            ),
            10,
        )
        self._subscribed.clear()
        for topic in self.topics:
            self.client.subscribe(topic, qos=self.qos)
        await asyncio.wait_for(self._subscribed.wait(), 10)
        return self

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.disconnect(), 5)

    def on(self, topic: str) -> list[Received]:
        return [m for m in self.messages if m.topic == topic]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait until ``predicate()`` holds (checked after each message), at most ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.25))
        return True

    async def wait_count(self, count: int, prefix: str = "", timeout: float = 10.0) -> bool:
        return await self.wait_for(
            lambda: sum(1 for m in self.messages if m.topic.startswith(prefix)) >= count, timeout
        )


__all__ = [
    "HOST",
    "AmqttBroker",
    "BridgeFactory",
    "BridgeTo",
    "BrokerFactory",
    "ClosesOnMqtt5",
    "Collector",
    "MQTTv50",
    "MQTTv311",
    "MosquittoBridge",
    "MosquittoBroker",
    "NatsBroker",
    "NatsCluster",
    "NatsFactory",
    "Received",
    "TlsFiles",
    "find_program",
    "free_port",
    "make_tls_files",
    "mosquitto",
    "mosquitto_bridge_factory",
    "mosquitto_factory",
    "mqtt_connack",
    "nats",
    "nats_cluster",
    "nats_factory",
    "nats_request",
]
