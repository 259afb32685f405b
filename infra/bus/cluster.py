"""The bus on Redis Cluster with sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7).

Each channel lives on the shard that owns its slot, so fan-out traffic spreads over the masters instead of
every message reaching every node.
"""

from __future__ import annotations

import contextlib
from typing import Any

import redis
from redis.cluster import ClusterPubSub, RedisCluster

from infra.bus.base import DEFAULT_HISTORY, BusError
from infra.bus.redis_bus import RedisBus, RedisListener

_FAILURES = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterError, OSError)


class ClusterListener(RedisListener):
    """Sharded subscriptions: redis-py keeps one connection per shard that holds one of our channels."""

    message_types = ("smessage", b"smessage")
    failures = _FAILURES
    _pubsub: ClusterPubSub

    def close(self) -> None:
        """Close every shard's connection (errors ignored)."""
        with contextlib.suppress(redis.RedisError, *self.failures):
            for pubsub in list(self._pubsub.node_pubsub_mapping.values()):
                pubsub.close()
        super().close()

    def _subscribe(self, *names: str) -> None:
        self._pubsub.ssubscribe(*names)

    def _unsubscribe(self, *names: str) -> None:
        self._pubsub.sunsubscribe(*names)

    def _read(self, timeout: float) -> dict[str, Any] | None:
        if not self._pubsub.node_pubsub_mapping:
            return None
        # Each shard is asked in turn; share the wait between them.
        share = timeout / len(self._pubsub.node_pubsub_mapping)
        return self._pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=share)  # type: ignore[no-any-return]


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

    def listener(self) -> ClusterListener:
        """A sharded listener on the slot map as it is now."""
        try:
            self.cluster.nodes_manager.initialize()  # the slot map as it is now, after any failover
        except _FAILURES as exc:
            raise BusError(str(exc)) from exc
        return ClusterListener(self.cluster, self.prefix)  # type: ignore[arg-type]  # same pubsub() API

    def describe(self) -> dict[str, Any]:
        """The cluster's masters now."""
        masters = [f"{node.host}:{node.port}" for node in self.cluster.get_primaries()]
        return {"mode": "cluster", "masters": sorted(masters)}
