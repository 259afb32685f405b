"""Pooled HTTP client and base class shared by the HTTP providers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Self

import requests
from curl_cffi import requests as curl_requests
from requests.adapters import HTTPAdapter

from .base import MarketDataSource, RateLimitedError, SourceError, TransientSourceError
from .settings import setting, setting_float, setting_int, setting_optional_int

__all__ = ["HttpClient", "HttpSource", "loads_decimal", "parse_retry_after"]

USER_AGENT = "pricewire-market-data/1.0"
# Both clients' exceptions: requests for the keyed APIs, curl_cffi for sites that fingerprint clients.
_TIMEOUTS = (requests.Timeout, curl_requests.exceptions.Timeout)
_REQUEST_ERRORS = (requests.RequestException, curl_requests.exceptions.RequestException)


def loads_decimal(text: str | bytes) -> Any:
    """Parse JSON keeping every non-integer number (and NaN/Infinity) as Decimal."""
    return json.loads(text, parse_float=Decimal, parse_constant=Decimal)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header (seconds or HTTP date) into seconds, None if absent/bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class HttpClient:
    """One pooled ``requests.Session`` per source with timeouts and transient-only retries."""

    def __init__(
        self,
        source_name: str,
        base_url: str,
        *,
        timeout: float,
        retries: int,
        backoff: float,
        before_request: Callable[[], None],
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        impersonate: str | None = None,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"{source_name}: timeout must be > 0 seconds, got {timeout}")
        self.source_name = source_name
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._before_request = before_request
        self._sleep = sleep
        self.session: Any
        if impersonate:
            # curl_cffi sends a real browser's TLS and HTTP/2 fingerprint and headers; a User-Agent of our
            # own would give it away again, so none is set.
            self.session = curl_requests.Session(impersonate=impersonate)
        else:
            self.session = requests.Session()
            # Retries are ours (transient-only, each one rate-limited), so the adapter never retries.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
            self.session.mount("http://", adapter)
            self.session.mount("https://", adapter)
            self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self.session.headers.update(dict(headers or {}))

    def get_json(
        self, path: str, params: Mapping[str, str] | None = None, *, allow_status: frozenset[int] = frozenset()
    ) -> Any:
        """GET ``base_url + path`` and return the decoded JSON body.

        Raises ``RateLimitedError`` on 429, ``TransientSourceError`` once retries for
        connection errors, timeouts and 5xx are spent, ``SourceError`` on other 4xx (never
        retried, unless listed in ``allow_status``) or a malformed body.
        """
        return self.get_with_status(path, params, allow_status=allow_status)[1]

    def get_with_status(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        allow_status: frozenset[int] = frozenset(),
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Like ``get_json`` but also returns the status (for statuses in ``allow_status``)."""
        url = self.base_url + path
        attempt = 0
        while True:
            self._before_request()  # every attempt, retries included, spends rate limit
            try:
                response = self.session.get(url, params=params, timeout=self.timeout, headers=headers)
            except _TIMEOUTS:
                # The exception text contains the URL and thus possibly the API key: not shown.
                error: SourceError = TransientSourceError(f"{self.source_name}: timed out after {self.timeout}s")
            except _REQUEST_ERRORS as exc:
                error = TransientSourceError(f"{self.source_name}: connection error ({type(exc).__name__})")
            else:
                try:
                    error_or_body = self._check(response, allow_status)
                finally:
                    response.close()
                if not isinstance(error_or_body, SourceError):
                    return response.status_code, error_or_body
                error = error_or_body
            if not isinstance(error, TransientSourceError) or attempt >= self.retries:
                raise error
            self._sleep(self.backoff * (2**attempt))
            attempt += 1

    def get_raw(self, url: str, headers: Mapping[str, str] | None = None) -> Any:
        """One GET of an absolute URL, whatever its status (session negotiation reads headers and text).

        Spends the rate limit; a connection error or timeout is a ``TransientSourceError``; not retried.
        """
        self._before_request()
        try:
            return self.session.get(url, timeout=self.timeout, headers=dict(headers or {}), allow_redirects=False)
        except _TIMEOUTS:
            raise TransientSourceError(f"{self.source_name}: timed out after {self.timeout}s") from None
        except _REQUEST_ERRORS as exc:
            raise TransientSourceError(f"{self.source_name}: connection error ({type(exc).__name__})") from None

    def _check(self, response: Any, allow_status: frozenset[int]) -> Any:
        """Return the JSON body or the error describing the response."""
        status = response.status_code
        name = self.source_name
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return RateLimitedError(f"{name}: throttled (HTTP 429)", retry_after=retry_after)
        if status >= 500:
            return TransientSourceError(f"{name}: server error (HTTP {status})")
        if status >= 400 and status not in allow_status:
            kind = "authentication failed" if status in (401, 403) else "request rejected"
            return SourceError(f"{name}: {kind} (HTTP {status})")
        try:
            return loads_decimal(response.content)
        except (ValueError, UnicodeDecodeError):
            return SourceError(f"{name}: malformed JSON in response (HTTP {status})")

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()


class HttpSource(MarketDataSource):
    """Base for HTTP providers: builds the client and reads common settings."""

    base_url_setting: ClassVar[str]
    rate_limit_setting: ClassVar[str]
    #: Setting holding the requests-per-day quota (0 = unlimited), None if the provider has none.
    daily_limit_setting: ClassVar[str | None] = None
    #: curl_cffi browser to impersonate (None: plain requests), for providers that fingerprint clients.
    impersonate: ClassVar[str | None] = None

    def __init__(
        self,
        api_key: str | None = None,
        rate_limit: int | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,  # seconds before the first retry, doubling; not a setting
        max_clock_skew: float = 300.0,
        daily_limit: int = 0,
    ) -> None:
        super().__init__(api_key=api_key, rate_limit=rate_limit, daily_limit=daily_limit)
        url = base_url or self.default_base_url
        if not url:
            raise ValueError(f"{self.name}: no base URL given and the class declares no default_base_url")
        self.max_clock_skew = max_clock_skew
        self.http = HttpClient(
            self.name,
            url,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            before_request=self.acquire_request,
            headers=self.auth_headers(),
            impersonate=self.impersonate,
        )

    def auth_headers(self) -> dict[str, str]:
        """Headers carrying the API key, if the provider takes it that way."""
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Build from settings: key, base URL, rate limit, timeout, retries, clock skew.

        A base URL or rate limit of None means the provider's own (the class defaults).
        """
        base_url = setting(config, cls.base_url_setting)
        return cls(
            api_key=setting(config, cls.key_setting) if cls.key_setting else None,
            rate_limit=setting_optional_int(config, cls.rate_limit_setting),
            base_url=None if base_url is None else str(base_url),
            timeout=setting_float(config, "MARKET_DATA_TIMEOUT"),
            retries=setting_int(config, "MARKET_DATA_RETRIES"),
            max_clock_skew=setting_float(config, "MARKET_DATA_MAX_CLOCK_SKEW"),
            daily_limit=setting_int(config, cls.daily_limit_setting) if cls.daily_limit_setting else 0,
        )

    def close(self) -> None:
        """Close the pooled session."""
        self.http.close()
