"""Celery entry point: `celery -A celery_worker.celery worker|beat|flower`."""

from __future__ import annotations

import logging

from celery.signals import setup_logging

from app import create_app
from app.logging_setup import log_to_stdout
from infra.settings import get_settings
from tasks.celery_app import celery_init_app
from tasks.wiring import attach_feed

flask_app = create_app()
celery = celery_init_app(flask_app)
attach_feed(flask_app)
celery.autodiscover_tasks(["tasks"], related_name="feed", force=True)


@setup_logging.connect
def _celery_logs_like_ours(**_: object) -> None:
    """Celery's own loggers in our format; ours are set up by create_app (so no line is logged twice)."""
    log_to_stdout(logging.getLogger("celery"), get_settings(flask_app))
