"""Portfolios loaded from the database for valuation: inputs, today's activity, last snapshots, FX quotes.

Query budget, independent of the number of portfolios and positions:
- models.holders.portfolio_ids_holding(): 1 query (also finds portfolios an FX symbol converts);
- load_portfolios(): 1 query for portfolios+positions+assets+quotes, 1 for today's trades, 1 for the last
  snapshot of each portfolio, at most 1 for the FX quotes they need.
Portfolio ids go into one IN list: fine up to tens of thousands per call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, select

from models.base import db, utcnow
from models.currency import fx_symbols_needed
from models.holders import fx_pair, with_inverses
from models.ledger import Entry, day_activity, external_flow
from models.ledger_store import entry_of
from models.market import Asset, Quote
from models.portfolio import Portfolio, PortfolioValue, Position, Transaction
from models.returns import Flow
from models.valuation import FxRate, PortfolioInput, PositionInput

# portfolio_update field -> Portfolio column, for what the ledger realised, earned and paid.
INCOME_FIELDS = (("realised_gain", "realised_gain"), ("dividends", "dividends"), ("interest", "interest"),
                 ("fees", "fees"))


@dataclass(frozen=True)
class LastSnapshot:
    """The most recent stored PortfolioValue of a portfolio."""

    timestamp: datetime
    total_value: Decimal
    daily_change: Decimal
    stale_value: Decimal
    id: int | None = None  # its row, which a revaluation in the same history period overwrites


@dataclass(frozen=True)
class LoadedPortfolio:
    """A portfolio's valuation input plus what the tracker needs around it."""

    inputs: PortfolioInput
    user_id: int
    seq: int
    last_snapshot: LastSnapshot | None
    returns_basis: dict[str, Any] | None = None  # models.performance's cached PeriodBases
    today_flows: tuple[Flow, ...] = ()  # external flows since the day started


@dataclass(frozen=True)
class LoadedBatch:
    """Portfolios and every FX quote needed to value them (now, and at the previous close)."""

    portfolios: dict[int, LoadedPortfolio]
    fx_rates: dict[str, FxRate]
    previous_fx_rates: dict[str, FxRate] = field(default_factory=dict)


def load_rows(portfolio_ids: list[int]) -> tuple[dict[int, PortfolioInput], dict[int, tuple[int, int, Any]]]:
    """One query: inputs by id (open positions only), and (user_id, seq, returns_basis) by id."""
    rows = db.session.execute(
        select(
            Portfolio.id, Portfolio.name, Portfolio.base_currency, Portfolio.user_id, Portfolio.seq,
            Portfolio.cash, Portfolio.returns_basis, Portfolio.realised_gain, Portfolio.dividends,
            Portfolio.interest, Portfolio.fees,
            Position.id.label("position_id"), Position.quantity, Position.cost_basis, Position.cost_basis_base,
            Position.last_published_value, Asset.symbol, Asset.currency, Asset.mic, Asset.timezone,
            Quote.price, Quote.previous_close, Quote.last_updated,
        )
        .select_from(Portfolio)
        .outerjoin(Position, and_(Position.portfolio_id == Portfolio.id, Position.quantity != 0))
        .outerjoin(Asset, Asset.id == Position.asset_id)
        .outerjoin(Quote, Quote.asset_id == Asset.id)
        .where(Portfolio.id.in_(portfolio_ids))
        .order_by(Portfolio.id, Asset.symbol, Position.id)
    ).all()
    heads: dict[int, Any] = {}
    positions: dict[int, list[PositionInput]] = {}
    for row in rows:
        heads.setdefault(row.id, row)
        items = positions.setdefault(row.id, [])
        if row.position_id is not None:
            items.append(PositionInput(
                position_id=row.position_id, symbol=row.symbol, quantity=row.quantity,
                cost_basis=row.cost_basis, currency=row.currency, price=row.price,
                previous_close=row.previous_close,
                price_as_of=row.last_updated, last_published_value=row.last_published_value,
                cost_basis_base=row.cost_basis_base,
                exchange=row.mic, exchange_timezone=row.timezone,
            ))
    inputs = {pid: PortfolioInput(pid, head.name, head.base_currency, tuple(positions[pid]), _cash(head.cash),
                                  _income(head))
              for pid, head in heads.items()}
    return inputs, {pid: (head.user_id, head.seq or 0, head.returns_basis) for pid, head in heads.items()}


def _cash(stored: Mapping[str, Any] | None) -> tuple[tuple[str, Decimal], ...]:
    """Cash balances from their stored exact text."""
    return tuple((currency, Decimal(str(amount))) for currency, amount in sorted((stored or {}).items()))


def _income(row: Any) -> tuple[tuple[str, Decimal], ...]:
    """What the ledger realised, earned and paid (base)."""
    return tuple((name, getattr(row, column) or Decimal(0)) for name, column in INCOME_FIELDS)


def day_start_of(moment: datetime) -> datetime:
    """When "today" began for day changes: UTC midnight (market sessions may pass their own)."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def with_day_activity(inputs: dict[int, PortfolioInput], day_start: datetime
                      ) -> tuple[dict[int, PortfolioInput], dict[int, tuple[Flow, ...]]]:
    """Each position's opening quantity and today's trade cash, and today's external flows (one query)."""
    if not inputs:
        return inputs, {}
    rows = db.session.execute(
        select(Transaction, Asset.symbol).outerjoin(Asset, Asset.id == Transaction.asset_id)
        .where(Transaction.portfolio_id.in_(sorted(inputs)), Transaction.executed_at >= day_start)
        .order_by(Transaction.executed_at, Transaction.id)
    ).all()
    today: dict[int, list[Entry]] = {}
    for tx, symbol in rows:
        today.setdefault(tx.portfolio_id, []).append(entry_of(tx, symbol))
    flows = {pid: tuple(Flow(e.executed_at, amount) for e in entries if (amount := external_flow(e)) is not None)
             for pid, entries in today.items()}
    result = dict(inputs)
    for pid, entries in today.items():
        item = inputs[pid]
        activity = day_activity(entries, {p.symbol: p.quantity for p in item.positions})
        result[pid] = replace(item, positions=tuple(
            replace(p, opening_quantity=a.opening_quantity, day_flow=a.flow, day_flow_base=a.flow_base)
            if (a := activity.get(p.symbol)) else p
            for p in item.positions
        ))
    return result, flows


def load_portfolio_inputs(portfolio_ids: Iterable[int]) -> dict[int, PortfolioInput]:
    """PortfolioInput of each existing portfolio, in one query (positions, assets, quotes)."""
    ids = sorted(set(portfolio_ids))
    return load_rows(ids)[0] if ids else {}


def load_fx_rates(inputs: Iterable[PortfolioInput]) -> tuple[dict[str, FxRate], dict[str, FxRate]]:
    """The stored FX quotes these portfolios need (direct and inverse): (now, previous close), in one query."""
    needed: set[str] = set()
    for item in inputs:
        currencies = [p.currency for p in item.positions] + [currency for currency, _ in item.cash]
        needed |= fx_symbols_needed(currencies, item.base_currency)
    if not needed:
        return {}, {}
    rows = db.session.execute(
        select(Asset.symbol, Quote.price, Quote.previous_close, Quote.last_updated)
        .join(Quote, Quote.asset_id == Asset.id)
        .where(Asset.symbol.in_(sorted(with_inverses(needed))))
    ).all()
    current = {row.symbol: FxRate(row.price, row.last_updated) for row in rows}
    previous = {row.symbol: FxRate(row.previous_close) for row in rows if row.previous_close is not None}
    return current, previous


def last_snapshots(portfolio_ids: Iterable[int]) -> dict[int, LastSnapshot]:
    """The newest PortfolioValue of each portfolio, in one query (index-backed per portfolio)."""
    ids = sorted(set(portfolio_ids))
    if not ids:
        return {}
    latest = (
        select(PortfolioValue.id)
        .where(PortfolioValue.portfolio_id == Portfolio.id)
        .order_by(PortfolioValue.timestamp.desc(), PortfolioValue.id.desc())
        .limit(1)
        .correlate(Portfolio)
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(Portfolio.id, PortfolioValue.timestamp, PortfolioValue.total_value,
               PortfolioValue.daily_change, PortfolioValue.stale_value, PortfolioValue.id.label("value_id"))
        .join(PortfolioValue, PortfolioValue.id == latest)
        .where(Portfolio.id.in_(ids))
    ).all()
    return {row.id: LastSnapshot(row.timestamp, row.total_value, row.daily_change, row.stale_value, row.value_id)
            for row in rows}


def load_portfolios(portfolio_ids: Iterable[int], day_start: datetime | None = None) -> LoadedBatch:
    """Everything needed to value and publish these portfolios, in at most four queries."""
    ids = sorted(set(portfolio_ids))
    if not ids:
        return LoadedBatch({}, {})
    inputs, heads = load_rows(ids)
    inputs, flows = with_day_activity(inputs, day_start or day_start_of(utcnow()))
    snapshots = last_snapshots(inputs)
    portfolios = {
        pid: LoadedPortfolio(item, heads[pid][0], heads[pid][1], snapshots.get(pid), heads[pid][2],
                             flows.get(pid, ()))
        for pid, item in inputs.items()
    }
    return LoadedBatch(portfolios, *load_fx_rates(inputs.values()))


def with_prices(batch: LoadedBatch, prices: Mapping[str, Decimal], now: datetime) -> LoadedBatch:
    """The batch with these prices (as of `now`) replacing stored quotes, FX symbols included."""
    fx = dict(batch.fx_rates)
    fx.update({symbol: FxRate(price, now) for symbol, price in prices.items() if fx_pair(symbol)})

    def patch(p: PositionInput) -> PositionInput:
        return replace(p, price=prices[p.symbol], price_as_of=now) if p.symbol in prices else p

    portfolios = {
        pid: replace(item, inputs=replace(item.inputs, positions=tuple(map(patch, item.inputs.positions))))
        for pid, item in batch.portfolios.items()
    }
    return LoadedBatch(portfolios, fx, batch.previous_fx_rates)


def owned_portfolio(user_id: int, portfolio_id: int) -> Portfolio | None:
    """The portfolio if `user_id` owns it, else None (missing and foreign look the same)."""
    return db.session.scalar(select(Portfolio).where(Portfolio.id == portfolio_id, Portfolio.user_id == user_id))
