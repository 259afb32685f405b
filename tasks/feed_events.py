"""Feed health on the bus: feed_status messages (failover, recovered, stale, ok) and the heartbeat.

Flags live in the status store, so when several workers notice the same change only one announces it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from infra.bus import Bus, BusError
from infra.feed_status import FeedStatusStore
from protocol.bus import (
    FEED_FAILOVER,
    FEED_OK,
    FEED_RECOVERED,
    FEED_STALE,
    HEARTBEAT_PERIOD_SECONDS,
    feed_status_message,
    heartbeat_message,
)
from protocol.channels import FEED_CHANNEL, HEARTBEAT_CHANNEL
from protocol.wire import iso
from tasks.market_data import DataSourceManager, FeedEvent

if TYPE_CHECKING:
    from tasks.pipeline import BatchResult

logger = logging.getLogger("pricewire.price_feed")

# How often the feed says it is alive on HEARTBEAT_CHANNEL (the relay expects this period).
HEARTBEAT_PERIOD = HEARTBEAT_PERIOD_SECONDS


def publish_feed_status(bus: Bus, status: str, message: str, source: str | None = None) -> None:
    """A feed_status message on the feed channel (failover, recovered, stale, ok)."""
    try:
        bus.publish(FEED_CHANNEL, feed_status_message(status, message, source))
    except BusError as exc:
        logger.warning("feed_status not published", extra={"status": status, "error": str(exc)})


def publish_heartbeat(bus: Bus, source: str) -> int:
    """One heartbeat on HEARTBEAT_CHANNEL; call it every HEARTBEAT_PERIOD seconds."""
    return bus.publish(HEARTBEAT_CHANNEL, heartbeat_message(source))


def announce_events(bus: Bus, store: FeedStatusStore, events: Iterable[FeedEvent]) -> None:
    """Publish failover/recovered once for the whole feed, whichever worker's manager noticed."""
    for event in events:
        if event.kind == FEED_FAILOVER and store.set_flag("failover", True):
            serving = event.active or "no other source"
            publish_feed_status(bus, FEED_FAILOVER, f"{event.primary} failing ({event.reason}); serving from {serving}",
                                event.active)
        elif event.kind == FEED_RECOVERED and store.set_flag("failover", False):
            publish_feed_status(bus, FEED_RECOVERED, f"{event.primary} is answering again", event.primary)


def check_stale(store: FeedStatusStore, bus: Bus, stale_after: float, tracking: bool) -> bool:
    """Flag (and announce once) a feed that has served no quote for `stale_after` seconds."""
    now = time.time()
    if not tracking:
        store.write(expecting_since=now)  # nothing to fetch is not staleness
        return False
    fields = store.read()
    last = max(float(fields.get("last_success_at") or 0), float(fields.get("expecting_since") or 0))
    if not last:
        store.write(expecting_since=now)
        return False
    if now - last <= stale_after:
        return False
    if store.set_flag("stale", True):
        publish_feed_status(bus, FEED_STALE, f"no fresh quote for {int(now - last)}s")
    return True


def record_status(store: FeedStatusStore, manager: DataSourceManager, batch: BatchResult, bus: Bus | None) -> None:
    """Failures, per-source counters, last update; announce recovery from staleness."""
    store.record_results([s for s in batch.results if s not in batch.failed], batch.failed)
    store.record_source_stats(manager.source_stats())
    if batch.successes:
        store.write(last_update=iso(datetime.now(UTC)), last_success_at=time.time())
        if bus is not None and store.set_flag("stale", False):
            publish_feed_status(bus, FEED_OK, "quotes are fresh again")
