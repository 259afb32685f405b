"""Cash balances valued in base (pure Decimal): each balance at today's FX, its day change the currency's move."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from models.currency import FxRate, conversion_factor, round_money


@dataclass(frozen=True)
class CashValuation:
    """One currency's balance; value_in_base None when no FX rate converts it (then not in the total)."""

    currency: str
    amount: Decimal
    value_in_base: Decimal | None
    previous_in_base: Decimal | None

    def as_dict(self) -> dict[str, Any]:
        """Message fields: the amount in its own currency's decimals, the value in base's."""
        return {"currency": self.currency, "amount": round_money(self.amount, self.currency),
                "value_in_base": self.value_in_base}


def value_cash(cash: Iterable[tuple[str, Decimal]], base: str, fx_rates: Mapping[str, FxRate],
               previous_fx_rates: Mapping[str, FxRate]) -> tuple[CashValuation, ...]:
    """Each balance in base, rounded to base's minor unit (what the total sums).

    Deposits and trades move cash but are not gains, so a balance's reference for the day
    is itself at the previous FX close: its day change is only the currency's move.
    """
    valued = []
    for currency, amount in cash:
        factor = conversion_factor(currency, base, fx_rates)
        previous = conversion_factor(currency, base, previous_fx_rates) or factor
        valued.append(CashValuation(
            currency, amount,
            None if factor is None else round_money(amount * factor, base),
            None if previous is None else round_money(amount * previous, base),
        ))
    return tuple(valued)
