"""Celery bound to the Flask app: every task runs inside an app context (Flask's celery example)."""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask

EXTENSION_KEY = "celery"


def celery_config(config: dict[str, Any]) -> dict[str, Any]:
    """Celery settings derived from the app config; reliability choices are explained in tasks/feed.py."""
    redis_url = config.get("REDIS_URL")
    interval = config["REALTIME_UPDATE_INTERVAL"]
    return {
        "broker_url": redis_url or "memory://",
        "result_backend": None,
        "task_ignore_result": True,
        "task_always_eager": redis_url is None,
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": "pricewire",
        # A late-acked task is redelivered after this long if its worker vanished: keep it above the
        # longest batch but near the interval, so a lost batch is finished by the next worker soon.
        "broker_transport_options": {"visibility_timeout": max(60, interval * 4)},
        "worker_concurrency": config["REALTIME_MAX_WORKERS"],
        "worker_hijack_root_logger": False,
        "broker_connection_retry_on_startup": True,
        "timezone": "UTC",
    }


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app for `app` and register it as an extension."""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.config_from_object(celery_config(app.config))
    celery.set_default()
    app.extensions[EXTENSION_KEY] = celery
    return celery
