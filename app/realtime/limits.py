"""Pure per-connection policies: the client message rate limit and per-subscription filters."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

SEND = "send"
HOLD = "hold"  # kept as the latest, released when the max_hz slot opens
REPLACED = "replaced"  # replaced an update already held (conflation)
SKIP = "skip"  # duplicate/old seq, or below min_change_percent
PENDING = "pending"  # the subscription's snapshot or replay has not been queued yet


class SlidingWindowLimiter:
    """At most `limit` events in any `window` seconds; rejected events do not count."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque(maxlen=limit)

    def hit(self, now: float) -> int | None:
        """None when allowed (and recorded), else whole seconds until the next event would be allowed."""
        if len(self._times) >= self.limit and now - self._times[0] < self.window:
            return max(1, math.ceil(self._times[0] + self.window - now))
        self._times.append(now)
        return None


def to_decimal(value: Any) -> Decimal | None:
    """A finite Decimal from a JSON number or numeric string, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        return None
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def changed_enough(previous: Decimal | None, current: Decimal | None, min_percent: Decimal | None) -> bool:
    """True when |current - previous| is at least min_percent % of previous (or nothing to compare)."""
    if min_percent is None or min_percent <= 0 or previous is None or current is None:
        return True
    if previous == 0:
        return current != 0
    return abs(current - previous) * 100 >= min_percent * abs(previous)


class Item(Protocol):
    """What a subscription filters: a sequenced update with an optional price."""

    @property
    def seq(self) -> int | None:
        """The channel's sequence number, if any."""

    @property
    def price(self) -> Decimal | None:
        """The price (asset updates), if any."""


@dataclass(slots=True)
class Subscription:
    """One channel of one connection: its options and what was last forwarded."""

    channel: str
    kind: str  # "asset" | "portfolio"
    target: Any  # the symbol or portfolio id, for acks and stats
    max_hz: float | None = None
    min_change_percent: Decimal | None = None
    last_seq: int | None = None
    last_price: Decimal | None = None
    next_allowed: float = 0.0
    held: Any = None
    pending: list[Any] | None = field(default_factory=list)
    pending_limit: int = 100

    @property
    def interval(self) -> float:
        """Seconds between two forwarded updates (0 = unthrottled)."""
        return 1.0 / self.max_hz if self.max_hz else 0.0

    def offer(self, item: Item, now: float) -> str:
        """Decide about one live update: SEND, HOLD, REPLACED, SKIP or PENDING."""
        if self.pending is not None:
            self.pending.append(item)
            if len(self.pending) > self.pending_limit:
                del self.pending[0]
            return PENDING
        if item.seq is not None and self.last_seq is not None and item.seq <= self.last_seq:
            return SKIP
        if self.held is not None:
            self.held = item  # latest wins; min_change is checked again on release
            return REPLACED
        if not changed_enough(self.last_price, item.price, self.min_change_percent):
            return SKIP
        if now < self.next_allowed:
            self.held = item
            return HOLD
        self.accept(item, now)
        return SEND

    def release(self, now: float) -> Any:
        """The held update once its slot has come (None when nothing is due or it no longer qualifies)."""
        item = self.held
        if item is None or now < self.next_allowed:
            return None
        self.held = None
        if not changed_enough(self.last_price, item.price, self.min_change_percent):
            return None
        self.accept(item, now)
        return item

    def accept(self, item: Item, now: float) -> None:
        """Record `item` as forwarded."""
        if item.seq is not None:
            self.last_seq = item.seq
        if item.price is not None:
            self.last_price = item.price
        self.next_allowed = now + self.interval

    def newer(self, item: Item) -> bool:
        """True unless `item` is not newer than what was already forwarded."""
        return item.seq is None or self.last_seq is None or item.seq > self.last_seq

    def start(self, initial: list[Any], now: float) -> list[Any]:
        """End the pending phase: the snapshot/replay items, then live updates that arrived meanwhile."""
        waiting, self.pending = self.pending or [], None
        out: list[Any] = []
        for item in initial:
            if self.newer(item):
                self.accept(item, now)
                out.append(item)
        for item in waiting:
            if self.offer(item, now) == SEND:
                out.append(item)
        return out
