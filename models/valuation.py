"""Pure portfolio valuation math in a base currency (Decimal only, no I/O).

Design choices (FX, minor units and the rounding mode live in models.currency):
- Full precision inside, rounding at the edge: the dataclasses hold unrounded figures;
  as_dict() rounds money to the currency's minor unit and percentages to 2 places,
  ROUND_HALF_EVEN.
- The portfolio total equals the sum of its positions to the cent by construction: each
  portfolio money figure is a sum of position figures already rounded to the base
  currency's minor unit (the very round_money() call the position's as_dict() makes).
- Daily change in base = value now at today's FX minus the reference of
  models.day_change: opening quantity x previous close at the previous FX close, plus
  today's trades at their trade price and trade FX (a position bought today moves from
  its trade price). Without a previous FX close the current rate stands in.
- Cost basis in base is at trade-date FX (cost_basis_base, from the ledger); unrealised
  return in base = price part ((value - cost) x FX now) + currency part (cost x FX now -
  cost at trade FX). Without cost_basis_base the cost converts at today's FX.
- Percentages divide by the absolute value of their reference (previous value, cost
  basis), so their sign always matches the change; a zero reference (zero quantity, zero
  cost basis) gives None: no division by zero and no made-up 0.
- A stale position (no price, or no FX rate into base) is never dropped nor given an
  invented number: stale=True plus stale_reason; current_value is None without a price;
  value_in_base is its last_published_value if given (the stale flag marks it as last
  known), else None. The portfolio counts that value in total_value and in stale_value.
- Portfolio daily change, cost and return cover live (non-stale) positions only; daily
  change only those with a previous close. None when no position contributes.
- last_published_value is the position's value_in_base as last sent to clients.
  significant_change: the live value_in_base moved by more than threshold_percent from
  it; without one (first valuation), |daily_change_percent| exceeds it. Stale
  positions are never significant (their stale flag is the news).
- price_age_seconds: whole seconds from price_as_of to now, clamped at 0 (clock skew);
  naive datetimes count as UTC. When a price is too old is the caller's policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any

from models.cash import value_cash
from models.currency import (
    CONTEXT,
    FxRate,
    conversion_factor,
    convert,
    fx_symbols_needed,
    percent,
    round_money,
)
from models.day_change import day_reference
from models.valuation_results import PortfolioValuation, PositionValuation, difference

__all__ = [  # FxRate, convert and fx_symbols_needed are re-exported from currency
    "DEFAULT_THRESHOLD_PERCENT", "NO_FX_RATE", "NO_PRICE", "FxRate", "PortfolioInput",
    "PortfolioValuation", "PositionInput", "PositionValuation", "convert",
    "fx_symbols_needed", "value_portfolio", "value_position",
]  # fmt: skip

DEFAULT_THRESHOLD_PERCENT = Decimal("1.0")
NO_PRICE = "no_price"
NO_FX_RATE = "no_fx_rate"


@dataclass(frozen=True)
class PositionInput:
    """A holding: cost_basis is the TOTAL cost in the asset's quote currency."""

    position_id: int
    symbol: str
    quantity: Decimal
    cost_basis: Decimal
    currency: str
    price: Decimal | None
    previous_close: Decimal | None
    price_as_of: datetime | None
    last_published_value: Decimal | None = None
    cost_basis_base: Decimal | None = None
    opening_quantity: Decimal | None = None
    day_flow: Decimal = Decimal(0)
    day_flow_base: Decimal = Decimal(0)
    exchange: str | None = None  # the asset's stored MIC and time zone (models/session_view.py reads them)
    exchange_timezone: str | None = None


@dataclass(frozen=True)
class PortfolioInput:
    """A portfolio, its positions, its cash per currency and its ledger income (base, from models.ledger)."""

    portfolio_id: int
    name: str
    base_currency: str
    positions: tuple[PositionInput, ...]
    cash: tuple[tuple[str, Decimal], ...] = ()
    income: tuple[tuple[str, Decimal], ...] = ()


def _as_utc(moment: datetime) -> datetime:
    """Aware datetime; naive ones are taken to be UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _is_significant(value: Decimal, last: Decimal | None, daily_pct: Decimal | None, threshold: Decimal) -> bool:
    """Whether the move warrants a position update (strictly above threshold)."""
    if last is None:
        return daily_pct is not None and abs(daily_pct) > threshold
    moved = difference(value, last)
    share = None if moved is None else percent(moved, last)
    if share is None:  # last published 0: any non-zero value is a real change
        return value != 0
    return abs(share) > threshold


def value_position(
    position: PositionInput,
    fx_rates: Mapping[str, FxRate],
    base_currency: str,
    now: datetime,
    threshold_percent: Decimal = DEFAULT_THRESHOLD_PERCENT,
    *,
    previous_fx_rates: Mapping[str, FxRate] | None = None,
) -> PositionValuation:
    """Value one position in its own currency and in base_currency."""
    return PositionValuation(**_position_fields(position, fx_rates, base_currency, now,
                                                threshold_percent=threshold_percent,
                                                previous_fx_rates=previous_fx_rates or {}))


def _factors(currency: str, base_currency: str, fx_rates: Mapping[str, FxRate],
             previous_fx_rates: Mapping[str, FxRate]) -> tuple[Decimal | None, Decimal | None]:
    """(factor now, factor at the previous close) from `currency` into base."""
    factor = conversion_factor(currency, base_currency, fx_rates)
    # The previous close converts at the previous FX close; today's rate stands in when unknown.
    return factor, conversion_factor(currency, base_currency, previous_fx_rates) or factor


def _position_fields(p: PositionInput, fx_rates: Mapping[str, FxRate], base_currency: str, now: datetime, *,
                     threshold_percent: Decimal, previous_fx_rates: Mapping[str, FxRate],
                     factors: tuple[Decimal | None, Decimal | None] | None = None) -> dict[str, Any]:
    """value_position()'s PositionValuation as keyword arguments (value_portfolio adds the weight, then builds it).

    `factors`: _factors() of the position's currency when the caller has them.
    """
    factor, prev_factor = factors or _factors(p.currency, base_currency, fx_rates, previous_fx_rates)
    opening = p.quantity if p.opening_quantity is None else p.opening_quantity
    with localcontext(CONTEXT):
        value = None if p.price is None else p.quantity * p.price
        # Without trades today (opening_quantity None) a missing previous close leaves the change unknown.
        known = p.price is not None and (p.previous_close is not None or p.opening_quantity is not None)
        prev = day_reference(opening, p.previous_close, Decimal(1), p.day_flow) if known else None
        cost_base = p.cost_basis_base
        if cost_base is None and factor is not None:
            cost_base = p.cost_basis * factor
        value_base = None if factor is None or value is None else value * factor
        prev_base = None if value_base is None or not known else day_reference(
            opening, p.previous_close, prev_factor, p.day_flow_base)
    reason = NO_PRICE if p.price is None else NO_FX_RATE if factor is None else None
    age = None
    if p.price_as_of is not None:
        age = max(int((_as_utc(now) - _as_utc(p.price_as_of)).total_seconds()), 0)
    significant = False
    if value_base is not None and reason is None:
        # daily_change_percent of the valuation below, computed before it is built (it is built once).
        daily = difference(value, prev)
        daily_pct = None if daily is None or prev is None else percent(daily, prev)
        significant = _is_significant(value_base, p.last_published_value, daily_pct, threshold_percent)
    return dict(
        position_id=p.position_id,
        symbol=p.symbol,
        quantity=p.quantity,
        currency=p.currency,
        base_currency=base_currency,
        current_price=p.price,
        current_value=value,
        cost_basis=p.cost_basis,
        previous_value=prev,
        # Stale: the last published value (marked by stale=True), never a guess.
        value_in_base=value_base if reason is None else p.last_published_value,
        cost_in_base=cost_base,
        previous_value_in_base=prev_base,
        stale=reason is not None,
        stale_reason=reason,
        price_age_seconds=age,
        significant_change=significant,
        fx_factor=factor,
    )


def value_portfolio(
    portfolio: PortfolioInput,
    fx_rates: Mapping[str, FxRate],
    now: datetime,
    previous_total: Decimal | None = None,
    threshold_percent: Decimal = DEFAULT_THRESHOLD_PERCENT,
    *,
    previous_fx_rates: Mapping[str, FxRate] | None = None,
) -> PortfolioValuation:
    """Value every position and aggregate them in the portfolio's base currency."""
    base = portfolio.base_currency
    previous = previous_fx_rates or {}
    factors: dict[str, tuple[Decimal | None, Decimal | None]] = {}  # per currency: most positions share a few
    for currency in {p.currency for p in portfolio.positions}:
        factors[currency] = _factors(currency, base, fx_rates, previous)
    figures = [_position_fields(p, fx_rates, base, now, threshold_percent=threshold_percent,
                                previous_fx_rates=previous, factors=factors[p.currency])
               for p in portfolio.positions]
    rounded = [None if f["value_in_base"] is None else round_money(f["value_in_base"], base) for f in figures]
    zero = round_money(Decimal(0), base)
    total = stale = cost = live = prev = moved = zero
    stale_count = live_count = daily_count = 0
    with localcontext(CONTEXT):
        for f, value in zip(figures, rounded, strict=True):
            # Live implies price and FX are known, hence value and cost are too.
            if f["stale"] or value is None or f["cost_in_base"] is None:
                stale_count += 1
                total += zero if value is None else value
                stale += zero if value is None else value
                continue
            total += value
            live += value
            live_count += 1
            cost += round_money(f["cost_in_base"], base)
            if f["previous_value_in_base"] is not None:
                daily_count += 1
                moved += value
                prev += round_money(f["previous_value_in_base"], base)
        cash = value_cash(portfolio.cash, base, fx_rates, previous_fx_rates or {})
        for balance in cash:
            if balance.value_in_base is not None and balance.previous_in_base is not None:
                total += balance.value_in_base
                daily_count += 1
                moved += balance.value_in_base
                prev += balance.previous_in_base
    # Weights are percent of the total from the rounded figures, so they match the display; each position is
    # built once, with its weight.
    weighted = tuple(PositionValuation(**f, weight=None if value is None else percent(value, total))
                     for f, value in zip(figures, rounded, strict=True))
    stamps = [p.price_as_of for p in portfolio.positions if p.price_as_of is not None]
    return PortfolioValuation(
        portfolio_id=portfolio.portfolio_id,
        name=portfolio.name,
        base_currency=base,
        total_value=total,
        # Only positions with a previous close count, on both sides of the change.
        daily_change=moved - prev if daily_count else None,
        previous_value=prev,
        total_cost=cost,
        total_return=live - cost if live_count else None,
        positions=weighted,
        stale_value=stale,
        stale_positions=stale_count,
        value_changed=previous_total is None or total != previous_total,
        as_of=max(stamps, key=_as_utc) if stamps else None,
        cash=cash,
        income=portfolio.income,
    )
