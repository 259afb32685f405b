"""The portfolio scenario's load process: sockets subscribed to their owners' portfolios, latency per update.

Commands on stdin (one JSON line each, one JSON reply each), as bench.load:
  connect {url, pairs: [[token, portfolio_id], ...], concurrency}
  begin                      start counting
  report                     counts and latencies since `begin`
Latency of a portfolio_update = receive time - the bus publish time of the newest asset_update among the
symbols it says moved (`positions_updated`); the process listens to `<prefix>:asset:*` itself for those.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis

from bench.load import raise_nofile
from bench.stats import Histogram
from bench.wsclient import WsClient, open_client


class PortfolioLoad:
    """Sockets, the asset publish times heard on the bus, and the step's counters."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.redis_url, self.prefix = redis_url, prefix
        self.published: dict[str, float] = {}  # symbol -> bus published_at of its newest asset_update
        self.clients: list[WsClient] = []
        self.errors: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        """Start a new measuring window."""
        self.hist = Histogram()
        self.updates = self.snapshots = self.unmatched = self.bytes = 0
        self.cpu0, self.wall0 = sum(os.times()[:2]), time.monotonic()

    async def listen_assets(self) -> None:
        """Record when each symbol's price was published (the start of the measured path)."""
        client = aioredis.Redis.from_url(self.redis_url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.psubscribe(f"{self.prefix}:asset:*")
        async for message in pubsub.listen():
            if message.get("type") != "pmessage":
                continue
            body = json.loads(message["data"])
            self.published[body["data"]["symbol"]] = float(body["published_at"])

    def on_text(self, client: WsClient, payload: bytes, now: float) -> None:
        """One message of one socket."""
        message = json.loads(payload)
        kind = message.get("type")
        if kind != "portfolio_update":
            waiter = client.state.get(kind)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
            return
        data = message["data"]
        if data.get("snapshot"):
            self.snapshots += 1
            waiter = client.state.get("snapshot")
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
            return
        self.updates += 1
        self.bytes += len(payload)
        times = [self.published[p["symbol"]] for p in data.get("positions_updated") or []
                 if p.get("symbol") in self.published]
        if not times:
            self.unmatched += 1
            return
        self.hist.add((now - max(times)) * 1000.0)

    async def _one(self, where: tuple[str, int, str], token: str, portfolio_id: int,
                   gate: asyncio.Semaphore) -> None:
        loop = asyncio.get_running_loop()
        state: dict[str, Any] = {"connection": loop.create_future(), "snapshot": loop.create_future()}
        try:
            async with gate:
                client = await open_client(*where, token, self.on_text, state=state, timeout=60)
                await asyncio.wait_for(state["connection"], 60)
                client.send_json({"type": "subscribe_portfolio", "data": {"portfolio_id": portfolio_id}})
                await asyncio.wait_for(state["snapshot"], 60)
            self.clients.append(client)
        except (OSError, TimeoutError, ConnectionError) as exc:
            key = f"{type(exc).__name__}: {str(exc)[:60]}"
            self.errors[key] = self.errors.get(key, 0) + 1

    async def connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Open one socket per (token, portfolio) pair and subscribe it."""
        parts = urlsplit(cmd["url"])
        where = (parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/")
        gate = asyncio.Semaphore(int(cmd.get("concurrency", 500)))
        started = time.monotonic()
        await asyncio.gather(*(self._one(where, token, int(pid), gate) for token, pid in cmd["pairs"]))
        return {"connected": len(self.clients), "seconds": round(time.monotonic() - started, 2),
                "errors": self.errors}

    def report(self) -> dict[str, Any]:
        """The window's figures."""
        wall = time.monotonic() - self.wall0
        return {"updates": self.updates, "snapshots": self.snapshots, "unmatched": self.unmatched,
                "bytes": self.bytes, "latency": self.hist.summary(), "hist": self.hist.to_json(),
                "live": sum(1 for c in self.clients if not c.closed.done()), "errors": self.errors,
                "load_cpu": round((sum(os.times()[:2]) - self.cpu0) / wall, 3) if wall > 0 else None}


async def serve(redis_url: str, prefix: str) -> None:
    """Commands until EOF."""
    load = PortfolioLoad(redis_url, prefix)
    listener = asyncio.create_task(load.listen_assets())
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": True, "nofile": raise_nofile()}), flush=True)
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            cmd = json.loads(line)
            if cmd.get("cmd") == "connect":
                reply = await load.connect(cmd)
            elif cmd.get("cmd") == "begin":
                load.reset()
                reply = {"ok": True}
            elif cmd.get("cmd") == "report":
                reply = load.report()
            else:
                break
            print(json.dumps(reply), flush=True)
    finally:
        listener.cancel()
        for client in load.clients:
            client.abort()


def main() -> None:
    """`python -m bench.portfolio_load REDIS_URL PREFIX`."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
    os._exit(0)


if __name__ == "__main__":
    main()
