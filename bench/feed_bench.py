"""The feed pipeline at scale: 5,000 tracked symbols, a simulated provider with per-request latency, Celery.

`run_feed` (called by bench.run) seeds the symbols as held positions, measures one batch per size in a
probe process (wall time and SQL statements per batch, counted by a SQLAlchemy `before_cursor_execute`
listener), then runs whole cycles (`pricewire.feed.run_cycle`) on one prefork worker with 2 processes
(REALTIME_MAX_WORKERS=2, as the Procfile) for batch sizes 25/50/100, timing fetch -> stored-and-published.
The probe is `python -m bench.feed_bench probe`.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

from bench.servers import MAIN_BIN, Proc, start_json_child
from bench.setup_db import _sa_url

SYMBOLS = 5000
SIZES = (25, 50, 100)
LATENCY_MS = int(os.environ.get("BENCH_FEED_LATENCY_MS", "200"))  # a typical quote API round trip
FEED_REDIS_URL = os.environ.get("BENCH_FEED_REDIS_URL", "redis://127.0.0.1:6379/9")  # own db: own Celery queue
POSITIONS_PER_PORTFOLIO = 50
CYCLE_TIMEOUT_S = int(os.environ.get("BENCH_FEED_CYCLE_TIMEOUT", "120"))
STALL_S = 10.0


def feed_symbols(count: int = SYMBOLS) -> list[str]:
    """FD0000 ... FD4999."""
    return [f"FD{i:04d}" for i in range(count)]


def seed(db_url: str, count: int = SYMBOLS) -> None:
    """`count` active assets, each held by one of count/50 portfolios of one user: the feed tracks them all."""
    engine = sa.create_engine(_sa_url(db_url))
    meta = sa.MetaData()
    users, assets, portfolios, positions = (sa.Table(name, meta, autoload_with=engine)
                                            for name in ("users", "assets", "portfolios", "positions"))
    now = datetime.now(UTC)
    with engine.begin() as connection:
        user_id = connection.execute(sa.insert(users).returning(users.c.id), [
            {"username": "bench_feed", "password_hash": "!bench-no-login", "created_at": now}]).scalar_one()
        asset_ids = connection.execute(sa.insert(assets).returning(assets.c.id), [
            {"symbol": symbol, "name": symbol, "currency": "USD", "is_active": True, "created_at": now}
            for symbol in feed_symbols(count)]).scalars().all()
        groups = [asset_ids[i:i + POSITIONS_PER_PORTFOLIO] for i in range(0, len(asset_ids), POSITIONS_PER_PORTFOLIO)]
        portfolio_ids = connection.execute(sa.insert(portfolios).returning(portfolios.c.id), [
            {"user_id": user_id, "name": f"bench {i}", "base_currency": "USD", "seq": 0, "created_at": now}
            for i in range(len(groups))]).scalars().all()
        connection.execute(sa.insert(positions), [
            {"portfolio_id": pid, "asset_id": aid, "quantity": 10, "cost_basis": 1000}
            for pid, group in zip(portfolio_ids, groups, strict=True) for aid in group])
    engine.dispose()


def feed_env(base: dict[str, str], prefix: str, batch_size: int) -> dict[str, str]:
    """The environment of the feed's processes for one measured configuration.

    Each configuration gets its own simulated seed: a fresh worker replays its seed's price path, and a
    replayed price is "unchanged", so it would be neither stored nor published.
    """
    return {**base, "SIMULATED_SEED": str(zlib.crc32(prefix.encode())), "REDIS_URL": FEED_REDIS_URL,
            "REDIS_KEY_PREFIX": prefix, "REALTIME_BATCH_SIZE": str(batch_size),
            "REALTIME_MAX_WORKERS": "2", "REALTIME_UPDATE_INTERVAL": "30", "SIMULATED_LATENCY_MS": str(LATENCY_MS),
            "MARKET_DATA_SOURCE_PRIORITIES": "simulated:1", "LOG_LEVEL": "INFO"}


class PublishCounter:
    """Counts asset_update messages on the bus (psubscribe prefix:asset:*) in a thread, with the last arrival."""

    def __init__(self, prefix: str) -> None:
        self.pubsub = redis.Redis.from_url(FEED_REDIS_URL).pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe(f"{prefix}:asset:*")
        self.count, self.symbols, self.last_at = 0, set[str](), 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if message and message["type"] == "pmessage":
                self.count += 1
                self.symbols.add(message["channel"].decode().rsplit(":", 1)[1])
                self.last_at = time.time()

    def close(self) -> None:
        """Stop the thread and the subscription."""
        self.stop.set()
        self.thread.join(timeout=2)
        self.pubsub.close()


def start_worker(env: dict[str, str], log_dir: Path, name: str) -> Proc:
    """Celery worker -P prefork -c 2 (the Procfile's worker), ready when it says so."""
    args = [str(MAIN_BIN / "celery"), "-A", "celery_worker.celery", "worker", "-P", "prefork", "-c", "2",
            "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"]
    worker = Proc(name, args, env, log_dir).start()
    deadline = time.monotonic() + 60
    while "ready." not in worker.log_tail(100_000):
        if not worker.alive() or time.monotonic() > deadline:
            worker.stop()
            raise RuntimeError(f"celery worker did not start:\n{worker.log_tail()}")
        time.sleep(0.2)
    return worker


def run_cycle(base: dict[str, str], db_url: str, batch_size: int, prefix: str, log_dir: Path) -> dict[str, Any]:
    """One whole cycle on a fresh worker: trigger run_cycle, wait for the cycle summary, count what landed."""
    from celery import Celery

    from app.config import load_config
    from infra.settings import Settings
    from tasks.celery_app import celery_config

    env = feed_env(base, prefix, batch_size)
    sender = Celery(set_as_current=False)
    # the project's broker settings (key prefix, queue)
    sender.conf.update(celery_config(Settings.from_config(load_config(env))))
    worker = start_worker(env, log_dir, f"feed-{prefix.rsplit('-', 1)[-1]}")
    counter = PublishCounter(prefix)
    status = redis.Redis.from_url(FEED_REDIS_URL)
    engine = sa.create_engine(_sa_url(db_url))
    try:
        started = time.time()
        sender.send_task("pricewire.feed.run_cycle")
        summary = None
        while summary is None and time.time() - started < CYCLE_TIMEOUT_S:
            raw = status.hget(f"{prefix}:feed:status", "last_cycle")
            summary = json.loads(raw) if raw else None
            if counter.count and time.time() - counter.last_at > STALL_S:
                break  # batches stopped arriving: some expired (queued longer than one interval) or failed
            time.sleep(0.1)
        time.sleep(0.5)  # publishes follow the commit of the last batch
        with engine.connect() as connection:
            stored = connection.execute(sa.text("SELECT count(*) FROM quotes WHERE last_updated >= :t"),
                                        {"t": datetime.fromtimestamp(started - 1, UTC)}).scalar_one()
        wall = (max(counter.last_at, started) - started) if counter.count else None
        cycle_s = summary["duration"] if summary else None
        return {
            "batch_size": batch_size, "summary": summary, "cycle_s": cycle_s, "completed": summary is not None,
            "trigger_to_last_publish_s": round(wall, 2) if wall else None,
            "symbols_per_s": round(summary["symbols"] / cycle_s) if summary and cycle_s else None,
            "published": counter.count, "published_symbols": len(counter.symbols), "stored_quotes": stored,
            "expired_batches": worker.log_tail(10_000_000).count("Discarding revoked task"),
            "worker_log_errors": worker.log_tail(10_000_000).count('"levelname": "ERROR"'),
        }
    finally:
        counter.close()
        worker.stop()
        engine.dispose()


def run_feed(base: dict[str, str], log_dir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Seed, probe per-batch costs, then time whole cycles per batch size."""
    db_url = base["DATABASE_URL"]
    run_id = f"bench{os.getpid()}"
    out: dict[str, Any] = {"symbols": SYMBOLS, "latency_ms": LATENCY_MS, "workers": 2, "cycles": {}}
    try:
        seed(db_url)
        probe = start_json_child("feed-probe", [str(MAIN_BIN / "python"), "-m", "bench.feed_bench", "probe"],
                                 feed_env(base, f"{run_id}-probe", 50), log_dir, timeout=60)
        answer: dict[str, Any] = {}
        while "probe" not in answer:  # the app logs JSON lines on stdout too
            answer = probe.read_json(timeout=300)
        out["probe"] = answer["probe"]
        probe.stop()
        say(f"feed probe: {json.dumps(out['probe'])}")
        run_cycle(base, db_url, 100, f"{run_id}-prime", log_dir)  # first cycle inserts every quote row
        for size in SIZES:
            result = run_cycle(base, db_url, size, f"{run_id}-feed{size}", log_dir)
            result["queries_per_batch"] = out["probe"].get(str(size), {}).get("queries_warm")
            out["cycles"][str(size)] = result
            say(f"feed: batch {size}: cycle {result['cycle_s']} s (completed: {result['completed']}), "
                f"{result['symbols_per_s']} symbols/s, "
                f"{result['published']} published, {result['stored_quotes']} stored, "
                f"{result['queries_per_batch']} queries per batch")
    except Exception as exc:  # the relay figures must survive a feed failure
        out["error"] = f"{type(exc).__name__}: {exc}"[:3000]
        say(f"feed: FAILED {out['error'][:600]}")
    finally:
        client = redis.Redis.from_url(FEED_REDIS_URL)
        for key in client.scan_iter(f"{run_id}*", count=1000):
            client.delete(key)
    return out


def probe() -> None:
    """In-process: process_batch on fresh (insert) and known (update) symbols per size; SQL statements counted."""
    from sqlalchemy import event

    from app import create_app
    from models import db
    from tasks.pipeline import process_batch

    print(json.dumps({"ready": True}), flush=True)
    app = create_app()
    report: dict[str, Any] = {}
    with app.app_context():
        statements = [0]
        event.listen(db.engine, "before_cursor_execute", lambda *_a, **_k: statements.__setitem__(0, statements[0] + 1))
        symbols, offset = feed_symbols(), 0
        for size in SIZES:
            chunk, offset = symbols[offset:offset + size], offset + size
            row: dict[str, Any] = {}
            for phase in ("cold", "warm"):
                before, started = statements[0], time.perf_counter()
                batch = process_batch(chunk, force=True)
                row[f"seconds_{phase}"] = round(time.perf_counter() - started, 3)
                row[f"queries_{phase}"] = statements[0] - before
                row[f"changed_{phase}"] = len(batch.changed)
                row[f"failed_{phase}"] = len(batch.failed)
            report[str(size)] = row
    print(json.dumps({"probe": report}), flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["probe"]:
        probe()
    else:
        sys.exit("usage: python -m bench.feed_bench probe  (the feed benchmark runs from bench.run)")
