"""The publisher process: timestamped `asset_update`s at a paced rate, driven by JSON lines on stdin.

`--sink bus` (main venv) publishes exactly like the feed worker: RedisBus(url, prefix).publish(asset_channel(s),
asset_update_message({..., "seq": n})) (protocol.bus; the peer venv has no project imports, hence the
hand-written channel in the data).
`--sink channels` (bench/.venv-peer) does what the reference's worker does: channel_layer.group_send(group,
{"type": "asset.update", "data": {...}}) on the peer's CHANNEL_LAYERS, from one long-lived event loop.
Every update carries `seq` (per symbol, rising across steps), `step` and `sent_at` (epoch seconds).

Commands: {"cmd": "run", "step": s, "rate": publishes_per_second, "duration": seconds} -> {published, ranges, ...}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any


def symbol_names(count: int) -> list[str]:
    """Same names as bench.load (kept here so the peer venv needs nothing of ours)."""
    return [f"BN{i:03d}" for i in range(count)]


class Feed:
    """Per-symbol prices and sequence numbers, round-robin over the symbols."""

    def __init__(self, count: int) -> None:
        self.symbols = symbol_names(count)
        self.seq = dict.fromkeys(self.symbols, 0)
        self.cursor = 0

    def next_update(self, step: int) -> dict[str, Any]:
        """The data of the next update (a realistic asset_update payload, about 400 bytes on the wire)."""
        symbol = self.symbols[self.cursor]
        self.cursor = (self.cursor + 1) % len(self.symbols)
        seq = self.seq[symbol] = self.seq[symbol] + 1
        price = round(100.0 + (seq % 500) / 100.0, 2)
        stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return {
            "symbol": symbol, "price": price, "previous_close": 100.0, "change": round(price - 100.0, 2),
            "change_percent": round(price - 100.0, 4), "volume": 1_000_000 + seq, "high": 106.0, "low": 99.0,
            "market_cap": 2_400_000_000_000, "last_updated": stamp, "as_of": stamp, "source": "bench",
            "seq": seq, "channel": f"asset:{symbol}", "step": step, "sent_at": time.time(),
        }


def _report(step: int, rate: float, published: int, ranges: dict[str, list[int]], *, t0: float, t1: float) -> dict:
    return {"step": step, "published": published, "ranges": ranges, "t0": t0, "t1": t1, "rate_target": rate,
            "rate_achieved": round(published / (t1 - t0), 1) if t1 > t0 else None}


def _note(ranges: dict[str, list[int]], data: dict[str, Any]) -> None:
    span = ranges.get(data["symbol"])
    if span is None:
        ranges[data["symbol"]] = [data["seq"], data["seq"]]
    else:
        span[1] = data["seq"]


def _paced(feed: Feed, step: int, rate: float, duration: float,
           ranges: dict[str, list[int]]) -> Iterator[dict[str, Any] | float]:
    """Updates due at `rate`/s for `duration` s, and between bursts the seconds to wait (stops at 1.5x)."""
    total = max(1, int(rate * duration))
    start = time.perf_counter()
    published = 0
    while published < total and time.perf_counter() - start < duration * 1.5:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while published < due:
            data = feed.next_update(step)
            yield data
            _note(ranges, data)
            published += 1
        ahead = published / rate - (time.perf_counter() - start)
        if ahead > 0:
            yield min(ahead, 0.05)


def run_sync(feed: Feed, publish: Callable[[dict[str, Any]], None], step: int, rate: float,
             duration: float) -> dict[str, Any]:
    """Publish `rate`/s for `duration` s (stops at 1.5x duration if the sink cannot keep up)."""
    ranges: dict[str, list[int]] = {}
    t0, published = time.time(), 0
    for item in _paced(feed, step, rate, duration, ranges):
        if isinstance(item, float):
            time.sleep(item)
        else:
            publish(item)
            published += 1
    return _report(step, rate, published, ranges, t0=t0, t1=time.time())


async def run_async(feed: Feed, publish: Callable[[dict[str, Any]], Awaitable[None]], step: int, rate: float,
                    duration: float) -> dict[str, Any]:
    """As run_sync, awaiting the sink."""
    ranges: dict[str, list[int]] = {}
    t0, published = time.time(), 0
    for item in _paced(feed, step, rate, duration, ranges):
        if isinstance(item, float):
            await asyncio.sleep(item)
        else:
            await publish(item)
            published += 1
    return _report(step, rate, published, ranges, t0=t0, t1=time.time())


def bus_sink(redis_url: str, prefix: str) -> Callable[[dict[str, Any]], None]:
    """The project's own publish path."""
    from infra.bus import RedisBus
    from protocol.bus import asset_update_message
    from protocol.channels import asset_channel

    bus = RedisBus(redis_url, prefix)

    def publish(data: dict[str, Any]) -> None:
        bus.publish(asset_channel(data["symbol"]), asset_update_message(data))

    return publish


def channels_sink() -> Callable[[dict[str, Any]], Awaitable[None]]:
    """The reference's publish path: group_send on the peer's channel layer (its settings module)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.channels_peer.settings")
    import django
    from channels.layers import get_channel_layer

    django.setup()
    layer = get_channel_layer()

    async def publish(data: dict[str, Any]) -> None:
        await layer.group_send(f"asset_{data['symbol']}", {"type": "asset.update", "data": data})

    return publish


def commands(idle_timeout: float) -> Any:
    """JSON commands from stdin until quit/EOF."""
    import select

    while True:
        ready, _, _ = select.select([sys.stdin], [], [], idle_timeout)
        if not ready:
            return
        line = sys.stdin.readline()
        if not line:
            return
        cmd = json.loads(line)
        if cmd.get("cmd") == "quit":
            return
        yield cmd


def main() -> None:
    """Entry point of `python -m bench.publisher`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sink", choices=["bus", "channels"], required=True)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--prefix", default=os.environ.get("REDIS_KEY_PREFIX", "pricewire"))
    parser.add_argument("--symbols", type=int, default=100)
    args = parser.parse_args()
    feed = Feed(args.symbols)
    idle = float(os.environ.get("BENCH_PUBLISHER_IDLE_TIMEOUT", "900"))
    if args.sink == "bus":
        sink = bus_sink(args.redis_url, args.prefix)
        print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
        for cmd in commands(idle):
            print(json.dumps(run_sync(feed, sink, cmd["step"], cmd["rate"], cmd["duration"])), flush=True)
        return

    async def channels_main() -> None:
        sink = channels_sink()
        print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
        for cmd in commands(idle):  # blocking reads between steps are fine: nothing else runs on this loop
            print(json.dumps(await run_async(feed, sink, cmd["step"], cmd["rate"], cmd["duration"])), flush=True)

    asyncio.run(channels_main())


if __name__ == "__main__":
    main()
