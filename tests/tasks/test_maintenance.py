"""Housekeeping: beat schedules the hourly history pruning, and the task prunes by the app's retention."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from flask import Flask
from sqlalchemy import func, select

from infra.settings import get_settings
from models import Asset, PriceHistory, db
from models.base import utcnow
from protocol.feed_control import TASK_PRUNE_HISTORY
from tasks.celery_app import celery_config, celery_init_app
from tasks.maintenance import PRUNE_PERIOD_SECONDS, prune_history_task


def test_beat_runs_the_pruning_hourly(app: Flask) -> None:
    entry = celery_config(get_settings(app))["beat_schedule"]["pricewire-prune-history"]
    assert entry["task"] == TASK_PRUNE_HISTORY and entry["schedule"] == PRUNE_PERIOD_SECONDS
    assert TASK_PRUNE_HISTORY in celery_init_app(app).tasks  # the worker knows the task by that name


def test_the_task_prunes_past_the_retention(app: Flask) -> None:
    asset = Asset(symbol="NVDA", name="Nvidia", currency="USD")
    db.session.add(asset)
    for days in (401, 3):
        db.session.add(PriceHistory(asset=asset, timestamp=utcnow() - timedelta(days=days), price=Decimal("3"),
                                    source="simulated"))
    db.session.commit()
    celery_init_app(app)  # tasks run in this app's context
    assert prune_history_task() == {"price_history": 1, "portfolio_values": 0, "portfolio_values_compacted": 0}
    assert db.session.scalar(select(func.count()).select_from(PriceHistory)) == 1
