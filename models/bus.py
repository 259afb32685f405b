"""Publish/subscribe: one small interface, Redis pub/sub across processes or in-process for one."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import redis
from flask import Flask, current_app

from models.messages import asset_channel, portfolio_channel
from models.redis_connect import is_sentinel, redis_client

EXTENSION_KEY = "pricewire.bus"
# Channels whose recent messages Redis keeps, so a client resumes by seq on whichever web process it reaches.
RESUMABLE_PREFIXES = (asset_channel(""), portfolio_channel(0).removesuffix("0"))
DEFAULT_HISTORY = 100  # messages kept per channel (WEBSOCKET_RESUME_BUFFER_SIZE in the app)
HISTORY_TTL_SECONDS = 86_400  # a channel silent this long (a symbol no longer tracked) forgets its history


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

    def recent(self, channel: str) -> list[str]:
        """The channel's kept messages, oldest first ([] when this backend keeps none)."""
        return []

    def ping(self) -> bool:
        """True when the backend answers."""
        return True

    def describe(self) -> dict[str, Any]:
        """What backend this is and where it stands (for /health)."""
        return {"mode": "memory"}

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


# XADD to the channel's capped stream (exact cap: one entry trimmed per add, cheap at this size) and PUBLISH in one
# atomic step: whoever hears the message can already read
# it back, and a process that subscribed too late reads it from the stream instead.
PUBLISH_KEPT = """
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], '*', 'd', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return redis.call(ARGV[5], ARGV[1], ARGV[2])
"""


class RedisBus(Bus):
    """Redis pub/sub: every web process and worker shares the channels; resumable channels also keep a stream."""

    publish_command = "PUBLISH"
    resumable = RESUMABLE_PREFIXES

    def __init__(self, url: str, prefix: str = "pricewire", history: int = DEFAULT_HISTORY,
                 client: redis.Redis | None = None) -> None:
        self.client = client or redis_client(url, socket_connect_timeout=5, health_check_interval=30)
        self.prefix = prefix + ":"
        self.history = history
        self._publish_kept = self.client.register_script(PUBLISH_KEPT)

    def history_key(self, channel: str) -> str:
        """The stream of a channel; the hash tag puts it in the channel's cluster slot."""
        return f"{self.prefix}history:{{{self.prefix}{channel}}}"

    def publish(self, channel: str, data: str) -> int:
        try:
            if self.history and channel.startswith(self.resumable):
                return int(self._publish_kept(keys=[self.history_key(channel)], args=[
                    self.prefix + channel, data, self.history, HISTORY_TTL_SECONDS, self.publish_command]))
            return int(self.client.publish(self.prefix + channel, data))
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise BusError(str(exc)) from exc

    def recent(self, channel: str) -> list[str]:
        try:
            entries = self.client.xrange(self.history_key(channel))
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise BusError(str(exc)) from exc
        texts = [(fields or {}).get(b"d", b"") for _, fields in entries or ()]
        return [text.decode() if isinstance(text, bytes) else str(text) for text in texts]

    def listener(self) -> RedisListener:
        return RedisListener(self.client, self.prefix)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except (redis.RedisError, OSError):
            return False

    def describe(self) -> dict[str, Any]:
        return {"mode": "redis"}

    def close(self) -> None:
        self.client.close()


class SentinelBus(RedisBus):
    """Redis pub/sub on the master Sentinel names; after a failover every new connection goes to the new master
    (a listener on the old one fails, and the relay makes a new one)."""

    def __init__(self, url: str, prefix: str = "pricewire", history: int = DEFAULT_HISTORY) -> None:
        super().__init__(url, prefix, history)
        self.master: str | None = None
        self.failovers = 0
        self.last_failover: float | None = None

    def ping(self) -> bool:
        answered = super().ping()
        pool = self.client.connection_pool
        try:  # asking also moves the pool over if the master changed
            master = "{}:{}".format(*pool.get_master_address())  # type: ignore[attr-defined]
        except (redis.RedisError, OSError):
            return False
        if self.master is not None and master != self.master:
            self.failovers += 1
            self.last_failover = time.time()
        self.master = master
        return answered

    def describe(self) -> dict[str, Any]:
        return {"mode": "sentinel", "master": self.master, "failovers_seen": self.failovers,
                "last_failover_at": self.last_failover}


def create_bus(redis_url: str | None, prefix: str = "pricewire", history: int = DEFAULT_HISTORY,
               cluster_url: str | None = None) -> Bus:
    """Redis Cluster (sharded pub/sub) when a cluster URL is given, else Sentinel or plain Redis, else in-process."""
    if cluster_url:
        from models.bus_cluster import RedisClusterBus  # it builds on this module's classes

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
