"""The same publish/subscribe tests against the in-process bus and real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.bus import Bus, BusMessage, InMemoryBus, RedisBus, create_bus
from tests.support.services import wait_for


@pytest.fixture(params=["memory", "redis"])
def bus(request: pytest.FixtureRequest) -> Iterator[Bus]:
    if request.param == "memory":
        created: Bus = InMemoryBus()
    else:
        url = request.getfixturevalue("redis_server_url")
        created = RedisBus(url, prefix=request.getfixturevalue("redis_prefix"))
    yield created
    created.close()


def receive(listener, count: int) -> list[BusMessage]:  # type: ignore[no-untyped-def]
    got: list[BusMessage] = []

    def more() -> bool:
        message = listener.get(timeout=0.05)
        if message is not None:
            got.append(message)
        return len(got) >= count

    wait_for(more, timeout=5, message=f"{count} messages")
    return got


def subscribed(bus: Bus, *channels: str):  # type: ignore[no-untyped-def]
    listener = bus.listener()
    listener.subscribe(*channels)
    # Redis confirms subscriptions asynchronously: publish until the first probe arrives.
    wait_for(lambda: bus.publish(channels[0], "probe") > 0, timeout=5, message="subscription")
    receive(listener, 1)
    return listener


def test_delivers_in_order_to_subscribers_only(bus: Bus) -> None:
    listener = subscribed(bus, "asset:AAPL")
    for index in range(5):
        bus.publish("asset:AAPL", f"m{index}")
    bus.publish("asset:MSFT", "other")
    got = receive(listener, 5)
    assert [m.data for m in got] == [f"m{i}" for i in range(5)]
    assert {m.channel for m in got} == {"asset:AAPL"}
    assert listener.get(timeout=0.1) is None
    listener.close()


def test_every_listener_gets_a_copy(bus: Bus) -> None:
    first, second = subscribed(bus, "feed"), subscribed(bus, "feed")
    receive(first, 1)  # the second listener's probe reached the first too
    bus.publish("feed", "hello")
    assert receive(first, 1)[0].data == "hello"
    assert receive(second, 1)[0].data == "hello"


def test_unsubscribe_stops_delivery(bus: Bus) -> None:
    listener = subscribed(bus, "asset:AAPL", "asset:MSFT")
    listener.unsubscribe("asset:AAPL")
    wait_for(lambda: bus.publish("asset:AAPL", "x") == 0, timeout=5, message="unsubscribe")
    bus.publish("asset:MSFT", "still")
    assert [m.data for m in receive(listener, 1)] == ["still"]


def test_publish_without_listeners_counts_zero(bus: Bus) -> None:
    assert bus.publish("nobody", "x") == 0
    assert bus.ping()


def test_factory_picks_backend(redis_server_url: str) -> None:
    assert isinstance(create_bus(None), InMemoryBus)
    assert isinstance(create_bus(redis_server_url), RedisBus)


def test_redis_keeps_a_capped_history_of_resumable_channels(redis_server_url: str, redis_prefix: str) -> None:
    bus = RedisBus(redis_server_url, redis_prefix, history=10)
    try:
        for index in range(500):
            bus.publish("asset:AAPL", f"m{index}")
        bus.publish("user:1", "not kept")
        assert bus.recent("asset:AAPL") == [f"m{index}" for index in range(490, 500)]
        assert bus.recent("user:1") == [] and bus.recent("asset:MSFT") == []
        assert 0 < bus.client.ttl(bus.history_key("asset:AAPL")) <= 86_400
    finally:
        bus.client.delete(bus.history_key("asset:AAPL"))
        bus.close()


def test_in_memory_bus_keeps_no_history() -> None:
    bus = InMemoryBus()
    bus.publish("asset:AAPL", "x")
    assert bus.recent("asset:AAPL") == []
