"""Latest stored state for subscribe and after a bus outage, read in short database sessions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.extensions import db
from infra.revaluation import valuation_limits
from infra.settings import get_settings
from models.portfolio_valuation import portfolio_update_data
from models.snapshots import quote_snapshots
from protocol.channels import (
    asset_channel,
    channel_portfolio_id,
    channel_symbol,
    is_asset_channel,
    is_portfolio_channel,
    portfolio_channel,
)


def asset_snapshots(symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Channel -> asset_update data of each symbol with a stored quote (one query)."""
    try:
        quotes = quote_snapshots(symbols, get_settings().data_stale_after_seconds)
        return {asset_channel(symbol): data for symbol, data in quotes.items()}
    finally:
        # A socket lives for hours: never keep a pooled connection between two reads.
        db.session.remove()


def portfolio_snapshot(portfolio_id: int) -> dict[str, Any] | None:
    """The portfolio_update data of one portfolio (no ownership check: callers do that)."""
    try:
        return portfolio_update_data(portfolio_id, limits=valuation_limits())
    finally:
        db.session.remove()


def channel_snapshots(channels: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Channel -> snapshot data for asset and portfolio channels (missing ones left out)."""
    wanted = list(channels)
    symbols = [channel_symbol(channel) for channel in wanted if is_asset_channel(channel)]
    result = asset_snapshots(symbols) if symbols else {}
    for channel in wanted:
        if is_portfolio_channel(channel):
            portfolio_id = channel_portfolio_id(channel)
            data = portfolio_snapshot(portfolio_id)
            if data is not None:
                result[portfolio_channel(portfolio_id)] = data
    return result
