"""Market sessions with a fixed clock: state, trading day, next open and staleness, market by market."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from models.exchanges import CRYPTO, FX, UNKNOWN, market_for_symbol, resolve_market
from models.sessions import CLOSED, POST, PRE, REGULAR, is_stale, market_clock, session_date_of


def at(text: str) -> datetime:
    """A UTC instant from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("symbol", "mic", "zone"), [
    ("AAPL", "XNYS", "America/New_York"), ("VOD.L", "XLON", "Europe/London"), ("SAP.DE", "XETR", "Europe/Berlin"),
    ("7203.T", "XTKS", "Asia/Tokyo"), ("EURUSD=X", FX, "America/New_York"), ("JPY=X", FX, "America/New_York"),
    ("BTC-USD", CRYPTO, "UTC"), ("BRK-B", "XNYS", "America/New_York"), ("ES=F", UNKNOWN, "UTC"),
    ("FOO.ZZ", UNKNOWN, "UTC"),
])  # fmt: skip
def test_the_symbol_decides_the_market_without_metadata(symbol: str, mic: str, zone: str) -> None:
    market = market_for_symbol(symbol)
    assert (market.mic, market.timezone) == (mic, zone)
    assert (market.note is not None) == (mic == UNKNOWN)


def test_provider_metadata_wins_over_the_symbol_and_unknown_codes_fall_back() -> None:
    # Yahoo's codes (exchange "NMS", exchangeTimezoneName) and plain MICs are both understood.
    assert resolve_market("AAPL", "NMS", "America/New_York").mic == "XNAS"
    assert resolve_market("VOD.L", "LSE", "Europe/London").mic == "XLON"
    assert resolve_market("EURUSD=X", "CCY", None).mic == FX
    assert resolve_market("SHOP.TO", "XTSE", None).timezone == "America/Toronto"
    fallback = resolve_market("SAP.DE", "ZZZ", None)
    assert (fallback.mic, fallback.source) == ("XETR", "symbol")


def clock(symbol: str, when: str):  # type: ignore[no-untyped-def]
    return market_clock(market_for_symbol(symbol), at(when))


def test_a_weekday_session_pre_regular_post_closed() -> None:
    assert clock("AAPL", "2026-11-25 10:00").state == PRE  # 05:00 New York
    regular = clock("AAPL", "2026-11-25 15:00")
    assert regular.state == REGULAR and regular.session_date == date(2026, 11, 25)
    assert regular.previous_close == at("2026-11-24 21:00")
    assert clock("AAPL", "2026-11-25 22:00").state == POST  # 17:00 New York
    late = clock("AAPL", "2026-11-26 02:00")
    assert late.state == CLOSED and late.last_close == at("2026-11-25 21:00")


def test_a_weekend_is_closed_until_monday_and_belongs_to_friday() -> None:
    saturday = clock("AAPL", "2026-11-28 15:00")
    assert saturday.state == CLOSED and not saturday.is_open
    assert saturday.session_date == date(2026, 11, 27)
    assert saturday.last_close == at("2026-11-27 18:00")  # the day after Thanksgiving closes at 13:00
    assert saturday.next_open == at("2026-11-30 14:30")


def test_thanksgiving_is_a_us_holiday() -> None:
    thanksgiving = clock("AAPL", "2026-11-26 15:00")
    assert thanksgiving.state == CLOSED
    assert thanksgiving.session_date == date(2026, 11, 25)
    assert thanksgiving.next_open == at("2026-11-27 14:30")
    assert clock("VOD.L", "2026-11-26 12:00").state == REGULAR  # London trades


def test_lse_christmas_eve_closes_at_half_past_twelve() -> None:
    assert clock("VOD.L", "2026-12-24 12:29").state == REGULAR
    after = clock("VOD.L", "2026-12-24 12:31")
    assert after.state == CLOSED and after.last_close == at("2026-12-24 12:30")
    assert after.next_open == at("2026-12-29 08:00")  # Christmas and Boxing Day (moved to Monday 28th)


def test_us_daylight_saving_moves_the_open_in_utc() -> None:
    # DST began on Sunday 2026-03-08: the 09:30 open is 14:30 UTC before and 13:30 UTC after.
    assert clock("AAPL", "2026-03-06 14:00").state == PRE
    assert clock("AAPL", "2026-03-09 13:30").state == REGULAR
    # And ended on Sunday 2026-11-01.
    assert clock("AAPL", "2026-10-30 13:30").state == REGULAR
    assert clock("AAPL", "2026-11-02 13:30").state == PRE


def test_uk_daylight_saving_moves_the_open_in_utc() -> None:
    # BST began on Sunday 2026-03-29: 08:00 London is 08:00 UTC before and 07:00 UTC after.
    assert clock("VOD.L", "2026-03-27 07:30").state == CLOSED
    assert clock("VOD.L", "2026-03-30 07:30").state == REGULAR
    assert clock("VOD.L", "2026-03-30 07:30").market.timezone == "Europe/London"


def test_fx_trades_sunday_evening_to_friday_evening_new_york() -> None:
    assert clock("EURUSD=X", "2026-11-27 21:59").state == REGULAR  # Friday 16:59 New York
    weekend = clock("EURUSD=X", "2026-11-28 12:00")
    assert weekend.state == CLOSED and weekend.session_date == date(2026, 11, 27)
    assert weekend.last_close == at("2026-11-27 22:00") and weekend.next_open == at("2026-11-29 22:00")
    assert clock("EURUSD=X", "2026-11-29 21:59").state == CLOSED
    sunday = clock("EURUSD=X", "2026-11-29 22:00")
    assert sunday.state == REGULAR and sunday.session_date == date(2026, 11, 30)  # named by the day it ends
    assert clock("EURUSD=X", "2026-07-10 21:30").state == CLOSED  # summer: 17:00 New York is 21:00 UTC


def test_crypto_trades_on_sunday_and_unknown_exchanges_say_they_are_assumed_open() -> None:
    sunday = clock("BTC-USD", "2026-11-29 12:00")
    assert sunday.state == REGULAR and sunday.always_open and sunday.next_open is None
    unknown = clock("FOO.ZZ", "2026-11-29 12:00")
    assert unknown.state == REGULAR and unknown.always_open
    assert "unknown exchange" in (unknown.market.note or "")


def test_a_clock_outside_the_calendars_range_is_treated_as_always_open() -> None:
    far = clock("AAPL", "2099-01-05 15:00")
    assert far.always_open and far.state == REGULAR


def test_session_date_of_a_price() -> None:
    us = market_for_symbol("AAPL")
    now = at("2026-11-30 09:15")  # Monday pre-market
    assert session_date_of(us, at("2026-11-27 18:00"), now) == date(2026, 11, 27)  # Friday's close
    assert session_date_of(us, at("2026-11-30 09:10"), now) == date(2026, 11, 30)  # pre-market belongs to Monday
    # A price stamped after the clock (the real time ran ahead of a fixed clock) belongs to the clock's session.
    assert session_date_of(us, at("2026-12-02 15:00"), at("2026-11-28 12:00")) == date(2026, 11, 27)


MARGIN = 300


@pytest.mark.parametrize(("symbol", "now", "price_at", "stale"), [
    # In session: older than the margin is stale.
    ("AAPL", "2026-11-25 15:00", "2026-11-25 14:56", False),
    ("AAPL", "2026-11-25 15:00", "2026-11-25 14:54", True),
    # Just opened: the first fetch has a margin's grace, judged against the last close.
    ("AAPL", "2026-11-25 14:31", "2026-11-24 21:00", False),
    # Weekend: Friday's close is fresh; Wednesday's is stale.
    ("AAPL", "2026-11-28 15:00", "2026-11-27 18:00", False),
    ("AAPL", "2026-11-28 15:00", "2026-11-25 21:00", True),
    # Thanksgiving: Wednesday's close is the last one.
    ("AAPL", "2026-11-26 15:00", "2026-11-25 21:00", False),
    # Pre-market Monday: Friday's close still counts.
    ("AAPL", "2026-11-30 09:15", "2026-11-27 18:00", False),
    # LSE Christmas Eve: closed at 12:30, a 12:29 price is fresh, a 10:00 one is stale.
    ("VOD.L", "2026-12-24 15:00", "2026-12-24 12:29", False),
    ("VOD.L", "2026-12-24 15:00", "2026-12-24 10:00", True),
    # FX over the weekend: Friday 16:58 New York is fresh, Thursday's is not.
    ("EURUSD=X", "2026-11-29 12:00", "2026-11-27 21:58", False),
    ("EURUSD=X", "2026-11-29 12:00", "2026-11-26 21:58", True),
    # Crypto on Sunday: by age alone.
    ("BTC-USD", "2026-11-29 12:00", "2026-11-29 11:56", False),
    ("BTC-USD", "2026-11-29 12:00", "2026-11-29 11:50", True),
])  # fmt: skip
def test_staleness_is_judged_by_the_session(symbol: str, now: str, price_at: str, stale: bool) -> None:
    state = clock(symbol, now)
    assert is_stale(state, at(price_at), at(now), MARGIN) is stale


def test_a_missing_price_is_stale() -> None:
    assert is_stale(clock("AAPL", "2026-11-28 15:00"), None, at("2026-11-28 15:00"), MARGIN)


def test_naive_price_times_count_as_utc() -> None:
    now = at("2026-11-25 15:00")
    assert not is_stale(clock("AAPL", "2026-11-25 15:00"), (now - timedelta(seconds=10)).replace(tzinfo=None), now,
                        MARGIN)
