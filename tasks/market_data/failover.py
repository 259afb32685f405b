"""Failover and recovery of the primary market data source, as FeedEvents kept until drained."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from .base import FeedEvent, QuoteResult

logger = logging.getLogger("pricewire.price_feed")


class FailoverWatch:
    """Emits ``failover`` when the primary source stops answering and ``recovered`` when it is back."""

    def __init__(self, on_event: Callable[[FeedEvent], None] | None = None) -> None:
        self.on_event = on_event
        self._events: list[FeedEvent] = []
        self._failed_over = False
        self._lock = threading.Lock()

    def track(self, primary: str, trouble: str | None, fresh: Mapping[str, QuoteResult]) -> None:
        """Record the primary's outcome of one call (``trouble`` is None when it answered)."""
        with self._lock:
            if trouble is not None and not self._failed_over:
                self._failed_over = True
                active = next((r.source for r in fresh.values() if r.source != primary), None)
                event = FeedEvent("failover", primary, active, trouble, datetime.now(UTC))
            elif trouble is None and self._failed_over:
                self._failed_over = False
                event = FeedEvent("recovered", primary, primary, "", datetime.now(UTC))
            else:
                return
            self._events.append(event)
        logger.warning("market data %s: primary %s (%s)", event.kind, event.primary, event.reason or "ok")
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a listener's bug must not break quoting
                logger.exception("market data event listener failed")

    def drain(self) -> list[FeedEvent]:
        """Return and clear the pending failover/recovery events."""
        with self._lock:
            events, self._events = self._events, []
        return events
