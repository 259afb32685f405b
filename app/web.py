"""Server-rendered pages: the dashboard."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, make_response, render_template, request
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db, login_required
from infra.settings import get_settings
from models import Portfolio
from models.ledger import TYPES
from models.performance import PERIODS

blueprint = Blueprint("web", __name__)

HISTORY_DAYS = 7


@blueprint.get("/")
@login_required
def dashboard() -> Any:
    """The live dashboard of the logged-in user; `?portfolio=<id>` picks one of several."""
    portfolios = list(
        db.session.scalars(select(Portfolio).where(Portfolio.user_id == current_user.id).order_by(Portfolio.id))
    )
    wanted = request.args.get("portfolio", type=int)
    selected = next((p for p in portfolios if p.id == wanted), portfolios[0] if portfolios else None)
    response = make_response(
        render_template(
            "dashboard.html",
            user=current_user,
            portfolios=portfolios,
            portfolio=selected,
            # Position valuations carry symbols only; the table shows the company names too.
            asset_names={p.asset.symbol: p.asset.name for p in selected.positions} if selected else {},
            stale_after=get_settings().data_stale_after_seconds,
            history_days=HISTORY_DAYS,
            transaction_types=TYPES,
            performance_periods=PERIODS,
        )
    )
    # After logout the back button must not show a cached page of someone's holdings.
    response.headers["Cache-Control"] = "no-store"
    return response
