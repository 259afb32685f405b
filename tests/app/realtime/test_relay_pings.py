"""The ping schedule: at most one ping per heartbeat interval per socket, closed only when a pong is overdue."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from app.realtime.pings import PingSchedule
from app.realtime.relay import Relay

INTERVAL, TIMEOUT = 25.0, 10.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeConnection:
    """Records its pings; answers them when the test says so."""

    def __init__(self, connection_id: str, clock: Clock) -> None:
        self.id = connection_id
        self.clock = clock
        self.pings: list[float] = []
        self.answered = True
        self.closed_at: float | None = None

    def send_ping(self) -> bool:
        self.pings.append(self.clock.now)
        self.answered = False
        return self.closed_at is None

    def pong_received(self) -> bool:
        return self.answered

    def close_no_pong(self) -> None:
        self.closed_at = self.clock.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def schedule_with(clock: Clock, *connections: FakeConnection, jitter: float = 1.0) -> PingSchedule:
    schedule = PingSchedule(INTERVAL, TIMEOUT, clock=clock, jitter=lambda: jitter)
    for connection in connections:
        schedule.add(connection.id)
    return schedule


def run(schedule: PingSchedule, clock: Clock, connections: dict[str, FakeConnection], until: float,
        answer_after: float | None = 0.0) -> None:
    """Tick once a second until `until`; each ping is answered `answer_after` s after it was sent (None: never)."""
    while clock.now < until:
        clock.now += 1.0
        for connection in connections.values():
            if answer_after is not None and connection.pings and clock.now - connection.pings[-1] >= answer_after:
                connection.answered = True
        list(schedule.run_due(connections.get))


def test_a_lone_socket_is_pinged_once_per_interval_not_once_per_tick(clock: Clock) -> None:
    connection = FakeConnection("a", clock)
    schedule = schedule_with(clock, connection)
    run(schedule, clock, {"a": connection}, until=clock.now + 10 * INTERVAL)
    gaps = [later - earlier for earlier, later in zip(connection.pings, connection.pings[1:], strict=False)]
    assert len(connection.pings) >= 9 and all(gap >= INTERVAL for gap in gaps)
    assert connection.closed_at is None


def test_a_pong_late_by_less_than_the_timeout_keeps_the_socket(clock: Clock) -> None:
    connection = FakeConnection("a", clock)
    schedule = schedule_with(clock, connection)
    run(schedule, clock, {"a": connection}, until=clock.now + 5 * INTERVAL, answer_after=TIMEOUT - 1)
    assert len(connection.pings) >= 4 and connection.closed_at is None


def test_a_pong_overdue_by_the_timeout_closes(clock: Clock) -> None:
    connection = FakeConnection("a", clock)
    schedule = schedule_with(clock, connection)
    run(schedule, clock, {"a": connection}, until=clock.now + 3 * INTERVAL, answer_after=None)
    assert len(connection.pings) == 1 and connection.closed_at == connection.pings[0] + TIMEOUT
    assert len(schedule) == 0


def test_first_pings_are_spread_over_half_an_interval(clock: Clock) -> None:
    schedule = PingSchedule(INTERVAL, TIMEOUT, clock=clock, jitter=iter([0.0, 0.5, 1.0]).__next__)
    connections = {name: FakeConnection(name, clock) for name in "abc"}
    for name in connections:
        schedule.add(name)
    start = clock.now
    run(schedule, clock, connections, until=start + INTERVAL)
    assert [connections[name].pings[0] - start for name in "abc"] == [13.0, 19.0, 25.0]  # ticks of 1 s


def test_an_ended_socket_leaves_the_schedule(clock: Clock) -> None:
    kept, gone = FakeConnection("kept", clock), FakeConnection("gone", clock)
    schedule = schedule_with(clock, kept, gone)
    run(schedule, clock, {"kept": kept}, until=clock.now + 2 * INTERVAL)
    assert gone.pings == [] and len(schedule) == 1 and len(kept.pings) >= 2


@pytest.fixture
def relay(app: Flask) -> Iterator[Relay]:
    created = Relay(app)
    yield created
    created.stats.stop()


def test_the_relay_reads_the_heartbeat_and_pong_timeout_settings(app: Flask, relay: Relay) -> None:
    assert relay.pings.interval == app.config["WEBSOCKET_HEARTBEAT_INTERVAL"] == 25
    assert relay.pings.pong_timeout == app.config["WEBSOCKET_PONG_TIMEOUT"] == 10
