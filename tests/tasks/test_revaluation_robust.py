"""revalue_for_symbols() survives one bad portfolio, refreshes shorts, and never stores a snapshot back in time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from infra import revaluation
from infra.feed_status import get_feed_status
from infra.settings import update_settings
from models import Portfolio, PortfolioValue, Position, db
from models.market import Asset
from tasks.portfolio_tracker import revalue_for_symbols
from tests.support.portfolios import NOW, D, add_user, seed_mixed


def _add_aapl_portfolio(name: str, quantity: str) -> Portfolio:
    """Another portfolio of alice's holding AAPL (stored quote 150.25)."""
    owner = db.session.scalar(select(Portfolio).where(Portfolio.name == "Growth")).owner
    asset = db.session.scalar(select(Asset).where(Asset.symbol == "AAPL"))
    portfolio = Portfolio(owner=owner, name=name, base_currency="USD")
    db.session.add(Position(portfolio=portfolio, asset=asset, quantity=D(quantity), cost_basis=D(1)))
    db.session.commit()
    return portfolio


def _failures() -> int:
    return int(get_feed_status().service_status(30)["portfolio_revaluation_failures"])


@pytest.mark.parametrize("checked", [True, False], ids=["caught-before-writing", "refused-by-the-database"])
def test_one_overflowing_portfolio_is_skipped_and_counted(app: Flask, monkeypatch: pytest.MonkeyPatch,
                                                          checked: bool) -> None:
    good = seed_mixed(add_user())
    # 9e13 x 150.25 = 1.35e16: more than NUMERIC(24, 8) holds.
    huge = _add_aapl_portfolio("Huge", "90000000000000")
    short = _add_aapl_portfolio("Short", "-2")
    if not checked:  # the database's own refusal must be isolated too
        monkeypatch.setattr(revaluation, "check_storable", lambda valuation: None)
    updates = revalue_for_symbols(["AAPL"], now=NOW)
    assert sorted(u["portfolio_id"] for u in updates) == sorted([good.id, short.id])
    assert {u["portfolio_id"]: u["total_value"] for u in updates}[short.id] == D("-300.50")  # -2 x 150.25
    assert db.session.scalar(select(PortfolioValue.id).where(PortfolioValue.portfolio_id == huge.id)) is None
    assert _failures() == 1
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert "pricewire_portfolio_revaluation_failures_total 1.0" in metrics


def test_snapshot_times_never_go_backwards(app: Flask) -> None:
    # Every change stored (issue 18's history resolution off): with it on, the late point overwrites this one.
    update_settings(app, portfolio_history_resolution_seconds=0)
    portfolio = seed_mixed(add_user())
    revalue_for_symbols(["AAPL"], now=NOW)
    quote = db.session.scalar(select(Asset).where(Asset.symbol == "AAPL")).quote
    assert quote is not None
    quote.price = D("160")
    db.session.commit()
    revalue_for_symbols(["AAPL"], now=NOW - timedelta(minutes=5))  # a late batch from an earlier cycle
    stamps = list(db.session.scalars(select(PortfolioValue.timestamp)
                                     .where(PortfolioValue.portfolio_id == portfolio.id).order_by(PortfolioValue.id)))
    assert stamps == [NOW, NOW]


@pytest.mark.parametrize("backend", ["app", "pg_app"])
def test_cash_in_a_foreign_currency_makes_the_feed_track_its_fx(request: pytest.FixtureRequest, backend: str) -> None:
    request.getfixturevalue(backend)
    from models.holders import fx_symbols_for_tracked_portfolios
    from models.ledger_service import add_transaction, create_portfolio

    portfolio = create_portfolio(add_user().id, {"name": "Cash", "base_currency": "USD"})
    add_transaction(portfolio, {"type": "deposit", "price": "100", "currency": "CHF", "fx_rate": "1.13",
                                "executed_at": "2024-01-02"}, NOW)
    db.session.commit()
    assert fx_symbols_for_tracked_portfolios() == {"CHFUSD=X"}
    # ... and a move of that rate revalues it, although it holds no position.
    [update] = revalue_for_symbols(["CHFUSD=X"], now=NOW)
    assert update["portfolio_id"] == portfolio.id and update["cash"][0]["currency"] == "CHF"


def test_a_batch_waiting_on_another_never_stamps_before_it(pg_committed_url: str) -> None:
    """PostgreSQL: a revaluation blocked by another's lock stamps its snapshot no earlier than the other's."""
    import threading

    import sqlalchemy as sa

    from app.config import normalize_database_url
    from tests.conftest import make_app
    from tests.support.services import wait_for

    application = make_app({"DATABASE_URL": pg_committed_url})
    with application.app_context():
        portfolio_id = seed_mixed(add_user()).id
        db.session.remove()
    engine = sa.create_engine(normalize_database_url(pg_committed_url))
    holder = engine.connect()
    holder.begin()
    holder.execute(sa.text("SELECT id FROM portfolios WHERE id = :id FOR UPDATE"), {"id": portfolio_id})
    done: list[int] = []

    def late_batch() -> None:
        with application.app_context():
            done.append(len(revalue_for_symbols(["AAPL"], now=NOW)))  # an older batch, blocked on the lock
            db.session.remove()

    worker = threading.Thread(target=late_batch, daemon=True)
    worker.start()
    # The other writer stores a newer snapshot while holding the lock, then lets the late batch go.
    def waiting() -> bool:
        with engine.connect() as connection:
            return bool(connection.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar())

    later = NOW + timedelta(minutes=5)
    try:
        wait_for(waiting, timeout=10, message="the late batch to wait for the lock")
        holder.execute(sa.text("INSERT INTO portfolio_values (portfolio_id, timestamp, total_value, daily_change, "
                               "stale_value) VALUES (:id, :t, 1, 0, 0)"), {"id": portfolio_id, "t": later})
        holder.commit()
    finally:
        holder.close()  # releases the lock whatever happened, so the batch and the fixture's cleanup go on
    worker.join(timeout=30)
    assert done == [1]
    with engine.connect() as connection:
        stamps = connection.execute(sa.text("SELECT timestamp FROM portfolio_values WHERE portfolio_id = :id "
                                            "ORDER BY id"), {"id": portfolio_id}).scalars().all()
    engine.dispose()
    assert stamps == sorted(stamps) and stamps[-1] == later
    with application.app_context():
        db.engine.dispose()
