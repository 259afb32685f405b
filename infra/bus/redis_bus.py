"""Redis pub/sub: every web process and worker shares the channels (names carry the key prefix on the wire)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from infra.bus.base import Bus, BusError, BusMessage, Listener

T = TypeVar("T")

PROBE_TIMEOUT = 2.0  # seconds a health probe waits for Redis


class RedisListener(Listener):
    """A Redis pub/sub connection; channels carry the bus prefix on the wire."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        self._prefix = prefix

    def subscribe(self, *channels: str) -> None:
        """Start receiving these channels."""
        if channels:
            self._call(self._pubsub.subscribe, *(self._prefix + name for name in channels))

    def unsubscribe(self, *channels: str) -> None:
        """Stop receiving these channels."""
        if channels:
            self._call(self._pubsub.unsubscribe, *(self._prefix + name for name in channels))

    def get(self, timeout: float) -> BusMessage | None:
        """The next message, or None after `timeout` seconds."""
        message = self._call(self._pubsub.get_message, timeout=timeout)
        if message is None or message.get("type") != "message":
            return None
        channel = message["channel"]
        data = message["data"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        data = data.decode() if isinstance(data, bytes) else data
        return BusMessage(channel[len(self._prefix):], data)

    def close(self) -> None:
        """Release the subscription."""
        with contextlib.suppress(redis.RedisError, OSError):
            self._pubsub.close()

    @staticmethod
    def _call(method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
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
        """Send `data` to every listener of `channel`; how many received it."""
        try:
            return int(self.client.publish(self.prefix + channel, data))
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise BusError(str(exc)) from exc

    def listener(self) -> RedisListener:
        """A fresh listener with no subscriptions."""
        return RedisListener(self.client, self.prefix)

    def ping(self) -> bool:
        """True when the backend answers."""
        try:
            return bool(self._probe.ping())
        except (redis.RedisError, OSError):
            return False

    def close(self) -> None:
        """Release the subscription."""
        self.client.close()
        self._probe.close()
