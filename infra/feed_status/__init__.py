"""Price-feed status readable from any process: RedisFeedStatusStore, or MemoryFeedStatusStore in embedded mode.

Keys (all under `<REDIS_KEY_PREFIX>:feed:`): `status` (hash of JSON fields), `requested` (sorted set of
symbols subscribers or forced refreshes asked for, scored by request time), `failed` (hash symbol ->
JSON reason), `sources` (hash process -> JSON per-source counters), `cycle:<id>` and `cycle:<id>:done`
(the chord-free latch that tells the last batch of a cycle it was the last), `flag:<name>` (failover,
stale: so only the process that flips a flag announces it).
"""

from __future__ import annotations

from collections.abc import Iterable

import redis
from flask import Flask

from infra.extension import attach, lookup
from infra.feed_status.base import (
    CYCLE_TTL_SECONDS,
    REQUEST_WINDOW_SECONDS,
    REVALUATION_FAILURES,
    SOURCES_TTL_SECONDS,
    FeedStatusStore,
    heartbeat_grace,
)
from infra.feed_status.memory import MemoryFeedStatusStore
from infra.feed_status.redis_store import RedisFeedStatusStore
from infra.redis_connect import redis_client
from infra.settings import get_settings

__all__ = [
    "CYCLE_TTL_SECONDS",
    "EXTENSION_KEY",
    "REQUEST_WINDOW_SECONDS",
    "REVALUATION_FAILURES",
    "SOURCES_TTL_SECONDS",
    "FeedStatusStore",
    "MemoryFeedStatusStore",
    "RedisFeedStatusStore",
    "create_feed_status",
    "feed_status_store",
    "get_feed_status",
    "heartbeat_grace",
    "init_feed_status",
    "request_symbols",
]

EXTENSION_KEY = "pricewire.feed_status"


def feed_status_store(client: redis.Redis | None, prefix: str = "pricewire") -> FeedStatusStore:
    """The Redis store on `client`, or the in-process one when there is no client."""
    return MemoryFeedStatusStore(prefix) if client is None else RedisFeedStatusStore(client, prefix)


def create_feed_status(redis_url: str | None, prefix: str = "pricewire") -> FeedStatusStore:
    """Redis when a URL is given, else in-process."""
    # A timeout on every command: /health reads this store and must answer while Redis is frozen.
    client = redis_client(redis_url, socket_connect_timeout=5, socket_timeout=5) if redis_url else None
    return feed_status_store(client, prefix)


def init_feed_status(app: Flask) -> FeedStatusStore:
    """Attach the store to `app`: Redis when configured, else in-process."""
    settings = get_settings(app)
    return attach(app, EXTENSION_KEY, create_feed_status(settings.redis_url, settings.redis_key_prefix))


def get_feed_status(app: Flask | None = None) -> FeedStatusStore:
    """The store of `app`, or of the current app."""
    return lookup(EXTENSION_KEY, FeedStatusStore, app)  # type: ignore[type-abstract]  # mypy#4717


def request_symbols(symbols: Iterable[str], app: Flask | None = None) -> int:
    """Have the feed track these (valid, upper-case) symbols for the next ten minutes."""
    return get_feed_status(app).request_symbols(symbols)
