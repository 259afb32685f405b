"""Embedded mode (no broker) and the forced-refresh entry point attach_feed registers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import gevent
import pytest
import redis
from flask import Flask

from cli.demo import DEMO_SYMBOLS, seed_demo
from infra.bus import get_bus
from infra.feed_status import get_feed_status
from infra.settings import update_settings
from protocol.channels import HEARTBEAT_CHANNEL, asset_channel
from protocol.feed_control import FEED_CONTROL_EXTENSION
from tasks.embedded import EmbeddedFeed, start_embedded_feed
from tasks.wiring import attach_feed
from tests.conftest import make_app
from tests.support.services import wait_for
from tests.tasks.feed_support import drain, history_counts, stored_quotes

SYMBOLS = DEMO_SYMBOLS


def test_an_embedded_cycle_stores_publishes_and_reports(app: Flask) -> None:
    seed_demo()
    listener = get_bus().listener()
    listener.subscribe(*(asset_channel(s) for s in SYMBOLS))
    feed = EmbeddedFeed(app)

    outcome = feed.run_cycle()

    assert outcome["symbols"] == len(SYMBOLS)
    assert sorted(stored_quotes()) == SYMBOLS and history_counts() == dict.fromkeys(SYMBOLS, 1)
    assert sorted(json.loads(m.data)["data"]["symbol"] for m in drain(listener)) == SYMBOLS
    status = get_feed_status().service_status(30)
    assert status["last_cycle"]["successes"] == len(SYMBOLS) and status["assets_tracked"] == len(SYMBOLS)
    assert feed.run_cycle() == {"skipped": True}  # the same interval: at most one cycle


def test_the_loop_cycles_and_heartbeats_until_stopped(app: Flask) -> None:
    seed_demo()
    update_settings(app, realtime_update_interval=1)
    listener = get_bus().listener()
    listener.subscribe(HEARTBEAT_CHANNEL)
    feed = start_embedded_feed(app)
    assert feed is not None
    try:
        wait_for(lambda: gevent.sleep(0.05) or (stored_quotes() and min(q.seq for q in stored_quotes().values()) >= 2),
                 timeout=30, message="two embedded cycles")
        assert get_feed_status().service_status(1)["running"]
        assert json.loads(drain(listener)[0].data)["type"] == "_heartbeat"
    finally:
        feed.stop()
    assert feed.greenlets == []


def test_celery_mode_never_starts_the_embedded_loop() -> None:
    app = make_app({"DATABASE_URL": "sqlite://", "REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert start_embedded_feed(app) is None


def test_embedded_refresh_runs_now_and_tracks_the_symbols(app: Flask) -> None:
    attach_feed(app)

    answer = app.extensions[FEED_CONTROL_EXTENSION].refresh(["NVDA", "AMD"])
    feed = app.extensions["pricewire.embedded_feed"]
    gevent.joinall(feed.executor.refreshes, timeout=30)

    assert answer == {"mode": "embedded", "symbols": ["NVDA", "AMD"], "batches": 1}
    assert sorted(stored_quotes()) == ["AMD", "NVDA"]
    assert get_feed_status().requested_symbols() == ["AMD", "NVDA"]


@pytest.fixture
def celery_app(redis_server_url: str, redis_prefix: str) -> Iterator[Flask]:
    app = make_app({"DATABASE_URL": "sqlite://", "REDIS_URL": redis_server_url, "REDIS_KEY_PREFIX": redis_prefix})
    yield app
    client = redis.Redis.from_url(redis_server_url)
    keys = list(client.scan_iter(match=f"{redis_prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_celery_refresh_enqueues_forced_batches_and_tracks_the_symbols(celery_app: Flask, redis_prefix: str) -> None:
    update_settings(celery_app, realtime_batch_size=2)
    attach_feed(celery_app)

    answer = celery_app.extensions[FEED_CONTROL_EXTENSION].refresh(["NVDA", "AMD", "INTC"])

    assert answer["mode"] == "celery" and answer["batches"] == 2 and len(answer["task_ids"]) == 2
    client = get_feed_status(celery_app).client
    assert client is not None
    queued = [json.loads(raw) for raw in client.lrange(f"{redis_prefix}:celery:pricewire", 0, -1)]
    assert sorted(item["headers"]["task"] for item in queued) == ["pricewire.feed.update_batch"] * 2
    assert all(item["headers"]["expires"] for item in queued)  # a refresh older than an interval is dropped
    with celery_app.app_context():
        assert get_feed_status().requested_symbols() == ["AMD", "INTC", "NVDA"]
