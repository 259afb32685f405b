"""`python -m bench.bus_cost [--redis-url URL]`: what one published update costs Redis, with and without history.

Publishes N asset updates over 1,000 channels exactly like the feed worker (RedisBus.publish), no subscribers,
and reads Redis's own CPU counters around it; then the cost of a resume read and the memory of a full history.
Use a Redis of its own (the default starts none: point it at a private redis-server), since other clients'
work would be counted too. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

import redis

from infra.bus import RedisBus
from protocol.bus import bus_message
from protocol.channels import asset_channel

UPDATES = 20_000
CHANNELS = 1_000


def redis_cpu(client: redis.Redis) -> float:
    """Seconds of CPU the server has used."""
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def measure(url: str, history: int, prefix: str) -> dict[str, float]:
    """Server CPU and client round trip per publish at one history size."""
    bus = RedisBus(url, prefix, history=history)
    text = bus_message("asset_update", {"symbol": "AAPL", "price": "151.25", "change": "0.75", "seq": 1,
                                        "source": "simulated", "as_of": "2026-01-01T00:00:00Z"}, time.time())
    before, started = redis_cpu(bus.client), time.perf_counter()
    for index in range(UPDATES):
        bus.publish(asset_channel(f"S{index % CHANNELS}"), text)
    elapsed, used = time.perf_counter() - started, redis_cpu(bus.client) - before
    bus.close()
    return {"redis_cpu_us_per_publish": round(used / UPDATES * 1e6, 1),
            "round_trip_us": round(elapsed / UPDATES * 1e6, 1)}


def main() -> None:
    """Both history sizes, a resume read, the memory of a full history; then the keys are removed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    url = parser.parse_args().redis_url
    prefix = f"pwbench{uuid.uuid4().hex[:8]}"
    result: dict[str, object] = {"updates": UPDATES, "channels": CHANNELS}
    bus = RedisBus(url, prefix, history=100)
    try:
        result["plain_publish"] = measure(url, 0, prefix)
        result["publish_with_history_100"] = measure(url, 100, prefix)
        for _ in range(120):
            bus.publish(asset_channel("FULL"), "x" * 250)
        started = time.perf_counter()
        for _ in range(200):
            bus.recent(asset_channel("FULL"))
        result["resume_read_us"] = round((time.perf_counter() - started) / 200 * 1e6)
        result["full_history_bytes"] = bus.client.memory_usage(bus.history_key(asset_channel("FULL")))
    finally:
        keys = list(bus.client.scan_iter(match=f"{prefix}:*"))
        if keys:
            bus.client.delete(*keys)
        bus.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
