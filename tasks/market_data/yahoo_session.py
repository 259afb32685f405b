"""Yahoo's session: a cookie from YAHOO_FINANCE_COOKIE_URL and a crumb from /v1/test/getcrumb, shared in Redis.

Yahoo answers quote and chart calls without both with ``401 {"finance":{"error":{"code":"Unauthorized",
"description":"Invalid Crumb"}}}``. One worker negotiates (a Redis lock), every worker reuses the pair until
its TTL; a 401 renews it once. getcrumb answering 429 or a body of "Too Many Requests" is a throttle.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any, Protocol

import redis

from .base import RateLimitedError, SourceError
from .http import HttpClient, parse_retry_after

__all__ = ["MemorySessionStore", "RedisSessionStore", "SessionStore", "YahooCredentials", "YahooSession"]

logger = logging.getLogger("pricewire.price_feed")

NAME = "yahoo_finance"
CRUMB_PATH = "/v1/test/getcrumb"


@dataclass(frozen=True, slots=True)
class YahooCredentials:
    """A cookie header value ('A3=...') and the crumb negotiated with it."""

    cookie: str
    crumb: str


class SessionStore(Protocol):
    """Where the negotiated pair lives: this process only (embedded) or Redis (every worker)."""

    def get(self) -> YahooCredentials | None:
        """The stored pair, if any and not expired."""
        ...

    def put(self, credentials: YahooCredentials, ttl: float) -> None:
        """Store the pair for ``ttl`` seconds."""
        ...

    def forget(self, credentials: YahooCredentials) -> None:
        """Drop the pair if it is still the stored one (another worker may have renewed it already)."""
        ...

    def lock(self, ttl: float) -> bool:
        """Claim the right to negotiate for ``ttl`` seconds; False if another worker holds it."""
        ...

    def unlock(self) -> None:
        """Release the negotiation claim."""
        ...


class MemorySessionStore:
    """The pair in this process (embedded mode, or when Redis is down)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._value: tuple[YahooCredentials, float] | None = None
        self._lock = threading.Lock()

    def get(self) -> YahooCredentials | None:
        """See SessionStore."""
        with self._lock:
            if self._value is None or self._clock() >= self._value[1]:
                return None
            return self._value[0]

    def put(self, credentials: YahooCredentials, ttl: float) -> None:
        """See SessionStore."""
        with self._lock:
            self._value = (credentials, self._clock() + ttl)

    def forget(self, credentials: YahooCredentials) -> None:
        """See SessionStore."""
        with self._lock:
            if self._value is not None and self._value[0] == credentials:
                self._value = None

    def lock(self, ttl: float) -> bool:
        """See SessionStore."""
        return True  # one process: the caller's own lock serialises negotiation

    def unlock(self) -> None:
        """Nothing to release."""


class RedisSessionStore:
    """The pair in Redis under ``{prefix}yahoo:session`` with a TTL; Redis errors fall back to this process."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self.key = f"{prefix}yahoo:session"
        self._lock_key = f"{self.key}:lock"
        self._fallback = MemorySessionStore()

    def get(self) -> YahooCredentials | None:
        """See SessionStore."""
        try:
            raw = self._client.get(self.key)
        except redis.RedisError:
            return self._fallback.get()
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return YahooCredentials(str(data["cookie"]), str(data["crumb"]))
        except (ValueError, KeyError, TypeError):
            return None

    def put(self, credentials: YahooCredentials, ttl: float) -> None:
        """See SessionStore."""
        self._fallback.put(credentials, ttl)
        payload = json.dumps({"cookie": credentials.cookie, "crumb": credentials.crumb})
        try:
            self._client.set(self.key, payload, px=max(1, int(ttl * 1000)))
        except redis.RedisError as exc:
            logger.warning("yahoo session not shared (Redis: %s)", exc)

    def forget(self, credentials: YahooCredentials) -> None:
        """See SessionStore."""
        self._fallback.forget(credentials)
        with contextlib.suppress(redis.RedisError):
            if self.get() == credentials:
                self._client.delete(self.key)

    def lock(self, ttl: float) -> bool:
        """See SessionStore."""
        try:
            return bool(self._client.set(self._lock_key, "1", nx=True, px=max(1, int(ttl * 1000))))
        except redis.RedisError:
            return True

    def unlock(self) -> None:
        """See SessionStore."""
        with contextlib.suppress(redis.RedisError):
            self._client.delete(self._lock_key)


def cookie_header(set_cookies: list[str]) -> str:
    """'A3=x; B=y' from Set-Cookie header values (attributes dropped)."""
    jar: SimpleCookie = SimpleCookie()
    for value in set_cookies:
        try:
            jar.load(value)
        except CookieError:
            continue
    return "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items())


def _is_throttle(status: int, text: str) -> bool:
    """The getcrumb throttle: 429, or a 200 whose 'crumb' is the text 'Too Many Requests' (yfinance #2441)."""
    return status == 429 or "too many requests" in text.lower()


class YahooSession:
    """Negotiates and shares Yahoo's cookie+crumb; see the module docstring."""

    def __init__(
        self,
        http: HttpClient,
        cookie_url: str,
        *,
        ttl: float = 3600.0,
        store: SessionStore | None = None,
        wait_seconds: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http
        self.cookie_url = cookie_url
        self.ttl = ttl
        self.store = store or MemorySessionStore()
        self.wait_seconds = wait_seconds
        self._sleep = sleep
        self._lock = threading.Lock()

    def credentials(self) -> YahooCredentials:
        """The shared pair, negotiated if there is none."""
        found = self.store.get()
        if found is not None:
            return found
        with self._lock:
            return self.store.get() or self._negotiate_once()

    def renew(self, rejected: YahooCredentials) -> YahooCredentials:
        """Yahoo rejected this pair: drop it and negotiate again (unless another worker already did)."""
        self.store.forget(rejected)
        return self.credentials()

    def _negotiate_once(self) -> YahooCredentials:
        """Negotiate, or wait for the worker that is negotiating (bounded), then negotiate anyway."""
        if not self.store.lock(self.wait_seconds * 2):
            deadline = time.monotonic() + self.wait_seconds
            while time.monotonic() < deadline:
                self._sleep(0.1)
                found = self.store.get()
                if found is not None:
                    return found
        try:
            credentials = self._negotiate()
            self.store.put(credentials, self.ttl)
            return credentials
        finally:
            self.store.unlock()

    def _negotiate(self) -> YahooCredentials:
        """GET the cookie URL (any status; its Set-Cookie is what counts), then getcrumb with that cookie."""
        response = self.http.get_raw(self.cookie_url)
        cookie = cookie_header(_set_cookies(response))
        if not cookie:
            raise SourceError(f"{NAME}: no session cookie from {self.cookie_url} (HTTP {response.status_code})")
        answer = self.http.get_raw(self.http.base_url + CRUMB_PATH, headers={"Cookie": cookie})
        crumb = answer.text.strip()
        if _is_throttle(answer.status_code, crumb):
            retry_after = parse_retry_after(answer.headers.get("Retry-After"))
            raise RateLimitedError(f"{NAME}: getcrumb throttled (HTTP {answer.status_code})", retry_after=retry_after)
        if answer.status_code != 200 or not crumb or len(crumb) > 64 or any(c in crumb for c in "{}<> "):
            raise SourceError(f"{NAME}: no crumb from getcrumb (HTTP {answer.status_code})")
        logger.info("yahoo session negotiated")
        return YahooCredentials(cookie, crumb)


def _set_cookies(response: Any) -> list[str]:
    """Every Set-Cookie header value of a curl_cffi or requests response."""
    headers = response.headers
    if hasattr(headers, "get_list"):
        return list(headers.get_list("set-cookie") or [])
    raw = getattr(response, "raw", None)
    if raw is not None and hasattr(raw, "headers"):
        return list(raw.headers.getlist("Set-Cookie"))
    value = headers.get("set-cookie")
    return [value] if value else []
