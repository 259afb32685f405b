"""The dashboard watchlist: list (with each symbol's latest quote), add, remove."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask_login import current_user
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from app.api import blueprint
from app.api.monitoring import json_response
from app.extensions import db, login_required
from infra.settings import get_settings
from models.market import Asset, WatchlistItem, get_or_create_asset
from models.snapshots import quote_snapshots
from protocol.codes import ProtocolError
from protocol.symbols import normalize_symbol
from protocol.wire import iso

# Each new symbol may create an Asset the feed then tracks: keep one user from flooding it.
MAX_WATCHLIST_ITEMS = 50


def _item(symbol: str, name: str, added: Any, quote: dict[str, Any] | None) -> dict[str, Any]:
    return {"symbol": symbol, "name": name, "added_at": iso(added), "quote": quote}


def _items(user_id: int, symbol: str | None = None) -> list[dict[str, Any]]:
    """The user's items (or just `symbol`), oldest first, each with its latest quote."""
    query = (
        select(Asset.symbol, Asset.name, WatchlistItem.created_at)
        .join(Asset, Asset.id == WatchlistItem.asset_id)
        .where(WatchlistItem.user_id == user_id)
        .order_by(WatchlistItem.created_at, WatchlistItem.id)
    )
    if symbol is not None:
        query = query.where(Asset.symbol == symbol)
    rows = db.session.execute(query).all()
    quotes = quote_snapshots((row.symbol for row in rows), get_settings().data_stale_after_seconds)
    return [_item(row.symbol, row.name, row.created_at, quotes.get(row.symbol)) for row in rows]


@blueprint.get("/api/watchlist")
@login_required
def get_watchlist() -> Response:
    """The user's watched symbols with their latest stored quotes (null until the feed has one)."""
    return json_response({"items": _items(current_user.id), "limit": MAX_WATCHLIST_ITEMS})


@blueprint.post("/api/watchlist")
@login_required
def add_to_watchlist() -> Response:
    """Watch {"symbol": ...}: 201 when added, 200 when already watched."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or "symbol" not in payload:
        return json_response({"error": 'expected a JSON object {"symbol": "..."}'}, 400)
    try:
        symbol = normalize_symbol(payload["symbol"])
    except ProtocolError as exc:
        return json_response({"error": exc.message}, 400)
    user_id = current_user.id
    if existing := _items(user_id, symbol):
        return json_response({"item": existing[0]}, 200)
    count = db.session.scalar(select(func.count()).select_from(WatchlistItem).where(WatchlistItem.user_id == user_id))
    if (count or 0) >= MAX_WATCHLIST_ITEMS:
        return json_response({"error": f"a watchlist holds at most {MAX_WATCHLIST_ITEMS} symbols"}, 409)
    asset = get_or_create_asset(symbol)
    db.session.add(WatchlistItem(user_id=user_id, asset_id=asset.id))
    try:
        db.session.commit()
    except IntegrityError:
        # A concurrent request of the same user added it first: same outcome.
        db.session.rollback()
        return json_response({"item": _items(user_id, symbol)[0]}, 200)
    return json_response({"item": _items(user_id, symbol)[0]}, 201)


@blueprint.delete("/api/watchlist/<path:symbol>")
@login_required
def remove_from_watchlist(symbol: str) -> Response:
    """Stop watching a symbol: 204, or 404 if it was not watched."""
    try:
        normalized = normalize_symbol(symbol)
    except ProtocolError as exc:
        return json_response({"error": exc.message}, 400)
    asset_id = select(Asset.id).where(Asset.symbol == normalized).scalar_subquery()
    removed = db.session.execute(
        delete(WatchlistItem)
        .where(WatchlistItem.user_id == current_user.id, WatchlistItem.asset_id == asset_id)
        .returning(WatchlistItem.id)
    ).all()
    db.session.commit()
    if not removed:
        return json_response({"error": "symbol not in watchlist"}, 404)
    return Response(status=204)
