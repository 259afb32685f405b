"""A valued position and a valued portfolio: full-precision figures, rounded only by as_dict() (models.valuation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from models.cash import CashValuation
from models.currency import CONTEXT, percent, round_money, round_percent
from protocol.wire import iso_or_none


def _money(amount: Decimal | None, currency: str) -> Decimal | None:
    """round_money() that passes None through."""
    return None if amount is None else round_money(amount, currency)


def _pct(value: Decimal | None) -> Decimal | None:
    """round_percent() that passes None through."""
    return None if value is None else round_percent(value)


def difference(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    """A - b at full precision, None if either is unknown."""
    if a is None or b is None:
        return None
    return CONTEXT.subtract(a, b)


@dataclass(frozen=True)
class PositionValuation:
    """A position valued at full precision; as_dict() gives the rounded fields."""

    position_id: int
    symbol: str
    quantity: Decimal
    currency: str
    base_currency: str
    current_price: Decimal | None
    current_value: Decimal | None
    cost_basis: Decimal
    previous_value: Decimal | None
    value_in_base: Decimal | None
    cost_in_base: Decimal | None
    previous_value_in_base: Decimal | None
    stale: bool
    stale_reason: str | None
    price_age_seconds: int | None
    significant_change: bool
    weight: Decimal | None = None
    fx_factor: Decimal | None = None
    # rounded_value_in_base(), computed once: totals, weights, checks and baselines each ask for it.
    _rounded_base: Decimal | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rounded_base", _money(self.value_in_base, self.base_currency))

    @property
    def daily_change(self) -> Decimal | None:
        """Change in value since previous close, in the asset's currency."""
        return difference(self.current_value, self.previous_value)

    @property
    def daily_change_percent(self) -> Decimal | None:
        """Daily change as a percentage of |previous value|; None if zero/unknown."""
        change = self.daily_change
        if change is None or self.previous_value is None:
            return None
        return percent(change, self.previous_value)

    @property
    def total_return(self) -> Decimal | None:
        """Current value minus total cost basis, in the asset's currency."""
        return difference(self.current_value, self.cost_basis)

    @property
    def total_return_percent(self) -> Decimal | None:
        """Total return as a percentage of |cost basis|; None for a zero cost basis."""
        ret = self.total_return
        return None if ret is None else percent(ret, self.cost_basis)

    @property
    def currency_return(self) -> Decimal | None:
        """Unrealised return in base from the currency: cost at FX now minus cost at trade FX."""
        if self.fx_factor is None or self.cost_in_base is None:
            return None
        with localcontext(CONTEXT):
            return self.cost_basis * self.fx_factor - self.cost_in_base

    @property
    def price_return(self) -> Decimal | None:
        """Unrealised return in base from the price: (value - cost) in own currency at FX now."""
        ret = self.total_return
        if ret is None or self.fx_factor is None:
            return None
        with localcontext(CONTEXT):
            return ret * self.fx_factor

    def _base_parts(self, cost: Decimal | None, total_return: Decimal | None) -> dict[str, Decimal | None]:
        """Base figures built from the rounded ones the portfolio sums, so they add up on screen.

        daily change = shown value - shown reference; the currency part = shown value - shown
        cost - shown price part (price + currency = value in base - cost in base, to the cent).
        `cost` is the shown cost in base and `total_return` the total_return property, which as_dict() has.
        """
        base = self.base_currency
        value = self.rounded_value_in_base()
        previous = _money(self.previous_value_in_base, base)
        # price_return, from the total return already computed.
        price_return = None if total_return is None or self.fx_factor is None else CONTEXT.multiply(
            total_return, self.fx_factor)
        price_part = _money(price_return, base)
        if self.stale or value is None:
            return {"daily_change_in_base": None, "unrealised_price_return": price_part,
                    "unrealised_currency_return": None}
        return {
            "daily_change_in_base": None if previous is None else value - previous,
            "unrealised_price_return": price_part,
            "unrealised_currency_return": None if cost is None or price_part is None else value - cost - price_part,
        }

    def rounded_value_in_base(self) -> Decimal | None:
        """value_in_base rounded to the base currency's minor unit (what totals sum)."""
        return self._rounded_base

    def as_dict(self) -> dict[str, Any]:
        """Message fields: money rounded to its minor unit, percentages to 2 places."""
        cur = self.currency
        # The properties' figures, each computed once (a round builds this for every position it sends).
        daily = self.daily_change
        daily_pct = None if daily is None or self.previous_value is None else percent(daily, self.previous_value)
        total_return = self.total_return
        return_pct = None if total_return is None else percent(total_return, self.cost_basis)
        cost_in_base = _money(self.cost_in_base, self.base_currency)
        return {
            "position_id": self.position_id,
            "symbol": self.symbol,
            "quantity": self.quantity,
            "current_price": self.current_price,
            "current_value": _money(self.current_value, cur),
            "cost_basis": round_money(self.cost_basis, cur),
            "daily_change": _money(daily, cur),
            "daily_change_percent": _pct(daily_pct),
            "total_return": _money(total_return, cur),
            "total_return_percent": _pct(return_pct),
            "weight": _pct(self.weight),
            "currency": cur,
            "value_in_base": self.rounded_value_in_base(),
            "cost_basis_in_base": cost_in_base,
            **self._base_parts(cost_in_base, total_return),
            "stale": self.stale,
            "stale_reason": self.stale_reason,
            "price_age_seconds": self.price_age_seconds,
            "significant_change": self.significant_change,
        }

    to_message = as_dict


@dataclass(frozen=True)
class PortfolioValuation:
    """A valued portfolio; money is summed from rounded position figures (base)."""

    portfolio_id: int
    name: str
    base_currency: str
    total_value: Decimal
    daily_change: Decimal | None
    previous_value: Decimal
    total_cost: Decimal
    total_return: Decimal | None
    positions: tuple[PositionValuation, ...]
    stale_value: Decimal
    stale_positions: int
    value_changed: bool
    as_of: datetime | None
    cash: tuple[CashValuation, ...] = ()
    income: tuple[tuple[str, Decimal], ...] = ()

    @property
    def cash_value(self) -> Decimal:
        """Cash in base (balances with an FX rate), summed from the rounded balances."""
        return sum((c.value_in_base for c in self.cash if c.value_in_base is not None), Decimal(0))

    @property
    def daily_change_percent(self) -> Decimal | None:
        """Daily change as a percentage of the contributing previous value."""
        if self.daily_change is None:
            return None
        return percent(self.daily_change, self.previous_value)

    @property
    def total_return_percent(self) -> Decimal | None:
        """Total return as a percentage of |total cost| of the live positions."""
        if self.total_return is None:
            return None
        return percent(self.total_return, self.total_cost)

    @property
    def stale_share_percent(self) -> Decimal | None:
        """Stale share of total_value: 0 if nothing is stale, None if the total is 0."""
        if self.stale_value == 0:
            return Decimal(0)
        return percent(self.stale_value, self.total_value)

    def as_dict(self) -> dict[str, Any]:
        """Message fields, each position as its own dict."""
        return {
            "portfolio_id": self.portfolio_id,
            "name": self.name,
            "base_currency": self.base_currency,
            "total_value": self.total_value,
            "daily_change": self.daily_change,
            "daily_change_percent": _pct(self.daily_change_percent),
            "total_cost": self.total_cost,
            "total_return": self.total_return,
            "total_return_percent": _pct(self.total_return_percent),
            "positions": [p.as_dict() for p in self.positions],
            "cash": [c.as_dict() for c in self.cash],
            "cash_value": round_money(self.cash_value, self.base_currency),
            **{name: round_money(amount, self.base_currency) for name, amount in self.income},
            "stale_value": self.stale_value,
            "stale_share_percent": _pct(self.stale_share_percent),
            "stale_positions": self.stale_positions,
            "value_changed": self.value_changed,
            "as_of": iso_or_none(self.as_of),
        }

    to_message = as_dict
