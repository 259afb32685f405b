"""A revaluation from the worker's cached state equals one from the database, whatever changed in between."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from models import Asset, Portfolio, Position, Transaction, db, valuation_cache
from models.ledger_service import add_transaction, change_transaction, remove_transaction
from models.portfolio_valuation import day_start_of, load_portfolios, value_batch
from models.valuation_cache import load_portfolios_cached, lock_heads
from tasks.portfolio_tracker import revalue_for_symbols
from tests.support.portfolios import NOW, D, add_user, seed_mixed, set_price

SYMBOLS = ("AAPL", "SAP", "VOD.L", "EURUSD=X", "GBPUSD=X")


def _same(ids: list[int], moment: datetime) -> None:
    """The cached batch and its valuation are exactly the database's."""
    day = day_start_of(moment)
    cached = load_portfolios_cached(ids, day)
    fresh = load_portfolios(ids, day)
    assert cached == fresh
    assert value_batch(cached, moment) == value_batch(fresh, moment)


def _portfolios() -> list[int]:
    user = add_user()
    first = seed_mixed(user)
    other = Portfolio(owner=user, name="Euro", base_currency="EUR")
    db.session.add(other)
    sap = db.session.scalar(select(Asset).where(Asset.symbol == "SAP"))
    db.session.add(Position(portfolio=other, asset=sap, quantity=D("3"), cost_basis=D("300")))
    db.session.commit()
    return [first.id, other.id]


def _price(symbol: str, cents: int, moment: datetime) -> None:
    set_price(symbol, str(Decimal(cents) / 100), as_of=moment)


CURRENCIES = {"AAPL": "USD", "SAP": "EUR", "VOD.L": "GBp"}


def _trade(pid: int, symbol: str, quantity: int, moment: datetime) -> None:
    portfolio = db.session.get(Portfolio, pid)
    raw = {"type": "buy", "symbol": symbol, "quantity": str(quantity), "price": "100", "fees": "0",
           "executed_at": moment.isoformat()}
    if CURRENCIES[symbol].upper() != portfolio.base_currency:  # not every cross rate is stored
        raw["fx_rate"] = "1.2"
    add_transaction(portfolio, raw, moment)
    db.session.commit()


def _edit_or_remove(pid: int, remove: bool, moment: datetime) -> None:
    portfolio = db.session.get(Portfolio, pid)
    tx = db.session.scalar(select(Transaction).where(Transaction.portfolio_id == pid, Transaction.kind == "buy")
                           .order_by(Transaction.id.desc()).limit(1))
    if tx is None:
        return
    if remove:
        remove_transaction(portfolio, tx)
    else:
        change_transaction(portfolio, tx, {"quantity": str(tx.quantity + 1)}, moment)
    db.session.commit()


def _orm_edit(pid: int) -> None:
    """A position changed directly, without the ledger (as older code and tests do)."""
    position = db.session.scalar(select(Position).where(Position.portfolio_id == pid).limit(1))
    position.quantity += 1
    db.session.commit()


def _another_worker_moved_baselines(pid: int) -> None:
    """What a revaluation in another process writes: its seq and new last published values."""
    db.session.execute(update(Position).where(Position.portfolio_id == pid)
                       .values(last_published_value=Position.quantity * 7))
    db.session.execute(update(Portfolio).where(Portfolio.id == pid).values(seq=Portfolio.seq + 1))
    db.session.commit()


ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("price"), st.sampled_from(SYMBOLS), st.integers(50, 50_000)),
    st.tuples(st.just("trade"), st.integers(0, 1), st.sampled_from(SYMBOLS[:3]), st.integers(1, 9)),
    st.tuples(st.just("edit"), st.integers(0, 1), st.booleans()),
    st.tuples(st.just("orm"), st.integers(0, 1)),
    st.tuples(st.just("other_worker"), st.integers(0, 1)),
    st.tuples(st.just("revalue"), st.sampled_from(SYMBOLS)),
    st.tuples(st.just("next_day")),
), min_size=1, max_size=8)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_cached_batch_equals_the_database_after_any_changes(app: Flask, actions: list[tuple]) -> None:
    # One database for all examples (hypothesis reuses the fixture): each example goes on from the last state.
    ids = [pid for (pid,) in db.session.execute(select(Portfolio.id).order_by(Portfolio.id)).tuples()] or \
        _portfolios()
    moment = NOW + timedelta(minutes=len(ids))
    _same(ids, moment)  # warm: whatever the previous example left
    for action in actions:
        moment += timedelta(seconds=30)
        match action:
            case ("price", symbol, cents):
                _price(symbol, cents, moment)
            case ("trade", index, symbol, quantity):
                _trade(ids[index], symbol, quantity, moment)
            case ("edit", index, remove):
                _edit_or_remove(ids[index], remove, moment)
            case ("orm", index):
                _orm_edit(ids[index])
            case ("other_worker", index):
                _another_worker_moved_baselines(ids[index])
            case ("revalue", symbol):
                revalue_for_symbols([symbol], now=moment)  # this process writes, and notes what it wrote
            case ("next_day",):
                moment += timedelta(days=1)
        _same(ids, moment)


def test_a_ledger_change_moves_the_version_and_a_revaluation_does_not(app: Flask) -> None:
    [pid, _] = _portfolios()
    version = lambda: lock_heads([pid], lock=False)[pid][2][0]  # noqa: E731
    before = version()
    revalue_for_symbols(["AAPL"], now=NOW)
    assert version() == before  # seq, baselines, snapshots and return bases are not the ledger
    _trade(pid, "AAPL", 1, NOW)
    assert version() > before
    after_trade = version()
    _edit_or_remove(pid, remove=True, moment=NOW)
    assert version() > after_trade


def test_a_reused_id_is_not_served_from_the_cache(app: Flask) -> None:
    [pid, other] = _portfolios()
    load_portfolios_cached([pid, other], day_start_of(NOW))
    db.session.delete(db.session.get(Portfolio, other))
    db.session.commit()
    assert other not in load_portfolios_cached([pid, other], day_start_of(NOW)).portfolios
    valuation_cache.clear()
    _same([pid], NOW)


@pytest.mark.usefixtures("app")
def test_nothing_asked_is_nothing_read() -> None:
    assert load_portfolios_cached([], NOW).portfolios == {}


def test_a_renamed_asset_is_read_afresh(app: Flask) -> None:
    [pid, other] = _portfolios()
    load_portfolios_cached([pid, other], day_start_of(NOW))
    db.session.execute(update(Asset).where(Asset.symbol == "AAPL").values(symbol="AAPL.X"))
    db.session.commit()
    _same([pid, other], NOW)


def test_two_worker_processes_taking_rounds_in_turn(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each process's memory stays the database's answer while the other one writes in between."""
    ids = _portfolios()
    processes: list[dict[int, object]] = [{}, {}]
    moment = NOW
    for n in range(6):
        monkeypatch.setattr(valuation_cache, "_ENTRIES", processes[n % 2])
        moment += timedelta(seconds=5)
        _price("SAP", 12050 + 40 * n, moment)  # +0.33% a round: baselines move every third round or so
        _same(ids, moment)
        revalue_for_symbols(["SAP"], now=moment)
        _same(ids, moment)
