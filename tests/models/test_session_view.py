"""The session layer on the wire: asset_update/snapshot fields and portfolio_update positions, clock fixed."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask

from models import Portfolio, Position, db
from models.portfolio_valuation import portfolio_update_data
from models.session_view import price_session
from models.snapshots import quote_snapshots
from tests.support.portfolios import add_asset, add_user
from tests.support.sessions import at


def test_snapshot_on_saturday_is_closed_and_belongs_to_friday(app: Flask) -> None:
    app.config["MARKET_CLOCK"] = at("2026-11-28 15:00")
    add_asset("AAPL", "USD", "150.25", "148.00", as_of=at("2026-11-27 18:00"))
    db.session.commit()
    data = quote_snapshots(["AAPL"])["AAPL"]
    assert data["market_state"] == "closed" and data["session_date"] == "2026-11-27"
    assert data["exchange"] == "XNYS" and data["exchange_timezone"] == "America/New_York"
    assert data["next_open"] == "2026-11-30T14:30:00Z"
    assert data["change_since"] == "2026-11-25"  # Friday's move, since Wednesday's close (Thanksgiving)
    assert data["stale"] is False and data["price"] == Decimal("150.25")


def test_pre_market_monday_measures_the_day_since_fridays_close(app: Flask) -> None:
    app.config["MARKET_CLOCK"] = at("2026-11-30 09:15")  # 04:15 New York
    add_asset("AAPL", "USD", "150.25", "148.00", as_of=at("2026-11-27 18:00"))
    db.session.commit()
    data = quote_snapshots(["AAPL"])["AAPL"]
    assert data["market_state"] == "pre" and data["session_date"] == "2026-11-27"
    assert data["change_since"] == "2026-11-27"
    assert (data["previous_close"], data["change"], data["change_percent"]) == (Decimal("150.25"), 0, 0)


def test_unknown_exchange_says_it_is_assumed_open() -> None:
    view = price_session("FOO.ZZ", at("2026-11-29 11:59"), now=at("2026-11-29 12:00"), margin_seconds=300)
    fields = view.fields()
    assert fields["market_state"] == "regular" and "unknown exchange" in fields["market_note"]
    assert fields["stale"] is False


def test_a_mixed_portfolio_shows_each_positions_own_session(app: Flask) -> None:
    # Monday 09:15 UTC: London is open, New York is in pre-market with Friday's close, Tokyo has closed.
    app.config["MARKET_CLOCK"] = at("2026-11-30 09:15")
    user = add_user()
    aapl = add_asset("AAPL", "USD", "150.00", "148.00", as_of=at("2026-11-27 18:00"))
    vod = add_asset("VOD.L", "USD", "72.00", "71.00", as_of=at("2026-11-30 09:14"))
    toyota = add_asset("7203.T", "USD", "10.00", "9.00", as_of=at("2026-11-27 06:00"))
    portfolio = Portfolio(owner=user, name="World", base_currency="USD")
    db.session.add(portfolio)
    for asset in (aapl, vod, toyota):
        db.session.add(Position(portfolio=portfolio, asset=asset, quantity=Decimal(10), cost_basis=Decimal(100)))
    db.session.commit()

    data = portfolio_update_data(portfolio.id, now=at("2026-11-30 09:15"))
    assert data is not None
    positions = {p["symbol"]: p for p in data["positions"]}
    assert positions["AAPL"]["market_state"] == "pre"
    assert positions["AAPL"]["daily_change"] == 0  # nothing moved since Friday's close
    assert positions["VOD.L"]["market_state"] == "regular" and positions["VOD.L"]["daily_change"] == 10
    # Tokyo closed at 06:30 UTC Monday: Friday's 06:00 price missed Monday's session entirely.
    assert positions["7203.T"]["market_state"] == "closed"
    assert positions["7203.T"]["stale"] is True and positions["7203.T"]["stale_reason"] == "stale_price"
    assert positions["7203.T"]["current_value"] == 100  # valued, flagged
    assert data["daily_change"] == 10 + 10  # VOD.L's move and Tokyo's (last known), AAPL's zero
    assert data["as_of"] == "2026-11-30T09:14:00Z" and data["as_of_oldest"] == "2026-11-27T06:00:00Z"
