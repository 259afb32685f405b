"""The bus on one Redis (or the master Redis Sentinel names): pub/sub plus a capped history stream per channel."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import redis

from infra.bus.base import (
    DEFAULT_HISTORY,
    HISTORY_TTL_SECONDS,
    RESUMABLE_PREFIXES,
    Bus,
    BusError,
    BusMessage,
    Listener,
)
from infra.redis_connect import redis_client

PROBE_TIMEOUT = 2.0  # seconds a health probe waits for Redis


class RedisListener(Listener):
    """A Redis pub/sub connection; channels carry the bus prefix on the wire."""

    message_types: tuple[str | bytes, ...] = ("message", b"message")
    failures: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError, OSError)

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._prefix = prefix

    def subscribe(self, *channels: str) -> None:
        """Start receiving the prefixed channels."""
        if channels:
            self._call(self._subscribe, *(self._prefix + name for name in channels))

    def unsubscribe(self, *channels: str) -> None:
        """Stop receiving the prefixed channels."""
        if channels:
            self._call(self._unsubscribe, *(self._prefix + name for name in channels))

    def get(self, timeout: float) -> BusMessage | None:
        """The next published message, or None after `timeout` seconds."""
        message = self._call(self._read, timeout)
        if message is None or message.get("type") not in self.message_types:
            return None
        channel = message["channel"]
        data = message["data"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        data = data.decode() if isinstance(data, bytes) else data
        return BusMessage(channel[len(self._prefix):], data)

    def close(self) -> None:
        """Close the pub/sub connection (errors ignored: it may be dead)."""
        with contextlib.suppress(redis.RedisError, *self.failures):
            self._pubsub.close()

    # The commands, which the sharded listener replaces.
    def _subscribe(self, *names: str) -> None:
        self._pubsub.subscribe(*names)

    def _unsubscribe(self, *names: str) -> None:
        self._pubsub.unsubscribe(*names)

    def _read(self, timeout: float) -> dict[str, Any] | None:
        return self._pubsub.get_message(timeout=timeout)  # type: ignore[no-any-return]

    def _call(self, method: Any, *args: Any) -> Any:
        try:
            return method(*args)
        except self.failures as exc:
            raise BusError(str(exc)) from exc


# XADD to the channel's capped stream (exact cap: one entry trimmed per add, cheap at this size) and PUBLISH in one
# atomic step: whoever hears the message can already read it back, and a process that subscribed too late reads
# it from the stream instead.
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
        # Health probes must answer while Redis is frozen (SIGSTOP, a hung host): a short timeout of their own.
        self._probe = client or redis_client(url, socket_connect_timeout=PROBE_TIMEOUT, socket_timeout=PROBE_TIMEOUT)
        self.prefix = prefix + ":"
        self.history = history
        self._publish_kept = self.client.register_script(PUBLISH_KEPT)

    def history_key(self, channel: str) -> str:
        """The stream of a channel; the hash tag puts it in the channel's cluster slot."""
        return f"{self.prefix}history:{{{self.prefix}{channel}}}"

    def publish(self, channel: str, data: str) -> int:
        """PUBLISH; for a resumable channel also append to its capped history, atomically."""
        try:
            if self.history and channel.startswith(self.resumable):
                return int(self._publish_kept(keys=[self.history_key(channel)], args=[
                    self.prefix + channel, data, self.history, HISTORY_TTL_SECONDS, self.publish_command]))
            return int(self.client.publish(self.prefix + channel, data))
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise BusError(str(exc)) from exc

    def recent(self, channel: str) -> list[str]:
        """The channel's history stream, oldest first."""
        try:
            entries = self.client.xrange(self.history_key(channel))
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise BusError(str(exc)) from exc
        texts = [(fields or {}).get(b"d", b"") for _, fields in entries or ()]
        return [text.decode() if isinstance(text, bytes) else str(text) for text in texts]

    def listener(self) -> RedisListener:
        """A pub/sub connection of its own."""
        return RedisListener(self.client, self.prefix)

    def ping(self) -> bool:
        """PING the server."""
        try:
            return bool(self._probe.ping())
        except (redis.RedisError, OSError):
            return False

    def describe(self) -> dict[str, Any]:
        """One plain Redis."""
        return {"mode": "redis"}

    def close(self) -> None:
        """Close the connection pools."""
        self.client.close()
        if self._probe is not self.client:
            self._probe.close()


class SentinelBus(RedisBus):
    """Redis pub/sub on the master Sentinel names; after a failover new connections go to the new master.

    A listener on the old master fails, and the relay makes a new one.
    """

    def __init__(self, url: str, prefix: str = "pricewire", history: int = DEFAULT_HISTORY) -> None:
        super().__init__(url, prefix, history)
        self.master: str | None = None
        self.failovers = 0
        self.last_failover: float | None = None

    def ping(self) -> bool:
        """PING the master, and note which master the sentinels name (a change is a failover)."""
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
        """The master now and the failovers this process noticed."""
        return {"mode": "sentinel", "master": self.master, "failovers_seen": self.failovers,
                "last_failover_at": self.last_failover}
