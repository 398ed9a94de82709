"""Retrying a client's connection to a broker until a deadline: `tail`'s subscriber and
the add-in's consumer connect the same way."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable

from simulator.adapters.mqtt.url import BrokerUrl, connect_failure
from simulator.errors import BillsimError

# Seconds between attempts while the broker is not there.
RETRY_INTERVAL = 1.0


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
