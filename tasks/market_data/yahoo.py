"""Yahoo Finance: batch quotes (v7 finance/quote) and daily history (v8 finance/chart)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self
from urllib.parse import quote

import redis

from .base import (
    HistoryPoint,
    InvalidDataError,
    QuoteResult,
    SourceError,
    SymbolError,
    UnknownSymbolError,
)
from .http import HttpSource
from .settings import setting, setting_float
from .validation import build_quote, check_not_future, parse_unix_time, to_positive, to_volume
from .yahoo_session import RedisSessionStore, YahooCredentials, YahooSession

__all__ = ["YahooFinanceSource"]

# Chart ranges, smallest first, with the trading days each holds.
_RANGES: tuple[tuple[str, int], ...] = (
    ("5d", 5),
    ("1mo", 21),
    ("3mo", 63),
    ("6mo", 126),
    ("1y", 252),
    ("2y", 504),
    ("5y", 1260),
    ("10y", 2520),
    ("max", 1_000_000),
)


def chart_range(days: int) -> str:
    """Smallest chart range holding ``days`` trading days."""
    return next(name for name, span in _RANGES if span >= days)


def _invalid_crumb(body: Any) -> bool:
    """Yahoo's session refusal: {"finance":{"error":{"code":"Unauthorized","description":"Invalid Crumb"}}}."""
    finance = body.get("finance") if isinstance(body, dict) else None
    error = finance.get("error") if isinstance(finance, dict) else None
    return isinstance(error, dict) and (error.get("code") == "Unauthorized" or "Crumb" in str(error.get("description")))


def _object(value: Any, what: str) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object, else fail the whole response."""
    if not isinstance(value, dict):
        raise SourceError(f"yahoo_finance: unexpected response shape ({what})")
    return value


class YahooFinanceSource(HttpSource):
    """Primary source; one request serves a whole batch of symbols. The key is optional."""

    name = "yahoo_finance"
    requires_key = False
    key_setting = "YAHOO_FINANCE_API_KEY"
    base_url_setting = "YAHOO_FINANCE_BASE_URL"
    rate_limit_setting = "YAHOO_FINANCE_RATE_LIMIT"
    default_base_url = "https://query1.finance.yahoo.com"
    default_rate_limit = 100
    daily_limit_setting = "YAHOO_FINANCE_DAILY_LIMIT"
    batch_size = 50
    # Yahoo answers 429 to clients that look like python-requests; yfinance moved to curl_cffi in 2025.
    impersonate = "chrome"

    def __init__(
        self, *args: Any, cookie_url: str | None = None, session_ttl: float = 3600.0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        #: None: no session (a keyed gateway, or a replay server that needs none).
        self.session = YahooSession(self.http, cookie_url, ttl=session_ttl) if cookie_url else None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Build from settings, with the session from YAHOO_FINANCE_COOKIE_URL ('none': no session, for gateways)."""
        source = super().from_config(config)
        cookie_url = str(setting(config, "YAHOO_FINANCE_COOKIE_URL") or "").strip()
        if cookie_url and cookie_url.lower() != "none":
            ttl = setting_float(config, "YAHOO_FINANCE_SESSION_TTL")
            source.session = YahooSession(source.http, cookie_url, ttl=ttl)
        return source

    def share_state(self, client: redis.Redis | None, prefix: str) -> None:
        """Keep the negotiated cookie+crumb in Redis so one negotiation serves every worker."""
        if self.session is not None and client is not None:
            self.session.store = RedisSessionStore(client, prefix)

    def auth_headers(self) -> dict[str, str]:
        """Keyed Yahoo-compatible gateways take the key as ``X-API-KEY``."""
        return {"X-API-KEY": self.api_key} if self.api_key else {}

    def _get(self, path: str, params: Mapping[str, str], allow_status: frozenset[int] = frozenset()) -> Any:
        """GET with the session's cookie and crumb; on 401 or "Invalid Crumb" renew the session once, retry once."""
        if self.session is None:
            return self.http.get_json(path, params, allow_status=allow_status)
        credentials: YahooCredentials = self.session.credentials()
        for attempt in (1, 2):
            status, body = self.http.get_with_status(
                path, {**params, "crumb": credentials.crumb},
                allow_status=allow_status | {401}, headers={"Cookie": credentials.cookie},
            )
            if status != 401 and not _invalid_crumb(body):
                return body
            if attempt == 2:
                raise SourceError(f"{self.name}: authentication failed (HTTP {status}): Invalid Crumb after renewal")
            credentials = self.session.renew(credentials)
        raise AssertionError("unreachable")

    def fetch_quotes(self, symbols: Sequence[str]) -> dict[str, QuoteResult]:
        """Fetch all ``symbols`` in one v7 quote request."""
        body = _object(self._get("/v7/finance/quote", {"symbols": ",".join(symbols)}), "body")
        response = _object(body.get("quoteResponse"), "quoteResponse")
        if response.get("error"):
            raise SourceError(f"yahoo_finance: provider error: {response['error']}")
        rows = response.get("result")
        if not isinstance(rows, list):
            raise SourceError("yahoo_finance: unexpected response shape (result)")
        by_symbol = {str(row["symbol"]).upper(): row for row in rows if isinstance(row, dict) and row.get("symbol")}
        results: dict[str, QuoteResult] = {}
        for symbol in symbols:
            row = by_symbol.get(symbol.upper())
            try:
                if row is None:
                    raise UnknownSymbolError("unknown symbol")
                results[symbol] = self._quote(symbol, row)
            except SymbolError as exc:
                results[symbol] = QuoteResult.failure(symbol, self.name, f"{self.name}: {exc}")
        return results

    def _quote(self, symbol: str, row: Mapping[str, Any]) -> QuoteResult:
        """Validate one v7 quote row."""
        if row.get("regularMarketPrice") is None and row.get("quoteType") in (None, "NONE"):
            raise UnknownSymbolError("unknown symbol")
        return build_quote(
            symbol,
            self.name,
            price=row.get("regularMarketPrice"),
            previous_close=row.get("regularMarketPreviousClose"),
            change=row.get("regularMarketChange"),
            change_percent=row.get("regularMarketChangePercent"),
            volume=row.get("regularMarketVolume"),
            high=row.get("regularMarketDayHigh"),
            low=row.get("regularMarketDayLow"),
            market_cap=row.get("marketCap"),
            currency=row.get("currency"),
            timestamp=parse_unix_time(row.get("regularMarketTime"), "regularMarketTime"),
            max_skew=self.max_clock_skew,
            exchange=row.get("exchange") or row.get("fullExchangeName"),
            exchange_timezone=row.get("exchangeTimezoneName"),
            market_state=row.get("marketState"),
        )

    def fetch_history(self, symbol: str, days: int) -> list[HistoryPoint]:
        """Fetch the last ``days`` daily closes from the v8 chart endpoint."""
        body = self._get(
            f"/v8/finance/chart/{quote(symbol, safe='')}",
            {"range": chart_range(days), "interval": "1d"},
            allow_status=frozenset({404}),  # Yahoo's "No data found" for unknown symbols
        )
        chart = _object(_object(body, "body").get("chart"), "chart")
        if chart.get("error"):
            raise UnknownSymbolError(f"{self.name}: {symbol}: {chart['error']}")
        results = chart.get("result")
        if not isinstance(results, list) or not results:
            raise UnknownSymbolError(f"{self.name}: {symbol}: no chart data")
        result = _object(results[0], "chart result")
        try:
            return self._history_points(result, days)
        except InvalidDataError as exc:
            raise InvalidDataError(f"{self.name}: {symbol}: {exc}") from None

    def _history_points(self, result: Mapping[str, Any], days: int) -> list[HistoryPoint]:
        """Pair timestamps with closes, skipping Yahoo's null (non-trading) rows."""
        stamps = result.get("timestamp")
        quotes = _object(result.get("indicators"), "indicators").get("quote")
        if not isinstance(stamps, list) or not isinstance(quotes, list) or not quotes:
            raise InvalidDataError("missing timestamps or quotes")
        series = _object(quotes[0], "quote")
        closes = series.get("close")
        volumes = series.get("volume") or [None] * len(stamps)
        if not isinstance(closes, list) or len(closes) != len(stamps) or len(volumes) != len(stamps):
            raise InvalidDataError("timestamp and close series differ in length")
        points = []
        for stamp, close, volume in zip(stamps, closes, volumes, strict=True):
            if close is None:
                continue
            when = parse_unix_time(stamp)
            check_not_future(when, self.max_clock_skew)
            price = to_positive(close, "close")
            assert price is not None
            points.append(HistoryPoint(when, price, to_volume(volume), self.name))
        return points[-days:] if days > 0 else []
