"""The reference's PortfolioTracker; revalue_for_symbols() (models.revaluation) runs after each feed batch."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from infra.revaluation import position_data, revalue_for_symbols, valuation_limits
from models.base import utcnow
from models.holders import fx_symbols_for_tracked_portfolios
from models.portfolio import Portfolio, Position
from models.portfolio_loading import LoadedBatch, day_start_of, load_portfolios, with_prices
from models.portfolio_valuation import update_data, value_batch
from models.valuation import value_position

__all__ = ["PortfolioTracker", "fx_symbols_for_tracked_portfolios", "revalue_for_symbols"]


def _id(item: Any) -> int:
    """An id from a model instance or an int."""
    return int(item if isinstance(item, int) else item.id)


class PortfolioTracker:
    """The reference's tracker API over the stored portfolios (valuing only: no storing or publishing)."""

    def __init__(self) -> None:
        self.tracked: set[int] = set()

    def start_tracking_portfolio(self, portfolio: Portfolio | int) -> None:
        """Remember a portfolio (the feed revalues every holder anyway)."""
        self.tracked.add(_id(portfolio))

    def stop_tracking_portfolio(self, portfolio: Portfolio | int) -> None:
        """Forget a portfolio."""
        self.tracked.discard(_id(portfolio))

    def _batch(self, portfolio_id: int, prices: Mapping[str, Decimal], now: datetime) -> LoadedBatch:
        batch = load_portfolios([portfolio_id], day_start_of(now))
        if portfolio_id not in batch.portfolios:
            raise LookupError(f"portfolio {portfolio_id} does not exist")
        return with_prices(batch, {k.upper(): Decimal(v) for k, v in prices.items()}, now)

    def update_portfolio_values(self, portfolio: Portfolio | int, price_updates: Mapping[str, Decimal],
                                now: datetime | None = None) -> dict[str, Any]:
        """The portfolio valued with `price_updates` overriding stored quotes (FX symbols too).

        Returns portfolio_update data: total_value, daily_change, daily_change_percent,
        value_changed (against the last stored snapshot), positions, positions_updated, ...
        """
        moment = now or utcnow()
        pid = _id(portfolio)
        batch = self._batch(pid, price_updates, moment)
        limits = valuation_limits()
        valuation = value_batch(batch, moment, limits)[pid]
        return update_data(valuation, batch.portfolios[pid].seq, moment, price_updates.keys(),
                           inputs=batch.portfolios[pid].inputs, limits=limits)

    def update_position_value(self, position: Position, new_price: Decimal,
                              now: datetime | None = None) -> dict[str, Any]:
        """The position valued at `new_price`, plus portfolio_id.

        Fields: current_price, current_value, daily_change, total_return, total_return_percent,
        significant_change, ...
        """
        moment = now or utcnow()
        symbol = position.asset.symbol
        batch = self._batch(position.portfolio_id, {symbol: new_price}, moment)
        item = batch.portfolios[position.portfolio_id]
        inputs = next(p for p in item.inputs.positions if p.position_id == position.id)
        valued = value_position(inputs, batch.fx_rates, item.inputs.base_currency, moment,
                                valuation_limits().threshold_percent)
        return position_data(valued, item, None)
