"""Old prints are not fresh: flag a quote whose market time is older than the staleness limit allows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from .base import QuoteResult
from .symbols import CRYPTO, classify

__all__ = ["CLOSED_MARKET_ALLOWANCE", "default_last_session_end", "mark_stale"]

# Without exchange calendars (issue 13 brings them) a closed market's last session may have ended this long
# ago: a weekend plus a holiday (Friday 16:00 to Tuesday 09:30 is under four days).
CLOSED_MARKET_ALLOWANCE = timedelta(days=4)

#: (quote, now) -> when its market's last session ended, at the earliest.
LastSessionEnd = Callable[[QuoteResult, datetime], datetime]


def default_last_session_end(result: QuoteResult, now: datetime) -> datetime:
    """Crypto trades around the clock and an open market ('REGULAR') trades now; others may have closed."""
    if classify(result.symbol).kind == CRYPTO or (result.market_state or "").upper() == "REGULAR":
        return now
    return now - CLOSED_MARKET_ALLOWANCE


def mark_stale(
    result: QuoteResult, stale_after: float, now: datetime, last_session_end: LastSessionEnd = default_last_session_end
) -> QuoteResult:
    """The result flagged stale (keeping its true time) when older than stale_after before the last session end."""
    if not result.success or result.timestamp is None or stale_after <= 0:
        return result
    if result.timestamp < last_session_end(result, now) - timedelta(seconds=stale_after):
        return replace(result, stale=True)
    return result
