"""The JSON API blueprint; routes live in the modules imported below."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("api", __name__)

from app.api import health, ledger, local, monitoring, portfolios, prices, realtime, watchlist  # noqa: E402,F401
