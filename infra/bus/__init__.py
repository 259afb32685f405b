"""Publish/subscribe: one small interface (infra.bus.base), one module per backend.

infra.bus.memory (embedded mode, one process), infra.bus.redis_bus (one Redis, or the master Sentinel
names), infra.bus.cluster (Redis Cluster with sharded pub/sub). This package holds the factory and re-exports
every public name (`models.bus` used to hold them).
"""

from __future__ import annotations

from flask import Flask

from infra.bus.base import (
    DEFAULT_HISTORY,
    HISTORY_TTL_SECONDS,
    RESUMABLE_PREFIXES,
    Bus,
    BusError,
    BusMessage,
    Listener,
)
from infra.bus.cluster import ClusterListener, RedisClusterBus
from infra.bus.memory import InMemoryBus, InMemoryListener
from infra.bus.redis_bus import RedisBus, RedisListener, SentinelBus
from infra.extension import attach, lookup
from infra.redis_connect import is_sentinel
from infra.settings import get_settings

__all__ = [
    "DEFAULT_HISTORY", "EXTENSION_KEY", "HISTORY_TTL_SECONDS", "RESUMABLE_PREFIXES", "Bus", "BusError", "BusMessage",
    "ClusterListener", "InMemoryBus", "InMemoryListener", "Listener", "RedisBus", "RedisClusterBus", "RedisListener",
    "SentinelBus", "create_bus", "get_bus", "init_bus",
]

EXTENSION_KEY = "pricewire.bus"


def create_bus(redis_url: str | None, prefix: str = "pricewire", history: int = DEFAULT_HISTORY,
               cluster_url: str | None = None) -> Bus:
    """Redis Cluster (sharded pub/sub) when a cluster URL is given, else Sentinel or plain Redis, else in-process."""
    if cluster_url:
        return RedisClusterBus(cluster_url, prefix, history)
    if redis_url:
        return SentinelBus(redis_url, prefix, history) if is_sentinel(redis_url) else RedisBus(redis_url, prefix,
                                                                                               history)
    return InMemoryBus()


def init_bus(app: Flask) -> Bus:
    """Attach the configured bus to `app`."""
    settings = get_settings(app)
    return attach(app, EXTENSION_KEY, create_bus(settings.redis_url, settings.redis_key_prefix,
                                                 settings.websocket_resume_buffer_size, settings.redis_cluster_url))


def get_bus(app: Flask | None = None) -> Bus:
    """The bus of `app`, or of the current app."""
    return lookup(EXTENSION_KEY, Bus, app)  # type: ignore[type-abstract]  # mypy#4717
