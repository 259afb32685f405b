"""The JSON API blueprint; routes live in the modules imported below."""

from __future__ import annotations

from flask import Blueprint
from werkzeug.routing import IntegerConverter

from protocol.client import MAX_ID

blueprint = Blueprint("api", __name__)


class RowIdConverter(IntegerConverter):
    """`<id:name>`: a positive row id; larger than a 32-bit id is no match (404), never a database error."""

    def __init__(self, map: object, *args: object, **kwargs: object) -> None:
        super().__init__(map, min=1, max=MAX_ID)  # type: ignore[arg-type]

from app.api import health, ledger, local, monitoring, portfolios, prices, realtime, watchlist  # noqa: E402,F401 - registers routes
