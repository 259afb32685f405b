"""The bus on Redis Cluster with sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7).

Each channel lives on the shard that owns its slot, so fan-out traffic spreads over the masters instead of
every message reaching every node.
"""

from __future__ import annotations

import contextlib
from typing import Any

import redis
from redis.cluster import ClusterPubSub, RedisCluster

from models.bus_base import DEFAULT_HISTORY, BusError, BusMessage, Listener
from models.bus_redis import RedisBus

_FAILURES = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterError, OSError)


class ClusterListener(Listener):
    """Sharded subscriptions: redis-py keeps one connection per shard that holds one of our channels."""

    def __init__(self, client: RedisCluster, prefix: str) -> None:
        self._pubsub: ClusterPubSub = client.pubsub(ignore_subscribe_messages=True)
        self._prefix = prefix

    def subscribe(self, *channels: str) -> None:
        """SSUBSCRIBE each channel on the shard that owns it."""
        if channels:
            self._call(self._pubsub.ssubscribe, *(self._prefix + name for name in channels))

    def unsubscribe(self, *channels: str) -> None:
        """SUNSUBSCRIBE each channel on its shard."""
        if channels:
            self._call(self._pubsub.sunsubscribe, *(self._prefix + name for name in channels))

    def get(self, timeout: float) -> BusMessage | None:
        """The next sharded message from any shard, or None after about `timeout` seconds."""
        if not self._pubsub.node_pubsub_mapping:
            return None
        # Each shard is asked in turn; share the wait between them.
        share = timeout / len(self._pubsub.node_pubsub_mapping)
        message = self._call(self._pubsub.get_sharded_message, ignore_subscribe_messages=True, timeout=share)
        if message is None or message.get("type") not in ("smessage", b"smessage"):
            return None
        channel, data = message["channel"], message["data"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        data = data.decode() if isinstance(data, bytes) else data
        return BusMessage(channel[len(self._prefix):], data)

    def close(self) -> None:
        """Close every shard's connection (errors ignored)."""
        with contextlib.suppress(*_FAILURES, redis.RedisError):
            for pubsub in list(self._pubsub.node_pubsub_mapping.values()):
                pubsub.close()
            self._pubsub.close()

    @staticmethod
    def _call(method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except _FAILURES as exc:
            raise BusError(str(exc)) from exc


class RedisClusterBus(RedisBus):
    """SPUBLISH to the channel's shard (with its history stream in the same slot); listeners use SSUBSCRIBE.

    After a shard's master fails, the listener's read fails; the relay makes a new listener, which first
    refreshes the slot map so it subscribes on the promoted replica.
    """

    publish_command = "SPUBLISH"

    def __init__(self, url: str, prefix: str = "pricewire", history: int = DEFAULT_HISTORY) -> None:
        cluster = RedisCluster.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        super().__init__(url, prefix, history, client=cluster)  # type: ignore[arg-type]
        self.cluster = cluster

    def publish(self, channel: str, data: str) -> int:
        """SPUBLISH to the channel's shard (with its history for a resumable channel)."""
        if self.history and channel.startswith(self.resumable):
            return super().publish(channel, data)
        try:
            return int(self.cluster.spublish(self.prefix + channel, data))
        except _FAILURES as exc:
            raise BusError(str(exc)) from exc

    def recent(self, channel: str) -> list[str]:
        """The channel's history stream from its shard."""
        try:
            return super().recent(channel)
        except redis.exceptions.ClusterError as exc:
            raise BusError(str(exc)) from exc

    def listener(self) -> ClusterListener:  # type: ignore[override]
        """A sharded listener on the slot map as it is now."""
        try:
            self.cluster.nodes_manager.initialize()  # the slot map as it is now, after any failover
        except _FAILURES as exc:
            raise BusError(str(exc)) from exc
        return ClusterListener(self.cluster, self.prefix)

    def describe(self) -> dict[str, Any]:
        """The cluster's masters now."""
        masters = [f"{node.host}:{node.port}" for node in self.cluster.get_primaries()]
        return {"mode": "cluster", "masters": sorted(masters)}
