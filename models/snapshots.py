"""The data of `asset_update` messages, built one way for the feed and for snapshots on subscribe."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from models.base import db
from models.market import Asset, Quote
from models.session_view import DEFAULT_STALE_AFTER_SECONDS, price_session, rolled_quote_fields
from protocol.channels import asset_channel
from protocol.wire import iso


def asset_update_data(symbol: str, quote: Quote, exchange: str | None = None, timezone: str | None = None,
                      stale_after: int = DEFAULT_STALE_AFTER_SECONDS) -> dict[str, Any]:
    """The reference's asset_update fields plus source, seq, as_of, channel and the session fields.

    `exchange` and `timezone` are the asset's stored ones (None: decided from the symbol); `stale_after`
    is DATA_STALE_AFTER_SECONDS.
    """
    view = price_session(symbol, quote.last_updated, exchange=exchange, timezone=timezone,
                         margin_seconds=stale_after)
    data = {
        "symbol": symbol,
        "price": quote.price,
        "previous_close": quote.previous_close,
        "change": quote.change,
        "change_percent": quote.change_percent,
        "volume": quote.volume,
        "high": quote.high,
        "low": quote.low,
        # Whole currency units: an integer in every message, whatever precision the source gave.
        "market_cap": None if quote.market_cap is None else int(quote.market_cap),
        "last_updated": iso(quote.last_updated),
        "as_of": iso(quote.last_updated),
        "source": quote.source,
        "stale": bool(quote.stale),
        "seq": quote.seq,
        "channel": asset_channel(symbol),
    }
    data.update(rolled_quote_fields(quote.price, view))
    fields = view.fields()
    # A quote the provider already flagged as an old print (issue 12's quotes.stale) stays stale.
    fields["stale"] = fields["stale"] or bool(quote.stale)
    data.update(fields)
    return data


def quote_snapshots(symbols: Iterable[str], stale_after: int = DEFAULT_STALE_AFTER_SECONDS
                    ) -> dict[str, dict[str, Any]]:
    """The latest stored quote of each symbol that has one, in one query."""
    wanted = list(dict.fromkeys(symbols))
    if not wanted:
        return {}
    rows = db.session.execute(
        select(Asset.symbol, Asset.mic, Asset.timezone, Quote)
        .join(Quote, Quote.asset_id == Asset.id).where(Asset.symbol.in_(wanted))
    ).all()
    return {symbol: asset_update_data(symbol, quote, mic, zone, stale_after) for symbol, mic, zone, quote in rows}
