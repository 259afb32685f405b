"""Price-feed status readable from any process: a Redis hash, or a dict in embedded mode."""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from flask import Flask, current_app

EXTENSION_KEY = "pricewire.feed_status"


class FeedStatusStore:
    """Where the feed records its heartbeat and cycle results, and anyone reads them."""

    def __init__(self, client: redis.Redis | None, prefix: str = "pricewire") -> None:
        self.client = client
        self.key = f"{prefix}:feed:status"
        self._local: dict[str, str] = {}

    def write(self, **fields: Any) -> None:
        """Merge these fields (JSON-encoded) into the status."""
        encoded = {name: json.dumps(value, default=str) for name, value in fields.items()}
        if self.client is None:
            self._local.update(encoded)
        else:
            self.client.hset(self.key, mapping=encoded)

    def heartbeat(self) -> None:
        """Say the scheduler is alive now."""
        self.write(heartbeat_at=time.time())

    def read(self) -> dict[str, Any]:
        """Every recorded field, decoded."""
        raw: dict[Any, Any] = self._local if self.client is None else self.client.hgetall(self.key)
        return {_text(name): json.loads(_text(value)) for name, value in raw.items()}

    def service_status(self, update_interval: int) -> dict[str, Any]:
        """The reference's get_service_status(): running means a heartbeat within two intervals."""
        fields = self.read()
        heartbeat = fields.get("heartbeat_at")
        running = heartbeat is not None and time.time() - float(heartbeat) <= 2 * update_interval
        return {
            "running": running,
            "last_update": fields.get("last_update"),
            "last_cycle_duration": fields.get("last_cycle_duration"),
            "assets_tracked": fields.get("assets_tracked", 0),
            "update_interval": update_interval,
            "successes_by_source": fields.get("successes_by_source", {}),
            "failures_by_source": fields.get("failures_by_source", {}),
            "failed_symbols": fields.get("failed_symbols", []),
            "heartbeat_at": heartbeat,
        }


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def init_feed_status(app: Flask) -> FeedStatusStore:
    """Attach the store to `app`: Redis when configured, else in-process."""
    url = app.config.get("REDIS_URL")
    client = redis.Redis.from_url(url, socket_connect_timeout=5) if url else None
    store = FeedStatusStore(client, app.config.get("REDIS_KEY_PREFIX", "pricewire"))
    app.extensions[EXTENSION_KEY] = store
    return store


def get_feed_status(app: Flask | None = None) -> FeedStatusStore:
    """The store of `app`, or of the current app."""
    return (app or current_app).extensions[EXTENSION_KEY]  # type: ignore[no-any-return]
