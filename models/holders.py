"""Which portfolios a changed symbol (a price or an FX rate) moves, and which FX symbols the feed must track."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, or_, select

from models.base import db
from models.currency import MINOR_UNIT_CURRENCIES, fx_symbol, fx_symbols_needed
from models.market import Asset
from models.portfolio import Portfolio, Position

_FX_SYMBOL = re.compile(r"^([A-Z]{3})([A-Z]{3})=X$")


def _currency_codes(major: str) -> set[str]:
    """Every stored currency code that normalizes to `major` ('GBP' -> GBP, GBp, GBX, GBx)."""
    return {major} | {code for code, (to, _) in MINOR_UNIT_CURRENCIES.items() if to == major}


def fx_pair(symbol: str) -> tuple[str, str] | None:
    """('EUR', 'USD') for 'EURUSD=X', None for anything else."""
    match = _FX_SYMBOL.match(symbol)
    return (match.group(1), match.group(2)) if match else None


def with_inverses(symbols: Iterable[str]) -> set[str]:
    """FX symbols plus their inverse quotes (conversion accepts either)."""
    result = set()
    for symbol in symbols:
        result.add(symbol)
        pair = fx_pair(symbol)
        if pair:
            result.add(fx_symbol(pair[1], pair[0]))
    return result


def portfolio_ids_holding(symbols: Iterable[str], lock: bool = False) -> list[int]:
    """Ids of portfolios holding any of `symbols` or converting through one, in one query.

    lock=True takes the portfolio rows FOR UPDATE in id order (PostgreSQL), so concurrent
    revaluations of one portfolio serialise without deadlocking.
    """
    wanted = sorted(set(symbols))
    if not wanted:
        return []
    conditions: list[ColumnElement[bool]] = [Asset.symbol.in_(wanted)]
    cash: list[ColumnElement[bool]] = []
    for pair in filter(None, map(fx_pair, wanted)):
        # Either direction: a missing direct quote makes conversion use the inverse one.
        for held, base in (pair, pair[::-1]):
            bases = Portfolio.base_currency.in_(sorted(_currency_codes(base)))
            conditions.append(and_(Asset.currency.in_(sorted(_currency_codes(held))), bases))
            # Cash is kept by major currency: a balance in `held` converts through this pair.
            cash.append(and_(bases, Portfolio.cash[held].as_string().is_not(None)))
    holders = (
        select(Position.portfolio_id)
        .join(Asset, Asset.id == Position.asset_id)
        .join(Portfolio, Portfolio.id == Position.portfolio_id)
        .where(Position.quantity != 0, or_(*conditions))
    )
    found: ColumnElement[bool] = Portfolio.id.in_(holders)
    if cash:
        found = or_(found, *cash)
    query = select(Portfolio.id).where(found).order_by(Portfolio.id)
    if lock:
        query = query.with_for_update()
    return list(db.session.scalars(query))


def fx_symbols_for_tracked_portfolios() -> set[str]:
    """FX symbols (direct quotes) the feed must track to value every portfolio's positions and cash, in two queries."""
    pairs = set(db.session.execute(
        select(Asset.currency, Portfolio.base_currency)
        .distinct()
        .select_from(Position)
        .join(Asset, Asset.id == Position.asset_id)
        .join(Portfolio, Portfolio.id == Position.portfolio_id)
        .where(Position.quantity != 0)
    ).tuples().all())
    for cash, base in db.session.execute(select(Portfolio.cash, Portfolio.base_currency)).tuples():
        pairs |= {(currency, base) for currency in cash or {}}
    needed: set[str] = set()
    for currency, base in pairs:
        needed |= fx_symbols_needed([currency], base)
    return needed
