"""Storing quotes: bulk upsert of the latest quote (seq + 1) and history appends, in bounded queries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from models.base import db
from models.exchanges import market_for_symbol, resolve_market
from models.market import Asset, PriceHistory, Quote
from tasks.market_data import HistoryPoint, QuoteResult

QUOTE_FIELDS = ("price", "previous_close", "change", "change_percent", "volume", "high", "low", "market_cap",
                "stale", "source", "last_updated")
# Five bound variables per history row: 150 rows stay under SQLite's oldest limit of 999 per statement.
HISTORY_CHUNK_ROWS = 150


def _insert(model: Any) -> Any:
    """INSERT with ON CONFLICT support for the session's database."""
    dialect = db.session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        raise RuntimeError(f"unsupported database for the price feed: {dialect}")
    return (postgresql if dialect == "postgresql" else sqlite).insert(model)


def _load_assets(symbols: Iterable[str]) -> dict[str, Any]:
    """Symbol -> row(asset_id, price, volume, last_updated) with the stored quote if any, in one query."""
    rows = db.session.execute(
        select(Asset.symbol, Asset.id.label("asset_id"), Asset.mic, Asset.timezone, Quote.price, Quote.volume,
               Quote.last_updated)
        .outerjoin(Quote, Quote.asset_id == Asset.id).where(Asset.symbol.in_(list(symbols)))
    ).all()
    return {row.symbol: row for row in rows}


def ensure_assets(currencies: Mapping[str, str | None]) -> dict[str, Any]:
    """Rows of these symbols (see _load_assets), creating missing assets: one query, three if any are new."""
    known = _load_assets(currencies)
    missing = [symbol for symbol in currencies if symbol not in known]
    if missing:
        db.session.execute(_insert(Asset).values([
            {"symbol": symbol, "name": symbol, "currency": currencies[symbol] or "USD",
             "mic": market.mic, "timezone": market.timezone}
            for symbol, market in ((symbol, market_for_symbol(symbol)) for symbol in missing)
        ]).on_conflict_do_nothing(index_elements=["symbol"]))
        known.update(_load_assets(missing))
    return known


def is_changed(result: QuoteResult, stored: Any) -> bool:
    """No quote yet, or price or volume differ (and the result is not older than the stored quote)."""
    if stored is None or stored.price is None:
        return True
    if result.timestamp is not None and stored.last_updated is not None and result.timestamp < stored.last_updated:
        return False
    return bool(result.price != stored.price or result.volume != stored.volume)


def update_markets(results: Mapping[str, QuoteResult], stored: Mapping[str, Any]) -> int:
    """Correct assets' exchange and time zone where the provider's metadata states others; how many changed.

    Providers that know them set `exchange` and `exchange_timezone` on their quotes (Yahoo's metadata).
    """
    changed = 0
    for symbol, result in results.items():
        exchange = getattr(result, "exchange", None)
        if not exchange or symbol not in stored:
            continue
        market = resolve_market(symbol, exchange, getattr(result, "exchange_timezone", None))
        row = stored[symbol]
        if market.source == "provider" and (row.mic, row.timezone) != (market.mic, market.timezone):
            db.session.execute(update(Asset).where(Asset.id == row.asset_id)
                               .values(mic=market.mic, timezone=market.timezone))
            changed += 1
    return changed


def store_quotes(results: Mapping[str, QuoteResult]) -> list[tuple[str, Quote]]:
    """Upsert changed quotes (seq + 1) and append their history in one transaction; the committed quotes.

    A bounded number of queries whatever the batch size: load, (create assets), upsert, history.
    """
    served = {symbol: result for symbol, result in results.items() if result.success}
    if not served:
        return []
    now = datetime.now(UTC)
    try:
        stored = ensure_assets({symbol: result.currency for symbol, result in served.items()})
        update_markets(served, stored)
        rows = []
        for symbol, result in served.items():
            row = stored[symbol]
            if is_changed(result, row if row.price is not None else None):
                values = {name: getattr(result, name, None) for name in QUOTE_FIELDS[:-1]}
                rows.append({"asset_id": row.asset_id, **values, "last_updated": result.timestamp or now, "seq": 1})
        if not rows:
            db.session.rollback()  # only new assets could be pending; none without a quote
            return []
        rows.sort(key=lambda item: item["asset_id"])  # one lock order for every writer: no deadlocks
        upsert = _insert(Quote).values(rows)
        upsert = upsert.on_conflict_do_update(
            index_elements=[Quote.asset_id],
            set_={**{name: upsert.excluded[name] for name in QUOTE_FIELDS}, "seq": Quote.seq + 1},
            where=Quote.last_updated <= upsert.excluded.last_updated,  # never replace newer data
        ).returning(Quote.asset_id, Quote.seq)
        seqs = dict(db.session.execute(upsert).tuples().all())
        db.session.execute(_insert(PriceHistory).values([
            {"asset_id": r["asset_id"], "timestamp": r["last_updated"], "price": r["price"], "volume": r["volume"],
             "source": r["source"]} for r in rows
        ]).on_conflict_do_nothing(index_elements=["asset_id", "timestamp"]))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    symbols = {row.asset_id: symbol for symbol, row in stored.items()}
    return [(symbols[r["asset_id"]], Quote(**{**r, "seq": seqs[r["asset_id"]]})) for r in rows if r["asset_id"] in seqs]


def store_history(symbol: str, points: Sequence[HistoryPoint]) -> int:
    """Append daily closes for one symbol (existing timestamps are kept); how many rows were new.

    One transaction, inserted HISTORY_CHUNK_ROWS rows per statement: SQLite allows 999 bound variables
    per statement in older builds, and a long history would exceed it.
    """
    if not points:
        return 0
    try:
        asset_id = ensure_assets({symbol: None})[symbol].asset_id
        added = 0
        for start in range(0, len(points), HISTORY_CHUNK_ROWS):
            result = db.session.execute(_insert(PriceHistory).values([
                {"asset_id": asset_id, "timestamp": p.timestamp, "price": p.price, "volume": p.volume,
                 "source": p.source}
                for p in points[start:start + HISTORY_CHUNK_ROWS]
            ]).on_conflict_do_nothing(index_elements=["asset_id", "timestamp"]).returning(PriceHistory.id))
            added += len(result.all())  # rows actually inserted (rowcount is -1 for this statement on psycopg)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return added
