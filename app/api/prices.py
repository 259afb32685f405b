"""Forced price refresh (handed to the feed) and price history for charts."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, current_app, request
from flask_login import current_user
from sqlalchemy import select

from app.api import blueprint
from app.api.history import DAYS_ERROR, parse_days, thinned_series
from app.api.monitoring import json_response
from app.extensions import db, login_required
from app.realtime.feed_requests import admit_symbols
from models.market import Asset, PriceHistory
from protocol.client import MAX_SYMBOLS_PER_MESSAGE
from protocol.codes import ProtocolError
from protocol.feed_control import FEED_CONTROL_EXTENSION, FeedControl
from protocol.symbols import normalize_symbol

logger = logging.getLogger("pricewire.realtime")

MAX_REFRESH_SYMBOLS = MAX_SYMBOLS_PER_MESSAGE
DEFAULT_HISTORY_DAYS = 7


class BadRequest(ValueError):
    """A request we refuse with 400 (or `status`) and this message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def refresh_symbols(payload: Any) -> list[str]:
    """The validated, de-duplicated symbols of a refresh body {"symbols": [...]}."""
    if not isinstance(payload, dict) or "symbols" not in payload:
        raise BadRequest('expected a JSON object {"symbols": [...]}')
    raw = payload["symbols"]
    if not isinstance(raw, list) or not raw:
        raise BadRequest("symbols must be a non-empty list")
    if len(raw) > MAX_REFRESH_SYMBOLS:
        raise BadRequest(f"at most {MAX_REFRESH_SYMBOLS} symbols per request")
    try:
        return list(dict.fromkeys(normalize_symbol(item) for item in raw))
    except ProtocolError as exc:
        raise BadRequest(exc.message) from None


@blueprint.post("/api/prices/refresh")
@login_required
def refresh_prices() -> Response:
    """Ask the price feed to update these symbols now; 202 with what the feed answered."""
    if not request.is_json:
        return json_response({"error": 'expected Content-Type: application/json and {"symbols": [...]}'}, 415)
    try:
        symbols = refresh_symbols(request.get_json(silent=True))
    except BadRequest as exc:
        return json_response({"error": exc.message}, exc.status)
    control: FeedControl | None = current_app.extensions.get(FEED_CONTROL_EXTENSION)
    if control is None:
        return json_response({"error": "price feed not attached"}, 503)
    # The same rule as sockets: stored or provider-confirmed symbols only, within the user's feed-request cap.
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    admission = admit_symbols(app, current_user.id, symbols, track=False)
    if not admission.accepted:
        return json_response({"error": "; ".join(admission.errors)}, 400)
    try:
        result = dict(control.refresh(admission.accepted))
    except Exception:  # e.g. the broker is down; the client may retry later
        logger.exception("price refresh failed", extra={"symbols": symbols, "user_id": current_user.id})
        return json_response({"error": "price refresh could not be scheduled"}, 503)
    logger.info("price refresh requested", extra={"symbols": admission.accepted, "user_id": current_user.id})
    if admission.errors:
        result["refused"] = admission.errors
    return json_response(result, 202)


def history_days(raw: str | None) -> int:
    """The `days` query parameter: a whole number 1..365, default 7."""
    days = parse_days(raw, DEFAULT_HISTORY_DAYS)
    if days is None:
        raise BadRequest(DAYS_ERROR["error"])
    return days


def history_points(asset_id: int, since: datetime) -> tuple[list[dict[str, Any]], bool]:
    """Points from `since`, oldest first, thinned to MAX_HISTORY_POINTS; and whether thinning happened."""
    rows, thinned = thinned_series(
        PriceHistory, ("timestamp", "price", "volume", "source"), (PriceHistory.timestamp,),
        (PriceHistory.asset_id == asset_id, PriceHistory.timestamp >= since),
    )
    points = [{"timestamp": row.timestamp, "price": row.price, "volume": row.volume, "source": row.source}
              for row in rows]
    return points, thinned


@blueprint.get("/api/prices/<symbol>/history")
@login_required
def price_history(symbol: str) -> Response:
    """Stored prices of one asset over the last `days` days, oldest first."""
    try:
        normalized = normalize_symbol(symbol)
        days = history_days(request.args.get("days"))
    except ProtocolError as exc:
        return json_response({"error": exc.message}, 400)
    except BadRequest as exc:
        return json_response({"error": exc.message}, exc.status)
    asset_id = db.session.scalar(select(Asset.id).where(Asset.symbol == normalized))
    if asset_id is None:
        return json_response({"error": f"unknown symbol: {normalized}"}, 404)
    points, downsampled = history_points(asset_id, datetime.now(UTC) - timedelta(days=days))
    return json_response({
        "symbol": normalized,
        "days": days,
        "count": len(points),
        "downsampled": downsampled,
        "history": points,
    })
