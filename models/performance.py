"""A portfolio's returns over 1D, 1W, 1M, YTD, 1Y and ALL, from its day-end snapshots and its external flows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Date, cast, func, select

from models.base import db
from models.currency import round_money, round_percent
from models.ledger import FLOW_TYPES, external_flow
from models.ledger_store import entry_of
from models.market import Asset
from models.portfolio import PortfolioValue, Transaction
from models.returns import Flow, daily_values, money_weighted, time_weighted
from protocol.wire import iso

PERIODS = ("1D", "1W", "1M", "YTD", "1Y", "ALL")
_DAYS = {"1D": 1, "1W": 7, "1Y": 365}
PERIOD_ERROR = f"period must be one of {', '.join(PERIODS)}"


def period_start(period: str, now: datetime, first: datetime | None) -> datetime:
    """When `period` began: calendar month for 1M, 1 January (UTC) for YTD, the first record for ALL."""
    if period in _DAYS:
        return now - timedelta(days=_DAYS[period])
    if period == "1M":
        month, year = (now.month - 2) % 12 + 1, now.year - (now.month == 1)
        return now.replace(year=year, month=month, day=min(now.day, 28))
    if period == "YTD":
        return datetime(now.year, 1, 1, tzinfo=UTC)
    # Just before the first record, so a first deposit counts as a flow of the period.
    return (first or now) - timedelta(seconds=1)


def _day_expression() -> ColumnElement[Any]:
    """The UTC calendar day of a snapshot, on either backend."""
    if db.engine.dialect.name == "postgresql":
        return cast(func.timezone("UTC", PortfolioValue.timestamp), Date)
    return func.date(PortfolioValue.timestamp)


def value_points(portfolio_id: int, since: datetime | None) -> list[tuple[datetime, Decimal]]:
    """The last snapshot of each day from the day before `since` (None: all), oldest first, in one query."""
    where = [PortfolioValue.portfolio_id == portfolio_id]
    if since is not None:
        where.append(PortfolioValue.timestamp >= since - timedelta(days=1))
    last_ids = select(func.max(PortfolioValue.id)).where(*where).group_by(_day_expression())
    rows = db.session.execute(
        select(PortfolioValue.timestamp, PortfolioValue.total_value).where(PortfolioValue.id.in_(last_ids))
        .order_by(PortfolioValue.timestamp)
    ).all()
    return [(row.timestamp, row.total_value) for row in rows]


def flows(portfolio_id: int) -> list[Flow]:
    """The portfolio's external flows in base (deposits, withdrawals, transfers), oldest first."""
    rows = db.session.execute(
        select(Transaction, Asset.symbol).outerjoin(Asset, Asset.id == Transaction.asset_id)
        .where(Transaction.portfolio_id == portfolio_id, Transaction.kind.in_(FLOW_TYPES))
        .order_by(Transaction.executed_at, Transaction.id)
    ).all()
    found = [(tx.executed_at, external_flow(entry_of(tx, symbol))) for tx, symbol in rows]
    return [Flow(at, amount) for at, amount in found if amount is not None]


def _pct(rate: Decimal | None) -> Decimal | None:
    return None if rate is None else round_percent(rate * 100)


def performance(portfolio_id: int, period: str, now: datetime, current_value: Decimal, base: str) -> dict[str, Any]:
    """TWR, MWR and the day-end value series (with each day's flows) of one period, ending now at current_value."""
    start = period_start(period, now, first_record(portfolio_id) if period == "ALL" else None)
    all_flows = flows(portfolio_id)
    points = [*value_points(portfolio_id, start), (now, current_value)]
    before = [(moment, value) for moment, value in points if moment <= start]
    start_value = before[-1][1] if before else Decimal(0)
    days = daily_values([(moment, value) for moment, value in points if moment > start])
    period_flows = [flow for flow in all_flows if start < flow.at <= now]
    twr = time_weighted(start_value, days, period_flows)
    mwr, mwr_period = money_weighted(start, start_value, now, current_value, period_flows)
    by_day: dict[Any, Decimal] = {}
    for flow in period_flows:
        by_day[flow.at.date()] = by_day.get(flow.at.date(), Decimal(0)) + flow.amount
    return {
        "period": period, "start": iso(start), "end": iso(now), "start_value": round_money(start_value, base),
        "end_value": round_money(current_value, base),
        "net_flows": round_money(sum((flow.amount for flow in period_flows), Decimal(0)), base),
        "twr_percent": _pct(twr), "mwr_percent": _pct(mwr), "mwr_period_percent": _pct(mwr_period),
        "series": [{"date": day.isoformat(), "value": round_money(value, base),
                    "flows": round_money(by_day.get(day, Decimal(0)), base)} for day, value in days],
    }


def first_record(portfolio_id: int) -> datetime | None:
    """The earliest transaction or snapshot of the portfolio (where ALL starts)."""
    firsts = [
        db.session.scalar(select(func.min(column)).where(model.portfolio_id == portfolio_id))
        for model, column in ((Transaction, Transaction.executed_at), (PortfolioValue, PortfolioValue.timestamp))
    ]
    known = [moment for moment in firsts if moment is not None]
    return min(known) if known else None
