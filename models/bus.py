"""Publish/subscribe: one small interface, Redis pub/sub across processes or in-process for one.

The interface is in models.bus_base and each backend in its own module (bus_redis: one Redis or Sentinel,
bus_cluster: Redis Cluster with sharded pub/sub); this module keeps the in-process bus, the factory and every
public name.
"""

from __future__ import annotations

import queue
import threading

from flask import Flask, current_app

from models.bus_base import (
    DEFAULT_HISTORY,
    HISTORY_TTL_SECONDS,
    RESUMABLE_PREFIXES,
    Bus,
    BusError,
    BusMessage,
    Listener,
)
from models.bus_cluster import ClusterListener, RedisClusterBus
from models.bus_redis import RedisBus, RedisListener, SentinelBus
from models.redis_connect import is_sentinel

__all__ = [
    "DEFAULT_HISTORY", "EXTENSION_KEY", "HISTORY_TTL_SECONDS", "RESUMABLE_PREFIXES", "Bus", "BusError", "BusMessage",
    "ClusterListener", "InMemoryBus", "InMemoryListener", "Listener", "RedisBus", "RedisClusterBus", "RedisListener",
    "SentinelBus", "create_bus", "get_bus", "init_bus",
]

EXTENSION_KEY = "pricewire.bus"


class InMemoryListener(Listener):
    """A listener fed by InMemoryBus through a queue."""

    def __init__(self, bus: InMemoryBus) -> None:
        self._bus = bus
        self.channels: set[str] = set()
        self.inbox: queue.Queue[BusMessage] = queue.Queue()

    def subscribe(self, *channels: str) -> None:
        with self._bus.lock:
            self.channels.update(channels)

    def unsubscribe(self, *channels: str) -> None:
        with self._bus.lock:
            self.channels.difference_update(channels)

    def get(self, timeout: float) -> BusMessage | None:
        try:
            return self.inbox.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._bus.drop(self)


class InMemoryBus(Bus):
    """One process, no broker: the embedded mode's bus (like Channels' in-memory layer)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._listeners: set[InMemoryListener] = set()

    def publish(self, channel: str, data: str) -> int:
        with self.lock:
            targets = [item for item in self._listeners if channel in item.channels]
        for target in targets:
            target.inbox.put(BusMessage(channel, data))
        return len(targets)

    def listener(self) -> InMemoryListener:
        created = InMemoryListener(self)
        with self.lock:
            self._listeners.add(created)
        return created

    def drop(self, listener: InMemoryListener) -> None:
        """Forget a closed listener."""
        with self.lock:
            self._listeners.discard(listener)


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
    bus = create_bus(app.config.get("REDIS_URL"), app.config.get("REDIS_KEY_PREFIX", "pricewire"),
                     int(app.config.get("WEBSOCKET_RESUME_BUFFER_SIZE", DEFAULT_HISTORY)),
                     app.config.get("REDIS_CLUSTER_URL"))
    app.extensions[EXTENSION_KEY] = bus
    return bus


def get_bus(app: Flask | None = None) -> Bus:
    """The bus of `app`, or of the current app."""
    return (app or current_app).extensions[EXTENSION_KEY]  # type: ignore[no-any-return]
