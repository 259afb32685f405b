"""Celery entry point: `celery -A celery_worker.celery worker|beat|flower`."""

from __future__ import annotations

from app import create_app
from tasks.celery_app import celery_init_app
from tasks.wiring import attach_feed

flask_app = create_app()
celery = celery_init_app(flask_app)
attach_feed(flask_app)
celery.autodiscover_tasks(["tasks"], related_name="feed", force=True)
