"""Celery bound to the Flask app: every task runs inside an app context (Flask's celery example)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery, Task
from flask import Flask

from infra.redis_connect import celery_broker
from infra.settings import Settings, get_settings
from protocol.feed_control import TASK_PRUNE_HISTORY, TASK_RUN_CYCLE
from tasks.maintenance import PRUNE_PERIOD_SECONDS

EXTENSION_KEY = "celery"
DEFAULT_QUEUE = "pricewire"


def batch_expiry(settings: Settings) -> int:
    """Seconds a queued cycle or batch stays useful: one interval, after which the next cycle covers it."""
    return settings.realtime_update_interval


def time_limits(settings: Settings) -> tuple[int, int]:
    """(soft, hard) seconds per task: a batch may take two intervals (at least a minute), then it is stopped."""
    soft = max(60, 2 * settings.realtime_update_interval)
    return soft, soft + 30


def visibility_timeout(settings: Settings) -> int:
    """Seconds before Redis redelivers an unacknowledged batch to another worker.

    Above the hard time limit, so a batch still running is never handed out twice; CELERY_VISIBILITY_TIMEOUT
    overrides it (tests use a few seconds to see a killed worker's batch redelivered quickly).
    """
    interval = settings.realtime_update_interval
    return settings.celery_visibility_timeout or max(120, 4 * interval, time_limits(settings)[1] + 60)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings derived from the app's settings; the reliability choices are explained in tasks/feed.py."""
    redis_url = settings.redis_url
    broker_url, sentinel_options = celery_broker(redis_url) if redis_url else ("memory://", {})
    interval = settings.realtime_update_interval
    prefix = settings.redis_key_prefix or "pricewire"
    visibility = visibility_timeout(settings)
    soft, hard = time_limits(settings)
    return {
        "broker_url": broker_url,
        "result_backend": None,
        "task_ignore_result": True,
        "task_always_eager": redis_url is None,
        "task_acks_late": True,
        # A child that dies is acked, not requeued: requeueing can loop on a poison batch (tasks/feed.py).
        "task_reject_on_worker_lost": False,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": DEFAULT_QUEUE,
        "task_soft_time_limit": soft,
        "task_time_limit": hard,
        "broker_transport_options": {
            "visibility_timeout": visibility,
            # Every broker key (queues, unacked set, pidbox) lives under the deployment's prefix, so two
            # deployments (or two test runs) on one Redis never restore or consume each other's messages.
            "global_keyprefix": f"{prefix}:celery:",
            # Look for abandoned messages often enough to honour a short visibility timeout.
            "unacked_restore_interval": min(10, max(1, visibility // 4)),
            "unacked_restore_throttle": 1,
            **sentinel_options,  # master_name: kombu asks the sentinels for the master on every (re)connect
        },
        "worker_concurrency": settings.realtime_max_workers,
        "worker_hijack_root_logger": False,
        # Task events let Flower show every task with its name and arguments.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "broker_connection_retry_on_startup": True,
        "timezone": "UTC",
        # Beat's state lives with the app's other local files; celery_init_app creates the directory.
        "beat_schedule_filename": str(Path(settings.instance_path) / "celerybeat-schedule"),
        "imports": ("tasks.feed", "tasks.maintenance"),
        "beat_scheduler": "tasks.beat:LeasedScheduler",  # a beat that lost its lease sends nothing
        "beat_schedule": {
            "pricewire-feed-cycle": {
                "task": TASK_RUN_CYCLE,
                "schedule": float(interval),
                "options": {"expires": batch_expiry(settings)},
            },
            "pricewire-prune-history": {
                "task": TASK_PRUNE_HISTORY,
                "schedule": float(PRUNE_PERIOD_SECONDS),
                "options": {"expires": PRUNE_PERIOD_SECONDS},
            },
        },
    }


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app for `app` and register it as an extension."""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    # A fresh clone with SECRET_KEY set has no instance/ yet, and beat cannot open its schedule without it.
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    celery = Celery(app.name, task_cls=FlaskTask)
    celery.config_from_object(celery_config(get_settings(app)))
    celery.set_default()
    celery.flask_app = app  # beat's signal handlers reach the Flask app through this
    app.extensions[EXTENSION_KEY] = celery
    return celery
