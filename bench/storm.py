"""The reconnect storm's load process: N clients connect at once, each sends 10 single-symbol subscribes.

`python -m bench.storm URL TOKENS_FILE CLIENTS [--symbols 100 --per-client 10 --concurrency 1000]` prints one
JSON line: when every client was connected, when every client had a snapshot of each of its symbols, and the
per-client times. A client subscribes the way the reference's client does: one `subscribe_asset` per symbol,
all sent as soon as `connection` arrives.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any
from urllib.parse import urlsplit

from bench.load import client_symbols, raise_nofile, symbol_names
from bench.stats import Histogram
from bench.wsclient import WsClient, open_client

TIMEOUT_S = 120.0


class Storm:
    """Counts each client's snapshots; a client is done when it has one for each of its symbols."""

    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self.errors: dict[str, int] = {}
        self.connected_at: list[float] = []
        self.done_at: list[float] = []
        self.subscribe_hist, self.total_hist = Histogram(), Histogram()

    def on_text(self, client: WsClient, payload: bytes, now: float) -> None:
        """Account one message of one client."""
        message = json.loads(payload)
        state = client.state
        kind = message.get("type")
        if kind == "connection":
            state["connected"].set_result(now)
        elif kind == "asset_update" and message["data"].get("snapshot"):
            state["have"].add(message["data"]["symbol"])
            if len(state["have"]) == self.per_client and not state["done"].done():
                state["done"].set_result(now)
        elif kind == "subscribed":
            state["acks"] += 1
        elif kind == "error":
            code = str((message.get("data") or {}).get("code"))
            self.errors[f"server error {code}"] = self.errors.get(f"server error {code}", 0) + 1

    async def one(self, where: tuple[str, int, str], token: str, symbols: list[str], t0: float,
                  gate: asyncio.Semaphore) -> WsClient | None:
        """Connect, subscribe symbol by symbol, wait for every snapshot."""
        loop = asyncio.get_running_loop()
        state: dict[str, Any] = {"connected": loop.create_future(), "done": loop.create_future(), "have": set(),
                                 "acks": 0}
        stage = "opening"
        try:
            async with gate:
                client = await open_client(*where, token, self.on_text, state=state, timeout=TIMEOUT_S)
                stage = "waiting for connection"
                connected = await asyncio.wait_for(state["connected"], TIMEOUT_S)
            for symbol in symbols:
                client.send_json({"type": "subscribe_asset", "data": {"symbols": [symbol]}})
            stage = "subscribed"
            done = await asyncio.wait_for(state["done"], TIMEOUT_S)
        except (OSError, TimeoutError, ConnectionError) as exc:
            # Where it stuck: a subscribed client says how many acks and snapshots it had.
            where_stuck = f" ({state['acks']} acks, {len(state['have'])} snapshots)" if stage == "subscribed" else ""
            if stage == "subscribed" and client.closed.done():
                where_stuck += f", closed {client.closed.result()}"
            key = f"{type(exc).__name__}: {str(exc)[:60]} {stage}{where_stuck}"
            self.errors[key] = self.errors.get(key, 0) + 1
            return None
        self.connected_at.append(connected - t0)
        self.done_at.append(done - t0)
        self.subscribe_hist.add((done - connected) * 1000)
        self.total_hist.add((done - t0) * 1000)
        return client


async def run(url: str, tokens: list[str], clients: int, *, symbols: int, per_client: int,
              concurrency: int) -> dict[str, Any]:
    """The storm; returns its figures."""
    parts = urlsplit(url)
    where = (parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/")
    names = symbol_names(symbols)
    storm = Storm(per_client)
    gate = asyncio.Semaphore(concurrency)
    cpu0, t0 = sum(os.times()[:2]), time.time()
    jobs = [storm.one(where, tokens[i % len(tokens)], client_symbols(i, names, per_client, 7), t0, gate)
            for i in range(clients)]
    opened = [c for c in await asyncio.gather(*jobs) if c is not None]
    wall = time.time() - t0
    for client in opened:
        client.abort()
    return {
        "clients": clients, "complete": len(storm.done_at), "subscribes": clients * per_client,
        "all_connected_s": round(max(storm.connected_at, default=0.0), 3),
        "all_snapshots_s": round(max(storm.done_at, default=0.0), 3),
        "client_total_ms": storm.total_hist.summary(), "client_subscribe_ms": storm.subscribe_hist.summary(),
        "errors": storm.errors, "load_cpu_s": round(sum(os.times()[:2]) - cpu0, 2), "wall_s": round(wall, 3),
    }


def main() -> None:
    """Entry point (uvloop when importable)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("tokens_file")
    parser.add_argument("clients", type=int)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--per-client", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=1000)
    args = parser.parse_args()
    raise_nofile()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with open(args.tokens_file) as handle:
        tokens = json.load(handle)
    result = asyncio.run(run(args.url, tokens, args.clients, symbols=args.symbols, per_client=args.per_client,
                                 concurrency=args.concurrency))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
