"""The Celery feed on Redis Sentinel: broker, locks and bus follow the promoted replica without a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kombu.exceptions
import pytest
import redis

from infra.bus import BusError, Listener
from infra.redis_connect import redis_client
from models import db
from protocol.channels import asset_channel
from protocol.feed_control import TASK_UPDATE_BATCH
from tasks.celery_app import celery_init_app
from tests.conftest import make_app
from tests.support.processes import service_env
from tests.support.redis_servers import SentinelGroup, start_sentinel_group
from tests.support.services import wait_for
from tests.tasks.celery_harness import FeedHarness, collect
from tests.tasks.test_feed_celery import SYMBOLS, seed

pytestmark = pytest.mark.integration


@pytest.fixture
def sentinel_feed(pg_committed_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[tuple[FeedHarness,
                                                                                              SentinelGroup]]:
    """A private Celery feed whose REDIS_URL is a Sentinel group of the test's own."""
    group = start_sentinel_group(tmp_path / "redis")
    env = service_env(pg_committed_url, group.url, redis_prefix, REALTIME_UPDATE_INTERVAL="60",
                      REALTIME_CACHE_TIMEOUT="0", PRICEWIRE_INSTANCE_PATH=str(tmp_path / "instance"))
    app = make_app(env)
    harness = FeedHarness(env, tmp_path, app, celery_init_app(app), redis_client(group.url))
    try:
        yield harness, group
    finally:
        for process in harness.processes:
            process.stop()
        for listener in harness.listeners:
            listener.close()
        with app.app_context():
            db.engine.dispose()
        group.stop()


def send_when_possible(feed: FeedHarness, symbols: list[str]) -> str:
    """Enqueue a batch, retrying while the broker's master is being replaced."""
    sent: list[str] = []

    def attempt() -> bool:
        try:
            sent.append(feed.send(TASK_UPDATE_BATCH, symbols=symbols))
        except (kombu.exceptions.OperationalError, redis.RedisError, OSError):
            return False
        return True

    wait_for(attempt, timeout=60, interval=0.5, message="the broker to accept a task")
    return sent[0]


@pytest.mark.timeout(240)
def test_feed_carries_on_through_a_failover(sentinel_feed: tuple[FeedHarness, SentinelGroup]) -> None:
    feed, group = sentinel_feed
    assert feed.celery.conf.broker_url.startswith("sentinel://")
    seed(feed)
    channels = [asset_channel(symbol) for symbol in SYMBOLS]
    listener = feed.listen(*channels)
    feed.start_worker("w1")
    send_when_possible(feed, SYMBOLS)
    assert {m["data"]["seq"] for m in collect(listener, len(SYMBOLS), timeout=60)} == {1}

    group.master.kill()
    wait_for(lambda: group.master_port() == group.replica.port, timeout=60, interval=0.2,
             message="sentinels to promote the replica")
    listener = wait_for(lambda: _listen(feed, channels), timeout=30, interval=0.5, message="a bus listener")
    send_when_possible(feed, SYMBOLS)
    assert {m["data"]["seq"] for m in collect(listener, len(SYMBOLS), timeout=90)} == {2}


def _listen(feed: FeedHarness, channels: list[str]) -> Listener | None:
    """A listener on the bus, or None while Redis cannot give one."""
    try:
        return feed.listen(*channels)
    except (BusError, redis.RedisError, OSError):
        return None
