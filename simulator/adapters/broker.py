"""The embedded default broker (docs/mqtt.md): what `billsim run` talks to with no --broker.

    broker = await start_embedded_broker(log=log)   # or: async with await start_…() as broker:
    print(broker.url, broker.subscribe_command("Mail01"))
    ...
    await broker.stop()

It listens on 127.0.0.1 only: on `preferred_port` (1883) when that is free, else on a
free port the kernel picks. It is always a child process, never a broker inside billsim's
own event loop, so the simulation and the broker do not compete for one core's loop:

- `mosquitto` when the binary is on PATH (or in /usr/sbin, /usr/local/sbin): run with a
  config generated in a temporary directory (the loopback listener, anonymous access,
  no persistence, and the load tuning of queue/mosquitto.conf). MQTT 5.
- else amqtt, run as `python -m simulator.adapters.broker --amqtt PORT` would (`main` below).
  amqtt speaks MQTT 3.1.1 only (`mqtt_version == "3.1.1"`): a v5 CONNECT is refused with
  CONNACK 0x01, so connect with 3.1.1 from the start; and it is slow (a few thousand
  QoS 1 messages/s), enough for demos and real-time replay, not for load tests.

The child gets its own session (setsid), so a Ctrl-C in the terminal reaches billsim only
and the broker stays up while billsim drains its queue to it; and, on Linux, SIGTERM
when the thread that started it dies (PR_SET_PDEATHSIG), so a killed billsim leaves no
broker behind. `stop()` sends SIGTERM to that one PID, waits, then SIGKILL; it never
touches a process it did not start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import errno
import importlib.util
import os
import re
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

from simulator.adapters.logs import EventLog
from simulator.adapters.mqtt.topics import subscription_topic
from simulator.errors import BillsimError

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 1883
START_TIMEOUT: Final = 10.0  # seconds for the child to accept connections
STOP_TIMEOUT: Final = 5.0  # seconds between SIGTERM and SIGKILL
DELIVERY_LINGER: Final = 0.25
"""Seconds a run's embedded broker is left running after the run's last message (its
retained offline status): a broker told to stop drops what it has taken in but not yet
written out to its subscribers, so a `billsim tail` would miss the server going offline
(seen on a loaded machine)."""
_PORT_ATTEMPTS: Final = 3  # a free port can be taken between choosing it and the bind

# The load tuning of queue/mosquitto.conf (why each: see there). tests/adapters/test_broker.py
# checks that the two agree.
MOSQUITTO_LOAD_SETTINGS: Final[tuple[tuple[str, str], ...]] = (
    ("max_inflight_messages", "1000"),
    ("max_queued_messages", "100000"),
    ("max_queued_bytes", "0"),
    ("set_tcp_nodelay", "true"),
)

_SBIN_DIRS: Final = ("/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin")
_BIN_DIRS: Final = ("/usr/bin", "/usr/local/bin", "/opt/homebrew/bin")
_AMQTT_READY: Final = "billsim-amqtt: ready"
_MOSQUITTO_READY = re.compile(r"mosquitto version (\S+) running")
_IN_USE = re.compile(r"address already in use", re.IGNORECASE)

Prefer = Literal["auto", "mosquitto", "amqtt"]


class BrokerStartError(BillsimError):
    """The embedded broker could not be started; the message says why and what to install."""


def _find_program(name: str, extra_dirs: Sequence[str]) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in extra_dirs:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_mosquitto() -> str | None:
    """The `mosquitto` binary: on PATH, else in an sbin directory (Debian puts it there)."""
    return _find_program("mosquitto", _SBIN_DIRS)


def find_mosquitto_sub() -> str | None:
    return _find_program("mosquitto_sub", _BIN_DIRS)


def amqtt_available() -> bool:
    return importlib.util.find_spec("amqtt") is not None


def port_is_free(host: str, port: int) -> bool:
    """Whether a listener could bind host:port now (SO_REUSEADDR, as brokers bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port no one listens on now: the kernel's pick for a bind to port 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def mosquitto_config(host: str, port: int) -> str:
    """The embedded mosquitto's config: one loopback listener, the load tuning, no disk."""
    lines = [
        "# Generated by billsim (simulator/adapters/broker.py) for its embedded broker.",
        f"listener {port} {host}",
        "allow_anonymous true",
        "persistence false",
        *(f"{key} {value}" for key, value in MOSQUITTO_LOAD_SETTINGS),
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",  # "running" is an information line: the ready signal
        "connection_messages false",
    ]
    return "\n".join(lines) + "\n"


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec_fn that asks Linux to SIGTERM the child when its parent thread dies."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)

    return preexec


class EmbeddedBroker:
    """A broker child process billsim started, listening on `host:port`."""

    def __init__(
        self,
        *,
        kind: str,
        host: str,
        port: int,
        mqtt_version: str,
        version: str,
        process: asyncio.subprocess.Process,
        workdir: Path,
        log: EventLog | None = None,
    ) -> None:
        self.kind = kind  # "mosquitto" or "amqtt"
        self.host = host
        self.port = port
        self.mqtt_version = mqtt_version  # "5" or "3.1.1": the newest the broker speaks
        self.version = version  # the broker's own version, e.g. "2.0.11"
        self.process = process
        self.workdir = workdir  # the config and the log; removed by stop()
        self._log = log
        self._stopped = False

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def subscribe_command(self, server_cn: str) -> str:
        """A command to paste into another terminal to watch the server's topics."""
        topic = subscription_topic(server_cn)
        if find_mosquitto_sub() is not None:
            return f"mosquitto_sub -h {self.host} -p {self.port} -t {shlex.quote(topic)} -v"
        return self.tail_command(server_cn)

    def tail_command(self, server_cn: str | None = None) -> str:
        """`billsim tail` for this broker: frames decoded, one line each."""
        command = f"billsim tail --broker {self.url}"
        if server_cn:
            command += f" --server {shlex.quote(server_cn)}"
        return command

    async def stop(self, timeout: float = STOP_TIMEOUT, linger: float = 0.0) -> int | None:
        """SIGTERM the broker, SIGKILL it after `timeout` s; its exit code. Safe to repeat.
        `linger`: seconds to leave it running first, for its subscribers to get what it
        has taken in."""
        if self._stopped:
            return self.process.returncode
        if linger > 0 and self.process.returncode is None:
            try:
                await asyncio.sleep(linger)
            except asyncio.CancelledError:
                await self.stop(timeout)  # cut short (a second Ctrl-C): stopped all the same
                raise
        self._stopped = True
        process = self.process
        try:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), timeout)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self._log is not None:
            self._log.info(
                "embedded broker stopped",
                broker=self.kind,
                pid=process.pid,
                code=process.returncode,
            )
        return process.returncode

    async def __aenter__(self) -> EmbeddedBroker:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self.process.returncode}"
        return f"<EmbeddedBroker {self.kind} {self.url} pid {self.pid} {state}>"


async def start_embedded_broker(
    *,
    host: str = DEFAULT_HOST,
    preferred_port: int = DEFAULT_PORT,
    log: EventLog | None = None,
    prefer: Prefer = "auto",
    start_timeout: float = START_TIMEOUT,
) -> EmbeddedBroker:
    """Start a broker child process listening on host:preferred_port, or a free port.

    `prefer`: "auto" takes mosquitto when it is installed, else amqtt; "mosquitto" or
    "amqtt" insist on one. `log` is an `EventLog` (adapters/logs.py), a structlog logger say.
    Raises BrokerStartError naming the cause (and what to install) if none can start.
    """
    mosquitto = find_mosquitto() if prefer in ("auto", "mosquitto") else None
    if mosquitto is None:
        if prefer == "mosquitto":
            raise BrokerStartError(
                "no mosquitto binary on PATH or in /usr/sbin: install mosquitto "
                "(apt-get install mosquitto, brew install mosquitto)"
            )
        if not amqtt_available():
            if prefer == "amqtt":
                raise BrokerStartError(
                    f"amqtt is not installed for {sys.executable}: pip install amqtt"
                )
            raise BrokerStartError(
                "no broker to embed: install mosquitto (apt-get install mosquitto) or "
                "amqtt (pip install amqtt), or give --broker mqtt://HOST:PORT"
            )
    port = preferred_port
    if not port_is_free(host, port):
        port = free_port(host)
        if log is not None:
            log.info("port taken, embedded broker uses a free one", taken=preferred_port, port=port)
    for attempt in range(_PORT_ATTEMPTS):
        try:
            if mosquitto is not None:
                return await _start_mosquitto(mosquitto, host, port, start_timeout, log)
            return await _start_amqtt(host, port, start_timeout, log)
        except _PortInUseError:
            if attempt == _PORT_ATTEMPTS - 1:
                raise BrokerStartError(
                    f"the embedded broker found {_PORT_ATTEMPTS} free ports taken by the "
                    "time it bound them"
                ) from None
            port = free_port(host)
    raise AssertionError("unreachable")  # pragma: no cover


class _PortInUseError(Exception):
    """The child could not bind its port: someone took it after it was chosen."""


def _unprivileged_user() -> tuple[int, int] | None:
    """(uid, gid) for a broker started by root: `mosquitto`, else `nobody`; None if not root.

    Mosquitto started as root switches to the `mosquitto` user itself, and that change of
    credentials clears PR_SET_PDEATHSIG. So billsim switches first (Popen's user/group run
    before the preexec_fn that sets it), and mosquitto, not root, keeps the setting.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd  # noqa: PLC0415 - POSIX only

    for name in ("mosquitto", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    return None


async def _spawn(
    argv: list[str], workdir: Path, log_file: Path, *, drop_root: bool = False
) -> asyncio.subprocess.Process:
    credentials: dict[str, Any] = {}
    user = _unprivileged_user() if drop_root else None
    if user is not None:
        uid, gid = user
        for path in (workdir, *workdir.iterdir()):
            os.chown(path, uid, gid)
        credentials = {"user": uid, "group": gid, "extra_groups": []}
    with open(log_file, "wb") as out:  # the child keeps its own descriptor
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            cwd=workdir,
            start_new_session=True,  # Ctrl-C in the terminal is billsim's to handle, not ours
            preexec_fn=_parent_death_signal(),  # prctl only: safe after fork
            **credentials,
        )


async def _wait_ready(
    process: asyncio.subprocess.Process,
    *,
    host: str,
    port: int,
    log_file: Path,
    ready: Callable[[str], str | None],
    what: str,
    timeout: float,
) -> str:
    """Wait until the child says it is ready and accepts a TCP connection; its version.

    Raises _PortInUseError if it died because the port was taken, BrokerStartError if it
    died otherwise or did not get ready within `timeout`: with its output.
    """
    deadline = time.monotonic() + timeout
    version: str | None = None
    while True:
        exited = process.returncode is not None
        text = log_file.read_text(errors="replace")  # after the exit check: all of it
        if exited:
            if _IN_USE.search(text):
                raise _PortInUseError
            raise BrokerStartError(
                f"{what} exited with code {process.returncode} before accepting connections"
                + _output_tail(text)
            )
        if version is None:
            version = ready(text)
        if version is not None and await _accepts(host, port):
            return version
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise BrokerStartError(
                f"{what} did not accept connections on {host}:{port} within {timeout:g} s"
                + _output_tail(log_file.read_text(errors="replace"))
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 0.05)


async def _accepts(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _output_tail(text: str, lines: int = 15) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    if not kept:
        return " (it wrote nothing)"
    return ":\n" + "\n".join(f"    {line}" for line in kept)


async def _start_mosquitto(
    binary: str, host: str, port: int, timeout: float, log: EventLog | None
) -> EmbeddedBroker:
    workdir = Path(tempfile.mkdtemp(prefix="billsim-mosquitto-"))
    try:
        config = workdir / "mosquitto.conf"
        config.write_text(mosquitto_config(host, port))
        log_file = workdir / "mosquitto.log"
        process = await _spawn([binary, "-c", str(config)], workdir, log_file, drop_root=True)
        try:
            version = await _wait_ready(
                process,
                host=host,
                port=port,
                log_file=log_file,
                ready=_mosquitto_ready,
                what=f"mosquitto ({binary})",
                timeout=timeout,
            )
        except BaseException:
            await _reap(process)
            raise
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    broker = EmbeddedBroker(
        kind="mosquitto",
        host=host,
        port=port,
        mqtt_version="5" if _version_tuple(version) >= (1, 6) else "3.1.1",
        version=version,
        process=process,
        workdir=workdir,
        log=log,
    )
    _log_started(broker, log)
    return broker


def _mosquitto_ready(text: str) -> str | None:
    match = _MOSQUITTO_READY.search(text)
    return match.group(1) if match else None


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


# `python -m simulator.adapters.broker`, but importing the very package this process runs (from a
# checkout on PYTHONPATH or an install alike), whatever the child's working directory.
_PACKAGE_ROOT: Final = str(Path(__file__).resolve().parents[2])
_AMQTT_CHILD: Final = (
    "import sys\n"
    f"root = {_PACKAGE_ROOT!r}\n"
    "if root not in sys.path:\n"
    "    sys.path.insert(0, root)\n"
    "from simulator.adapters.broker import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


async def _start_amqtt(
    host: str, port: int, timeout: float, log: EventLog | None
) -> EmbeddedBroker:
    workdir = Path(tempfile.mkdtemp(prefix="billsim-amqtt-"))
    try:
        log_file = workdir / "amqtt.log"
        argv = [sys.executable, "-c", _AMQTT_CHILD, "--amqtt", str(port), "--host", host]
        process = await _spawn(argv, workdir, log_file)
        try:
            version = await _wait_ready(
                process,
                host=host,
                port=port,
                log_file=log_file,
                ready=_amqtt_ready,
                what="the amqtt broker",
                timeout=timeout,
            )
        except BaseException:
            await _reap(process)
            raise
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    broker = EmbeddedBroker(
        kind="amqtt",
        host=host,
        port=port,
        mqtt_version="3.1.1",
        version=version,
        process=process,
        workdir=workdir,
        log=log,
    )
    _log_started(broker, log)
    return broker


def _amqtt_ready(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith(_AMQTT_READY):
            return line.rsplit(" ", 1)[-1]
    return None


async def _reap(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    await process.wait()


def _log_started(broker: EmbeddedBroker, log: EventLog | None) -> None:
    if log is not None:
        log.info(
            "embedded broker started",
            broker=broker.kind,
            version=broker.version,
            url=broker.url,
            mqtt=broker.mqtt_version,
            pid=broker.pid,
        )


# --- The amqtt child: `python -m simulator.adapters.broker --amqtt PORT [--host HOST]` ---


async def _serve_amqtt(host: str, port: int) -> int:
    import logging  # noqa: PLC0415 - the child's imports only

    from amqtt import __version__ as amqtt_version  # noqa: PLC0415
    from amqtt.broker import Broker  # noqa: PLC0415
    from amqtt.errors import BrokerError  # noqa: PLC0415

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("transitions").setLevel(logging.ERROR)
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        # Only anonymous access: no $SYS publisher and no packet logger, which cost time.
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    broker = Broker(config)
    try:
        await broker.start()
    except BrokerError as error:
        print(f"billsim-amqtt: cannot start: {error}", file=sys.stderr, flush=True)
        cause = error.__cause__
        in_use = isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE
        return 98 if in_use else 1
    print(f"{_AMQTT_READY} on {host}:{port} amqtt {amqtt_version}", flush=True)
    await stop.wait()
    await broker.shutdown()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.adapters.broker",
        description="billsim's embedded amqtt broker (MQTT 3.1.1), run as a child process.",
    )
    parser.add_argument("--amqtt", type=int, required=True, metavar="PORT")
    parser.add_argument("--host", default=DEFAULT_HOST)
    args = parser.parse_args(argv)
    if not amqtt_available():
        print(
            "billsim-amqtt: amqtt is not installed: pip install amqtt (or install mosquitto)",
            file=sys.stderr,
        )
        return 1
    return asyncio.run(_serve_amqtt(args.host, args.amqtt))


if __name__ == "__main__":
    sys.exit(main())
