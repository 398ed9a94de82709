"""The subscriber's plumbing without a broker: the servers seen online, and a subscription
held across lost connections (`tail` and `record` use both; their tests use a broker)."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from simulator.adapters.mqtt.subscriber import (
    ServersOnline,
    Subscriber,
    SubscriberError,
    hold_subscription,
    message_property,
    user_properties,
)
from simulator.adapters.mqtt.topics import STATUS_OFFLINE, STATUS_ONLINE


def test_a_run_ends_when_the_last_server_seen_online_goes_offline_live() -> None:
    servers = ServersOnline()
    assert not servers.status("Mail01", STATUS_OFFLINE, retained=True)  # an old run's
    assert not servers.status("Mail01", STATUS_ONLINE, retained=True)  # retained online counts
    assert not servers.status("Mail02", STATUS_ONLINE, retained=False)
    assert not servers.status("Mail03", STATUS_OFFLINE, retained=False)  # never seen online
    assert not servers.status("Mail01", STATUS_OFFLINE, retained=False)
    assert not servers.status("Mail02", STATUS_OFFLINE, retained=True)  # not live
    assert servers.status("Mail02", STATUS_OFFLINE, retained=False)
    assert servers.online == set()


def test_properties_as_gmqtt_gives_them() -> None:
    properties = {"retain": [1], "content_type": [], "user_property": [("seq", 7), ("x",)]}
    assert message_property(properties, "retain") == 1
    assert message_property(properties, "content_type") is None
    assert message_property({"retain": 0}, "retain") == 0
    assert user_properties(properties) == {"seq": "7"}
    assert user_properties({}) == {}


class FakeSubscriber:
    """Connects at once; loses its connection `losses` times, then is stopped (Ctrl-C)."""

    def __init__(self, losses: int, *, refuse: bool = False) -> None:
        self.losses = losses
        self.refuse = refuse
        self.calls: list[str] = []
        self.deadlines: list[float | None] = []

    async def connect(self, *, deadline: float | None, stop: asyncio.Event, **_: object) -> bool:
        self.deadlines.append(deadline)
        self.calls.append("connect")
        return not stop.is_set()

    async def subscribe(self, topic: str) -> None:
        self.calls.append(f"subscribe {topic}")
        if self.refuse:
            raise SubscriberError("refused")

    async def until_lost(self, stop: asyncio.Event) -> bool:
        if self.losses:
            self.losses -= 1
            return True
        stop.set()
        return False

    async def disconnect(self, timeout: float) -> None:
        self.calls.append(f"disconnect {timeout:g}")


async def hold(fake: FakeSubscriber, stop: asyncio.Event, events: list[str]) -> None:
    await hold_subscription(
        cast(Subscriber, fake),
        "domino/billing/+/#",
        stop,
        deadline=123.0,
        waited=5,
        on_waiting=lambda why: events.append(f"waiting {why}"),
        on_subscribed=lambda: events.append("subscribed"),
        on_lost=lambda: events.append("lost"),
    )


def test_a_lost_connection_is_made_again_without_a_deadline_until_stopped() -> None:
    fake, events = FakeSubscriber(losses=2), list[str]()
    asyncio.run(hold(fake, asyncio.Event(), events))
    assert events == ["subscribed", "lost", "subscribed", "lost", "subscribed"]
    assert fake.deadlines == [123.0, None, None]  # only the first connection has a deadline
    assert fake.calls[-1] == "disconnect 2"  # stopped: a goodbye
    assert fake.calls.count("disconnect 1") == 2  # after each loss


def test_a_stop_before_connecting_and_a_refused_subscription() -> None:
    async def stopped() -> list[str]:
        stop, events = asyncio.Event(), list[str]()
        stop.set()
        fake = FakeSubscriber(losses=0)
        await hold(fake, stop, events)
        return fake.calls + events

    assert asyncio.run(stopped()) == []

    async def refused() -> None:
        await hold(FakeSubscriber(losses=0, refuse=True), asyncio.Event(), [])

    with pytest.raises(SubscriberError):
        asyncio.run(refused())
