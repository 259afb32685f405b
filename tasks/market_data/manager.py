"""DataSourceManager: per-symbol fallback across prioritised sources."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from protocol.symbols import symbol_or_none

from .base import (
    FeedEvent,
    HistoryPoint,
    MarketDataError,
    MarketDataSource,
    QuoteResult,
    RateLimitedError,
    SourceError,
    SymbolError,
)
from .breaker import SourceHealth
from .cache import QuoteCache
from .failover import FailoverWatch
from .freshness import LastSessionEnd, default_last_session_end, mark_stale
from .rate_limit import InProcessRateLimiter, RateLimiter

__all__ = ["DataSourceManager"]

logger = logging.getLogger("pricewire.price_feed")

_T = TypeVar("_T")
# Outcomes of one request to a source.
_OK, _SYMBOL, _FAILED, _OPENED, _THROTTLED, _REFUSED = "ok", "symbol", "failed", "opened", "throttled", "refused"
# Outcomes after which the source is not asked again during this call.
_STOP = frozenset({_OPENED, _THROTTLED, _REFUSED})


@dataclass(slots=True)
class _Entry:
    """A registered source with its priority, health and counters."""

    source: MarketDataSource
    priority: int
    order: int
    health: SourceHealth
    successes: int = 0
    failures: int = 0


class DataSourceManager:
    """Asks sources in priority order and falls back per symbol; see docs/market-data.md."""

    def __init__(
        self,
        *,
        rate_limiter: RateLimiter | None = None,
        cache: QuoteCache | None = None,
        breaker_threshold: int = 5,
        breaker_reset_seconds: float = 60.0,
        default_cooldown: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        on_event: Callable[[FeedEvent], None] | None = None,
        stale_after: float = 0.0,
        last_session_end: LastSessionEnd = default_last_session_end,
    ) -> None:
        self.rate_limiter: RateLimiter = rate_limiter or InProcessRateLimiter()
        self.cache = cache
        # DATA_STALE_AFTER_SECONDS (0 = never flag); last_session_end is where exchange calendars plug in.
        self.stale_after = stale_after
        self.last_session_end = last_session_end
        self._failover = FailoverWatch(on_event)
        self._health = partial(SourceHealth, breaker_threshold, breaker_reset_seconds, default_cooldown, clock)
        self._entries: list[_Entry] = []
        self._skipped: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def sources(self) -> list[MarketDataSource]:
        """Usable sources, highest priority (lowest number) first."""
        return [entry.source for entry in self._entries]

    def add_source(self, source: MarketDataSource, priority: int = 1) -> bool:
        """Register a source; one lacking its required key is skipped with a warning."""
        if not source.is_configured():
            reason = f"{source.key_setting or 'API key'} is not set"
            logger.warning("market data source %s skipped: %s", source.name, reason)
            self._skipped[source.name] = reason
            return False
        if any(entry.source.name == source.name for entry in self._entries):
            raise ValueError(f"market data source {source.name} added twice")
        source.bind_permit(partial(self.rate_limiter.acquire, source.name, source.rate_limit))
        source.bind_daily_permit(partial(self.rate_limiter.acquire_daily, source.name, source.daily_limit))
        self._entries.append(_Entry(source, int(priority), len(self._entries), self._health()))
        self._entries.sort(key=lambda entry: (entry.priority, entry.order))
        return True

    def get_asset_data(self, symbols: Iterable[str], force: bool = False) -> dict[str, QuoteResult]:
        """Quote each symbol (keys are normalized, upper-case), from cache unless ``force``."""
        invalid: dict[str, QuoteResult] = {}
        order: dict[str, None] = {}  # result keys in input order, without duplicates
        wanted: list[str] = []
        for raw in symbols:
            symbol = symbol_or_none(raw)
            if symbol is None:
                invalid[str(raw)] = QuoteResult.failure(str(raw), "none", f"invalid symbol {raw!r}")
            elif symbol not in order:
                wanted.append(symbol)
            order[symbol or str(raw)] = None
        cached = self.cache.get_many(wanted) if self.cache is not None and not force else {}
        pending = [symbol for symbol in wanted if symbol not in cached]
        reasons: dict[str, list[str]] = {symbol: [] for symbol in pending}
        fresh: dict[str, QuoteResult] = {}
        primary_trouble: str | None = None
        asked_primary = False
        for index, entry in enumerate(self._entries):
            capable = self._capable(entry.source, pending, reasons)
            if not capable:
                continue
            served, trouble = self._ask(entry, capable, reasons)
            fresh.update(served)
            pending = [symbol for symbol in pending if symbol not in served]
            if index == 0:
                asked_primary, primary_trouble = True, trouble
        if asked_primary:
            self._failover.track(self._entries[0].source.name, primary_trouble, fresh)
        now = datetime.now(UTC)
        fresh = {s: mark_stale(r, self.stale_after, now, self.last_session_end) for s, r in fresh.items()}
        if self.cache is not None and fresh:
            self.cache.set_many(fresh.values())
        for symbol in pending:
            reason = "; ".join(reasons[symbol]) or "no market data source configured"
            fresh[symbol] = QuoteResult.failure(symbol, "none", reason)
        merged = {**invalid, **cached, **fresh}
        return {key: merged[key] for key in order}

    @staticmethod
    def _capable(source: MarketDataSource, symbols: list[str], reasons: dict[str, list[str]]) -> list[str]:
        """The symbols the source can serve; the others get its reason (e.g. 'serves no index symbols')."""
        refused = {symbol: why for symbol in symbols if (why := source.cannot_serve(symbol))}
        for symbol, why in refused.items():
            reasons[symbol].append(why)
        return [symbol for symbol in symbols if symbol not in refused]

    def lookup_currency(self, symbol: str) -> tuple[str | None, str | None, list[str]]:
        """(currency, source) a capable source states for ``symbol`` (reference data), and why others did not."""
        reasons: list[str] = []
        for entry in (e for e in self._entries if e.source.cannot_serve(symbol) is None):
            answer, _outcome, reason = self._call(entry, partial(entry.source.fetch_currency, symbol))
            if answer:
                return answer, entry.source.name, reasons
            reasons.append(reason or f"{entry.source.name}: states no currency")
        return None, None, reasons

    def _call(self, entry: _Entry, request: Callable[[], _T]) -> tuple[_T | None, str, str | None]:
        """Run one request against a source, keeping its health; return (answer, outcome, reason)."""
        source, health = entry.source, entry.health
        refusal = health.allow()
        if refusal is not None:
            return None, _REFUSED, f"{source.name}: {refusal}"
        try:
            answer = request()
        except RateLimitedError as exc:
            outcome, reason = (_REFUSED if exc.local else _THROTTLED), str(exc)
            if exc.daily and not exc.local:  # the provider says today's quota is spent: tell every worker
                self.rate_limiter.exhaust_daily(source.name, source.daily_limit)
            if exc.local and not exc.daily:  # our minute limiter refused: nothing was sent
                health.release_trial()
            else:  # a throttle, or a spent day: wait (until the daily reset for the latter)
                health.cool_down(exc.retry_after, reason)
        except SymbolError as exc:
            outcome, reason = _SYMBOL, str(exc)
            health.record_success()  # the source answered; only this symbol is bad
        except Exception as exc:
            if not isinstance(exc, SourceError):  # an adapter bug must not stop the feed
                logger.exception("market data source %s crashed", source.name)
            reason = str(exc) if isinstance(exc, SourceError) else f"{source.name}: {exc!r}"
            outcome = _OPENED if health.record_failure(reason) else _FAILED
            if outcome == _OPENED:
                logger.warning("market data source %s: circuit opened (%s)", source.name, reason)
        else:
            health.record_success()
            return answer, _OK, None
        return None, outcome, reason

    def _ask(
        self, entry: _Entry, symbols: list[str], reasons: dict[str, list[str]]
    ) -> tuple[dict[str, QuoteResult], str | None]:
        """Ask one source in batches; return what it served and why it failed, if it did."""
        source = entry.source
        served: dict[str, QuoteResult] = {}
        trouble: str | None = None
        size = max(1, source.batch_size)
        for start in range(0, len(symbols), size):
            chunk = symbols[start : start + size]
            answer, outcome, reason = self._call(entry, partial(source.fetch_quotes, chunk))
            if answer is None:
                if outcome != _REFUSED:
                    self._count(entry, failures=len(chunk))
                if outcome != _SYMBOL:
                    trouble = trouble or reason
                stop = outcome in _STOP
                self._note(symbols[start:] if stop else chunk, reasons, reason or "no answer")
                if stop:
                    break
                continue
            good = 0
            for symbol in chunk:
                result = answer.get(symbol)
                if result is not None and result.success:
                    served[symbol] = result
                    good += 1
                else:
                    reason = result.error if result is not None else None
                    self._note([symbol], reasons, reason or f"{source.name}: no result")
            self._count(entry, successes=good, failures=len(chunk) - good)
        return served, trouble

    def _count(self, entry: _Entry, successes: int = 0, failures: int = 0) -> None:
        """Bump an entry's counters under the lock."""
        with self._lock:
            entry.successes += successes
            entry.failures += failures

    @staticmethod
    def _note(symbols: Iterable[str], reasons: dict[str, list[str]], reason: str) -> None:
        """Record why each symbol was not served by a source."""
        for symbol in symbols:
            reasons[symbol].append(reason)

    def drain_events(self) -> list[FeedEvent]:
        """Return and clear the pending failover/recovery events (tasks.market_data.failover)."""
        return self._failover.drain()

    def get_history(self, symbol: str, days: int) -> list[HistoryPoint]:
        """Daily closes (oldest first) from the first source that has them, else MarketDataError."""
        normalized = symbol_or_none(symbol)
        if normalized is None:
            raise MarketDataError(f"invalid symbol {symbol!r}")
        if days < 1:
            raise ValueError(f"days must be >= 1, got {days}")
        reasons: list[str] = []
        for entry in self._entries:
            if why := entry.source.cannot_serve(normalized):
                reasons.append(why)
                continue
            points, outcome, reason = self._call(entry, partial(entry.source.fetch_history, normalized, days))
            if points:
                self._count(entry, successes=1)
                return points
            if outcome != _REFUSED:
                self._count(entry, failures=1)
            reasons.append(reason or f"{entry.source.name}: no history")
        raise MarketDataError(f"no history for {normalized}: " + ("; ".join(reasons) or "no source configured"))

    def source_stats(self) -> dict[str, dict[str, Any]]:
        """Successes/failures (per symbol) and breaker state per source, skipped ones included."""
        with self._lock:
            counts = {e.source.name: (e.successes, e.failures) for e in self._entries}
        stats: dict[str, dict[str, Any]] = {}
        for entry in self._entries:
            successes, failures = counts[entry.source.name]
            stats[entry.source.name] = {
                "configured": True,
                "priority": entry.priority,
                "rate_limit": entry.source.rate_limit,
                "successes": successes,
                "failures": failures,
                **entry.health.snapshot(),
            }
        for name, reason in self._skipped.items():
            stats[name] = {"configured": False, "state": "skipped", "reason": reason}
        return stats

    def close(self) -> None:
        """Close every source's pooled connections."""
        for entry in self._entries:
            entry.source.close()
