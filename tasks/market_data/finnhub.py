"""Finnhub: /api/v1/quote per symbol and daily candles for history."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from .base import HistoryPoint, InvalidDataError, QuoteResult, SourceError, SymbolError, UnknownSymbolError
from .http import HttpSource
from .validation import build_quote, check_not_future, parse_unix_time, to_positive, to_volume

__all__ = ["FinnhubSource"]

_QUOTE_FIELDS = ("c", "d", "dp", "h", "l", "o", "pc", "t")


def _body(value: Any, name: str) -> dict[str, Any]:
    """Return the JSON object or fail the whole response."""
    if not isinstance(value, dict):
        raise SourceError(f"{name}: unexpected response shape (body)")
    return value


class FinnhubSource(HttpSource):
    """Second fallback; one request per symbol, needs FINNHUB_API_KEY (sent as a header)."""

    name = "finnhub"
    requires_key = True
    key_setting = "FINNHUB_API_KEY"
    base_url_setting = "FINNHUB_BASE_URL"
    rate_limit_setting = "FINNHUB_RATE_LIMIT"
    default_base_url = "https://finnhub.io"
    default_rate_limit = 60
    batch_size = 1

    def auth_headers(self) -> dict[str, str]:
        """The header keeps the key out of URLs (and so out of access logs)."""
        return {"X-Finnhub-Token": self.api_key} if self.api_key else {}

    def fetch_quotes(self, symbols: Sequence[str]) -> dict[str, QuoteResult]:
        """Fetch each symbol with its own quote request (the manager sends one at a time)."""
        results: dict[str, QuoteResult] = {}
        for symbol in symbols:
            body = _body(self.http.get_json("/api/v1/quote", {"symbol": symbol}), self.name)
            try:
                results[symbol] = self._quote(symbol, body)
            except SymbolError as exc:
                results[symbol] = QuoteResult.failure(symbol, self.name, f"{self.name}: {exc}")
        return results

    def _quote(self, symbol: str, body: dict[str, Any]) -> QuoteResult:
        """Validate one quote; Finnhub answers unknown symbols with all zeros (or nulls)."""
        values = [body.get(field) for field in _QUOTE_FIELDS]
        if all(value in (0, None) and not isinstance(value, bool) for value in values):
            raise UnknownSymbolError("unknown symbol")
        return build_quote(
            symbol,
            self.name,
            price=body.get("c"),
            previous_close=body.get("pc"),
            change=body.get("d"),
            change_percent=body.get("dp"),
            high=body.get("h"),
            low=body.get("l"),
            currency=None,  # the quote endpoint does not say
            timestamp=parse_unix_time(body.get("t"), "t"),
            max_skew=self.max_clock_skew,
        )

    def fetch_history(self, symbol: str, days: int) -> list[HistoryPoint]:
        """Fetch the last ``days`` daily candles."""
        now = int(time.time())
        span = (days * 7 // 5 + 7) * 86_400  # calendar days covering the trading days wanted
        params = {"symbol": symbol, "resolution": "D", "from": str(now - span), "to": str(now)}
        body = _body(self.http.get_json("/api/v1/stock/candle", params), self.name)
        if body.get("s") != "ok":
            raise UnknownSymbolError(f"{self.name}: {symbol}: no candle data ({body.get('s')!r})")
        stamps, closes = body.get("t"), body.get("c")
        volumes = body.get("v") or [None] * len(stamps or [])
        try:
            if not isinstance(stamps, list) or not isinstance(closes, list) or not isinstance(volumes, list):
                raise InvalidDataError("missing t/c series")
            if not len(stamps) == len(closes) == len(volumes):
                raise InvalidDataError("candle series differ in length")
            points = []
            for stamp, close, volume in zip(stamps, closes, volumes, strict=True):
                when = parse_unix_time(stamp)
                check_not_future(when, self.max_clock_skew)
                price = to_positive(close, "close")
                assert price is not None
                points.append(HistoryPoint(when, price, to_volume(volume), self.name))
        except InvalidDataError as exc:
            raise InvalidDataError(f"{self.name}: {symbol}: {exc}") from None
        return points[-days:] if days > 0 else []
