"""The relay's one ping timer: every socket pinged once per round, spread over the heartbeat interval."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import gevent
import pytest
from flask import Flask

from app.realtime import relay as relay_module
from app.realtime.connection import Connection, Identity
from app.realtime.relay import Relay

TICKS: list[float] = []  # every sleep of the ping loop: its length is the tick number


class CountingConnection(Connection):
    """Records at which tick it was asked to ping."""

    def __init__(self, user_id: int) -> None:
        super().__init__(Identity(user_id, "token"), queue_size=8, send_timeout=1)
        self.pinged_at: list[int] = []

    def heartbeat(self) -> None:
        self.pinged_at.append(len(TICKS))


@pytest.fixture
def relay(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Relay]:
    real_sleep = gevent.sleep

    def counted_sleep(seconds: float = 0) -> None:
        if seconds:
            TICKS.append(seconds)
        real_sleep(0.001)

    TICKS.clear()
    monkeypatch.setattr(relay_module.gevent, "sleep", counted_sleep)
    created = Relay(app)
    created.heartbeat_interval = 4.0  # four ticks of PING_TICK_SECONDS per round
    yield created
    created.stats.stop()


def run_until(condition: Callable[[], bool], relay: Relay, limit: int = 50) -> None:
    """Run the ping loop until `condition` holds (at most `limit` ticks)."""
    pinger = gevent.spawn(relay._ping_all)
    try:
        while not condition():
            assert len(TICKS) < limit, "the ping loop did not get there"
            gevent.get_hub().loop.update_now()
            gevent.idle()
    finally:
        pinger.kill()


def test_every_socket_is_pinged_once_per_round_a_few_per_tick(relay: Relay) -> None:
    connections = [CountingConnection(user_id) for user_id in range(1, 9)]
    for connection in connections:
        relay.connections[connection.id] = connection
    run_until(lambda: all(len(c.pinged_at) >= 2 for c in connections), relay)
    first_round = [c.pinged_at[0] for c in connections]
    assert sorted(first_round) == [1, 1, 2, 2, 3, 3, 4, 4]  # 8 sockets over 4 ticks: never all at once
    assert all(c.pinged_at[1] - c.pinged_at[0] == 4 for c in connections)  # once per round each


def test_a_socket_closed_during_a_round_is_not_pinged(relay: Relay) -> None:
    kept, gone = CountingConnection(1), CountingConnection(2)
    relay.connections[kept.id] = kept
    relay.connections[gone.id] = gone  # 2 sockets over 4 ticks: kept at tick 1, gone at tick 2

    def close_the_other() -> None:
        CountingConnection.heartbeat(kept)
        relay.connections.pop(gone.id, None)  # it closes after the round began

    kept.heartbeat = close_the_other  # type: ignore[method-assign]
    run_until(lambda: len(kept.pinged_at) >= 2, relay)
    assert gone.pinged_at == []
