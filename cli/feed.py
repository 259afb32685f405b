"""`flask feed start|status` and `flask prices update`: the price feed from the command line.

Exit codes: 0 done; 1 every symbol failed (or the feed's store/broker is unreachable); 2 bad arguments.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import click
import redis
from flask import current_app
from flask.cli import AppGroup

from app.api.history import MAX_HISTORY_DAYS
from cli.embedded import embedded_broadcast_refusal, embedded_note, server_state
from infra.feed_status import get_feed_status
from infra.local_server import running_server
from infra.redis_connect import redis_client
from infra.settings import get_settings
from protocol.symbols import symbol_problem
from tasks import pipeline
from tasks.market_data import MarketDataError, build_data_source_manager
from tasks.market_hours import exchange_summary, plan_fetches
from tasks.services import BatchPriceProcessor, PriceFeedService

feed_cli = AppGroup("feed", help="The scheduled price feed.")
prices_cli = AppGroup("prices", help="Price updates on demand.")

_SEPARATORS = re.compile(r"[,\s]+")


def parse_symbols(values: tuple[str, ...]) -> list[str]:
    """`AAPL MSFT`, `AAPL,MSFT` or both -> ["AAPL", "MSFT"]; BadParameter (exit 2) for a malformed symbol."""
    symbols: list[str] = []
    for value in values:
        for raw in filter(None, _SEPARATORS.split(value.strip())):
            problem = symbol_problem(raw)
            if problem is not None:
                raise click.BadParameter(problem, param_hint="--symbols")
            symbols.append(raw.upper())
    return list(dict.fromkeys(symbols))


@contextlib.contextmanager
def progress(length: int, label: str) -> Iterator[Any]:
    """A progress bar on stderr when it is a terminal (stdout keeps the parseable lines)."""
    if sys.stderr.isatty() and length:
        with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
            yield bar
    else:
        yield None


def _verbose(enabled: bool) -> None:
    if enabled:
        logging.getLogger("pricewire.price_feed").setLevel(logging.DEBUG)


def _quote_line(row: dict[str, Any], dry_run: bool) -> str:
    if not row["success"]:
        return f"  {row['symbol']:<12} failed: {row['error']}"
    change = row["change"]
    percent = row["change_percent"]
    moved = "" if change is None else f" {change:+} ({percent:+}%)" if percent is not None else f" {change:+}"
    state = "dry run" if dry_run else "changed" if row["changed"] else "unchanged"
    currency = f" {row['currency']}" if row.get("currency") else ""
    when = row.get("timestamp")
    stale = f", stale: market time {when:%Y-%m-%d %H:%M}Z" if row.get("stale") and when else ""
    return f"  {row['symbol']:<12} {row['price']}{currency}{moved} [{row['source']}, {state}{stale}]"


@prices_cli.command("update")
@click.option("--symbols", "symbol_options", multiple=True, metavar="SYMBOL...",
              help="Symbols to update: --symbols AAPL MSFT or --symbols AAPL,MSFT (default: every tracked symbol).")
@click.argument("more_symbols", nargs=-1, metavar="")
@click.option("--historical", is_flag=True, help="Also refresh daily history.")
@click.option("--days", type=click.IntRange(min=1, max=MAX_HISTORY_DAYS), default=7, show_default=True,
              help=f"Days of history (at most {MAX_HISTORY_DAYS}, what the API serves).")
@click.option("--broadcast", is_flag=True, help="Publish the changes to WebSocket subscribers.")
@click.option("--dry-run", is_flag=True, help="Fetch and print; store and publish nothing.")
@click.option("--verbose", is_flag=True, help="Print every quote and debug logging.")
def update_command(*, symbol_options: tuple[str, ...], more_symbols: tuple[str, ...], historical: bool, days: int,
                   broadcast: bool, dry_run: bool, verbose: bool) -> None:
    """Run one update now: `Batch n: k/m successful` per batch, then a summary."""
    _verbose(verbose)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    symbols = parse_symbols(symbol_options + more_symbols)
    settings = get_settings(app)
    if broadcast and not dry_run and settings.embedded:
        raise click.UsageError(embedded_broadcast_refusal(app))
    retention = settings.history_retention_days
    if historical and 0 < retention < days:
        raise click.BadParameter(f"{days} is more than HISTORY_RETENTION_DAYS ({retention}): older rows would be "
                                 "deleted within the hour", param_hint="--days")
    if not symbols:
        symbols = pipeline.pick_tracked_symbols(get_feed_status(app))
        if not symbols:
            click.echo("No tracked symbols to update (hold a position or pass --symbols).")
            return
    manager = pipeline.get_manager(app)
    if dry_run:  # a manager without the quote cache: a dry run leaves no trace, not even cached quotes
        manager = build_data_source_manager(dataclasses.replace(settings, realtime_cache_timeout=0).as_config(),
                                            get_feed_status(app).client)
    processor = BatchPriceProcessor(settings.realtime_batch_size, settings.realtime_max_workers, True,
                                    app=app, dry_run=dry_run, publish=broadcast, force=True, manager=manager)
    started = time.monotonic()
    served, changed = _run_batches(processor, symbols, verbose, dry_run)
    elapsed = time.monotonic() - started
    if dry_run:
        click.echo(f"Dry run: fetched {served}/{len(symbols)} symbols in {elapsed:.1f}s; nothing stored or published.")
    else:
        published = " and published" if broadcast else ""
        click.echo(f"Updated {served}/{len(symbols)} symbols in {elapsed:.1f}s: {changed} changed, stored{published}.")
    for failure in processor.get_failed_updates():
        click.echo(f"Failed: {failure['symbol']} ({failure['error']})", err=True)
    if historical:
        _update_history(manager, [s for s in symbols if s not in processor.failed], days, dry_run)
    if symbols and served == 0:
        sys.exit(1)


def _run_batches(processor: BatchPriceProcessor, symbols: list[str], verbose: bool,
                 dry_run: bool) -> tuple[int, int]:
    """Process `symbols` batch by batch, printing a line per batch; (served, changed)."""
    served = changed = 0
    with progress(len(symbols), "Updating prices") as bar:
        for number, rows in processor.process_in_batches(symbols):
            ok = sum(1 for row in rows if row["success"])
            served += ok
            changed += sum(1 for row in rows if row.get("changed"))
            click.echo(f"Batch {number}: {ok}/{len(rows)} successful")
            if verbose:
                for row in rows:
                    click.echo(_quote_line(row, dry_run))
            if bar is not None:
                bar.update(len(rows))
    return served, changed


def _update_history(manager: Any, symbols: list[str], days: int, dry_run: bool) -> None:
    """Daily closes for `symbols` (stored unless dry run); reports rows added."""
    added = fetched = 0
    with progress(len(symbols), f"History ({days} days)") as bar:
        for symbol in symbols:
            try:
                points = manager.get_history(symbol, days)
            except MarketDataError as exc:
                click.echo(f"History failed: {symbol} ({exc})", err=True)
                continue
            fetched += len(points)
            if not dry_run:
                added += pipeline.store_history(symbol, points)
            if bar is not None:
                bar.update(1)
    verb = "would store" if dry_run else f"stored {added} new"
    click.echo(f"History: fetched {fetched} daily closes for {len(symbols)} symbols, {verb}.")


@feed_cli.command("start")
@click.option("--interval", type=click.IntRange(min=1), help="Seconds between cycles (REALTIME_UPDATE_INTERVAL).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Symbols per batch (REALTIME_BATCH_SIZE).")
@click.option("--max-workers", type=click.IntRange(min=1), help="Parallel batches (REALTIME_MAX_WORKERS).")
@click.option("--verbose", is_flag=True, help="Debug logging.")
def start_command(interval: int | None, batch_size: int | None, max_workers: int | None, verbose: bool) -> None:
    """Run the scheduled feed in the foreground: beat and a worker pool, or the embedded loop."""
    _verbose(verbose)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    service = PriceFeedService(interval, batch_size, app=app)
    settings = get_settings(app)
    workers = max_workers or settings.realtime_max_workers
    mode = "embedded (in-process, no broker)" if settings.embedded else "Celery beat + prefork workers"
    server = running_server(app) if settings.embedded else None
    if server is not None:
        raise click.ClickException(f"the server (pid {server['pid']}, {server['url']}) already runs the embedded "
                                   "feed on this database; a second feed would write the same rows. Stop it first, "
                                   "or set REDIS_URL to run the feed under Celery.")
    if settings.redis_url is not None:
        try:
            redis_client(settings.redis_url, socket_connect_timeout=3).ping()
        except (redis.RedisError, OSError) as exc:
            click.echo(f"Cannot reach Redis at REDIS_URL: {exc}", err=True)
            sys.exit(1)
    click.echo(f"Price feed: {mode}, every {service.update_interval}s, batches of {service.batch_size}, "
               f"{workers} workers. Ctrl-C stops it.")
    with contextlib.suppress(KeyboardInterrupt):  # Celery's beat and pool stop on Ctrl-C; embedded returns itself
        service.start_price_feed(max_workers=workers, loglevel="DEBUG" if verbose else "INFO")
    click.echo("Price feed stopped.")


def exchange_lines(exchanges: dict[str, dict[str, Any]]) -> list[str]:
    """One line per exchange: open or closed, and when it next opens in its own time zone."""
    lines = []
    for mic, entry in exchanges.items():
        state = "open" if entry["state"] == "regular" else entry["state"]
        nxt = entry["next_open"]
        when = "" if nxt is None else f", next open {nxt.astimezone(ZoneInfo(entry['timezone'])):%a %Y-%m-%d %H:%M} " \
            f"{entry['timezone']}"
        note = f" ({entry['note']})" if entry.get("note") else ""
        lines.append(f"  {mic:<8} {state}{when}{note}: {', '.join(entry['symbols'])}")
    return lines


def tracked_exchanges(app: Any) -> dict[str, dict[str, Any]]:
    """MIC -> state, next open and symbols, over the symbols the feed tracks (the market clock's now)."""
    store = get_feed_status(app)
    plan = plan_fetches(store, pipeline.pick_tracked_symbols(store), fetch_when_closed=False)
    return exchange_summary(plan.clocks)


@feed_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_command(as_json: bool) -> None:
    """The feed's status: running, last update, cycle time, counters by source, failed symbols, exchanges."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = server_state(app) if get_settings(app).embedded else None
    try:
        status = state["price_feed"] if state else PriceFeedService(app=app).get_service_status()
    except (redis.RedisError, OSError) as exc:
        click.echo(f"Feed status unavailable: {exc}", err=True)
        sys.exit(1)
    exchanges = tracked_exchanges(app)
    if as_json:
        status["exchanges"] = {mic: {**entry, "next_open": None if entry["next_open"] is None
                                     else entry["next_open"].isoformat()} for mic, entry in exchanges.items()}
        click.echo(json.dumps(status, indent=2, sort_keys=True, default=str))
        return
    if get_settings(app).embedded:
        click.echo(f"({embedded_note(app, state)})")
    width = max(len(name) for name in status)
    for name, value in status.items():
        shown = ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else value
        if isinstance(value, list):
            shown = ", ".join(map(str, value)) or "-"
        click.echo(f"{name:<{width}}  {'-' if shown in (None, '') else shown}")
    click.echo("exchanges" + ("" if exchanges else "  - (nothing tracked)"))
    for line in exchange_lines(exchanges):
        click.echo(line)
