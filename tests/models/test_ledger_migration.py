"""Migration pw14b: existing positions become opening transactions and nothing is lost (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from models import Portfolio, Position, Transaction, db
from models.ledger_store import rebuild
from tests.conftest import empty_pg_database, make_app

D = Decimal
BEFORE = "pw14a_exact_decimals"
# symbol, currency, quantity, cost basis; EURUSD=X is quoted at 1.10, no GBP quote exists
HOLDINGS = (("AAPL", "USD", "10", "1400"), ("SAP", "EUR", "3", "1000"), ("VOD.L", "GBp", "1000", "80000"),
            ("GME", "USD", "-2", "-100"))


def _seed_old_schema() -> None:
    """Rows as the schema before the ledger held them (plain SQL: the models are newer)."""
    run = lambda sql, **p: db.session.execute(sa.text(sql), p)  # noqa: E731
    run("INSERT INTO users (id, username, password_hash, created_at) VALUES (1, 'old', 'x', :t)", t="2024-01-01")
    run("INSERT INTO portfolios (id, user_id, name, base_currency, seq, created_at) "
        "VALUES (1, 1, 'Old', 'USD', 3, :t)", t="2024-01-02 10:00:00+00:00")
    for n, (symbol, currency, quantity, cost) in enumerate((*HOLDINGS, ("EURUSD=X", "USD", None, None)), start=1):
        run("INSERT INTO assets (id, symbol, name, currency, is_active, created_at) VALUES (:i, :s, :s, :c, true, :t)",
            i=n, s=symbol, c=currency, t="2024-01-01")
        if quantity is not None:
            run("INSERT INTO positions (portfolio_id, asset_id, quantity, cost_basis) VALUES (1, :i, :q, :c)",
                i=n, q=quantity, c=cost)
    run("INSERT INTO quotes (asset_id, price, source, last_updated, seq) VALUES (5, '1.10', 's', :t, 0)",
        t="2024-01-01")
    db.session.commit()


def _check_nothing_lost() -> None:
    positions = {p.asset.symbol: p for p in db.session.scalars(sa.select(Position))}
    assert {s: (p.quantity, p.cost_basis) for s, p in positions.items()} == {
        symbol: (D(quantity), D(cost)) for symbol, _, quantity, cost in HOLDINGS}
    assert positions["SAP"].cost_basis_base == D("1100")  # 1000 EUR at the stored 1.10
    assert positions["VOD.L"].cost_basis_base is None  # no GBPUSD quote: converted at today's rate, as before
    txs = {tx.asset.symbol: tx for tx in db.session.scalars(sa.select(Transaction))}
    assert {tx.kind for tx in txs.values()} == {"transfer_in"}
    assert (txs["SAP"].price, txs["SAP"].fees, txs["SAP"].fx_source) == (D("333.33333333"), D("0.00000001"), "migrated")
    assert txs["VOD.L"].fx_source == "unknown"
    # Rebuilding from the ledger gives back every quantity and cost basis (to the stored 8 places).
    portfolio = db.session.get(Portfolio, 1)
    assert portfolio is not None
    rebuild(portfolio)
    for symbol, _, quantity, cost in HOLDINGS:
        position = positions[symbol]
        assert position.quantity == D(quantity) and abs(position.cost_basis - D(cost)) < D("1e-7"), symbol


def test_on_sqlite(tmp_path: Path) -> None:
    application = make_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'old.db'}"})
    with application.app_context():
        upgrade(revision=BEFORE)
        _seed_old_schema()
        upgrade()
        _check_nothing_lost()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def empty_pg() -> Iterator[Flask]:
    """An app on a new empty PostgreSQL database, dropped afterwards."""
    with empty_pg_database("pricewire_mig") as url:
        application = make_app({"DATABASE_URL": url})
        with application.app_context():
            yield application
            db.session.remove()
            db.engine.dispose()


def test_on_postgresql(empty_pg: Flask) -> None:
    upgrade(revision=BEFORE)
    _seed_old_schema()
    upgrade()
    _check_nothing_lost()
