"""History retention: price history and portfolio snapshots older than anyone can read are deleted in chunks.

The API serves at most 365 days (app/api/history.py), so the default retention (HISTORY_RETENTION_DAYS,
400) never removes a row a chart could show. Each portfolio's newest snapshot is always kept; the
latest price of an asset lives in `quotes`, which is never pruned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from models.base import db
from models.market import PriceHistory
from models.portfolio import PortfolioValue

CHUNK_ROWS = 5000  # one short transaction each: the feed keeps writing meanwhile


def _expired(model: Any, before: datetime) -> Any:
    """The condition of the rows of `model` that may go."""
    condition = model.timestamp < before
    if model is PortfolioValue:  # a portfolio's newest snapshot stays, however old
        newest = select(func.max(PortfolioValue.id)).group_by(PortfolioValue.portfolio_id)
        condition = condition & PortfolioValue.id.not_in(newest)
    return condition


def prune_history(before: datetime, *, dry_run: bool = False, chunk_rows: int = CHUNK_ROWS) -> dict[str, int]:
    """Delete rows stamped before `before` (committed chunk by chunk); how many per table (or would, dry run)."""
    counts: dict[str, int] = {}
    for model in (PriceHistory, PortfolioValue):
        condition = _expired(model, before)
        if dry_run:
            count = db.session.scalar(select(func.count()).select_from(model).where(condition))
            counts[model.__tablename__] = count or 0
            continue
        removed = 0
        while ids := list(db.session.scalars(select(model.id).where(condition).order_by(model.id).limit(chunk_rows))):
            db.session.execute(delete(model).where(model.id.in_(ids)))
            db.session.commit()
            removed += len(ids)
        counts[model.__tablename__] = removed
    return counts
