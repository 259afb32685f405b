"""One active beat: a stale beat steps down and sends nothing, a stopping beat frees its lease at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery.beat import PersistentScheduler
from flask import Flask

from infra.feed_status import get_feed_status
from tasks import beat
from tasks.celery_app import celery_init_app
from tasks.locks import beat_lease
from tests.conftest import make_app


@pytest.fixture
def app(redis_server_url: str, redis_prefix: str) -> Iterator[Flask]:
    application = make_app({"DATABASE_URL": "sqlite://", "REDIS_URL": redis_server_url,
                            "REDIS_KEY_PREFIX": redis_prefix})
    yield application
    client = redis.Redis.from_url(redis_server_url)
    keys = list(client.scan_iter(f"{redis_prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()
    beat.ACTIVE.clear()


def heartbeat_at(app: Flask) -> Any:
    return get_feed_status(app).read().get("heartbeat_at")


def test_a_beat_that_lost_its_lease_steps_down_and_stops_heartbeating(app: Flask) -> None:
    store = get_feed_status(app)
    mine, other = beat_lease(store, 15), beat_lease(store, 15)
    assert mine.acquire() and beat.beat_once(app, mine) and beat.ACTIVE.is_set()
    store.client.delete(mine.key)  # this beat was paused past its lease ...
    assert other.acquire()  # ... and another beat took over
    store.write(heartbeat_at=None)
    assert beat.beat_once(app, mine) is False
    assert not beat.ACTIVE.is_set() and heartbeat_at(app) is None
    other.release()  # the other beat stops: this one is active again
    assert beat.beat_once(app, mine) and beat.ACTIVE.is_set() and heartbeat_at(app) is not None


def test_a_stopping_beat_releases_its_lease(app: Flask) -> None:
    store = get_feed_status(app)
    stop = threading.Event()
    mine, standby = beat_lease(store, 15), beat_lease(store, 15)
    assert mine.acquire() and not standby.acquire()
    beat.release_on_exit(mine, stop)
    assert stop.is_set() and standby.acquire()  # at once, not after the lease's 15 s


def test_the_scheduler_sends_nothing_while_standing_by(app: Flask, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    monkeypatch.setattr(PersistentScheduler, "apply_entry", lambda self, entry, producer=None: sent.append(entry))
    scheduler = beat.LeasedScheduler(app=celery_init_app(app), schedule_filename=str(tmp_path / "s"), lazy=True)
    entry = type("Entry", (), {"task": "pricewire.feed.run_cycle"})()
    beat.ACTIVE.clear()
    scheduler.apply_entry(entry)
    assert sent == []
    beat.ACTIVE.set()
    scheduler.apply_entry(entry)
    assert sent == [entry]
