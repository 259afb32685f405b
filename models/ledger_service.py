"""Changing portfolios and their ledgers, shared by the REST API and the CLI (the caller commits, then revalues).

Every change locks the portfolio row (PostgreSQL), applies itself, and rebuilds what the
ledger derives; a change the ledger cannot apply raises InvalidTransaction and the caller
rolls back, so nothing stored is lost or half-changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from models.base import db
from models.ledger_store import FxLookup, open_legacy_positions, rebuild, transaction_values
from models.market import Asset
from models.portfolio import Portfolio, PortfolioValue, Position, Transaction
from models.transaction_csv import ROW_ERROR
from models.transaction_input import InvalidTransaction, TransactionFields, parse_currency, parse_transaction
from protocol.wire import iso

MAX_NAME = 120


class InvalidRows(ValueError):
    """Rows of an import that failed: [(line number, {field: reason})]."""

    def __init__(self, rows: list[tuple[int, dict[str, str]]]) -> None:
        super().__init__(f"{len(rows)} bad rows")
        self.rows = rows


def portfolio_fields(raw: Mapping[str, Any], partial: bool = False) -> dict[str, str]:
    """Validated name and base_currency; InvalidTransaction naming each bad field."""
    errors = {name: "unknown field" for name in sorted(set(raw) - {"name", "base_currency"})}
    fields: dict[str, str] = {}
    if "name" in raw or not partial:
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
            errors["name"] = f"required, 1 to {MAX_NAME} characters"
        else:
            fields["name"] = name.strip()
    if "base_currency" in raw or not partial:
        try:
            code = parse_currency(raw.get("base_currency", "USD"))
            if code != code.upper():
                raise ValueError("must be a major currency (GBP, not GBp)")
            fields["base_currency"] = code
        except ValueError as exc:
            errors["base_currency"] = str(exc)
    if errors:
        raise InvalidTransaction(errors)
    return fields


def create_portfolio(user_id: int, raw: Mapping[str, Any]) -> Portfolio:
    """A new empty portfolio (flushed)."""
    portfolio = Portfolio(user_id=user_id, **portfolio_fields(raw))
    db.session.add(portfolio)
    db.session.flush()
    return portfolio


def change_portfolio(portfolio: Portfolio, raw: Mapping[str, Any]) -> None:
    """Rename; the base currency only while the ledger is empty (its FX rates are into the old base)."""
    fields = portfolio_fields(raw, partial=True)
    base = fields.get("base_currency")
    if base and base != portfolio.base_currency and db.session.scalar(
            select(Transaction.id).where(Transaction.portfolio_id == portfolio.id).limit(1)):
        raise InvalidTransaction({"base_currency": "cannot change once the ledger has transactions"})
    for name, value in fields.items():
        setattr(portfolio, name, value)
    db.session.flush()


def delete_portfolio(portfolio: Portfolio) -> None:
    """Delete a portfolio with its ledger, positions and history (explicitly: SQLite does not cascade)."""
    for model in (Transaction, PortfolioValue, Position):
        db.session.execute(delete(model).where(model.portfolio_id == portfolio.id))
    db.session.delete(portfolio)
    db.session.flush()


def lock_portfolio(portfolio_id: int) -> None:
    """Take one portfolio's row FOR UPDATE (PostgreSQL) before changing its ledger."""
    db.session.execute(select(Portfolio.id).where(Portfolio.id == portfolio_id).with_for_update())


def _prepare(portfolio: Portfolio) -> None:
    lock_portfolio(portfolio.id)
    open_legacy_positions(portfolio)


def add_transactions(portfolio: Portfolio, rows: Iterable[tuple[int, Mapping[str, Any]]], now: datetime) -> list[int]:
    """Validate every (line, fields) row, then insert them all and rebuild; InvalidRows lists every bad line.

    All or nothing: one bad row and nothing is inserted.
    """
    _prepare(portfolio)
    fx, assets = FxLookup(), dict[str, Asset]()
    values, bad = [], []
    for line, raw in rows:
        if ROW_ERROR in raw:  # a CSV row that could not even be split into fields
            bad.append((line, {"row": raw[ROW_ERROR]}))
            continue
        try:
            fields = parse_transaction(raw, now)
            values.append(transaction_values(portfolio, fields, fx, assets))
        except InvalidTransaction as exc:
            bad.append((line, exc.errors))
    if bad:
        raise InvalidRows(bad)
    ids = _insert(values)
    rebuild(portfolio)
    return ids


def _insert(values: list[dict[str, Any]]) -> list[int]:
    """Insert transactions; their ids (one row: its id, via the ORM; many: not fetched, for speed)."""
    if len(values) == 1:
        tx = Transaction(**values[0])
        db.session.add(tx)
        db.session.flush()
        return [tx.id]
    if values:
        # A plain executemany: RETURNING ids would make the driver parse very long multi-row statements.
        db.session.execute(insert(Transaction).execution_options(render_nulls=True), values)
    return [0] * len(values)


def add_transaction(portfolio: Portfolio, raw: Mapping[str, Any], now: datetime) -> int:
    """One new transaction's id; InvalidTransaction naming each bad field."""
    try:
        [tid] = add_transactions(portfolio, [(1, raw)], now)
    except InvalidRows as exc:
        raise InvalidTransaction(exc.rows[0][1]) from None
    return tid


def fields_of(tx: Transaction, symbol: str | None) -> TransactionFields:
    """A stored transaction's fields (what a partial change starts from)."""
    return TransactionFields(tx.kind, symbol, tx.quantity, tx.price, tx.currency, tx.fees, tx.executed_at,
                             tx.fx_rate if tx.fx_source == "given" else None, tx.note)


def change_transaction(portfolio: Portfolio, tx: Transaction, raw: Mapping[str, Any], now: datetime) -> None:
    """Apply a partial change; the FX rate is looked up again unless one is given."""
    _prepare(portfolio)
    symbol = None if tx.asset_id is None else db.session.scalar(select(Asset.symbol).where(Asset.id == tx.asset_id))
    fields = parse_transaction(raw, now, partial_of=fields_of(tx, symbol))
    for name, value in transaction_values(portfolio, fields, FxLookup()).items():
        setattr(tx, name, value)
    db.session.flush()
    rebuild(portfolio)


def remove_transaction(portfolio: Portfolio, tx: Transaction) -> None:
    """Delete one transaction and rebuild (a sell left without its buy becomes a short)."""
    _prepare(portfolio)
    db.session.delete(tx)
    db.session.flush()
    rebuild(portfolio)


def transaction_data(tx: Transaction, symbol: str | None) -> dict[str, Any]:
    """The API's view of a transaction."""
    return {
        "id": tx.id, "type": tx.kind, "symbol": symbol, "quantity": tx.quantity, "price": tx.price,
        "currency": tx.currency, "fees": tx.fees, "executed_at": iso(tx.executed_at), "fx_rate": tx.fx_rate,
        "fx_source": tx.fx_source, "note": tx.note, "created_at": iso(tx.created_at),
    }
