"""The price feed as plain functions: pick symbols, split, fetch, store, publish. No Celery here.

Every function runs inside a Flask app context (Celery's FlaskTask, the embedded loop or the CLI push one).
"""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import Flask, current_app
from sqlalchemy import select, union

from infra.bus import Bus, BusError, get_bus
from infra.feed_status import FeedStatusStore, get_feed_status
from infra.settings import get_settings
from models.base import db
from models.market import Asset, Quote, WatchlistItem
from models.portfolio import Position
from models.snapshots import asset_update_data
from protocol.bus import asset_update_message
from protocol.channels import asset_channel
from protocol.symbols import is_valid_symbol
from tasks.currency_learning import learn_currencies
from tasks.executors import split_batches
from tasks.feed_events import (
    HEARTBEAT_PERIOD,
    announce_events,
    check_stale,
    publish_feed_status,
    publish_heartbeat,
    record_status,
)
from tasks.market_data import DataSourceManager, QuoteResult, build_data_source_manager
from tasks.market_hours import calendar_last_session_end, plan_fetches, record_fetches, stored_markets
from tasks.portfolio_tracker import fx_symbols_for_tracked_portfolios, revalue_for_symbols
from tasks.quote_store import ensure_assets, is_changed, store_history, store_quotes
from tasks.revaluer import get_revaluer

logger = logging.getLogger("pricewire.price_feed")

__all__ = [  # the feed's plain-function API, including what lives in quote_store and feed_events
    "HEARTBEAT_PERIOD", "BatchResult", "CyclePlan", "announce_events", "check_stale", "cycle_force",
    "ensure_assets", "finish_batch", "get_manager", "is_changed", "is_transient", "log_cycle", "merge",
    "pick_tracked_symbols", "plan_cycle", "process_batch", "publish_feed_status", "publish_heartbeat",
    "publish_updates", "record_status", "retry_countdown", "revalue", "revalue_pending", "run_batch", "should_retry",
    "split_batches", "store_history", "store_quotes",
]

MANAGER_KEY = "pricewire.market_data"
# Reasons (docs/market-data.md, "Errors") a retry in a few seconds may cure: the source was unreachable
# or failing. 4xx, throttling, open circuits and unknown symbols are left to the next cycle.
TRANSIENT_MARKERS = ("timed out after", "connection error", "server error (HTTP 5")
# Transient failures are retried this many times, after 1, 2, 4 s (full jitter, capped at half an interval).
MAX_RETRIES = 3
RETRY_BACKOFF_SECONDS = 1.0


@dataclass
class BatchResult:
    """What one batch fetched, stored and published."""

    symbols: list[str]
    results: dict[str, QuoteResult]
    failed: dict[str, str] = field(default_factory=dict)
    transient: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    published: int = 0
    dry_run: bool = False

    @property
    def successes(self) -> int:
        """Symbols some source served."""
        return len(self.results) - len(self.failed)

    def rows(self) -> list[dict[str, Any]]:
        """Per-symbol results as dicts (QuoteResult fields plus `changed`), as the reference yields them."""
        changed = set(self.changed)
        return [{**result.as_dict(), "changed": symbol in changed} for symbol, result in self.results.items()]


@dataclass
class CyclePlan:
    """The symbols of one cycle, split into batches, with the id its batches report to."""

    cycle_id: str
    symbols: list[str]
    batches: list[list[str]]


def get_manager(app: Flask | None = None) -> DataSourceManager:
    """This process's DataSourceManager, built on first use (after Celery forks, never before)."""
    app = app or current_app
    cached = app.extensions.get(MANAGER_KEY)
    if cached is None or cached[0] != os.getpid():
        manager = build_data_source_manager(get_settings(app).as_config(), get_feed_status(app).client)
        manager.last_session_end = calendar_last_session_end  # old prints judged by exchange calendars
        cached = (os.getpid(), manager)
        app.extensions[MANAGER_KEY] = cached
    return cached[1]


def is_transient(reason: str | None) -> bool:
    """True when some source failed in a way a prompt retry may cure."""
    return bool(reason) and any(marker in part for part in str(reason).split("; ") for marker in TRANSIENT_MARKERS)


def retry_countdown(retries: int, interval: float, rng: random.Random | None = None) -> float:
    """Seconds before retry number `retries + 1`: exponential backoff with full jitter, at most interval/2."""
    ceiling = min(max(1.0, interval / 2), RETRY_BACKOFF_SECONDS * 2**retries)
    return (rng or random).uniform(0, ceiling)


def cycle_force(cache_timeout: int, interval: int) -> bool:
    """Whether scheduled batches bypass the quote cache: yes unless it expires within one interval.

    With the defaults (cache 300 s, interval 30 s) reading through the cache would serve the same quote for
    ten cycles; the quotes fetched still fill the cache for other readers. A cache shorter than the
    interval is read (it then only dedups fetches within a cycle, e.g. a redelivered batch).
    """
    return not 0 < cache_timeout < interval


def should_retry(batch: BatchResult, retries: int) -> list[str]:
    """The symbols worth retrying now (transient failures only), or [] when the batch is final."""
    return list(batch.transient) if batch.transient and retries < MAX_RETRIES else []


def pick_tracked_symbols(store: FeedStatusStore) -> list[str]:
    """Held or watched active assets, FX the portfolios need, requested symbols and recent failures, sorted."""
    held = select(Asset.symbol).join(Position, Position.asset_id == Asset.id).where(
        Asset.is_active.is_(True), Position.quantity != 0
    )
    watched = select(Asset.symbol).join(WatchlistItem, WatchlistItem.asset_id == Asset.id).where(
        Asset.is_active.is_(True)
    )
    wanted = set(db.session.scalars(union(held, watched)).all()) | set(fx_symbols_for_tracked_portfolios())
    wanted |= set(store.requested_symbols()) | set(store.retryable_failures())
    return sorted(symbol for symbol in wanted if is_valid_symbol(symbol))


def plan_cycle(store: FeedStatusStore, batch_size: int, interval: int) -> CyclePlan:
    """Pick this cycle's symbols (open markets and closing prints only), split them, open the latch."""
    tracked = pick_tracked_symbols(store)
    fetches = plan_fetches(store, tracked)
    symbols = fetches.due
    plan = CyclePlan(uuid.uuid4().hex[:12], symbols, split_batches(symbols, batch_size))
    store.start_cycle(plan.cycle_id, len(plan.batches), len(symbols))
    store.write(assets_tracked=len(tracked), assets_fetched=len(symbols), closed_skipped=len(fetches.skipped),
                update_interval=interval)
    store.incr("cycles_started")
    return plan


def finish_batch(store: FeedStatusStore, cycle_id: str | None, batch_no: int | None, batch: BatchResult,
                 final: bool = True) -> dict[str, Any] | None:
    """Report a batch to its cycle; log the cycle's one line when this was its last batch."""
    if cycle_id is None or batch_no is None:
        return None
    summary = store.finish_batch(cycle_id, batch_no, batch.successes, len(batch.failed), final)
    if summary is not None:
        log_cycle(summary)
    return summary


def log_cycle(summary: Mapping[str, Any]) -> None:
    """The one structured line per cycle."""
    logger.info("price feed cycle", extra={"event": "cycle", **summary})


def publish_updates(bus: Bus, updates: Sequence[tuple[str, Quote]]) -> int:
    """One asset_update per changed symbol, after commit; a bus failure is logged (clients resync by seq)."""
    sent = 0
    stale_after = get_settings().data_stale_after_seconds
    markets = stored_markets([symbol for symbol, _ in updates])
    for symbol, quote in updates:
        market = markets[symbol]
        data = asset_update_data(symbol, quote, market.mic, market.timezone, stale_after)
        try:
            bus.publish(asset_channel(symbol), asset_update_message(data))
        except BusError as exc:
            logger.warning("asset_update not published", extra={"symbol": symbol, "error": str(exc)})
            continue
        sent += 1
    return sent


def revalue(symbols: Sequence[str], now: bool = True) -> None:
    """Hand changed symbols to portfolio valuation (a round at a time, see tasks.revaluer); never undoes quotes.

    `now=False` only leaves them for the next round (the caller starts one: the Celery batch sends a task).
    """
    if not symbols:
        return
    revaluer = get_revaluer(current_app._get_current_object())  # type: ignore[attr-defined]
    try:
        if now:
            revaluer.run(symbols, _revalue_round)
        else:
            revaluer.add(symbols)
    except (redis.RedisError, OSError) as exc:  # the coordination is down: revalue this batch's symbols alone
        logger.warning("revaluation rounds unavailable; revaluing inline", extra={"error": str(exc)})
        _revalue_round(set(symbols))


def revalue_pending() -> int:
    """Run revaluation rounds for whatever symbols are left, unless a round runs elsewhere; the rounds run."""
    return get_revaluer(current_app._get_current_object()).run([], _revalue_round)  # type: ignore[attr-defined]


def _revalue_round(symbols: set[str]) -> None:
    """One round: the portfolios holding `symbols`; a failure is logged and rolled back."""
    try:
        revalue_for_symbols(sorted(symbols))
    except Exception:
        db.session.rollback()
        logger.exception("portfolio revaluation failed", extra={"symbols": sorted(symbols)[:20]})


def process_batch(symbols: Sequence[str], force: bool = False, dry_run: bool = False, *, publish: bool = True,
                  manager: DataSourceManager | None = None, revalue_now: bool = True) -> BatchResult:
    """Fetch `symbols`; unless dry_run store the changed ones, then publish and revalue (when `publish`).

    revalue_now=False leaves the changed symbols for a revaluation round the caller starts.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    manager = manager or get_manager(app)
    results = manager.get_asset_data(symbols, force=force)
    if not dry_run:  # a dry run leaves no trace, not even a learnt currency
        results = learn_currencies(results, manager.lookup_currency)
    events = manager.drain_events()
    failed = {symbol: result.error or "unknown error" for symbol, result in results.items() if not result.success}
    batch = BatchResult(list(results), results, failed, [s for s, why in failed.items() if is_transient(why)],
                        dry_run=dry_run)
    if dry_run:
        return batch
    updates = store_quotes(results)
    try:
        record_fetches(get_feed_status(app), [symbol for symbol, result in results.items() if result.success])
    except Exception:  # the next cycle fetches them again: harmless
        logger.warning("fetch times not recorded", exc_info=True)
    batch.changed = [symbol for symbol, _ in updates]
    bus = get_bus(app) if publish else None
    if bus is not None:
        batch.published = publish_updates(bus, updates)
        announce_events(bus, get_feed_status(app), events)
        revalue(batch.changed, now=revalue_now)
    try:
        record_status(get_feed_status(app), manager, batch, bus)
    except Exception:  # the quotes are committed; a status hiccup must not make the batch retry
        logger.warning("feed status not recorded", exc_info=True)
    return batch


def merge(first: BatchResult, retried: BatchResult) -> BatchResult:
    """A batch's results after retrying some of its symbols."""
    results = {**first.results, **retried.results}
    failed = {symbol: results[symbol].error or "unknown error" for symbol in results if not results[symbol].success}
    return BatchResult(list(results), results, failed, list(retried.transient),
                       first.changed + retried.changed, first.published + retried.published, first.dry_run)


def run_batch(symbols: Sequence[str], *, force: bool = False, dry_run: bool = False, publish: bool = True,
              retry: bool = True, cycle_id: str | None = None, batch_no: int | None = None,
              sleep: Any = time.sleep, manager: DataSourceManager | None = None) -> BatchResult:
    """process_batch with the retry policy applied in this process (embedded mode, CLI, facades)."""
    interval = get_settings().realtime_update_interval
    batch = process_batch(symbols, force=force, dry_run=dry_run, publish=publish, manager=manager)
    attempt = 0
    while retry and (again := should_retry(batch, attempt)):
        sleep(retry_countdown(attempt, interval))
        attempt += 1
        batch = merge(batch, process_batch(again, force=True, dry_run=dry_run, publish=publish, manager=manager))
    if not dry_run:
        finish_batch(get_feed_status(), cycle_id, batch_no, batch)
    return batch
