"""The per-process stats heartbeat: this process's numbers in Redis with a TTL, and slot refreshes."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event
import redis
from flask import Flask

from app.realtime.cluster import PROCESS_TTL_SECONDS, STATS_PERIOD_SECONDS, ClusterState
from app.realtime.feed_requests import ask_feed_for
from app.realtime.tasks import spawn
from infra.settings import get_settings

if TYPE_CHECKING:
    from app.realtime.router import Router

logger = logging.getLogger("pricewire.realtime")

CLUSTER_KEY = "pricewire.ws_cluster"
MIN_GAP_SECONDS = 0.25  # changes are published at most this often
# ...and after a write of many changed users, longer: in a reconnect storm every subscribe changes its user,
# and describing thousands of users four times a second cost 8% of the storm's CPU (docs/performance.md).
GAP_PER_CHANGED_USER_SECONDS = 0.001
YIELD_EVERY_USERS = 100  # thousands of sockets are described every period: let the relay run in between


def get_cluster(app: Flask) -> ClusterState | None:
    """The app's ClusterState (None in embedded mode, where there is only this process)."""
    settings = get_settings(app)
    if not settings.redis_url:
        return None
    cluster: ClusterState | None = app.extensions.get(CLUSTER_KEY)
    if cluster is None:
        cluster = ClusterState(settings.redis_url, settings.redis_key_prefix)
        app.extensions[CLUSTER_KEY] = cluster
    return cluster


def change_gap(changed_users: int) -> float:
    """Seconds to wait after writing `changed_users` users' changes (a full write is never later than its period)."""
    return min(STATS_PERIOD_SECONDS, max(MIN_GAP_SECONDS, changed_users * GAP_PER_CHANGED_USER_SECONDS))


class StatsHeartbeat:
    """Writes the relay's snapshot and its users' sockets every STATS_PERIOD_SECONDS, and soon after a change."""

    def __init__(self, app: Flask, instance: str, router: Router, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self.instance = instance
        self.router = router
        self.snapshot = snapshot
        self.cluster = get_cluster(app)
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
                self.cluster.remove_process(self.instance)

    def mark_dirty(self) -> None:
        """Something changed: publish soon."""
        self._dirty.set()

    def _run(self) -> None:
        last_full = 0.0
        while True:
            self._dirty.clear()
            changed = len(self.router.dirty_users)
            if time.monotonic() - last_full >= STATS_PERIOD_SECONDS:
                last_full = time.monotonic()
                self.write_once()
            else:
                self.write_changes()
            gevent.sleep(change_gap(changed))
            self._dirty.wait(max(0.0, last_full + STATS_PERIOD_SECONDS - time.monotonic()))

    def _describe(self, user_id: int) -> list[dict[str, Any]]:
        items = []
        for connection in self.router.user_connections(user_id):
            item = connection.describe()
            item["process"] = self.instance
            items.append(item)
        return items

    def write_once(self) -> bool:
        """Rewrite this process's key and refresh its users' slots; False when Redis does not answer."""
        if self.cluster is None:
            return False
        self.router.dirty_users.clear()
        users: dict[int, list[dict[str, Any]] | str] = {}
        slots: list[tuple[int, list[str]]] = []
        for index, user_id in enumerate(list(self.router.by_user), 1):
            items = self._describe(user_id)
            users[user_id] = json.dumps(items)
            slots.append((user_id, [item["connection_id"] for item in items]))
            if index % YIELD_EVERY_USERS == 0:
                gevent.sleep(0)
        try:
            self.cluster.write_process(self.instance, self.snapshot(), users, PROCESS_TTL_SECONDS)
            self.cluster.refresh_slots(dict(slots), PROCESS_TTL_SECONDS)
        except (redis.RedisError, OSError) as exc:
            logger.info("stats heartbeat failed", extra={"error": str(exc)})
            return False
        self.writes += 1
        self._renew_feed_requests()
        return True

    def _renew_feed_requests(self) -> None:
        """Subscribed symbols stay requested from the feed for as long as someone listens."""
        symbols = self.router.subscribed_symbols()
        if symbols:
            ask_feed_for(self.app, symbols)

    def write_changes(self) -> bool:
        """Only the summary and the users whose sockets changed (cheap enough to do on every change)."""
        if self.cluster is None:
            return False
        changed, self.router.dirty_users = self.router.dirty_users, set()
        users = {user_id: self._describe(user_id) for user_id in changed}
        try:
            self.cluster.update_process(self.instance, self.snapshot(), users, PROCESS_TTL_SECONDS)
        except (redis.RedisError, OSError) as exc:
            self.router.dirty_users |= changed
            logger.info("stats update failed", extra={"error": str(exc)})
            return False
        self.writes += 1
        return True
