"""Live portfolios at scale: users with one portfolio each over Zipf-popular symbols, the feed every 5 s.

`run_portfolio` (called by bench.run): a database of its own seeded with `users` portfolios of 20 positions over
`symbols` symbols (the k-th most popular symbol is held in proportion to 1/k, as real holdings are), one web
worker with `sockets` sockets subscribed to their owners' portfolios (bench.portfolio_load), one Celery worker
(prefork, 2 processes, as the Procfile), and `pricewire.feed.run_cycle` sent every interval (the real Celery
path: run_cycle -> update_batch tasks -> store, publish, revalue, publish). Measured over `cycles` cycles:
publish -> portfolio_update latency, portfolios revalued per second per worker core, SQL statements and rows
written per cycle (pg_stat_database), database growth extrapolated to a trading day, worker and web CPU.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import servers
from bench.feed_bench import FEED_REDIS_URL, start_worker
from bench.setup_db import _sa_url, create_database, drop_database, issue_tokens

TRADING_DAY_S = 6.5 * 3600
POSITIONS = 20


@dataclass(frozen=True)
class Size:
    """How big one run is."""

    users: int
    symbols: int
    sockets: int
    cycles: int
    interval: int = 5


SIZES = {"quick": Size(users=2_000, symbols=400, sockets=1_000, cycles=4),
         "full": Size(users=10_000, symbols=2_000, sockets=5_000, cycles=8)}


def zipf_holdings(users: int, symbols: int, seed: int = 11) -> list[list[int]]:
    """Per user, 20 distinct symbol indexes drawn with weight 1/(rank+1)."""
    rng = random.Random(seed)
    cumulative = list(accumulate(1.0 / (rank + 1) for rank in range(symbols)))
    holdings = []
    for _ in range(users):
        chosen: dict[int, None] = {}
        while len(chosen) < POSITIONS:
            for index in rng.choices(range(symbols), cum_weights=cumulative, k=POSITIONS):
                chosen.setdefault(index)
        holdings.append(list(chosen)[:POSITIONS])
    return holdings


def seed(db_url: str, size: Size) -> list[int]:
    """Assets with quotes, users with one portfolio of 20 positions each; the portfolio ids in user order."""
    engine = sa.create_engine(_sa_url(db_url))
    meta = sa.MetaData()
    assets, quotes, portfolios, positions = (sa.Table(name, meta, autoload_with=engine) for name in
                                             ("assets", "quotes", "portfolios", "positions"))
    now = datetime.now(UTC)
    with engine.begin() as connection:
        asset_ids = connection.execute(sa.insert(assets).returning(assets.c.id), [
            {"symbol": f"PF{i:04d}", "name": f"PF{i:04d}", "currency": "USD", "is_active": True, "created_at": now}
            for i in range(size.symbols)]).scalars().all()
        connection.execute(sa.insert(quotes), [
            {"asset_id": aid, "price": 100, "previous_close": 100, "change": 0, "change_percent": 0,
             "volume": 0, "source": "simulated", "last_updated": now, "seq": 1} for aid in asset_ids])
        user_ids = connection.execute(sa.text("SELECT id FROM users ORDER BY id")).scalars().all()
        portfolio_ids = connection.execute(sa.insert(portfolios).returning(portfolios.c.id), [
            {"user_id": uid, "name": "main", "base_currency": "USD", "seq": 0, "created_at": now}
            for uid in user_ids]).scalars().all()
        rows = [{"portfolio_id": pid, "asset_id": asset_ids[index], "quantity": 10 + index % 7, "cost_basis": 1000}
                for pid, held in zip(portfolio_ids, zipf_holdings(len(user_ids), size.symbols), strict=True)
                for index in held]
        for start in range(0, len(rows), 20_000):
            connection.execute(sa.insert(positions), rows[start:start + 20_000])
    engine.dispose()
    return list(portfolio_ids)


def db_counters(engine: sa.Engine) -> dict[str, int]:
    """Cumulative statement-ish counters of the database: transactions, rows written, size."""
    with engine.connect() as connection:
        row = connection.execute(sa.text(
            "SELECT xact_commit + xact_rollback, tup_inserted, tup_updated, tup_deleted, pg_database_size(datname) "
            "FROM pg_stat_database WHERE datname = current_database()")).one()
        values = connection.execute(sa.text("SELECT count(*) FROM portfolio_values")).scalar_one()
        # A kept row: its tuple, heap header and line pointer (28 B) and an entry in each of its two indexes
        # (~24 B each). Estimated so that dead tuples of overwritten points do not count as growth.
        table = connection.execute(sa.text(
            "SELECT coalesce(avg(pg_column_size(v.*)), 0) + 28 + 2 * 24 FROM portfolio_values v")).scalar_one()
    return {"transactions": row[0], "inserted": row[1], "updated": row[2], "deleted": row[3], "bytes": row[4],
            "portfolio_values": values, "history_bytes": table}


def revaluations(log: str) -> int:
    """Portfolios revalued, from the worker's "portfolios revalued" log lines (JSON, one per revaluation)."""
    total = 0
    for line in log.splitlines():
        if '"portfolios revalued"' in line:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                total += int(json.loads(line[line.index("{"):])["portfolios"])
    return total


def feed_env(base: dict[str, str], prefix: str, interval: int) -> dict[str, str]:
    """The feed's and the web's environment: own Redis db and prefix, cycles every `interval` s."""
    return {**base, "REDIS_URL": FEED_REDIS_URL, "REDIS_KEY_PREFIX": prefix,
            "SIMULATED_SEED": str(zlib.crc32(prefix.encode())), "REALTIME_UPDATE_INTERVAL": str(interval),
            "REALTIME_MAX_WORKERS": "2", "REALTIME_CACHE_TIMEOUT": "0", "SIMULATED_LATENCY_MS": "0",
            "MARKET_DATA_SOURCE_PRIORITIES": "simulated:1", "LOG_LEVEL": "WARNING",
            # The feed fetches open markets only: stand the market clock in a US session (a Wednesday, 10:00
            # New York), whenever the benchmark runs.
            "MARKET_CLOCK": os.environ.get("BENCH_MARKET_CLOCK", "2026-11-25T15:00:00Z")}


def _cycles(sender: Any, size: Size, count: int) -> float:
    """Send run_cycle every interval, `count` times; the wall time taken."""
    started = time.monotonic()
    for n in range(count):
        sender.send_task("pricewire.feed.run_cycle")
        time.sleep(max(0.0, started + (n + 1) * size.interval - time.monotonic()))
    return time.monotonic() - started


def measure(env: dict[str, str], db_url: str, size: Size, log_dir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Start web, worker and load; warm up one cycle; measure `size.cycles` cycles."""
    from celery import Celery

    from app.config import load_config
    from infra.settings import Settings
    from tasks.celery_app import celery_config

    tokens = issue_tokens(db_url, size.users * 4)  # one user per 4 clients: one user, one token each
    portfolio_ids = seed(db_url, size)  # user i (token i) owns portfolio_ids[i]
    engine = sa.create_engine(_sa_url(db_url))
    sender = Celery(set_as_current=False)
    sender.conf.update(celery_config(Settings.from_config(load_config(env))))
    web = servers.start_server("ours", env, log_dir, workers=1)
    worker = start_worker({**env, "LOG_LEVEL": "INFO"}, log_dir, f"portfolio-{os.getpid()}")
    python = servers.PEER_BIN / "python" if (servers.PEER_BIN / "python").exists() else servers.MAIN_BIN / "python"
    load = servers.start_json_child("portfolio-load", [str(python), "-m", "bench.portfolio_load", FEED_REDIS_URL,
                                                       env["REDIS_KEY_PREFIX"]], env, log_dir)
    try:
        pairs = [[tokens[i], portfolio_ids[i]] for i in range(size.sockets)]
        connected = load.call({"cmd": "connect", "url": f"ws://127.0.0.1:{web.port}/ws/realtime/", "pairs": pairs},
                              timeout=600)
        say(f"portfolio: {connected['connected']} sockets subscribed in {connected['seconds']} s")
        _cycles(sender, size, 2)  # warm-up: the first cycle inserts nothing new but primes every cache
        time.sleep(size.interval)
        before, cpu_web, cpu_worker = db_counters(engine), servers.tree_cpu_seconds(web.pid), \
            servers.tree_cpu_seconds(worker.pid)
        load.call({"cmd": "begin"})
        log_offset = len(worker.log_tail(1 << 30))
        loadavg = [round(x, 2) for x in os.getloadavg()]
        wall = _cycles(sender, size, size.cycles)
        time.sleep(size.interval)  # the last cycle's stragglers
        wall += size.interval
        after = db_counters(engine)
        seen = load.call({"cmd": "report"}, timeout=60)
        web_s = servers.tree_cpu_seconds(web.pid) - cpu_web
        worker_s = servers.tree_cpu_seconds(worker.pid) - cpu_worker
        delta: dict[str, Any] = {key: after[key] - before[key] for key in after}
        delta["revalued"] = revaluations(worker.log_tail(1 << 30)[log_offset:])
        delta["bytes_per_history_row"] = float(after["history_bytes"])
        delta["resolution_s"] = int(env.get("PORTFOLIO_HISTORY_RESOLUTION_SECONDS", "60"))
        return summarise(size, {"connected": connected, "seen": seen, "delta": delta, "wall": wall, "web_s": web_s,
                                "worker_s": worker_s, "loadavg": loadavg})
    finally:
        load.stop()
        worker.stop()
        web.stop()
        engine.dispose()


def summarise(size: Size, measured: dict[str, Any]) -> dict[str, Any]:
    """The figures of one measured run."""
    seen, delta, wall = measured["seen"], measured["delta"], measured["wall"]
    web_s, worker_s = measured["web_s"], measured["worker_s"]
    cycles = size.cycles
    per_day = TRADING_DAY_S / size.interval
    revaluations_per_portfolio_day = delta["revalued"] / cycles / size.users * per_day
    resolution = delta["resolution_s"]
    points_per_day = (revaluations_per_portfolio_day if resolution <= 0
                      else min(revaluations_per_portfolio_day, TRADING_DAY_S / resolution))
    return {
        "size": size.__dict__, "connected": measured["connected"]["connected"], "cycles": cycles,
        "wall_s": round(wall, 1), "loadavg_1_5_15": measured["loadavg"],
        "portfolio_updates_received": seen["updates"], "unmatched_updates": seen["unmatched"],
        "latency_ms": seen["latency"], "load_cpu": seen["load_cpu"],
        "worker_cpu_cores": round(worker_s / wall, 2), "web_cpu_cores": round(web_s / wall, 2),
        "transactions_per_cycle": round(delta["transactions"] / cycles),
        "rows_inserted_per_cycle": round(delta["inserted"] / cycles),
        "rows_updated_per_cycle": round(delta["updated"] / cycles),
        "history_rows_per_cycle": round(delta["portfolio_values"] / cycles),
        "db_bytes_per_cycle_incl_dead_tuples": round(delta["bytes"] / cycles),
        "history_points_per_portfolio_day": round(points_per_day),
        "bytes_per_history_row": round(delta["bytes_per_history_row"]),
        # Kept rows: a point per revaluation (resolution 0) or per period, whichever is fewer, over a session.
        "db_growth_mb_per_day": round(size.users * points_per_day * delta["bytes_per_history_row"] / 1e6, 1),
        # Once PORTFOLIO_HISTORY_INTRADAY_DAYS have passed, a day's points shrink to its close.
        "db_steady_growth_mb_per_day": round(size.users * delta["bytes_per_history_row"] / 1e6, 2),
        "revaluations_per_cycle": round(delta["revalued"] / cycles),
        "portfolios_per_core_s": round(delta["revalued"] / worker_s) if worker_s else None,
    }


def run_portfolio(base: dict[str, str], log_dir: Path, say: Callable[[str], None], mode: str) -> dict[str, Any]:
    """The scenario in its own database and Redis prefix; always cleaned up."""
    size = SIZES[mode]
    prefix = f"bench{os.getpid()}-pf"
    db_url = create_database(base)
    env = feed_env({**base, "DATABASE_URL": db_url}, prefix, size.interval)
    say(f"portfolio: {size.users} portfolios x {POSITIONS} positions over {size.symbols} symbols, "
        f"{size.sockets} sockets, {size.cycles} cycles of {size.interval} s")
    try:
        result = measure(env, db_url, size, log_dir, say)
        say(f"portfolio: p50/p99/max {result['latency_ms']}, {result['portfolios_per_core_s']} portfolios/s/core, "
            f"{result['db_growth_mb_per_day']} MB/day, worker {result['worker_cpu_cores']} cores, "
            f"web {result['web_cpu_cores']} cores")
        return result
    except Exception as exc:  # the other scenarios' figures must survive
        say(f"portfolio: FAILED {exc!r}"[:600])
        return {"error": f"{type(exc).__name__}: {exc}"[:3000], "size": size.__dict__}
    finally:
        import redis

        client = redis.Redis.from_url(FEED_REDIS_URL)
        for key in client.scan_iter(f"{prefix}*", count=1000):
            client.delete(key)
        drop_database(db_url)
