"""The load process: thousands of WebSocket clients in one asyncio loop, driven by JSON lines on stdin.

Commands (one JSON object per line; one JSON reply line each):
  connect   {url, tokens, count, start, symbols, per_client, slow_every, seed, concurrency}
  close     {keep}                 close every client past the first `keep`
  pause_slow                       slow clients stop reading (their kernel buffers fill, then the server's)
  step_begin {step}
  step_end  {step, ranges: {symbol: [first_seq, last_seq]}, t0, t1, drain}
  status, quit

Over 300 lines: one process speaks the whole stdin protocol above, and the WebSocket client, the command
loop and the per-step accounting share its state; it runs in its own interpreter (only bench.* imports).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from bench.stats import Histogram
from bench.wsclient import WsClient, open_client

SLOW_RCVBUF = 4096


def raise_nofile() -> int:
    """Lift the soft open-files limit to the hard one; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def symbol_names(count: int) -> list[str]:
    """The bench's symbols: BN000, BN001, ..."""
    return [f"BN{i:03d}" for i in range(count)]


def client_symbols(index: int, names: list[str], per_client: int, seed: int) -> list[str]:
    """The fixed random subset client `index` subscribes to."""
    return random.Random(seed * 1_000_003 + index).sample(names, per_client)


class Load:
    """All clients of this process and the counters of the running step."""

    def __init__(self) -> None:
        self.clients: list[WsClient] = []
        self.step: int | None = None
        self.errors: Counter[str] = Counter()
        self.server_errors: Counter[str] = Counter()
        self.closes: Counter[int] = Counter()
        self._reset_step()

    def _reset_step(self) -> None:
        self.hist, self.slow_hist = Histogram(), Histogram()
        self.received = self.received_slow = self.duplicates = self.stale = 0
        self.first_recv = self.last_recv = 0.0
        self.last_any = time.monotonic()
        self.t0 = time.time()
        self.max_by_second: dict[int, float] = {}  # worst latency per second of the step: shows periodic stalls

    # -- the hot path -------------------------------------------------------------------------------
    def on_text(self, client: WsClient, payload: bytes, now: float) -> None:
        """Account one text message."""
        try:
            message = json.loads(payload)
            kind = message["type"]
        except (ValueError, KeyError, TypeError):
            self.errors["unparseable message"] += 1
            return
        state = client.state
        if kind == "asset_update":
            self.last_any = time.monotonic()
            data = message["data"]
            if data.get("step") != self.step or self.step is None:
                self.stale += 1  # snapshots, or late arrivals from a finished step
                return
            symbol, seq = data["symbol"], data["seq"]
            last = state["last"]
            if seq <= last.get(symbol, 0):
                self.duplicates += 1
                return
            last[symbol] = seq
            counts = state["counts"]
            counts[symbol] = counts.get(symbol, 0) + 1
            latency_ms = (now - data["sent_at"]) * 1000.0
            if state["slow"]:
                self.received_slow += 1
                self.slow_hist.add(latency_ms)
            else:
                self.received += 1
                self.hist.add(latency_ms)
                second = int(data["sent_at"] - self.t0)
                if latency_ms > self.max_by_second.get(second, 0.0):
                    self.max_by_second[second] = latency_ms
            if not self.first_recv:
                self.first_recv = now
            self.last_recv = now
            return
        if kind == "error":
            self.server_errors[str((message.get("data") or {}).get("code"))] += 1
        state["seen"].add(kind)
        waiter = state["waiters"].pop(kind, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(message)

    # -- connecting ---------------------------------------------------------------------------------
    async def _expect(self, client: WsClient, kind: str, timeout: float) -> None:
        state = client.state
        if kind in state["seen"]:
            return
        waiter = asyncio.get_running_loop().create_future()
        state["waiters"][kind] = waiter
        done, _ = await asyncio.wait([waiter, client.closed], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            code = client.closed.result() if client.closed.done() else None
            raise ConnectionError(f"no {kind!r} message" + (f" (closed {code})" if code else " (timeout)"))

    async def _connect_one(self, where: tuple[str, int, str], token: str, index: int, *, symbols: list[str],
                           slow: bool, gate: asyncio.Semaphore) -> WsClient | None:
        host, port, path = where
        async with gate:
            for attempt in range(3):
                state: dict[str, Any] = {"seen": set(), "waiters": {}, "last": {}, "counts": {}, "slow": slow,
                                         "symbols": symbols}
                client = None
                try:
                    client = await open_client(host, port, path, token, self.on_text, tag=index, state=state,
                                               rcvbuf=SLOW_RCVBUF if slow else None)
                    await self._expect(client, "connection", 15)
                    client.send_json({"type": "subscribe_asset", "data": {"symbols": symbols}})
                    await self._expect(client, "subscribed", 15)
                    client.closed.add_done_callback(lambda fut: self.closes.update([fut.result()]))
                    return client
                except (TimeoutError, OSError) as exc:
                    self.errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                    if client is not None:
                        client.abort()
                    await asyncio.sleep(0.2 * (attempt + 1))
        return None

    async def connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Open `count` clients, each subscribed to its symbols."""
        parts = urlsplit(cmd["url"])
        host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
        names = symbol_names(cmd["symbols"])
        tokens: list[str] = cmd["tokens"]
        slow_every = int(cmd.get("slow_every") or 0)
        gate = asyncio.Semaphore(int(cmd.get("concurrency", 100)))
        started = time.monotonic()
        jobs = []
        for index in range(cmd["start"], cmd["start"] + cmd["count"]):
            slow = bool(slow_every) and index % slow_every == slow_every - 1
            symbols = client_symbols(index, names, cmd["per_client"], cmd["seed"])
            jobs.append(self._connect_one((host, port, path), tokens[index % len(tokens)], index, symbols=symbols,
                                          slow=slow, gate=gate))
        opened = [client for client in await asyncio.gather(*jobs) if client is not None]
        self.clients.extend(opened)
        return {"connected": len(opened), "failed": len(jobs) - len(opened), "total": len(self.live()),
                "seconds": round(time.monotonic() - started, 2), "errors": dict(self.errors.most_common(5))}

    def live(self) -> list[WsClient]:
        """Clients whose connection is still open."""
        return [client for client in self.clients if not client.closed.done()]

    async def close(self, keep: int) -> dict[str, Any]:
        """Close every client after the first `keep`, cleanly, then abort stragglers."""
        leaving, self.clients = self.clients[keep:], self.clients[:keep]
        for client in leaving:
            client.close()
        if leaving:
            await asyncio.wait([client.closed for client in leaving], timeout=5)
        for client in leaving:
            client.abort()
        return {"closed": len(leaving), "total": len(self.live())}

    # -- steps --------------------------------------------------------------------------------------
    def step_begin(self, step: int) -> dict[str, Any]:
        """Start counting messages tagged with `step`."""
        for client in self.clients:
            client.state["counts"] = {}
        self._reset_step()
        self.step = step
        self.cpu0 = sum(os.times()[:2])
        self.wall0 = time.monotonic()
        return {"step": step}

    def _expected(self, ranges: dict[str, list[int]], slow: bool) -> int:
        total = 0
        for client in self.clients:
            if client.state["slow"] == slow:
                for symbol in client.state["symbols"]:
                    span = ranges.get(symbol)
                    if span:
                        total += span[1] - span[0] + 1
        return total

    async def step_end(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Wait for stragglers (bounded), then report the step's counts and latencies."""
        ranges: dict[str, list[int]] = cmd["ranges"]
        expected = self._expected(ranges, slow=False)
        deadline = time.monotonic() + float(cmd.get("drain", 5.0))
        while self.received < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        lost = conflated = lost_slow = conflated_slow = 0
        for client in self.clients:
            state = client.state
            for symbol in state["symbols"]:
                span = ranges.get(symbol)
                if not span:
                    continue
                got = state["counts"].get(symbol, 0)
                missing = span[1] - span[0] + 1 - got
                if missing <= 0:
                    continue
                tail = span[1] - max(state["last"].get(symbol, 0), span[0] - 1)
                if state["slow"]:
                    lost_slow += tail
                    conflated_slow += missing - tail
                else:
                    lost += tail
                    conflated += missing - tail
        wall = time.monotonic() - self.wall0
        report = {
            "step": self.step, "expected": expected, "received": self.received, "lost": lost,
            "conflated": conflated, "duplicates": self.duplicates,
            "received_slow": self.received_slow, "expected_slow": self._expected(ranges, slow=True),
            "lost_slow": lost_slow, "conflated_slow": conflated_slow,
            "first_recv": self.first_recv, "last_recv": self.last_recv,
            "hist": self.hist.to_json(), "slow_hist": self.slow_hist.to_json(),
            "load_cpu": round((sum(os.times()[:2]) - self.cpu0) / wall, 3) if wall > 0 else None,
            "live": len(self.live()), "closes": {str(k): v for k, v in self.closes.items()},
            "server_errors": dict(self.server_errors),
            "max_by_second": {str(k): round(v, 1) for k, v in sorted(self.max_by_second.items())},
        }
        self.step = None
        # Let the server finish a backlog before the next step starts (bounded).
        quiet_until = time.monotonic() + float(cmd.get("settle", 10.0))
        while time.monotonic() - self.last_any < 0.5 and time.monotonic() < quiet_until:
            await asyncio.sleep(0.05)
        return report

    def pause_slow(self) -> dict[str, Any]:
        """Slow clients stop reading from now on."""
        paused = 0
        for client in self.clients:
            if client.state["slow"] and client.transport is not None and not client.transport.is_closing():
                client.transport.pause_reading()
                paused += 1
        return {"paused": paused}

    async def keepalive(self, every: float) -> None:
        """An app-level ping from each client every `every` seconds, spread out (servers time out idle sockets)."""
        while True:
            clients = list(self.clients)
            pause = every / max(1, len(clients))
            for client in clients:
                if not client.closed.done() and not client.state["slow"]:
                    client.send_json({"type": "ping", "data": {}})
                await asyncio.sleep(pause)
            if not clients:
                await asyncio.sleep(every)


async def dispatch(load: Load, cmd: dict[str, Any]) -> dict[str, Any]:
    """Run one command."""
    handlers: dict[str, Any] = {
        "connect": lambda: load.connect(cmd),
        "close": lambda: load.close(int(cmd.get("keep", 0))),
        "pause_slow": load.pause_slow,
        "step_begin": lambda: load.step_begin(int(cmd["step"])),
        "step_end": lambda: load.step_end(cmd),
        "status": lambda: {"total": len(load.live()), "closes": dict(load.closes), "errors": dict(load.errors)},
    }
    handler = handlers.get(cmd.get("cmd", ""))
    if handler is None:
        return {"error": f"unknown command {cmd.get('cmd')!r}"}
    reply = handler()
    return await reply if asyncio.iscoroutine(reply) else reply  # type: ignore[no-any-return]


async def serve(stdin_timeout: float) -> None:
    """Read commands until `quit`, EOF, or no command for `stdin_timeout` seconds."""
    load = Load()
    loop = asyncio.get_running_loop()
    pinger = asyncio.create_task(load.keepalive(float(os.environ.get("BENCH_PING_EVERY", "60"))))
    print(json.dumps({"ready": True, "nofile": raise_nofile(), "pid": os.getpid(),
                      "loop": type(loop).__module__}), flush=True)
    try:
        while True:
            line = await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), stdin_timeout)
            if not line:
                break
            cmd = json.loads(line)
            if cmd.get("cmd") == "quit":
                break
            try:
                reply = await dispatch(load, cmd)
            except Exception as exc:  # report to the driver instead of dying silently
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(reply), flush=True)
    finally:
        pinger.cancel()
        for client in load.clients:
            client.abort()


def main() -> None:
    """Entry point of `python -m bench.load` (uvloop when importable: it halves the per-message cost)."""
    if os.environ.get("BENCH_UVLOOP", "1") == "1":
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
    asyncio.run(serve(float(os.environ.get("BENCH_LOAD_IDLE_TIMEOUT", "900"))))
    os._exit(0)  # the stdin reader thread may still be blocked


if __name__ == "__main__":
    main()
