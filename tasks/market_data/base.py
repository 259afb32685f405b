"""Provider interface, result types and error hierarchy for market data."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from .symbols import CRYPTO, EQUITY, FUTURE, FX, INDEX, Capabilities

__all__ = [
    "FeedEvent",
    "HistoryPoint",
    "InvalidDataError",
    "MarketDataError",
    "MarketDataSource",
    "QuoteResult",
    "RateLimitedError",
    "SourceError",
    "SymbolError",
    "TransientSourceError",
    "UnknownSymbolError",
]


class MarketDataError(Exception):
    """Base class of every market-data failure; ``str(err)`` is the reason."""


class SourceError(MarketDataError):
    """The source as a whole failed (auth, 4xx/5xx, malformed body); counts toward its breaker."""


class TransientSourceError(SourceError):
    """Connection error, timeout or 5xx: worth retrying, then counts toward the breaker."""


class RateLimitedError(SourceError):
    """The source throttled us (429 / throttle body) or our own limiter refused the request."""

    def __init__(
        self, message: str, retry_after: float | None = None, local: bool = False, daily: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        # local=True: refused by our limiter before sending; the provider never saw it.
        self.local = local
        # daily=True: the day's quota is spent; retry_after runs until the provider's daily reset.
        self.daily = daily


class SymbolError(MarketDataError):
    """The source works but has no usable data for one symbol; does not trip the breaker."""


class UnknownSymbolError(SymbolError):
    """The provider does not know the symbol."""


class InvalidDataError(SymbolError):
    """The provider answered with garbage (missing, non-numeric, non-positive, future...)."""


@dataclass(frozen=True, slots=True)
class QuoteResult:
    """One symbol's quote from one source, or a failure with a reason."""

    symbol: str
    success: bool
    price: Decimal | None = None
    previous_close: Decimal | None = None
    change: Decimal | None = None
    change_percent: Decimal | None = None
    volume: int | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    market_cap: Decimal | None = None
    #: As the provider states it, case kept: 'GBp' (pence) is not 'GBP' (pounds).
    currency: str | None = None
    timestamp: datetime | None = None
    source: str = ""
    error: str | None = None
    #: The provider's exchange code ('NMS', 'LSE'), its IANA timezone and market state ('REGULAR', 'CLOSED').
    exchange: str | None = None
    exchange_timezone: str | None = None
    market_state: str | None = None
    #: The market time is older than DATA_STALE_AFTER_SECONDS beyond its market's last session.
    stale: bool = False

    def __post_init__(self) -> None:
        """Reject inconsistent results early (a success needs a price, a failure a reason)."""
        if self.success and self.price is None:
            raise ValueError("successful QuoteResult needs a price")
        if not self.success and not self.error:
            raise ValueError("failed QuoteResult needs an error")
        if self.timestamp is not None and self.timestamp.utcoffset() is None:
            raise ValueError("QuoteResult.timestamp must be timezone-aware")

    @classmethod
    def failure(cls, symbol: str, source: str, error: str) -> QuoteResult:
        """Build a failed result."""
        return cls(symbol=symbol, success=False, source=source, error=error)

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a dict, keeping Decimal and datetime values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuoteResult:
        """Rebuild from ``as_dict()`` output or its JSON form (Decimals as strings)."""
        values = dict(data)
        for name in ("price", "previous_close", "change", "change_percent", "high", "low", "market_cap"):
            if values.get(name) is not None:
                values[name] = Decimal(str(values[name]))
        if values.get("volume") is not None:
            values["volume"] = int(values["volume"])
        if isinstance(values.get("timestamp"), str):
            values["timestamp"] = datetime.fromisoformat(values["timestamp"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One daily close."""

    timestamp: datetime
    price: Decimal
    volume: int | None
    source: str

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a dict, keeping Decimal and datetime values."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """The primary source failed over (``failover``) or answers again (``recovered``)."""

    kind: str
    primary: str
    #: The source serving instead (failover) or the primary again (recovered); None if none could.
    active: str | None
    reason: str
    at: datetime


def _always_permit() -> bool:
    """Default request permit: unlimited."""
    return True


def _no_daily_limit() -> float | None:
    """Default daily permit: unlimited (None = granted)."""
    return None


class MarketDataSource(ABC):
    """A market-data provider returning per-symbol results.

    ``fetch_quotes`` raises ``SourceError`` when the whole request failed and returns a
    ``QuoteResult`` per requested symbol otherwise (failed ones carry their reason).
    """

    name: ClassVar[str]
    #: Whether the provider needs an API key to be usable.
    requires_key: ClassVar[bool] = False
    #: Config key holding the API key (for the start-up warning).
    key_setting: ClassVar[str | None] = None
    #: Symbols per request; the manager splits larger lists.
    batch_size: ClassVar[int] = 1
    #: The provider's own host (None: not an HTTP provider); used when no base URL is given.
    default_base_url: ClassVar[str | None] = None
    #: The provider's requests per minute (0 = unlimited); used when no rate limit is given.
    default_rate_limit: ClassVar[int] = 0
    #: What the provider serves (asset classes, exchanges, plan); the manager asks only capable sources.
    capabilities: ClassVar[Capabilities] = Capabilities(frozenset({EQUITY, INDEX, FX, CRYPTO, FUTURE}))

    def __init__(self, api_key: str | None = None, rate_limit: int | None = None, daily_limit: int = 0) -> None:
        self.api_key = api_key or None
        self.rate_limit = self.default_rate_limit if rate_limit is None else int(rate_limit)
        if self.rate_limit < 0:
            raise ValueError(f"{self.name}: rate_limit must be >= 0, got {rate_limit}")
        if daily_limit < 0:
            raise ValueError(f"{self.name}: daily_limit must be >= 0, got {daily_limit}")
        #: Requests per day (0 = unlimited), shared across workers by the manager's limiter.
        self.daily_limit = int(daily_limit)
        self._permit: Callable[[], bool] = _always_permit
        self._daily_permit: Callable[[], float | None] = _no_daily_limit

    def is_configured(self) -> bool:
        """Whether the source can be used (has its key when it needs one)."""
        return not self.requires_key or bool(self.api_key)

    def bind_permit(self, permit: Callable[[], bool]) -> None:
        """Install the check consulted before every outbound request (the rate limiter)."""
        self._permit = permit

    def bind_daily_permit(self, permit: Callable[[], float | None]) -> None:
        """Install the daily quota check: None grants, a number is the seconds until the daily reset."""
        self._daily_permit = permit

    def acquire_request(self) -> None:
        """Take one request from the minute and day limits or raise a local ``RateLimitedError``."""
        if not self._permit():
            raise RateLimitedError(f"{self.name}: local rate limit of {self.rate_limit}/min reached", local=True)
        wait = self._daily_permit()
        if wait is not None:
            raise RateLimitedError(
                f"{self.name}: daily quota of {self.daily_limit} requests spent; resets in {wait:.0f}s",
                retry_after=wait, local=True, daily=True,
            )

    def provider_symbol(self, symbol: str) -> tuple[str | None, str]:
        """(the provider's form of a canonical symbol, why); the form is None when it cannot serve it."""
        return self.capabilities.provider_symbol(symbol)

    def share_state(self, client: Any, prefix: str) -> None:  # noqa: B027 - optional hook
        """Keep state every worker should share (a negotiated session) in Redis; most sources keep none."""

    def cannot_serve(self, symbol: str) -> str | None:
        """Why the source cannot serve a canonical symbol ('finnhub: serves no index symbols ...'), else None."""
        form, why = self.provider_symbol(symbol)
        return None if form is not None else f"{self.name}: {why}"

    def required_form(self, symbol: str) -> str:
        """The provider's form of a canonical symbol, or UnknownSymbolError saying why it has none."""
        form, why = self.provider_symbol(symbol)
        if form is None:
            raise UnknownSymbolError(why)
        return form

    def fetch_currency(self, symbol: str) -> str | None:
        """The currency the provider states for a canonical symbol (reference data), None if it has none."""
        return None

    @classmethod
    @abstractmethod
    def from_config(cls, config: Mapping[str, Any]) -> MarketDataSource:
        """Build the source from a full settings mapping (``app.config.load_config`` output)."""

    @abstractmethod
    def fetch_quotes(self, symbols: Sequence[str]) -> dict[str, QuoteResult]:
        """Fetch quotes for at most ``batch_size`` symbols."""

    @abstractmethod
    def fetch_history(self, symbol: str, days: int) -> list[HistoryPoint]:
        """Fetch up to ``days`` daily closes, oldest first."""

    def close(self) -> None:  # noqa: B027 - optional hook, most sources hold nothing
        """Release pooled resources."""
