"""Publish/subscribe: one small interface, Redis pub/sub across processes or in-process for one."""

from __future__ import annotations

import contextlib
import queue
import threading
from abc import ABC, abstractmethod
from typing import NamedTuple

import redis
from flask import Flask, current_app

EXTENSION_KEY = "pricewire.bus"

PROBE_TIMEOUT = 2.0  # seconds a health probe waits for Redis

class BusError(ConnectionError):
    """The bus backend is unreachable; listeners must be rebuilt."""


class BusMessage(NamedTuple):
    """One delivery: the channel (without prefix) and its text."""

    channel: str
    data: str


class Listener(ABC):
    """A subscription set whose messages are read one at a time."""

    @abstractmethod
    def subscribe(self, *channels: str) -> None:
        """Start receiving these channels."""

    @abstractmethod
    def unsubscribe(self, *channels: str) -> None:
        """Stop receiving these channels."""

    @abstractmethod
    def get(self, timeout: float) -> BusMessage | None:
        """The next message, or None after `timeout` seconds; BusError when the backend is gone."""

    @abstractmethod
    def close(self) -> None:
        """Release the subscription."""


class Bus(ABC):
    """Publishes text on named channels; hands out listeners."""

    @abstractmethod
    def publish(self, channel: str, data: str) -> int:
        """Send `data` to every listener of `channel`; returns how many received it (per process)."""

    @abstractmethod
    def listener(self) -> Listener:
        """A fresh listener with no subscriptions."""

    def ping(self) -> bool:
        """True when the backend answers."""
        return True

    def close(self) -> None:  # noqa: B027 - optional hook; the in-process bus holds nothing
        """Release backend resources."""


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


class RedisListener(Listener):
    """A Redis pub/sub connection; channels carry the bus prefix on the wire."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._prefix = prefix

    def subscribe(self, *channels: str) -> None:
        if channels:
            self._call(self._pubsub.subscribe, *(self._prefix + name for name in channels))

    def unsubscribe(self, *channels: str) -> None:
        if channels:
            self._call(self._pubsub.unsubscribe, *(self._prefix + name for name in channels))

    def get(self, timeout: float) -> BusMessage | None:
        message = self._call(self._pubsub.get_message, timeout=timeout)
        if message is None or message.get("type") != "message":
            return None
        channel = message["channel"]
        data = message["data"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        data = data.decode() if isinstance(data, bytes) else data
        return BusMessage(channel[len(self._prefix):], data)

    def close(self) -> None:
        with contextlib.suppress(redis.RedisError, OSError):
            self._pubsub.close()

    @staticmethod
    def _call(method, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return method(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise BusError(str(exc)) from exc


class RedisBus(Bus):
    """Redis pub/sub: every web process and worker shares the channels."""

    def __init__(self, url: str, prefix: str = "pricewire") -> None:
        self.client = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
        # Health probes must answer while Redis is frozen (SIGSTOP, a hung host): a short timeout of their own.
        self._probe = redis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT, socket_timeout=PROBE_TIMEOUT)
        self.prefix = prefix + ":"

    def publish(self, channel: str, data: str) -> int:
        try:
            return int(self.client.publish(self.prefix + channel, data))
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise BusError(str(exc)) from exc

    def listener(self) -> RedisListener:
        return RedisListener(self.client, self.prefix)

    def ping(self) -> bool:
        try:
            return bool(self._probe.ping())
        except (redis.RedisError, OSError):
            return False

    def close(self) -> None:
        self.client.close()
        self._probe.close()


def create_bus(redis_url: str | None, prefix: str = "pricewire") -> Bus:
    """Redis when a URL is given, else the in-process bus."""
    return RedisBus(redis_url, prefix) if redis_url else InMemoryBus()


def init_bus(app: Flask) -> Bus:
    """Attach the configured bus to `app`."""
    bus = create_bus(app.config.get("REDIS_URL"), app.config.get("REDIS_KEY_PREFIX", "pricewire"))
    app.extensions[EXTENSION_KEY] = bus
    return bus


def get_bus(app: Flask | None = None) -> Bus:
    """The bus of `app`, or of the current app."""
    return (app or current_app).extensions[EXTENSION_KEY]  # type: ignore[no-any-return]
