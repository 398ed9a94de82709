"""Connecting until a deadline, without a broker: attempts, the one waiting message, the
errors that end the wait (the version fallback is tested against brokers in test_subscriber.py
and commands/test_mqtt311.py)."""

from __future__ import annotations

import asyncio
import ssl
import time

import pytest

from simulator.adapters.mqtt import connecting
from simulator.adapters.mqtt.connecting import connect_until
from simulator.adapters.mqtt.url import parse_broker_url
from simulator.errors import BillsimError

URL = parse_broker_url("mqtt://127.0.0.1:9", env={})


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connecting, "RETRY_INTERVAL", 0.01)


class Attempts:
    """A connect_once that fails with each of `failures` in turn, then succeeds."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


async def test_it_tries_again_until_it_connects_saying_why_it_waits_once() -> None:
    attempts = Attempts(ConnectionRefusedError(), ConnectionRefusedError(), TimeoutError())
    heard: list[str] = []
    connected = await connect_until(
        attempts, URL, deadline=None, stop=asyncio.Event(), on_waiting=heard.append,
        error=BillsimError,
    )  # fmt: skip
    assert connected
    assert attempts.calls == 4
    assert heard == ["connection refused"]


async def test_a_deadline_ends_the_wait_naming_the_broker_the_time_and_the_reason() -> None:
    attempts = Attempts(*[ConnectionRefusedError()] * 1000)
    with pytest.raises(BillsimError) as info:
        await connect_until(
            attempts, URL, deadline=time.monotonic() + 0.05, stop=asyncio.Event(),
            on_waiting=lambda _reason: None, error=BillsimError, waited=0.05,
        )  # fmt: skip
    assert str(info.value) == (
        "cannot connect to the broker mqtt://127.0.0.1:9 within 0.05 s: connection refused"
    )
    assert 1 < attempts.calls < 1000


async def test_a_tls_failure_is_not_waited_on() -> None:
    attempts = Attempts(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"))
    with pytest.raises(BillsimError) as info:
        await connect_until(
            attempts, URL, deadline=None, stop=asyncio.Event(),
            on_waiting=lambda _reason: pytest.fail("a TLS failure is not waited on"),
            error=BillsimError,
        )  # fmt: skip
    assert str(info.value) == (
        "cannot connect to the broker mqtt://127.0.0.1:9: "
        "[SSL: WRONG_VERSION_NUMBER] wrong version number"
    )
    assert attempts.calls == 1


async def test_a_stop_ends_the_wait_without_an_error() -> None:
    stop = asyncio.Event()
    attempts = Attempts(*[ConnectionRefusedError()] * 1000)
    asyncio.get_running_loop().call_later(0.05, stop.set)
    connected = await connect_until(
        attempts, URL, deadline=None, stop=stop, on_waiting=lambda _reason: None,
        error=BillsimError,
    )  # fmt: skip
    assert not connected
    assert attempts.calls < 1000
