"""Loading (models.portfolio_loading) and valuing (models.portfolio_valuation) stored portfolios, SQLite and PG."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, event, select

from models import Asset, Portfolio, PortfolioValue, Position, Quote, db
from models.holders import fx_symbols_for_tracked_portfolios, portfolio_ids_holding
from models.market import get_or_create_asset
from models.portfolio_loading import load_portfolio_inputs, load_portfolios, owned_portfolio
from models.portfolio_valuation import portfolio_update_data, value_portfolios
from tests.support.portfolios import AS_OF, NOW, D, add_asset, add_user, seed_many, seed_mixed


@pytest.fixture(params=["sqlite", "postgresql"])
def any_app(request: pytest.FixtureRequest) -> Flask:
    return request.getfixturevalue("app" if request.param == "sqlite" else "pg_app")


@contextmanager
def counting_queries() -> Iterator[list[str]]:
    """Every statement the engine sends while the block runs."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def drop_quotes(*symbols: str) -> None:
    """Forget the stored quotes of `symbols` (their assets stay)."""
    db.session.execute(delete(Quote).where(Quote.asset_id.in_(select(Asset.id).where(Asset.symbol.in_(symbols)))))


def test_stored_mixed_portfolio_matches_hand_computed_figures(any_app: Flask) -> None:
    portfolio = seed_mixed(add_user())
    inputs = load_portfolio_inputs([portfolio.id])[portfolio.id]
    assert [(p.symbol, p.currency, p.quantity, p.price) for p in inputs.positions] == [
        ("AAPL", "USD", D("10"), D("150.25")), ("SAP", "EUR", D("20"), D("120.50")),
        ("VOD.L", "GBp", D("1000"), D("72.34")),
    ]
    assert inputs.positions[0].price_as_of == AS_OF
    result = value_portfolios([portfolio.id], NOW)[portfolio.id].as_dict()
    # The FX quotes come from the stored EURUSD=X and GBPUSD=X assets.
    assert (result["total_value"], result["daily_change"], result["daily_change_percent"]) == (
        D("5057.75"), D("17.00"), D("0.34"))
    assert (result["total_cost"], result["total_return"]) == (D("5150.00"), D("-92.25"))
    assert [p["value_in_base"] for p in result["positions"]] == [D("1502.50"), D("2651.00"), D("904.25")]
    assert result["value_changed"] is True  # no snapshot stored yet


def test_missing_fx_quote_and_missing_price_are_stale(any_app: Flask) -> None:
    user = add_user()
    portfolio = seed_mixed(user)
    drop_quotes("GBPUSD=X")
    fresh = add_asset("NEW", "USD")  # listed, no quote yet
    db.session.add(Position(portfolio=portfolio, asset=fresh, quantity=D(5), cost_basis=D(450),
                            last_published_value=D("500.00")))
    db.session.commit()
    valuation = value_portfolios([portfolio.id], NOW)[portfolio.id]
    by_symbol = {p.symbol: p for p in valuation.positions}
    assert (by_symbol["VOD.L"].stale_reason, by_symbol["NEW"].stale_reason) == ("no_fx_rate", "no_price")
    # 1502.50 + 2651.00 live + 500.00 last published for NEW; VOD.L has no USD value at all.
    assert valuation.total_value == D("4653.50")
    assert valuation.stale_value == D("500.00")
    assert valuation.stale_positions == 2


def test_inverse_fx_quote_is_loaded(any_app: Flask) -> None:
    user = add_user()
    portfolio = seed_mixed(user)
    drop_quotes("EURUSD=X", "GBPUSD=X")
    add_asset("USDEUR=X", "EUR", "0.8")
    db.session.commit()
    valuation = value_portfolios([portfolio.id], NOW)[portfolio.id]
    sap = next(p for p in valuation.positions if p.symbol == "SAP")
    assert sap.as_dict()["value_in_base"] == D("3012.50")  # 2410.00 EUR / 0.8


def test_holders_are_found_by_symbol_and_by_fx_symbol(any_app: Flask) -> None:
    user = add_user()
    mixed = seed_mixed(user).id
    usd_only = _portfolio(user, "USD", ["AAPL"])
    eur_based = _portfolio(user, "EUR", ["AAPL"])
    empty = _portfolio(user, "USD", [])
    assert portfolio_ids_holding(["AAPL"]) == sorted([mixed, usd_only, eur_based])
    assert portfolio_ids_holding(["SAP"]) == [mixed]
    # EUR -> USD conversions (SAP in the USD portfolio) and USD -> EUR ones (AAPL in the EUR one).
    assert portfolio_ids_holding(["EURUSD=X"]) == sorted([mixed, eur_based])
    assert portfolio_ids_holding(["USDEUR=X"]) == sorted([mixed, eur_based])
    assert portfolio_ids_holding(["GBPUSD=X"]) == [mixed]  # VOD.L is quoted in GBp
    assert portfolio_ids_holding(["NOPE"]) == [] and portfolio_ids_holding([]) == []
    assert empty not in portfolio_ids_holding(["AAPL", "EURUSD=X"])
    assert portfolio_ids_holding(["AAPL"], lock=True) == sorted([mixed, usd_only, eur_based])


def _portfolio(user: Any, base: str, symbols: list[str]) -> int:
    portfolio = Portfolio(owner=user, name=f"{base}-{len(symbols)}", base_currency=base)
    db.session.add(portfolio)
    for symbol in symbols:
        asset = db.session.scalar(select(Asset).where(Asset.symbol == symbol))
        db.session.add(Position(portfolio=portfolio, asset=asset, quantity=D(1), cost_basis=D(100)))
    db.session.commit()
    return portfolio.id


def test_last_snapshot_decides_value_changed(any_app: Flask) -> None:
    portfolio = seed_mixed(add_user())
    db.session.add_all([
        PortfolioValue(portfolio_id=portfolio.id, timestamp=AS_OF, total_value=D("1"), daily_change=D(0)),
        PortfolioValue(portfolio_id=portfolio.id, timestamp=NOW, total_value=D("5057.75"), daily_change=D(17)),
    ])
    db.session.commit()
    batch = load_portfolios([portfolio.id])
    last = batch.portfolios[portfolio.id].last_snapshot
    assert last is not None and (last.timestamp, last.total_value) == (NOW, D("5057.75"))
    assert value_portfolios([portfolio.id], NOW)[portfolio.id].value_changed is False


def test_portfolio_update_data_has_reference_and_tracking_fields(any_app: Flask) -> None:
    portfolio = seed_mixed(add_user())
    portfolio.seq = 7
    db.session.commit()
    data = portfolio_update_data(portfolio.id, NOW)
    assert data is not None
    assert (data["portfolio_id"], data["name"], data["total_value"]) == (portfolio.id, "Growth", D("5057.75"))
    assert (data["daily_change"], data["daily_change_percent"]) == (D("17.00"), D("0.34"))
    assert [p["symbol"] for p in data["positions_updated"]] == ["AAPL", "SAP", "VOD.L"]
    first = data["positions_updated"][0]
    assert (first["quantity"], first["current_value"], first["daily_change"]) == (D("10"), D("1502.50"), D("22.50"))
    assert data["seq"] == 7
    assert data["as_of"] == "2024-01-15T15:28:30Z"
    assert data["stale_share_percent"] == D("0")
    assert data["channel"] == f"portfolio:{portfolio.id}"
    assert portfolio_update_data(portfolio.id + 1000, NOW) is None


def test_owned_portfolio_and_fx_symbols_to_track(any_app: Flask) -> None:
    alice, bob = add_user("alice"), add_user("bob")
    portfolio = seed_mixed(alice)
    assert owned_portfolio(alice.id, portfolio.id) is portfolio
    assert owned_portfolio(bob.id, portfolio.id) is None
    assert owned_portfolio(alice.id, portfolio.id + 1) is None
    _portfolio(bob, "JPY", ["AAPL"])
    assert fx_symbols_for_tracked_portfolios() == {"EURUSD=X", "GBPUSD=X", "USDJPY=X"}


def test_get_or_create_asset_is_idempotent(any_app: Flask) -> None:
    created = get_or_create_asset("NVDA", "NVIDIA", "USD")
    db.session.commit()
    assert get_or_create_asset("NVDA") is created
    assert (created.name, created.currency) == ("NVIDIA", "USD")
    assert db.session.scalar(select(Asset.symbol).where(Asset.id == created.id)) == "NVDA"


def _load_and_value(symbol: str) -> Callable[[], int]:
    def run() -> int:
        ids = portfolio_ids_holding([symbol, "EURUSD=X"])
        valuations = value_portfolios(ids, NOW)
        return sum(len(v.positions) for v in valuations.values())

    return run


@pytest.mark.parametrize(("portfolios", "per_portfolio"), [(2, 3), (100, 10)])
def test_query_count_does_not_grow_with_positions(app: Flask, portfolios: int, per_portfolio: int) -> None:
    ids = seed_many(add_user(), portfolios, per_portfolio)
    db.session.expire_all()
    with counting_queries() as statements:
        valued = _load_and_value("S0000")()
    assert valued == portfolios * per_portfolio  # 6, then 1,000 positions
    # find holders, portfolios+positions+quotes, today's trades, last snapshots, FX quotes: five, at any size
    assert 1 <= len(statements) <= 5, statements
    assert len(ids) == portfolios


def test_get_or_create_asset_survives_losing_the_insert_race(any_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    user = add_user()  # the caller's own pending work must survive the lost race
    db.session.add(Asset(symbol="AMD", name="from another writer"))
    db.session.commit()
    real_scalar = db.session.scalar
    answers = iter([None])  # the first lookup misses, as if the other writer committed just after it
    monkeypatch.setattr(db.session, "scalar", lambda *a, **k: next(answers, None) or real_scalar(*a, **k))
    pending = Portfolio(owner=user, name="pending", base_currency="USD")
    db.session.add(pending)
    asset = get_or_create_asset("AMD", "AMD Inc.")
    monkeypatch.undo()
    assert asset.name == "from another writer"
    db.session.commit()
    assert db.session.scalar(select(Portfolio.name).where(Portfolio.id == pending.id)) == "pending"
