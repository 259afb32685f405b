"""Finnhub: /api/v1/quote per symbol and daily candles for history."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Self

from .base import HistoryPoint, InvalidDataError, QuoteResult, SourceError, SymbolError, UnknownSymbolError
from .http import HttpSource
from .settings import setting
from .symbols import CRYPTO, EQUITY, FX, Capabilities, SymbolInfo
from .validation import build_quote, check_not_future, clean_text, parse_unix_time, to_positive, to_volume

__all__ = ["FinnhubSource"]

_QUOTE_FIELDS = ("c", "d", "dp", "h", "l", "o", "pc", "t")
# Finnhub's answer, as 403 (or 401 in older threads), when the plan does not cover a symbol or endpoint.
_NO_ACCESS = "don't have access"


def _paid_symbol(info: SymbolInfo) -> str | None:
    """Finnhub's forms on a paid plan: OANDA:EUR_USD, BINANCE:BTCUSDT, exchange suffixes kept (VOD.L)."""
    if info.kind == FX:
        return f"OANDA:{info.base}_{info.quote}"
    if info.kind == CRYPTO:
        return f"BINANCE:{info.base}{'USDT' if info.quote == 'USD' else info.quote}"
    return info.symbol


#: The free plan serves US stocks only (https://finnhub.io/pricing); a paid plan adds FX, crypto, other exchanges.
FREE_PLAN = Capabilities(frozenset({EQUITY}), exchanges={"": ""}, plan="free")
PAID_PLAN = Capabilities(frozenset({EQUITY, FX, CRYPTO}), plan="paid", mapper=_paid_symbol)


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
    daily_limit_setting = "FINNHUB_DAILY_LIMIT"
    batch_size = 1
    capabilities = FREE_PLAN

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Build from settings; FINNHUB_PLAN=paid widens what it serves beyond US stocks."""
        source = super().from_config(config)
        plan = str(setting(config, "FINNHUB_PLAN") or "free").strip().lower()
        if plan not in ("free", "paid"):
            raise ValueError(f"FINNHUB_PLAN must be free or paid, got {plan!r}")
        if plan == "paid":
            source.capabilities = PAID_PLAN  # type: ignore[misc]  # per instance: the plan is a setting
        return source

    def auth_headers(self) -> dict[str, str]:
        """The header keeps the key out of URLs (and so out of access logs)."""
        return {"X-Finnhub-Token": self.api_key} if self.api_key else {}

    def _get(self, path: str, symbol: str) -> dict[str, Any]:
        """GET with ``symbol``; a plan refusal fails that symbol only, a rejected key the whole source."""
        status, body = self.http.get_with_status(path, {"symbol": symbol}, allow_status=frozenset({401, 403}))
        body = _body(body, self.name)
        if status in (401, 403):
            message = str(body.get("error") or f"HTTP {status}")[:200]
            if _NO_ACCESS in message:
                raise SymbolError(f"not on this plan (HTTP {status}): {message}")
            raise SourceError(f"{self.name}: authentication failed (HTTP {status}): {message}")
        return body

    def fetch_quotes(self, symbols: Sequence[str]) -> dict[str, QuoteResult]:
        """Fetch each symbol with its own quote request (the manager sends one at a time)."""
        results: dict[str, QuoteResult] = {}
        for symbol in symbols:
            try:
                results[symbol] = self._quote(symbol, self._get("/api/v1/quote", self.required_form(symbol)))
            except SymbolError as exc:
                results[symbol] = QuoteResult.failure(symbol, self.name, f"{self.name}: {exc}")
        return results

    def fetch_currency(self, symbol: str) -> str | None:
        """The listing currency from /stock/profile2 (free plan: US stocks)."""
        try:
            body = self._get("/api/v1/stock/profile2", self.required_form(symbol))
        except SymbolError:
            return None
        return clean_text(body.get("currency"))

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
        params = {"symbol": self.required_form(symbol), "resolution": "D", "from": str(now - span), "to": str(now)}
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
