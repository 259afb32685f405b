"""Alpha Vantage: GLOBAL_QUOTE per symbol and TIME_SERIES_DAILY history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import (
    HistoryPoint,
    InvalidDataError,
    QuoteResult,
    RateLimitedError,
    SourceError,
    SymbolError,
    UnknownSymbolError,
)
from .http import HttpSource
from .rate_limit import seconds_until_daily_reset
from .symbols import EQUITY, Capabilities
from .validation import build_quote, check_not_future, clean_text, parse_date, to_positive, to_volume

__all__ = ["AlphaVantageSource"]

# Alpha Vantage's "compact" output holds the latest 100 points; more needs "full".
_COMPACT_POINTS = 100
# Yahoo suffix -> Alpha Vantage's (its documentation: TSCO.LON, SHOP.TRT, GPV.TRV, MBG.DEX, RELIANCE.BSE, ...).
_EXCHANGES = {"": "", "L": "LON", "TO": "TRT", "V": "TRV", "DE": "DEX", "BO": "BSE", "SS": "SHH", "SZ": "SHZ"}


class AlphaVantageSource(HttpSource):
    """Fallback source; one request per symbol, needs ALPHA_VANTAGE_API_KEY."""

    name = "alpha_vantage"
    requires_key = True
    key_setting = "ALPHA_VANTAGE_API_KEY"
    base_url_setting = "ALPHA_VANTAGE_BASE_URL"
    rate_limit_setting = "ALPHA_VANTAGE_RATE_LIMIT"
    default_base_url = "https://www.alphavantage.co"
    default_rate_limit = 5
    daily_limit_setting = "ALPHA_VANTAGE_DAILY_LIMIT"
    batch_size = 1
    #: GLOBAL_QUOTE serves equities; FX, crypto and indices need other functions this adapter does not call.
    capabilities = Capabilities(frozenset({EQUITY}), exchanges=_EXCHANGES, plan="free")

    def _query(self, function: str, symbol: str, **extra: str) -> dict[str, Any]:
        """Call ``/query``; throttle notes (HTTP 200 with Note/Information) raise RateLimitedError."""
        params = {"function": function, "symbol": symbol, "apikey": self.api_key or "", **extra}
        body = self.http.get_json("/query", params)
        if not isinstance(body, dict):
            raise SourceError(f"{self.name}: unexpected response shape (body)")
        for key in ("Note", "Information"):
            if key in body:
                # Throttling arrives as data; it must open a cool-down, never be parsed as a quote.
                text = str(body[key])[:200]
                # "25 requests per day" = the day's quota is spent; the older Note names both limits and is
                # the per-minute throttle.
                if "per day" in text and "per minute" not in text:
                    raise RateLimitedError(
                        f"{self.name}: daily quota spent: {text}", retry_after=seconds_until_daily_reset(), daily=True
                    )
                raise RateLimitedError(f"{self.name}: throttled: {text}")
        if "Error Message" in body:
            raise UnknownSymbolError(str(body["Error Message"])[:200])
        return body

    def fetch_quotes(self, symbols: Sequence[str]) -> dict[str, QuoteResult]:
        """Fetch each symbol with its own GLOBAL_QUOTE request (the manager sends one at a time)."""
        results: dict[str, QuoteResult] = {}
        for symbol in symbols:
            try:
                form = self.required_form(symbol)
                results[symbol] = self._quote(symbol, form, self._query("GLOBAL_QUOTE", form).get("Global Quote"))
            except SymbolError as exc:
                results[symbol] = QuoteResult.failure(symbol, self.name, f"{self.name}: {exc}")
        return results

    def fetch_currency(self, symbol: str) -> str | None:
        """The currency SYMBOL_SEARCH states for the exact symbol ('GBX' for TSCO.LON), None if not listed."""
        form = self.required_form(symbol)
        params = {"function": "SYMBOL_SEARCH", "keywords": form, "apikey": self.api_key or ""}
        body = self.http.get_json("/query", params)
        matches = body.get("bestMatches") if isinstance(body, dict) else None
        for match in matches if isinstance(matches, list) else []:
            if isinstance(match, dict) and str(match.get("1. symbol", "")).upper() == form.upper():
                return clean_text(match.get("8. currency"))
        return None

    def _quote(self, symbol: str, form: str, row: Any) -> QuoteResult:
        """Validate one ``Global Quote`` object (all values are strings)."""
        if not isinstance(row, dict):
            raise InvalidDataError("missing field Global Quote")
        if not row:
            raise UnknownSymbolError("unknown symbol")
        returned = str(row.get("01. symbol", "")).upper()
        if returned and returned != form.upper():
            raise InvalidDataError(f"response is for {returned}, not {form}")
        return build_quote(
            symbol,
            self.name,
            price=row.get("05. price"),
            previous_close=row.get("08. previous close"),
            change=row.get("09. change"),
            change_percent=row.get("10. change percent"),
            volume=row.get("06. volume"),
            high=row.get("03. high"),
            low=row.get("04. low"),
            currency=None,  # GLOBAL_QUOTE does not say
            timestamp=parse_date(row.get("07. latest trading day"), "latest trading day"),
            max_skew=self.max_clock_skew,
        )

    def fetch_history(self, symbol: str, days: int) -> list[HistoryPoint]:
        """Fetch the last ``days`` daily closes from TIME_SERIES_DAILY."""
        size = "compact" if days <= _COMPACT_POINTS else "full"
        points = []
        try:
            body = self._query("TIME_SERIES_DAILY", self.required_form(symbol), outputsize=size)
            series = body.get("Time Series (Daily)")
            if not isinstance(series, dict) or not series:
                raise UnknownSymbolError("no daily series")
            for day in sorted(series)[-days:] if days > 0 else []:
                row = series[day]
                if not isinstance(row, dict):
                    raise InvalidDataError(f"bad row for {day}")
                when = parse_date(day)
                check_not_future(when, self.max_clock_skew)
                price = to_positive(row.get("4. close"), "close")
                assert price is not None
                points.append(HistoryPoint(when, price, to_volume(row.get("5. volume")), self.name))
        except SymbolError as exc:
            raise type(exc)(f"{self.name}: {symbol}: {exc}") from None
        return points
