"""Feed health on the bus: feed_status messages (failover, recovered, stale, ok) and the heartbeat.

Flags live in the status store, so when several workers notice the same change only one announces it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from models import messages
from models.bus import Bus, BusError
from models.feed_status import FeedStatusStore
from models.messages import CONTROL_HEARTBEAT, FEED_CHANNEL, FEED_STATUS, HEARTBEAT_CHANNEL, dumps
from tasks.market_data import DataSourceManager, FeedEvent

if TYPE_CHECKING:
    from tasks.pipeline import BatchResult

logger = logging.getLogger("pricewire.price_feed")

# How often the feed says it is alive on HEARTBEAT_CHANNEL (the web relay's period when it defines one).
HEARTBEAT_PERIOD: int = getattr(messages, "HEARTBEAT_PERIOD_SECONDS", 5)


def publish_feed_status(bus: Bus, status: str, message: str, source: str | None = None) -> None:
    """A feed_status message on the feed channel (failover, recovered, stale, ok)."""
    payload = {"type": FEED_STATUS, "data": {"status": status, "message": message, "source": source},
               "published_at": time.time()}
    try:
        bus.publish(FEED_CHANNEL, dumps(payload))
    except BusError as exc:
        logger.warning("feed_status not published", extra={"status": status, "error": str(exc)})


def publish_heartbeat(bus: Bus, source: str) -> None:
    """One heartbeat on HEARTBEAT_CHANNEL, through models.messages.publish_heartbeat when it exists."""
    helper = getattr(messages, "publish_heartbeat", None)
    if helper is not None:
        helper(bus, source)
    else:
        bus.publish(HEARTBEAT_CHANNEL, dumps({"type": CONTROL_HEARTBEAT, "data": {"at": time.time(), "source": source},
                                              "published_at": time.time()}))


def announce_events(bus: Bus, store: FeedStatusStore, events: Iterable[FeedEvent]) -> None:
    """Publish failover/recovered once for the whole feed, whichever worker's manager noticed."""
    for event in events:
        if event.kind == "failover" and store.set_flag("failover", True):
            serving = event.active or "no other source"
            publish_feed_status(bus, "failover", f"{event.primary} failing ({event.reason}); serving from {serving}",
                                event.active)
        elif event.kind == "recovered" and store.set_flag("failover", False):
            publish_feed_status(bus, "recovered", f"{event.primary} is answering again", event.primary)


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
        publish_feed_status(bus, "stale", f"no fresh quote for {int(now - last)}s")
    return True


def record_status(store: FeedStatusStore, manager: DataSourceManager, batch: BatchResult, bus: Bus | None) -> None:
    """Failures, per-source counters, last update; announce recovery from staleness."""
    store.record_results([s for s in batch.results if s not in batch.failed], batch.failed)
    store.record_source_stats(manager.source_stats())
    if batch.successes:
        store.write(last_update=datetime.now(UTC).isoformat(), last_success_at=time.time())
        if bus is not None and store.set_flag("stale", False):
            publish_feed_status(bus, "ok", "quotes are fresh again")
