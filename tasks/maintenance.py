"""Housekeeping on a schedule: history older than HISTORY_RETENTION_DAYS is pruned (beat, or the embedded loop)."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from flask import Flask, current_app

from infra.settings import get_settings
from models.base import utcnow
from models.retention import prune_history
from protocol.feed_control import TASK_PRUNE_HISTORY

logger = logging.getLogger("pricewire.maintenance")

PRUNE_PERIOD_SECONDS = 3600


def prune_expired_history(app: Flask, *, days: int | None = None, dry_run: bool = False) -> dict[str, int]:
    """Prune what is older than `days` or the app's retention (nothing when HISTORY_RETENTION_DAYS is 0)."""
    days = get_settings(app).history_retention_days if days is None else days
    if days <= 0:
        return {}
    counts = prune_history(utcnow() - timedelta(days=days), dry_run=dry_run)
    logger.info("history pruned", extra={"retention_days": days, "dry_run": dry_run, **counts})
    return counts


@shared_task(name=TASK_PRUNE_HISTORY, ignore_result=True)
def prune_history_task() -> dict[str, int]:
    """Beat's hourly retention run."""
    return prune_expired_history(current_app._get_current_object())  # type: ignore[attr-defined]
