"""Feed health on the bus: the heartbeat and feed_status messages are built by the protocol module."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from infra.bus import InMemoryBus
from infra.feed_status import MemoryFeedStatusStore
from protocol.bus import CONTROL_HEARTBEAT, HEARTBEAT_PERIOD_SECONDS, parse_bus_message
from protocol.channels import FEED_CHANNEL, HEARTBEAT_CHANNEL
from protocol.client import FEED_STATUS
from tasks.feed_events import publish_feed_status, publish_heartbeat, record_status
from tasks.market_data import QuoteResult
from tasks.pipeline import BatchResult


def test_publish_heartbeat_on_the_heartbeat_channel() -> None:
    bus = InMemoryBus()
    listener = bus.listener()
    listener.subscribe(HEARTBEAT_CHANNEL)
    assert publish_heartbeat(bus, "feed-worker") == 1
    message = listener.get(timeout=1)
    assert message is not None and message.channel == HEARTBEAT_CHANNEL
    payload = parse_bus_message(message.data)
    assert payload.type == CONTROL_HEARTBEAT and payload.data["source"] == "feed-worker"
    assert payload.data["period"] == HEARTBEAT_PERIOD_SECONDS and payload.published_at is not None


def test_feed_status_on_the_feed_channel() -> None:
    bus = InMemoryBus()
    listener = bus.listener()
    listener.subscribe(FEED_CHANNEL)
    publish_feed_status(bus, "stale", "no fresh quote for 90s")
    message = listener.get(timeout=1)
    assert message is not None
    payload = parse_bus_message(message.data)
    assert payload.type == FEED_STATUS
    assert payload.data == {"status": "stale", "message": "no fresh quote for 90s", "source": None}


class _Manager:
    def source_stats(self) -> dict[str, Any]:
        return {}


def test_last_update_ends_in_z() -> None:
    store = MemoryFeedStatusStore()
    quote = QuoteResult(symbol="AAPL", success=True, price=Decimal("1"))
    batch = BatchResult(symbols=["AAPL"], results={"AAPL": quote})
    record_status(store, _Manager(), batch, None)  # type: ignore[arg-type]
    last_update = store.read()["last_update"]
    assert last_update.endswith("Z") and "+00:00" not in last_update
