"""The owner's portfolios: list with valuation summaries, full current valuation, snapshot history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Response, request
from flask_login import current_user
from sqlalchemy import select

from app.api import blueprint
from app.api.history import DAYS_ERROR, parse_days, thinned_series
from app.api.monitoring import json_response
from app.extensions import db, login_required
from infra.revaluation import valuation_limits
from models.base import utcnow
from models.performance import PERIOD_ERROR, PERIODS, performance
from models.portfolio import Portfolio, PortfolioValue
from models.portfolio_loading import owned_portfolio
from models.portfolio_valuation import portfolio_update_data, value_portfolios
from protocol.wire import iso

DEFAULT_HISTORY_DAYS = 30
NOT_FOUND = {"error": "portfolio not found"}
SUMMARY_FIELDS = (
    "portfolio_id", "name", "base_currency", "total_value", "daily_change", "daily_change_percent",
    "total_return", "total_return_percent", "stale_value", "stale_share_percent", "stale_positions",
)


@blueprint.get("/api/portfolios")
@login_required
def list_portfolios() -> Response:
    """The user's portfolios, each with its current valuation summary."""
    portfolios = db.session.execute(
        select(Portfolio.id, Portfolio.seq, Portfolio.created_at)
        .where(Portfolio.user_id == current_user.id)
        .order_by(Portfolio.id)
    ).all()
    valuations = value_portfolios((row.id for row in portfolios), limits=valuation_limits())
    items = []
    for row in portfolios:
        valued = valuations[row.id]
        valuation = valued.as_dict()
        summary = {name: valuation[name] for name in SUMMARY_FIELDS}
        summary.update(
            positions=len(valuation["positions"]),
            seq=row.seq,
            as_of=None if valued.as_of is None else iso(valued.as_of),
            created_at=iso(row.created_at),
        )
        items.append(summary)
    return json_response({"portfolios": items})


@blueprint.get("/api/portfolios/<id:portfolio_id>")
@login_required
def get_portfolio(portfolio_id: int) -> Response:
    """The full current valuation (the portfolio_update data) of one owned portfolio."""
    if owned_portfolio(current_user.id, portfolio_id) is None:
        return json_response(NOT_FOUND, 404)
    data = portfolio_update_data(portfolio_id, limits=valuation_limits())
    return json_response(data) if data is not None else json_response(NOT_FOUND, 404)


@blueprint.get("/api/portfolios/<id:portfolio_id>/history")
@login_required
def portfolio_history(portfolio_id: int) -> Response:
    """Stored valuation snapshots of the last `days` days, oldest first."""
    if owned_portfolio(current_user.id, portfolio_id) is None:
        return json_response(NOT_FOUND, 404)
    days = parse_days(request.args.get("days"), DEFAULT_HISTORY_DAYS)
    if days is None:
        return json_response(DAYS_ERROR, 400)
    since = utcnow() - timedelta(days=days)
    snapshots, thinned = history_snapshots(portfolio_id, since)
    return json_response({"portfolio_id": portfolio_id, "days": days, "since": iso(since),
                          "thinned": thinned, "snapshots": snapshots})


@blueprint.get("/api/portfolios/<id:portfolio_id>/performance")
@login_required
def portfolio_performance(portfolio_id: int) -> Response:
    """TWR, MWR and the day-end value series of `period` (1D, 1W, 1M, YTD, 1Y, ALL; default 1M)."""
    if (portfolio := owned_portfolio(current_user.id, portfolio_id)) is None:
        return json_response(NOT_FOUND, 404)
    period = request.args.get("period", "1M").upper()
    if period not in PERIODS:
        return json_response({"error": PERIOD_ERROR, "fields": {"period": PERIOD_ERROR}}, 400)
    now = utcnow()
    valuation = value_portfolios([portfolio_id], now, valuation_limits())[portfolio_id]
    data = performance(portfolio_id, period, now, valuation.total_value, portfolio.base_currency)
    return json_response({"portfolio_id": portfolio_id, "base_currency": portfolio.base_currency, **data})


def history_snapshots(portfolio_id: int, since: datetime) -> tuple[list[dict[str, Any]], bool]:
    """Snapshots from `since`, oldest first, thinned evenly to MAX_HISTORY_POINTS (newest kept)."""
    rows, thinned = thinned_series(
        PortfolioValue, ("timestamp", "total_value", "daily_change", "stale_value"),
        (PortfolioValue.timestamp, PortfolioValue.id),
        (PortfolioValue.portfolio_id == portfolio_id, PortfolioValue.timestamp >= since),
    )
    points = [
        {"timestamp": iso(row.timestamp), "total_value": row.total_value,
         "daily_change": row.daily_change, "stale_value": row.stale_value}
        for row in rows
    ]
    return points, thinned
