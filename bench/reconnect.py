"""The reconnect storm: a freshly started worker, N clients at once, 10 single-symbol subscribes each.

Per client count: a new gunicorn worker (a restart is what causes the storm, and its memory is empty), quotes
for the bench's 100 symbols in the database, then `bench.storm` as a separate process. The figure is the time
from the first connect until every client has a snapshot of each of its 10 symbols.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import servers
from bench.load import symbol_names
from bench.setup_db import _sa_url, issue_tokens

SYMBOLS = 100
PER_CLIENT = 10
TARGETS_S = {1000: 2.0, 5000: 10.0}


def seed_quotes(url: str, symbols: list[str]) -> None:
    """An asset and a quote (seq 1) per symbol, unless there already is one."""
    engine = sa.create_engine(_sa_url(url))
    metadata = sa.MetaData()
    assets = sa.Table("assets", metadata, autoload_with=engine)
    quotes = sa.Table("quotes", metadata, autoload_with=engine)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        have = set(connection.execute(sa.select(assets.c.symbol).where(assets.c.symbol.in_(symbols))).scalars())
        fresh = [s for s in symbols if s not in have]
        if fresh:
            ids = connection.execute(sa.insert(assets).returning(assets.c.id), [
                {"symbol": s, "name": s, "currency": "USD", "is_active": True, "created_at": now} for s in fresh
            ]).scalars().all()
            connection.execute(sa.insert(quotes), [
                {"asset_id": i, "price": 100 + n, "previous_close": 100, "change": n, "change_percent": n,
                 "volume": 1000, "source": "simulated", "last_updated": now, "seq": 1}
                for n, i in enumerate(ids)
            ])
    engine.dispose()


def storm_once(env: dict[str, str], tokens_file: Path, clients: int, log_dir: Path,
               started: Callable[[int], None] | None = None) -> dict[str, Any]:
    """One fresh worker, one storm of `clients`; the storm's figures plus the server's CPU.

    `started(worker_pid)` runs before the storm (bench.profile attaches py-spy there).
    """
    server = servers.start_server("ours", env, log_dir, workers=1)
    try:
        if started is not None:
            started(max(servers.tree_pids(server.pid)))
        python = servers.PEER_BIN / "python" if (servers.PEER_BIN / "python").exists() else servers.MAIN_BIN / "python"
        cpu0 = servers.tree_cpu_seconds(server.pid)
        load_before = os.getloadavg()
        answer = subprocess.run(
            [str(python), "-m", "bench.storm", f"ws://127.0.0.1:{server.port}/ws/realtime/", str(tokens_file),
             str(clients), "--symbols", str(SYMBOLS), "--per-client", str(PER_CLIENT)],
            cwd=servers.ROOT, env={**env, "PYTHONPATH": str(servers.ROOT)}, capture_output=True, text=True,
            timeout=300, check=False,
        )
        if answer.returncode != 0:
            raise RuntimeError(f"storm failed: {answer.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(answer.stdout.strip().splitlines()[-1])
        result["server_cpu_s"] = round(servers.tree_cpu_seconds(server.pid) - cpu0, 2)
        result["loadavg_before"] = [round(x, 2) for x in load_before]
        result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        target = TARGETS_S.get(clients)
        result["target_s"] = target
        result["met"] = None if target is None else (result["complete"] == clients
                                                     and result["all_snapshots_s"] <= target)
        return result
    finally:
        server.stop()


def run_reconnect(env: dict[str, str], db_url: str, log_dir: Path, say: Callable[[str], None],
                  counts: list[int]) -> dict[str, Any]:
    """The storm at each client count; the database must be migrated."""
    seed_quotes(db_url, symbol_names(SYMBOLS))
    tokens_file = log_dir / "storm-tokens.json"
    tokens_file.write_text(json.dumps(issue_tokens(db_url, max(counts))))
    results: dict[str, Any] = {}
    for clients in counts:
        say(f"reconnect storm: {clients} clients x {PER_CLIENT} subscribes")
        results[str(clients)] = storm_once(env, tokens_file, clients, log_dir)
        say(f"  every snapshot after {results[str(clients)]['all_snapshots_s']} s "
            f"({results[str(clients)]['complete']}/{clients} complete)")
    return results
