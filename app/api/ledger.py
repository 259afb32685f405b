"""Creating, changing and deleting portfolios and their transactions (owner only; every change revalues at once)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, request
from flask_login import current_user
from sqlalchemy import func, select

from app.api import blueprint
from app.api.history import parse_bounded_int
from app.api.monitoring import json_response
from app.extensions import db, login_required
from infra.revaluation import revalue_portfolios, valuation_limits
from models.base import utcnow
from models.ledger_service import (
    add_transaction,
    change_portfolio,
    change_transaction,
    create_portfolio,
    delete_portfolio,
    remove_transaction,
    transaction_data,
)
from models.market import Asset
from models.portfolio import Portfolio, Transaction
from models.portfolio_loading import owned_portfolio
from models.portfolio_valuation import portfolio_update_data
from models.transaction_input import InvalidTransaction

NOT_FOUND = {"error": "portfolio not found"}
TRANSACTION_NOT_FOUND = {"error": "transaction not found"}
MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 100


def _invalid(exc: InvalidTransaction) -> Response:
    """400 naming every bad field."""
    return json_response({"error": str(exc), "fields": exc.errors}, 400)


def _body() -> dict[str, Any] | None:
    payload = request.get_json(silent=True)
    return payload if isinstance(payload, dict) else None


def _apply(portfolio_id: int, change: Callable[[], Any]) -> Any:
    """Run a change, commit, then revalue and publish the portfolio; InvalidTransaction rolls back."""
    try:
        result = change()
        db.session.commit()
    except InvalidTransaction:
        db.session.rollback()
        raise
    revalue_portfolios([portfolio_id])
    return result


BAD_BODY = {"error": "expected a JSON object"}


@blueprint.post("/api/portfolios")
@login_required
def post_portfolio() -> Response:
    """Create {"name", "base_currency"}: 201 with its id."""
    if (body := _body()) is None:
        return json_response(BAD_BODY, 400)
    try:
        portfolio = create_portfolio(current_user.id, body)
    except InvalidTransaction as exc:
        return _invalid(exc)
    db.session.commit()
    return json_response({"id": portfolio.id, "name": portfolio.name, "base_currency": portfolio.base_currency},
                         201)


@blueprint.patch("/api/portfolios/<id:portfolio_id>")
@login_required
def patch_portfolio(portfolio_id: int) -> Response:
    """Rename, or change the base currency of an empty ledger."""
    if (portfolio := owned_portfolio(current_user.id, portfolio_id)) is None:
        return json_response(NOT_FOUND, 404)
    if (body := _body()) is None:
        return json_response(BAD_BODY, 400)
    try:
        _apply(portfolio_id, lambda: change_portfolio(portfolio, body))
    except InvalidTransaction as exc:
        return _invalid(exc)
    return json_response(portfolio_update_data(portfolio_id, limits=valuation_limits()))


@blueprint.delete("/api/portfolios/<id:portfolio_id>")
@login_required
def remove_portfolio(portfolio_id: int) -> Response:
    """Delete a portfolio with its ledger and history: 204."""
    if (portfolio := owned_portfolio(current_user.id, portfolio_id)) is None:
        return json_response(NOT_FOUND, 404)
    delete_portfolio(portfolio)
    db.session.commit()
    return Response(status=204)


@blueprint.get("/api/portfolios/<id:portfolio_id>/transactions")
@login_required
def list_transactions(portfolio_id: int) -> Response:
    """The ledger, newest first, `per_page` (1..500, default 100) at a time from `page` 1."""
    if owned_portfolio(current_user.id, portfolio_id) is None:
        return json_response(NOT_FOUND, 404)
    page = parse_bounded_int(request.args.get("page"), 1, 10**6)
    per_page = parse_bounded_int(request.args.get("per_page"), DEFAULT_PER_PAGE, MAX_PER_PAGE)
    if page is None or per_page is None:
        field = "page" if page is None else "per_page"
        return json_response({"error": f"{field} must be a whole number of at least 1", "fields": {field: "bad"}},
                             400)
    where = Transaction.portfolio_id == portfolio_id
    total = db.session.scalar(select(func.count()).select_from(Transaction).where(where)) or 0
    rows = db.session.execute(
        select(Transaction, Asset.symbol).outerjoin(Asset, Asset.id == Transaction.asset_id).where(where)
        .order_by(Transaction.executed_at.desc(), Transaction.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return json_response({"portfolio_id": portfolio_id, "page": page, "per_page": per_page, "total": total,
                          "transactions": [transaction_data(tx, symbol) for tx, symbol in rows]})


@blueprint.post("/api/portfolios/<id:portfolio_id>/transactions")
@login_required
def post_transaction(portfolio_id: int) -> Response:
    """Record a transaction: 201 with its id; the portfolio is revalued and published at once."""
    if (portfolio := owned_portfolio(current_user.id, portfolio_id)) is None:
        return json_response(NOT_FOUND, 404)
    if (body := _body()) is None:
        return json_response(BAD_BODY, 400)
    try:
        tid = _apply(portfolio_id, lambda: add_transaction(portfolio, body, utcnow()))
    except InvalidTransaction as exc:
        return _invalid(exc)
    return json_response({"id": tid, "transaction": _one(portfolio_id, tid)}, 201)


def _one(portfolio_id: int, tid: int) -> dict[str, Any] | None:
    row = db.session.execute(
        select(Transaction, Asset.symbol).outerjoin(Asset, Asset.id == Transaction.asset_id)
        .where(Transaction.id == tid, Transaction.portfolio_id == portfolio_id)
    ).first()
    return None if row is None else transaction_data(row[0], row[1])


def _owned_transaction(portfolio_id: int, tid: int) -> tuple[Portfolio, Transaction] | None:
    portfolio = owned_portfolio(current_user.id, portfolio_id)
    tx = None if portfolio is None else db.session.scalar(
        select(Transaction).where(Transaction.id == tid, Transaction.portfolio_id == portfolio_id))
    return None if portfolio is None or tx is None else (portfolio, tx)


@blueprint.patch("/api/portfolios/<id:portfolio_id>/transactions/<id:tid>")
@login_required
def patch_transaction(portfolio_id: int, tid: int) -> Response:
    """Change some fields of a transaction."""
    if (found := _owned_transaction(portfolio_id, tid)) is None:
        return json_response(TRANSACTION_NOT_FOUND, 404)
    if (body := _body()) is None:
        return json_response(BAD_BODY, 400)
    try:
        _apply(portfolio_id, lambda: change_transaction(*found, body, utcnow()))
    except InvalidTransaction as exc:
        return _invalid(exc)
    return json_response({"id": tid, "transaction": _one(portfolio_id, tid)})


@blueprint.delete("/api/portfolios/<id:portfolio_id>/transactions/<id:tid>")
@login_required
def delete_transaction(portfolio_id: int, tid: int) -> Response:
    """Delete a transaction: 204."""
    if (found := _owned_transaction(portfolio_id, tid)) is None:
        return json_response(TRANSACTION_NOT_FOUND, 404)
    try:
        _apply(portfolio_id, lambda: remove_transaction(*found))
    except InvalidTransaction as exc:
        return _invalid(exc)
    return Response(status=204)
