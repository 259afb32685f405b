"""The market clock: the real time, or the instant MARKET_CLOCK fixes (tests, demos of a given day).

Only session decisions read it (market state, what the feed fetches, freshness, /health); heartbeats,
timeouts and stored timestamps keep the real time.

The one configuration models/ still reads (tests/models/test_no_config_reads.py allows only this
module): MARKET_CLOCK is a test and demo hook, not a Settings field, and it is read wherever a session
decision is made, deep in the models (session views of every snapshot, portfolio_update and /health
row); threading it through every caller as a parameter would touch all of them for a value production
never sets. Unset, it changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, has_app_context

SETTING = "MARKET_CLOCK"


def parse_instant(raw: str) -> datetime:
    """An ISO-8601 instant with a time zone (a trailing Z is UTC), or ValueError."""
    moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("the instant needs a time zone, e.g. 2026-11-28T15:00:00Z")
    return moment.astimezone(UTC)


def market_now(default: datetime | None = None) -> datetime:
    """MARKET_CLOCK of the current app when set, else `default` (the caller's now), else the real time (UTC)."""
    fixed = current_app.config.get(SETTING) if has_app_context() else None
    if isinstance(fixed, datetime):
        return fixed
    return default if default is not None else datetime.now(UTC)
