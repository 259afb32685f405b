"""Worker CPU per portfolio revaluation, in process: `python -m bench.reval_cpu [--users N] [--rounds N] [--profile]`.

A database of its own (migrated, dropped after) seeded as bench.portfolio_bench (users x 20 Zipf-popular positions
over `symbols` symbols), no Redis (the in-process bus), and `--watched` of the portfolios (and their owners) taken
to have a listening socket: only their messages are built and sent, as with Redis (1, the default: all). Each
round moves every symbol's price, then revalues every holder with revalue_for_symbols(), the feed's call.
Reported: this process's CPU seconds per portfolio revalued (SQLAlchemy, valuation, building and publishing;
PostgreSQL's own CPU is not counted), over the rounds after a warm-up round. On a loaded machine CPU time is the
figure to compare, not wall time. `--profile` prints the top functions of the measured rounds
(sorted by $PROFILE_SORT, tottime by default; $PROFILE_TOP of them, 30 by default).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bench.portfolio_bench import Size, seed
from bench.setup_db import _sa_url, create_database, drop_database, issue_tokens


def _move_prices(engine: sa.Engine, moment: datetime) -> None:
    """Every quote moves by up to +-0.2%, as in a 5 s tick (outside the measured CPU)."""
    with engine.begin() as connection:
        connection.execute(sa.text(
            "UPDATE quotes SET price = round((price * (1 + (random() - 0.5) * 0.004))::numeric, 4), "
            "last_updated = :at, seq = seq + 1"), {"at": moment})


def _listen_to(share: float, portfolio_ids: list[int], engine: sa.Engine) -> None:
    """Make the revaluation see a listener on the first `share` of the portfolios and on their owners."""
    from infra import revaluation
    from protocol.channels import portfolio_channel, user_channel

    chosen = portfolio_ids[:round(len(portfolio_ids) * share)]
    with engine.connect() as connection:
        owners = connection.execute(sa.text("SELECT user_id FROM portfolios WHERE id = ANY(:ids)"),
                                    {"ids": chosen}).scalars().all()
    listened = {portfolio_channel(pid) for pid in chosen} | {user_channel(uid) for uid in owners}
    revaluation.watched_channels = lambda channels: {c for c in channels if c in listened}  # type: ignore[assignment]


def run(users: int, symbols: int, rounds: int, profile: bool, watched: float = 1.0) -> dict[str, Any]:
    """Seed, warm up one round, measure `rounds` rounds; the figures."""
    from app import create_app
    from models.base import db
    from tasks.portfolio_tracker import revalue_for_symbols

    base = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_CLUSTER_URL", "REDIS_SENTINELS")}
    url = create_database(base)
    try:
        issue_tokens(url, users * 4)
        portfolio_ids = seed(url, Size(users=users, symbols=symbols, sockets=0, cycles=0))
        engine = sa.create_engine(_sa_url(url))
        if watched < 1:
            _listen_to(watched, portfolio_ids, engine)
        app = create_app({"LOG_LEVEL": "WARNING"}, environ={**base, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
        names = [f"PF{i:04d}" for i in range(symbols)]
        moment = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
        cpu: list[float] = []
        counted = 0
        profiler = cProfile.Profile()
        with app.app_context():
            for n in range(rounds + 1):
                moment += timedelta(seconds=5)
                _move_prices(engine, moment)
                if n and profile:
                    profiler.enable()
                started = time.process_time()
                updates = revalue_for_symbols(names, now=moment)
                spent = time.process_time() - started
                if n and profile:
                    profiler.disable()
                if n:  # round 0 warms caches (and stores the day's return bases)
                    cpu.append(spent)
                    counted += users
                print(f"round {n}: {spent:.2f} s CPU, {len(updates)} portfolio updates built and sent", flush=True)
            db.session.remove()
        engine.dispose()
    finally:
        drop_database(url)
    result: dict[str, Any] = {
        "users": users, "symbols": symbols, "rounds": rounds, "watched": watched, "cpu_s": [round(c, 3) for c in cpu],
        "cpu_us_per_portfolio": round(sum(cpu) / counted * 1e6), "portfolios_per_cpu_s": round(counted / sum(cpu)),
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }
    if profile:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("PROFILE_SORT", "tottime"))
        stats.print_stats(int(os.environ.get("PROFILE_TOP", "30")))
        result["profile"] = out.getvalue()
    return result


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--symbols", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--watched", type=float, default=1.0, help="share of portfolios with a listener (0..1)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if not 0 <= args.watched <= 1:
        parser.error("--watched must be between 0 and 1")
    result = run(args.users, args.symbols, args.rounds, args.profile, args.watched)
    text = result.pop("profile", None)
    print(json.dumps(result))
    if text:
        print(text)


if __name__ == "__main__":
    main()
