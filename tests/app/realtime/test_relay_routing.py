"""Relay routing and Connection queueing without sockets: refcounts, fan-out, resume buffers, slow consumers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from app.realtime.connection import Connection, Identity
from app.realtime.limits import Subscription
from app.realtime.relay import Relay
from app.realtime.router import LINGER_SECONDS
from infra.bus import BusMessage
from protocol.bus import CONTROL_LOGOUT, bus_message
from protocol.channels import FEED_CHANNEL, HEARTBEAT_CHANNEL, asset_channel, user_channel
from protocol.wire import dumps


@pytest.fixture
def relay(app: Flask) -> Iterator[Relay]:
    created = Relay(app)  # never started: dispatch() is driven by hand
    yield created
    created.stats.stop()


def connection(user_id: int = 1, method: str = "token", queue_size: int = 16, send_timeout: float = 10) -> Connection:
    return Connection(Identity(user_id, method), queue_size=queue_size, send_timeout=send_timeout)


def frames(conn: Connection) -> list[dict[str, Any]]:
    out = []
    while (entry := conn.queue.get()) is not None:
        out.append({"kind": entry.kind} if not entry.text else json.loads(entry.text))
    return out


def subscribe(relay: Relay, conn: Connection, symbol: str, **options: Any) -> None:
    channel = asset_channel(symbol)
    subscription = Subscription(channel, "asset", symbol, **options)
    conn.subscriptions[channel] = subscription
    relay.subscribe(conn, channel)
    conn.start_subscription(subscription, [])


def publish(relay: Relay, symbol: str, seq: int, price: float = 1.0) -> None:
    data = {"symbol": symbol, "price": price, "seq": seq}
    relay.dispatch(BusMessage(asset_channel(symbol), bus_message("asset_update", data)))


def test_refcounted_channels_linger_then_go(relay: Relay) -> None:
    first, second = connection(1), connection(2)
    for conn in (first, second):
        relay.register(conn)
        subscribe(relay, conn, "AAPL")
    assert relay.wanted_channels() >= {FEED_CHANNEL, HEARTBEAT_CHANNEL, "asset:AAPL", "user:1", "user:2"}
    assert relay.requested > relay.applied  # the bus loop has work to do
    relay.listening({"asset:AAPL", "user:1", "user:2"}, set(), relay.requested)
    assert relay.applied == relay.requested and relay.subscribe(first, "asset:AAPL") == 0
    relay.unregister(first)
    assert relay.router.subscription_counts == {"asset": 1, "portfolio": 0}
    relay.unregister(second)
    assert relay.router.subscription_counts == {"asset": 0, "portfolio": 0}
    assert "asset:AAPL" in relay.wanted_channels()  # lingering for reconnecting clients
    relay.router.idle_since["asset:AAPL"] = time.monotonic() - LINGER_SECONDS - 1
    assert "asset:AAPL" not in relay.wanted_channels()


def test_one_frame_for_all_subscribers_and_buffered_for_resume(relay: Relay) -> None:
    a, b, other = connection(1), connection(2), connection(3)
    for conn in (a, b, other):
        relay.register(conn)
    subscribe(relay, a, "AAPL")
    subscribe(relay, b, "AAPL")
    subscribe(relay, other, "MSFT")
    relay.listening({"asset:AAPL", "asset:MSFT"}, set(), relay.requested)
    for seq in (1, 2, 3):
        publish(relay, "AAPL", seq)
    entry_a, entry_b = a.queue.peek(), b.queue.peek()
    assert entry_a is not None and entry_b is not None and entry_a.frame is entry_b.frame  # serialised once
    assert [m["data"]["seq"] for m in frames(a)] == [1, 2, 3]
    assert frames(other) == []
    replay = relay.replay("asset:AAPL", 1)
    assert replay is not None and [u.seq for u in replay] == [2, 3]
    assert relay.replay("asset:MSFT", 0) is None


def test_control_messages_never_reach_clients_and_logout_ends_sessions(relay: Relay) -> None:
    browser, script = connection(1, "session"), connection(1, "token")
    for conn in (browser, script):
        relay.register(conn)
    relay.dispatch(BusMessage(HEARTBEAT_CHANNEL, bus_message("_heartbeat", {"source": "w"})))
    relay.dispatch(BusMessage(user_channel(1), dumps({"type": CONTROL_LOGOUT, "data": {}})))
    assert browser.closing and browser.close_code == 4401
    assert [m.get("type", m.get("kind")) for m in frames(browser)] == ["error", "_close"]
    assert not script.closing and frames(script) == []
    assert relay.bus.last_worker_heartbeat is not None
    relay.dispatch(BusMessage(user_channel(1), bus_message("notification", {"message": "hi"})))
    assert frames(script)[0]["data"] == {"message": "hi"}


def test_bus_down_and_up_tell_every_socket(relay: Relay) -> None:
    conn = connection()
    relay.register(conn)
    relay.mark_down("test")
    relay.mark_down("still")  # said once
    assert relay.degraded_notice() is not None
    relay.mark_up()
    statuses = [m["data"]["status"] for m in frames(conn)]
    assert statuses == ["degraded", "recovered"]
    relay.dispatch(BusMessage(FEED_CHANNEL, bus_message("feed_status", {"status": "stale"})))
    assert relay.degraded_notice() is not None and frames(conn)[0]["data"]["status"] == "stale"


def test_garbage_on_the_bus_is_dropped(relay: Relay) -> None:
    conn = connection()
    relay.register(conn)
    subscribe(relay, conn, "AAPL")
    for text in ("not json", "[]", '{"type": 5}'):
        relay.dispatch(BusMessage("asset:AAPL", text))
    assert frames(conn) == []


def test_full_queue_conflates_then_closes_a_hopeless_socket() -> None:
    conn = connection(queue_size=8, send_timeout=0)
    conn.reply("pong", {})
    for seq in range(20):
        conn.push(f'{{"seq": {seq}}}', "asset_update", "asset:AAPL")
    assert conn.closing and conn.close_code == 4503
    kinds = [m.get("type", m.get("kind")) for m in frames(conn)]
    assert kinds == ["pong", "error", "_close"]  # queued updates dropped, the reply kept


def test_closing_keeps_replies_and_refuses_more() -> None:
    conn = connection()
    conn.reply("pong", {})
    conn.close(4408, "idle")
    assert not conn.push("{}", "asset_update", "asset:AAPL")
    conn.close(4401)  # only the first close counts
    out = frames(conn)
    assert [m.get("type", m.get("kind")) for m in out] == ["pong", "error", "_close"]
    assert out[1]["data"] == {"code": 4408, "message": "idle", "closing": True}
