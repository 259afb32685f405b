"""Trading sessions from exchange-calendars: is a market open now, which trading day a price belongs to.

States: `pre` and `post` are the extended hours around a US session (04:00-09:30 and 16:00-20:00 New
York); other exchanges have only `regular` and `closed`. FX is one session a day from 17:00 New York
to 17:00 the next day, Sunday evening to Friday evening (the session is named by the day it ends);
crypto and unknown exchanges are always `regular`. Every function takes `now`: the caller's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from models.exchanges import FX, KIND_EXCHANGE, KIND_FX, NEW_YORK, Market, calendar

PRE = "pre"
REGULAR = "regular"
POST = "post"
CLOSED = "closed"
MARKET_STATES = (PRE, REGULAR, POST, CLOSED)

# Extended hours (pre, post) of the US exchanges; the rest have none here.
_US_EXTENDED = (timedelta(hours=5, minutes=30), timedelta(hours=4))
EXTENDED_HOURS = {mic: _US_EXTENDED for mic in ("XNYS", "XNAS", "ARCX", "XASE", "BATS", "NYSE", "NASDAQ")}
_NO_EXTENDED = (timedelta(0), timedelta(0))
_FX_ROLL = time(17, 0)


@dataclass(frozen=True)
class Session:
    """One trading day: its date and its regular open and close (UTC)."""

    day: date
    open: datetime
    close: datetime


@dataclass(frozen=True)
class MarketClock:
    """A market at one instant: its state, the session it is in or last had, and the nearby bounds."""

    market: Market
    state: str
    session: Session | None  # pre: the coming session; regular/post: today's; closed: the last one
    previous_close: datetime | None  # close of the session before `session`
    last_close: datetime | None  # most recent close at or before now
    next_open: datetime | None  # next regular open after now
    always_open: bool = False

    @property
    def is_open(self) -> bool:
        """Regular, pre or post: worth fetching."""
        return self.state != CLOSED

    @property
    def session_date(self) -> date | None:
        """The trading day of `session`."""
        return None if self.session is None else self.session.day


def _minute(moment: datetime) -> Any:
    import pandas as pd

    return pd.Timestamp(moment.astimezone(UTC)).floor("min")


def _py(ts: Any) -> datetime:
    return ts.to_pydatetime().astimezone(UTC)  # type: ignore[no-any-return]


def _calendar_session(cal: Any, label: Any) -> Session:
    return Session(label.date(), _py(cal.session_open(label)), _py(cal.session_close(label)))


def _exchange_clock(market: Market, now: datetime) -> MarketClock:
    cal = calendar(market.mic)
    minute = _minute(now)
    pre, post = EXTENDED_HOURS.get(market.mic, _NO_EXTENDED)
    last_close = _py(cal.previous_close(minute)) if minute > cal.first_minute else None
    next_open = _py(cal.next_open(minute))
    if cal.is_open_on_minute(minute, ignore_breaks=True):
        label = cal.minute_to_session(minute, direction="none")
        state = REGULAR
    elif next_open - now <= pre:
        label, state = cal.minute_to_session(minute, direction="next"), PRE
    else:
        label = cal.minute_to_session(minute, direction="previous")
        state = POST if last_close is not None and now - last_close < post else CLOSED
    session = _calendar_session(cal, label)
    before = cal.previous_session(label) if label > cal.first_session else None
    previous_close = None if before is None else _py(cal.session_close(before))
    return MarketClock(market, state, session, previous_close, last_close, next_open)


def _fx_roll(day: date) -> datetime:
    """17:00 New York on `day`, in UTC (the FX day boundary, DST-aware)."""
    return datetime.combine(day, _FX_ROLL, ZoneInfo(NEW_YORK)).astimezone(UTC)


def _fx_session(day: date) -> Session:
    """The FX session ending at 17:00 New York on `day` (a weekday), opening 24 hours earlier."""
    return Session(day, _fx_roll(day - timedelta(days=1)), _fx_roll(day))  # Monday's opens on Sunday


def _fx_weekday_on_or_after(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _fx_weekday_before(day: date) -> date:
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def _fx_clock(market: Market, now: datetime) -> MarketClock:
    local = now.astimezone(ZoneInfo(NEW_YORK))
    # The session a moment falls in ends at the next 17:00 New York.
    ends = local.date() if local.time() < _FX_ROLL else local.date() + timedelta(days=1)
    day = _fx_weekday_on_or_after(ends)
    current = _fx_session(day)
    if current.open <= now < current.close:
        previous = _fx_session(_fx_weekday_before(day))
        return MarketClock(market, REGULAR, current, previous.close, previous.close, _fx_session(
            _fx_weekday_on_or_after(day + timedelta(days=1))).open)
    last = _fx_session(_fx_weekday_before(day))  # the weekend: Friday's session was the last
    before = _fx_session(_fx_weekday_before(last.day))
    return MarketClock(market, CLOSED, last, before.close, last.close, current.open)


def market_clock(market: Market, now: datetime) -> MarketClock:
    """The state of `market` at `now`; always open when it has no calendar (or `now` is out of its range).

    Sessions change on whole minutes: the answer is that of `now`'s minute, memoised (a cycle or a
    snapshot asks about the same few markets for hundreds of symbols).
    """
    utc = now.astimezone(UTC)
    return _minute_clock(market, utc.replace(second=0, microsecond=0))


@lru_cache(maxsize=4096)
def _minute_clock(market: Market, now: datetime) -> MarketClock:
    if market.kind == KIND_FX or market.mic == FX:
        return _fx_clock(market, now)
    if market.kind == KIND_EXCHANGE:
        try:
            return _exchange_clock(market, now)
        except (ValueError, LookupError):  # outside the calendar's computed range
            pass
    return MarketClock(market, REGULAR, None, None, None, None, always_open=True)


def session_date_of(market: Market, moment: datetime, now: datetime) -> date | None:
    """The trading day a price observed at `moment` belongs to (never later than `now`'s session)."""
    seen = min(moment.astimezone(UTC), now.astimezone(UTC))
    clock = market_clock(market, seen)
    if clock.always_open:
        return seen.date()
    return clock.session_date


def is_stale(clock: MarketClock, price_as_of: datetime | None, now: datetime, margin_seconds: int) -> bool:
    """Whether a price is stale by its market's session.

    Stale: missing; or its market is in session (opened over `margin` ago) and the price is older than
    `margin`; or its market is out of session and the price is older than the last close by over `margin`.
    """
    if price_as_of is None:
        return True
    margin = timedelta(seconds=margin_seconds)
    seen = price_as_of.astimezone(UTC) if price_as_of.tzinfo else price_as_of.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    in_session = clock.state == REGULAR and (
        clock.always_open or clock.session is None or now - clock.session.open > margin
    )
    if in_session or clock.last_close is None:
        return now - seen > margin
    return seen < clock.last_close - margin
