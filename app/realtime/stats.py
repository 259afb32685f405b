"""The per-process stats heartbeat: this process's numbers in Redis with a TTL, and slot refreshes."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event
import redis
from flask import Flask

from app.realtime.cluster import PROCESS_TTL_SECONDS, STATS_PERIOD_SECONDS, ClusterState
from app.realtime.socket import live_socket_threads
from app.realtime.tasks import live_tasks, spawn

if TYPE_CHECKING:
    from app.realtime.relay import Relay

logger = logging.getLogger("pricewire.realtime")

CLUSTER_KEY = "pricewire.ws_cluster"
MIN_GAP_SECONDS = 0.25  # changes are published at most this often


def get_cluster(app: Flask) -> ClusterState | None:
    """The app's ClusterState (None in embedded mode, where there is only this process)."""
    if not app.config.get("REDIS_URL"):
        return None
    cluster: ClusterState | None = app.extensions.get(CLUSTER_KEY)
    if cluster is None:
        cluster = ClusterState(app.config["REDIS_URL"], app.config.get("REDIS_KEY_PREFIX", "pricewire"))
        app.extensions[CLUSTER_KEY] = cluster
    return cluster


class StatsHeartbeat:
    """Writes the relay's stats every STATS_PERIOD_SECONDS, and soon after any change."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.cluster = get_cluster(relay.app)
        self.greenlet: gevent.Greenlet | None = None
        self.writes = 0
        self._dirty = gevent.event.Event()

    def start(self) -> None:
        """Run in the background (no-op in embedded mode)."""
        if self.cluster is not None and (self.greenlet is None or self.greenlet.dead):
            self.greenlet = spawn(self._run, name="ws-stats")

    def stop(self) -> None:
        """Stop and remove this process's key."""
        if self.greenlet is not None:
            self.greenlet.kill(block=True, timeout=3)
        if self.cluster is not None:
            with contextlib.suppress(redis.RedisError, OSError):
                self.cluster.remove_process(self.relay.instance)

    def mark_dirty(self) -> None:
        """Something changed: publish soon."""
        self._dirty.set()

    def _run(self) -> None:
        while True:
            self._dirty.clear()
            self.write_once()
            gevent.sleep(MIN_GAP_SECONDS)
            self._dirty.wait(STATS_PERIOD_SECONDS - MIN_GAP_SECONDS)

    def snapshot(self) -> tuple[dict[str, Any], dict[int, list[dict[str, Any]]]]:
        """(summary, per-user connection descriptions) of this process right now."""
        users: dict[int, list[dict[str, Any]]] = {}
        for connection in list(self.relay.connections.values()):
            item = connection.describe()
            item["process"] = self.relay.instance
            users.setdefault(connection.user_id, []).append(item)
        return self.relay.local_stats(), users

    def write_once(self) -> bool:
        """Publish now; False when Redis does not answer (the key then expires on its own)."""
        if self.cluster is None:
            return False
        summary, users = self.snapshot()
        try:
            self.cluster.write_process(self.relay.instance, summary, users, PROCESS_TTL_SECONDS)
            slots = {user_id: [item["connection_id"] for item in items] for user_id, items in users.items()}
            if slots:
                self.cluster.refresh_slots(slots, PROCESS_TTL_SECONDS)
        except (redis.RedisError, OSError) as exc:
            logger.info("stats heartbeat failed", extra={"error": str(exc)})
            return False
        self.writes += 1
        return True


def relay_stats(relay: Relay) -> dict[str, Any]:
    """One process's numbers: connections, users, subscriptions, bus state, traffic, live greenlets."""
    connections = list(relay.connections.values())
    channels = [channel for connection in connections for channel in connection.subscriptions]
    heartbeat = relay.last_worker_heartbeat
    return {
        "instance": relay.instance,
        "pid": relay.pid,
        "connections": len(connections),
        "authenticated_users": len(relay.by_user),
        "asset_subscriptions": sum(1 for channel in channels if channel.startswith("asset:")),
        "portfolio_subscriptions": sum(1 for channel in channels if channel.startswith("portfolio:")),
        "channels": len(relay.listened),
        "bus_state": relay.bus_state,
        "bus_messages_received": relay.loop.received,
        "bus_connects": relay.loop.connects,
        "worker_heartbeat_age": None if heartbeat is None else round(time.time() - heartbeat, 3),
        "messages_sent": sum(connection.sent for connection in connections),
        "messages_dropped": sum(connection.dropped for connection in connections),
        "greenlets": live_tasks(),
        "socket_threads": live_socket_threads(),
        "updated_at": time.time(),
    }
