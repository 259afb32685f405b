"""The JSON API blueprint; routes live in the modules imported below."""

from __future__ import annotations

from flask import Blueprint
from werkzeug.routing import IntegerConverter

from protocol.client import MAX_ID

blueprint = Blueprint("api", __name__)


def _digits_up_to(limit: int) -> str:
    """A regex matching exactly the decimal integers 1..limit (no leading zeros)."""
    text = str(limit)
    shorter = [rf"[1-9]\d{{0,{len(text) - 2}}}"] if len(text) > 1 else []
    same_length = [text]
    for index, digit in enumerate(text):
        low = 1 if index == 0 else 0
        if int(digit) > low:
            rest = len(text) - index - 1
            same_length.append(f"{text[:index]}[{low}-{int(digit) - 1}]" + (rf"\d{{{rest}}}" if rest else ""))
    return "(?:" + "|".join(shorter + same_length) + ")"


class RowIdConverter(IntegerConverter):
    """`<id:name>`: a positive row id; larger than a 32-bit id is no match (404), never a database error."""

    # The range lives in the regex: a value that matches the pattern but fails to_python would make werkzeug
    # answer 405 where another method's rule has the same path (PATCH/DELETE /api/portfolios/<id>).
    regex = _digits_up_to(MAX_ID)

    def __init__(self, map: object, *args: object, **kwargs: object) -> None:
        super().__init__(map, min=1, max=MAX_ID)  # type: ignore[arg-type]

from app.api import health, ledger, local, monitoring, portfolios, prices, realtime, watchlist  # noqa: E402,F401 - registers routes
