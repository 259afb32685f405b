"""Fixtures of the feed tests: a private Celery feed (real worker processes, Redis, PostgreSQL)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from models import db
from tasks.celery_app import celery_init_app
from tests.conftest import make_app
from tests.support.processes import service_env
from tests.tasks.celery_harness import FeedHarness


@pytest.fixture
def feed(pg_committed_url: str, redis_server_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[FeedHarness]:
    """A private Celery feed: its own Redis prefix (queues, locks, channels), the committed test database."""
    env = service_env(pg_committed_url, redis_server_url, redis_prefix, REALTIME_UPDATE_INTERVAL="60",
                      REALTIME_CACHE_TIMEOUT="0", PRICEWIRE_INSTANCE_PATH=str(tmp_path / "instance"))
    app = make_app(env)
    harness = FeedHarness(env, tmp_path, app, celery_init_app(app), redis.Redis.from_url(redis_server_url))
    try:
        yield harness
    finally:
        for process in harness.processes:
            process.stop()
        for listener in harness.listeners:
            listener.close()
        keys = list(harness.redis.scan_iter(match=f"{redis_prefix}:*"))
        if keys:
            harness.redis.delete(*keys)
        harness.redis.close()
        with app.app_context():
            db.engine.dispose()
        if os.environ.get("PRICEWIRE_KEEP_LOGS"):
            print(*(p.log()[-4000:] for p in harness.processes), sep="\n----\n")
