"""Portfolio history at a bounded resolution: one stored point per portfolio per period (the newest of it).

Live values are pushed on every change; what is stored is coarser. Within one period of
PORTFOLIO_HISTORY_RESOLUTION_SECONDS (60: a point a minute) a revaluation overwrites the portfolio's newest
point instead of adding one, so each period keeps its newest value and a day holds at most 1,440 points per
portfolio (390 for a US session). After PORTFOLIO_HISTORY_INTRADAY_DAYS (7) the points of a UTC day are
reduced to its newest one, the daily close, which is kept until HISTORY_RETENTION_DAYS.
0 disables either step (every change stored; intraday points kept). Both come from the caller's
Settings (infra.revaluation, tasks.maintenance): this module reads no configuration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, func, insert, select, update

from models.base import db
from models.portfolio import PortfolioValue

_DAY_SECONDS = 86400  # Unix time has no leap seconds: a multiple of it is a UTC midnight


class Stored(Protocol):
    """A portfolio's newest stored point, as the revaluation loaded it."""

    @property
    def timestamp(self) -> datetime:
        """When it was valued."""

    @property
    def id(self) -> int | None:
        """Its row id (None when unknown)."""


def same_period(first: datetime, second: datetime, seconds: int) -> bool:
    """Whether two moments fall in the same period of `seconds`; periods start at each UTC midnight.

    So no period spans two days, whatever `seconds` is: the first point after midnight never overwrites
    the day's close, which returns and the daily chart read (with 7 or 90000 the epoch's periods did).
    """
    if seconds <= 0:
        return False
    day_first, into_first = divmod(int(first.timestamp()), _DAY_SECONDS)
    day_second, into_second = divmod(int(second.timestamp()), _DAY_SECONDS)
    return day_first == day_second and into_first // seconds == into_second // seconds


def split_writes(rows: Iterable[dict[str, Any]], newest: Mapping[int, Stored | None],
                 seconds: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows to insert, rows that overwrite the newest point of the same period, with its `id`)."""
    inserts, updates = [], []
    for row in rows:
        last = newest.get(row["portfolio_id"])
        if last is not None and last.id is not None and same_period(last.timestamp, row["timestamp"], seconds):
            updates.append({**row, "id": last.id})
        else:
            inserts.append(row)
    return inserts, updates


def _utc_day(stamp: Any) -> Any:
    """The UTC date of a timestamp column (PostgreSQL would use the session's time zone otherwise)."""
    if db.engine.dialect.name == "postgresql":
        return func.date(func.timezone("UTC", stamp))
    return func.date(stamp)


def _superseded(before: datetime) -> Any:
    """Ids of points before `before` with a newer point of the same portfolio on the same UTC day."""
    ranked = select(
        PortfolioValue.id,
        func.row_number().over(
            partition_by=(PortfolioValue.portfolio_id, _utc_day(PortfolioValue.timestamp)),
            order_by=(PortfolioValue.timestamp.desc(), PortfolioValue.id.desc()),
        ).label("rank"),
    ).where(PortfolioValue.timestamp < before).subquery()
    return select(ranked.c.id).where(ranked.c.rank > 1)


def compact_to_daily_closes(before: datetime, *, dry_run: bool = False, chunk_rows: int = 5000) -> int:
    """Reduce each portfolio's points before `before` to one per UTC day, its newest; how many went (would go)."""
    if dry_run:
        return int(db.session.scalar(select(func.count()).select_from(_superseded(before).subquery())) or 0)
    removed = 0
    while ids := list(db.session.scalars(_superseded(before).limit(chunk_rows))):
        db.session.execute(delete(PortfolioValue).where(PortfolioValue.id.in_(ids)))
        db.session.commit()
        removed += len(ids)
    return removed


def store_points(rows: list[dict[str, Any]], newest: Mapping[int, Stored | None],
                 seconds: int) -> tuple[int, int]:
    """Insert the points opening a period of `seconds`, overwrite the newest of the rest; (inserted, overwritten)."""
    inserts, updates = split_writes(rows, newest, seconds)
    if inserts:
        db.session.execute(insert(PortfolioValue), inserts)
    if updates:
        db.session.execute(update(PortfolioValue), updates)  # by primary key: one executemany
    return len(inserts), len(updates)
