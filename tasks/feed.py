"""Celery tasks of the price feed: thin shells over tasks.pipeline (symbols in, retries, logging).

Reliability choices:
- acks_late with prefetch 1 (tasks/celery_app.py): a batch is acknowledged only after it ran, so a worker
  that vanishes mid-batch (killed, node lost) leaves the message unacknowledged and Redis hands it to
  another worker after the visibility timeout. Batches are idempotent: quotes are upserted only when
  changed, history rows are ON CONFLICT DO NOTHING on (asset, timestamp), and a delivery that already
  completed is skipped by its task id (tasks.locks.CompletedTasks).
- task_reject_on_worker_lost stays False: when only the pool child dies (OOM, segfault, hard time limit)
  the parent acknowledges the batch as failed instead of requeueing it. Requeueing would replay a batch
  that kills its child forever (with prefetch 1 it would block the queue); the next cycle fetches every
  tracked symbol again anyway, so at most one interval is lost and nothing is stored twice.
- Transient provider failures (timeouts, connection errors, 5xx in every source) retry only the failed
  symbols with exponential backoff and full jitter, a few times, well inside one interval; 4xx, throttling,
  open circuits and unknown symbols are recorded as failed and retried by the next cycle. Database
  errors retry the whole batch (it is idempotent).
- run_cycle (tasks.runner.run_cycle, shared with embedded mode) holds a Redis lock that expires below one
  interval, so two cycles in one interval (two beats, a backlog) run once; beat sends cycles with
  expires=interval, so a backlog is dropped, not replayed.
- Batches are sent by name with results ignored (tasks.executors.CeleryExecutor): no chord, nobody waits
  on an AsyncResult.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task, shared_task, signals
from flask import Flask, current_app
from sqlalchemy.exc import InterfaceError, OperationalError

from infra.feed_status import get_feed_status
from infra.settings import get_settings
from protocol.feed_control import TASK_REVALUE, TASK_RUN_CYCLE, TASK_UPDATE_BATCH
from tasks import pipeline, runner
from tasks.beat import start_beat
from tasks.executors import CeleryExecutor
from tasks.locks import CompletedTasks
from tasks.market_data import MarketDataError

logger = logging.getLogger("pricewire.price_feed")



@shared_task(name=TASK_RUN_CYCLE, bind=True, ignore_result=True)
def run_cycle(self: Task) -> dict[str, Any]:
    """Pick the tracked symbols and enqueue their batches, unless another cycle ran this interval."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return runner.run_cycle(app, CeleryExecutor.for_app(app, self.app))


@shared_task(name=TASK_UPDATE_BATCH, bind=True, ignore_result=True, acks_late=True,
             autoretry_for=(OperationalError, InterfaceError), retry_backoff=True,
             retry_backoff_max=30, retry_jitter=True, max_retries=pipeline.MAX_RETRIES)
def update_batch(self: Task, symbols: list[str], force: bool = False, cycle_id: str | None = None,
                 batch_no: int | None = None) -> dict[str, Any]:
    """Fetch, store and publish one batch; retry transient provider failures of its symbols."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    store = get_feed_status(app)
    interval = get_settings(app).realtime_update_interval
    completed = CompletedTasks(store.client, store.prefix, ttl=max(3600, 10 * interval))
    if completed.seen(self.request.id):
        logger.info("update_batch skipped: this delivery already completed", extra={"task_id": self.request.id})
        return {"skipped": True}
    logger.info("update_batch started", extra={"symbols": len(symbols), "cycle_id": cycle_id, "batch_no": batch_no,
                                               "attempt": self.request.retries})
    # A retry fetches fresh quotes: a cached one would hide the recovery it waits for.
    # Revaluation runs in its own task after the batch: a round over every holder can take longer than a
    # cycle, and a batch that waited for it would hold the cycle (and the next ones) open.
    batch = pipeline.process_batch(symbols, force=force or self.request.retries > 0, revalue_now=False)
    retry = pipeline.should_retry(batch, self.request.retries)
    pipeline.finish_batch(store, cycle_id, batch_no, batch, final=not retry)
    if batch.changed:
        revalue_portfolios.apply_async()
    if retry:
        countdown = pipeline.retry_countdown(self.request.retries, interval)
        logger.info("update_batch retrying transient failures",
                    extra={"symbols": retry, "countdown": countdown, "attempt": self.request.retries + 1})
        raise self.retry(kwargs={"symbols": retry, "force": True, "cycle_id": cycle_id, "batch_no": batch_no},
                         countdown=countdown, max_retries=pipeline.MAX_RETRIES, exc=MarketDataError("; ".join(
                             f"{s}: {batch.failed[s]}" for s in retry)))
    completed.mark(self.request.id)
    return {"symbols": len(batch.results), "successes": batch.successes, "failures": len(batch.failed),
            "changed": len(batch.changed)}


@shared_task(name=TASK_REVALUE, ignore_result=True, soft_time_limit=600, time_limit=660)
def revalue_portfolios() -> dict[str, int]:
    """Revaluation rounds for the symbols batches left (tasks.revaluer): returns at once if a round runs."""
    return {"rounds": pipeline.revalue_pending()}


@signals.beat_init.connect
def _start_beat_heartbeat(sender: Any = None, **_: Any) -> None:
    """Beat starts: wait until it holds the lease (exactly one beat runs), then heartbeat (tasks.beat)."""
    app: Flask | None = getattr(getattr(sender, "app", None), "flask_app", None)
    if app is not None:
        start_beat(app, time.sleep)
