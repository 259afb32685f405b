"""Shared by the price and portfolio history endpoints: the `days` argument and thinned time series."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select

from app.extensions import db

MAX_HISTORY_DAYS = 365
# Enough for a chart; longer ranges are thinned evenly in SQL, keeping the newest point.
MAX_HISTORY_POINTS = 2000


def parse_bounded_int(raw: str | None, default: int, maximum: int) -> int | None:
    """A query argument as a whole number 1..maximum (`default` when absent), or None when invalid."""
    if raw is None:
        return default
    text = raw.strip()
    # ASCII digits only ("²".isdigit() is true, int("²") raises) and no longer than `maximum` (no 4,300-digit int).
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)) or not 1 <= int(text) <= maximum:
        return None
    return int(text)


def parse_days(raw: str | None, default: int) -> int | None:
    """The `days` query argument as 1..MAX_HISTORY_DAYS (`default` when absent), or None when invalid."""
    return parse_bounded_int(raw, default, MAX_HISTORY_DAYS)


DAYS_ERROR = {"error": f"days must be a whole number from 1 to {MAX_HISTORY_DAYS}"}


def thinned_series(model: Any, columns: Sequence[str], order_by: Sequence[Any],
                   where: Sequence[ColumnElement[bool]]) -> tuple[list[Any], bool]:
    """Rows of `model` matching `where`, oldest first, evenly thinned to MAX_HISTORY_POINTS; and whether thinned."""
    total = db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    step = max(math.ceil(total / MAX_HISTORY_POINTS), 1)
    numbered = (
        select(*(getattr(model, name) for name in columns), func.row_number().over(order_by=order_by).label("n"))
        .where(*where)
        .subquery()
    )
    query = select(*(numbered.c[name] for name in columns))
    if step > 1:
        query = query.where(or_((numbered.c.n - 1) % step == 0, numbered.c.n == total))
    return list(db.session.execute(query.order_by(numbered.c.n)).all()), step > 1
