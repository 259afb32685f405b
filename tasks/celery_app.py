"""Celery bound to the Flask app: every task runs inside an app context (Flask's celery example)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from celery import Celery, Task
from flask import Flask

from infra.redis_connect import celery_broker
from protocol.feed_control import TASK_PRUNE_HISTORY, TASK_RUN_CYCLE
from tasks.maintenance import PRUNE_PERIOD_SECONDS

EXTENSION_KEY = "celery"
DEFAULT_QUEUE = "pricewire"


def batch_expiry(config: Mapping[str, Any]) -> int:
    """Seconds a queued cycle or batch stays useful: one interval, after which the next cycle covers it."""
    return int(config["REALTIME_UPDATE_INTERVAL"])


def time_limits(config: Mapping[str, Any]) -> tuple[int, int]:
    """(soft, hard) seconds per task: a batch may take two intervals (at least a minute), then it is stopped."""
    soft = max(60, 2 * int(config["REALTIME_UPDATE_INTERVAL"]))
    return soft, soft + 30


def visibility_timeout(config: Mapping[str, Any]) -> int:
    """Seconds before Redis redelivers an unacknowledged batch to another worker.

    Above the hard time limit, so a batch still running is never handed out twice; CELERY_VISIBILITY_TIMEOUT
    overrides it (tests use a few seconds to see a killed worker's batch redelivered quickly).
    """
    configured = int(config.get("CELERY_VISIBILITY_TIMEOUT") or 0)
    return configured or max(120, 4 * int(config["REALTIME_UPDATE_INTERVAL"]), time_limits(config)[1] + 60)


def celery_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Celery settings derived from the app config; the reliability choices are explained in tasks/feed.py."""
    redis_url = config.get("REDIS_URL")
    broker_url, sentinel_options = celery_broker(redis_url) if redis_url else ("memory://", {})
    interval = int(config["REALTIME_UPDATE_INTERVAL"])
    prefix = config.get("REDIS_KEY_PREFIX") or "pricewire"
    visibility = visibility_timeout(config)
    soft, hard = time_limits(config)
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
        "worker_concurrency": int(config["REALTIME_MAX_WORKERS"]),
        "worker_hijack_root_logger": False,
        # Task events let Flower show every task with its name and arguments.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "broker_connection_retry_on_startup": True,
        "timezone": "UTC",
        # Beat's state lives with the app's other local files; celery_init_app creates the directory.
        "beat_schedule_filename": str(Path(config["INSTANCE_PATH"]) / "celerybeat-schedule"),
        "imports": ("tasks.feed", "tasks.maintenance"),
        "beat_scheduler": "tasks.beat:LeasedScheduler",  # a beat that lost its lease sends nothing
        "beat_schedule": {
            "pricewire-feed-cycle": {
                "task": TASK_RUN_CYCLE,
                "schedule": float(interval),
                "options": {"expires": batch_expiry(config)},
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
    celery.config_from_object(celery_config(app.config))
    celery.set_default()
    celery.flask_app = app  # beat's signal handlers reach the Flask app through this
    app.extensions[EXTENSION_KEY] = celery
    return celery
