"""The one feed runner: a cycle (lock, plan, staleness, batches), whatever runs the batches.

An executor (tasks.executors) decides where batches run: Celery workers (beat's cycles) or a gevent pool
in the serving process (embedded mode). `tasks.feed.run_cycle` (the Celery task), `tasks.embedded.EmbeddedFeed`
and the reference's facades in `tasks.services` are thin wrappers over `run_cycle`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask

from infra.bus import get_bus
from infra.feed_status import get_feed_status
from infra.settings import get_settings
from tasks import pipeline
from tasks.executors import BatchExecutor, BatchJob
from tasks.locks import cycle_lock

logger = logging.getLogger("pricewire.price_feed")


def run_cycle(app: Flask, executor: BatchExecutor, wait: bool = False) -> dict[str, Any]:
    """Pick the tracked symbols and run their batches, unless another cycle ran this interval (app context)."""
    started = time.monotonic()
    store, settings = get_feed_status(app), get_settings(app)
    interval = settings.realtime_update_interval
    if not cycle_lock(store, interval).acquire():
        store.incr("cycles_skipped")
        logger.info("price feed cycle skipped: another cycle ran this interval")
        return {"skipped": True}
    plan = pipeline.plan_cycle(store, settings.realtime_batch_size, interval)
    pipeline.check_stale(store, get_bus(app), settings.data_stale_after_seconds, bool(plan.symbols))
    if not plan.batches:
        pipeline.log_cycle({"cycle_id": plan.cycle_id, "symbols": 0, "batches": 0, "successes": 0,
                            "failures": 0, "duration": round(time.monotonic() - started, 3)})
        return {"cycle_id": plan.cycle_id, "symbols": 0, "batches": 0}
    force = pipeline.cycle_force(settings.realtime_cache_timeout, interval)
    executor.run([BatchJob(batch, force, plan.cycle_id, number) for number, batch in enumerate(plan.batches, 1)],
                 wait=wait)
    return {"cycle_id": plan.cycle_id, "symbols": len(plan.symbols), "batches": len(plan.batches)}
