"""How `tail`'s subscriber and the add-in's consumer connect to a broker: MQTT 5 first,
else MQTT 3.1.1, one attempt after another until a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from gmqtt import MQTTConnectError

from simulator.adapters.mqtt import gmqtt_glue as glue
from simulator.adapters.mqtt.url import BrokerUrl, connect_failure
from simulator.errors import BillsimError

# Seconds between attempts while the broker is not there.
RETRY_INTERVAL = 1.0
# One attempt's wait for the CONNACK, and the keepalive asked for.
CONNECT_TIMEOUT = 5.0
KEEPALIVE = 30


async def connect_either_version(
    new_client: Callable[[int], Any],
    url: BrokerUrl,
    tls: ssl.SSLContext | None,
    error: type[BillsimError],
    first: int = glue.MQTT_V5,
) -> tuple[Any, int]:
    """A client connected to `url` and its protocol version: MQTT 5 first; a broker that
    refuses MQTT 5 (CONNACK 0x01: NATS) or closes the connection on its CONNECT (RabbitMQ
    before 3.13) gets MQTT 3.1.1 from a fresh client (`new_client(version)`). With `first`
    MQTT 3.1.1 (`--mqtt-version 3.1.1`) only that is tried: no MQTT 5 CONNECT for a broker
    to log as garbage (RabbitMQ logs an error report for each). Raises `error` for a
    refused login, TimeoutError when no CONNACK comes, OSError as the socket fails or the
    broker closes a 3.1.1 login too."""
    versions = (glue.MQTT_V5, glue.MQTT_V311) if first == glue.MQTT_V5 else (glue.MQTT_V311,)
    for version in versions:
        client = new_client(version)
        connect = asyncio.ensure_future(
            client.connect(
                url.host,
                url.port,
                ssl=tls if tls is not None else False,
                keepalive=KEEPALIVE,
                version=version,
            )
        )
        refused = asyncio.ensure_future(client.refused_v5.wait())
        closed = asyncio.ensure_future(client.lost.wait())
        try:
            done, _ = await asyncio.wait(
                {connect, refused, closed},
                timeout=CONNECT_TIMEOUT,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            refused.cancel()
            closed.cancel()
        if connect in done:
            failure = connect.exception()
            if failure is None:
                return client, version
            glue.drop(client)
            if isinstance(failure, MQTTConnectError):
                raise error(f"{url} refused the connection: {glue.connack_text(failure)}")
            raise failure
        connect.cancel()
        with contextlib.suppress(BaseException):
            await connect
        glue.drop(client)
        if version == glue.MQTT_V5 and (refused in done or closed in done):
            continue
        if closed in done:
            raise ConnectionResetError("the broker closed the connection during login")
        raise TimeoutError(f"no CONNACK within {CONNECT_TIMEOUT:g} s")
    raise AssertionError("unreachable")  # pragma: no cover


async def connect_until(
    connect_once: Callable[[], Awaitable[None]],
    url: BrokerUrl,
    *,
    deadline: float | None,
    stop: asyncio.Event,
    on_waiting: Callable[[str], None],
    error: type[BillsimError],
    waited: float | None = None,
) -> bool:
    """`connect_once` again every RETRY_INTERVAL s until it succeeds (True), `stop` is set
    (False) or `deadline` (`time.monotonic()`; None: without end) passes. `on_waiting`
    hears the reason once, at the first failure. Raises `error` naming the broker and the
    reason when the deadline passes or TLS fails (waiting does not mend a certificate);
    `waited`: the seconds the deadline allowed, for that message."""
    said = False
    while not stop.is_set():
        try:
            await connect_once()
            return True
        except (OSError, TimeoutError) as failure:
            reason = connect_failure(failure)
            if isinstance(failure, ssl.SSLError):
                raise error(f"cannot connect to the broker {url}: {reason}") from None
            if deadline is not None and time.monotonic() >= deadline:
                within = f" within {waited:g} s" if waited is not None else ""
                raise error(f"cannot connect to the broker {url}{within}: {reason}") from None
            if not said:
                on_waiting(reason)
                said = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RETRY_INTERVAL)
    return False


class BrokerClient:
    """What `tail`'s subscriber and the add-in's consumer share: the broker and its TLS,
    the protocol the connection speaks, and connecting as `connect_until` and
    `connect_either_version` do. A subclass makes its gmqtt client (`_new_client`) and
    names the error it raises (`connection_error`)."""

    connection_error: ClassVar[type[BillsimError]] = BillsimError

    def __init__(self, url: BrokerUrl, tls: ssl.SSLContext | None, mqtt_version: str = "5") -> None:
        if mqtt_version not in ("5", "3.1.1"):
            raise ValueError(f"MQTT version 5 or 3.1.1, not {mqtt_version!r}")
        self.url = url
        self.tls = tls
        # "5": MQTT 5, else 3.1.1 if the broker will not have it; "3.1.1": 3.1.1 only.
        self._first = glue.MQTT_V5 if mqtt_version == "5" else glue.MQTT_V311
        self._client: Any = None
        self.version: int | None = None

    @property
    def protocol(self) -> str:
        """ "MQTT 5" or "MQTT 3.1.1", as the current connection speaks."""
        return "MQTT 5" if self.version == glue.MQTT_V5 else "MQTT 3.1.1"

    async def connect(
        self,
        *,
        deadline: float | None,
        stop: asyncio.Event,
        on_waiting: Callable[[str], None],
        waited: float | None = None,
    ) -> bool:
        """Connect as `connect_until` does; `connection_error` when it cannot, or when
        the broker refuses the login."""
        return await connect_until(
            self._connect_once,
            self.url,
            deadline=deadline,
            stop=stop,
            on_waiting=on_waiting,
            error=self.connection_error,
            waited=waited,
        )

    async def _connect_once(self) -> None:
        self._client, self.version = await connect_either_version(
            self._new_client, self.url, self.tls, self.connection_error, self._first
        )

    def _new_client(self, version: int) -> Any:
        raise NotImplementedError
