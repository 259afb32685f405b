"""Exactly one active beat: a lease in Redis, renewed with the heartbeat, released when beat stops.

A beat that loses its lease (it was paused longer than the lease, and another beat took over) steps
down: it stops heartbeating and sends no more scheduled tasks (LeasedScheduler) until it holds the lease
again. A stopping beat releases its lease, so a restarted or standby beat takes over at once.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Any

from celery.beat import PersistentScheduler
from flask import Flask

from infra.bus import get_bus
from infra.feed_status import get_feed_status
from tasks import pipeline
from tasks.locks import ExpiringLock, beat_lease

logger = logging.getLogger("pricewire.price_feed")

ACTIVE = threading.Event()  # this process is the active beat: LeasedScheduler sends tasks only while set


class LeasedScheduler(PersistentScheduler):  # type: ignore[misc]
    """Celery beat's persistent scheduler that sends nothing while this beat is not the active one."""

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        """Send a due task, unless another beat holds the lease."""
        if not ACTIVE.is_set():
            logger.info("standby beat: not sending", extra={"task": entry.task})
            return
        super().apply_entry(entry, producer=producer)


def beat_once(app: Flask, lease: ExpiringLock) -> bool:
    """One heartbeat period: renew (or retake) the lease; heartbeat only while holding it. True when active."""
    store = get_feed_status(app)
    if not lease.renew():
        if ACTIVE.is_set():
            logger.error("beat lease held by another beat: this beat steps down to standby")
        ACTIVE.clear()
        return False
    if not ACTIVE.is_set():
        logger.info("this beat holds the lease: active")
    ACTIVE.set()
    store.heartbeat()
    pipeline.publish_heartbeat(get_bus(app), "beat")
    return True


def heartbeat_loop(app: Flask, lease: ExpiringLock, stop: threading.Event) -> None:
    """Renew the beat lease, record the heartbeat and publish it, every few seconds, until `stop`."""
    while not stop.is_set():
        try:
            beat_once(app, lease)
        except Exception:  # a Redis hiccup: keep beating
            logger.warning("beat heartbeat failed", exc_info=True)
        stop.wait(pipeline.HEARTBEAT_PERIOD)


def release_on_exit(lease: ExpiringLock, stop: threading.Event) -> None:
    """Beat is stopping: stop heartbeating and free the lease for the next beat."""
    stop.set()
    ACTIVE.clear()
    try:
        lease.release()
        logger.info("beat lease released")
    except Exception:  # Redis is gone: the lease expires on its own
        logger.warning("could not release the beat lease", exc_info=True)


def start_beat(app: Flask, wait: Any) -> threading.Event:
    """Wait (`wait(seconds)`) until this beat holds the lease, then heartbeat in a thread; returns its stop event."""
    lease = beat_lease(get_feed_status(app), ttl=3 * pipeline.HEARTBEAT_PERIOD)
    while not lease.acquire():
        logger.warning("another beat is active; this beat waits as a standby")
        wait(pipeline.HEARTBEAT_PERIOD)
    ACTIVE.set()
    stop = threading.Event()
    atexit.register(release_on_exit, lease, stop)
    threading.Thread(target=heartbeat_loop, args=(app, lease, stop), name="pricewire-heartbeat", daemon=True).start()
    return stop
