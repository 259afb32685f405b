"""Fan-out, memory and slow-consumer scenarios against one server (ours, the bare relay or the Channels peer).

Over 300 lines: the scenarios share their setup and measurement helpers, and reading them side by side is
how the figures of docs/performance.md are checked; split, each would import the others' internals.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.servers import (
    MAIN_BIN,
    PEER_BIN,
    Proc,
    machine_cpu,
    send_backlog,
    start_json_child,
    start_server,
    tree_cpu_seconds,
    tree_rss_kib,
)
from bench.stats import Histogram

SYMBOLS = 100
PER_CLIENT = 10
SLOW_EVERY = 20  # 5% of clients stop reading in the slow-consumer scenario
P99_LIMIT_MS = 100.0
STRICT_P99_MS = 50.0
CONTENDED_CORES = 0.35  # other work on the machine above this during a step: the step is measured again


@dataclass
class Plan:
    """What one run measures."""

    big_clients: int  # memory (and fan-out) at this many connections
    clients: list[int]  # fan-out client counts, largest first
    rates: list[int]  # offered delivered messages/s, rising
    step_seconds: float
    drain_seconds: float
    slow: bool = True
    load_procs: int = 1
    warmup_seconds: float = 1.0
    slow_steps: int = 0  # slow-consumer ramp: only the highest this many passing rates (0: all)
    fill_seconds: float = 10.0  # slow-consumer scenario: traffic before measuring, so stalled buffers are full
    slow_repeats: int = 3  # slow-consumer pairs: this many steps at one rate without, then with stalled readers
    slow_ramp: bool = True  # also the whole ramp again with stalled readers
    slow_pair_rate: int = 20_000  # the pairs' rate (the issue's operating point), or the highest rate held below it
    peer_load: bool = True  # run the load processes on bench/.venv-peer's Python (uvloop)


@dataclass
class Target:
    """A server under test and how to publish to it."""

    name: str
    kind: str  # ours | bare | channels
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    hosts: int = 1  # >1: that many web processes (one worker each) behind the shipped nginx site

    @property
    def sink(self) -> str:
        """Which publish path reaches this server."""
        return "channels" if self.kind == "channels" else "bus"


def passed(row: dict[str, Any], limit_ms: float = P99_LIMIT_MS) -> bool:
    """A step counts when its p99 is under `limit_ms` and no fast client missed a message."""
    p99 = row.get("p99_ms")
    return p99 is not None and p99 < limit_ms and row["lost"] == 0 and row["conflated"] == 0


def best(rows: list[dict[str, Any]], limit_ms: float = P99_LIMIT_MS, held: bool = True) -> dict[str, Any] | None:
    """The passing step with the highest delivered rate; `held`: only steps before the first failing one.

    A rate is "held" when it and every lower rate passed: a pass after a failure is luck (a pause that
    fell between two windows), not capacity.
    """
    good = []
    for row in rows:
        if passed(row, limit_ms):
            good.append(row)
        elif held:
            break
    return max(good, key=lambda row: row["delivered_per_s"]) if good else None


class Session:
    """One server, its publisher and load processes; scenarios run in order, then stop() ends them all."""

    def __init__(self, target: Target, plan: Plan, log_dir: Path, say: Callable[[str], None]) -> None:
        self.target, self.plan, self.log_dir, self.say = target, plan, log_dir, say
        self.server: Proc | None = None
        self.publisher: Proc | None = None
        self.loads: list[Proc] = []
        self.step_id = 0
        self.per_proc: list[int] = []
        self.redis_pids = redis_pids()

    def start(self) -> None:
        """Server, publisher, load processes."""
        t = self.target
        self.server = start_server(t.kind, t.env, self.log_dir, t.workers, hosts=t.hosts)
        python = PEER_BIN / "python" if t.sink == "channels" else MAIN_BIN / "python"
        self.publisher = start_json_child(f"publisher-{t.name}", [str(python), "-m", "bench.publisher", "--sink",
                                                                  t.sink, "--symbols", str(SYMBOLS)],
                                          t.env, self.log_dir)
        peer = self.plan.peer_load and (PEER_BIN / "python").exists()
        load_python = PEER_BIN / "python" if peer else MAIN_BIN / "python"
        self.loads = [start_json_child(f"load{i}-{t.name}", [str(load_python), "-m", "bench.load"],
                                       t.env, self.log_dir) for i in range(self.plan.load_procs)]
        self.per_proc = [0] * len(self.loads)

    def stop(self) -> None:
        """Everything this session started."""
        for proc in [*self.loads, self.publisher, self.server]:
            if proc is not None:
                proc.stop(timeout=5)

    @property
    def url(self) -> str:
        """The server's WebSocket URL."""
        assert self.server is not None and self.server.port is not None
        return f"ws://127.0.0.1:{self.server.port}/ws/realtime/"

    def rss_kib(self) -> int:
        """Server tree RSS."""
        assert self.server is not None
        return tree_rss_kib(self.server.pid)

    def _shares(self, total: int) -> list[int]:
        count = len(self.loads)
        return [total // count + (1 if i < total % count else 0) for i in range(count)]

    def connect_to(self, total: int) -> dict[str, Any]:
        """Grow to `total` connections, split evenly over the load processes (each its own index block)."""
        block = -(-self.plan.big_clients // len(self.loads))
        asked = []
        for i, (load, want) in enumerate(zip(self.loads, self._shares(total), strict=True)):
            missing = want - self.per_proc[i]
            if missing > 0:
                load.send({"cmd": "connect", "url": self.url, "tokens": self.target.tokens, "count": missing,
                           "start": i * block + self.per_proc[i], "symbols": SYMBOLS, "per_client": PER_CLIENT,
                           "slow_every": SLOW_EVERY if self.plan.slow else 0, "seed": 7, "concurrency": 50})
                asked.append(load)
            self.per_proc[i] = max(want, self.per_proc[i])
        answers = []
        for load in asked:
            answer = load.read_json(timeout=600)
            if "error" in answer:
                raise RuntimeError(answer["error"])
            answers.append(answer)
        live = sum(load.call({"cmd": "status"})["total"] for load in self.loads)
        errors: dict[str, int] = _merge_counts(answer.get("errors", {}) for answer in answers)
        return {"requested": total, "live": live, "failed": sum(a["failed"] for a in answers), "errors": errors,
                "seconds": max((a["seconds"] for a in answers), default=0.0)}

    def wait_quiet(self, limit: float = 20.0) -> float:
        """Wait (bounded) until the server stops working through connects/closes; returns the seconds waited."""
        assert self.server is not None
        started = time.monotonic()
        while time.monotonic() - started < limit:
            before = tree_cpu_seconds(self.server.pid)
            time.sleep(0.5)
            if tree_cpu_seconds(self.server.pid) - before < 0.1:  # under 20% of a core
                break
        return round(time.monotonic() - started, 1)

    def shrink_to(self, total: int) -> None:
        """Close clients so that `total` remain."""
        for i, (load, share) in enumerate(zip(self.loads, self._shares(total), strict=True)):
            load.call({"cmd": "close", "keep": share}, timeout=60)
            self.per_proc[i] = share
        self.say(f"  {self.target.name:<10} closed down to {total}; server quiet after {self.wait_quiet()} s")

    def step(self, delivered_rate: float, clients: int, label: str, seconds: float | None = None) -> dict[str, Any]:
        """One measured step; repeated (up to twice) when other work on the machine took a core's third."""
        row = self._step(delivered_rate, clients, label, seconds)
        tries = [row]
        while row["other_cpu"] > CONTENDED_CORES and len(tries) < 3 and label not in ("fill", "warmup"):
            self.say(f"  {self.target.name:<10} step contended by other work ({row['other_cpu']} cores): again")
            again = self._step(delivered_rate, clients, label, seconds)
            tries.append(again)
            row = again if again["other_cpu"] < row["other_cpu"] else row  # the least disturbed, not the best
        row["tries"], row["contended"] = len(tries), row["other_cpu"] > CONTENDED_CORES
        row["all_tries"] = [{"p99_ms": t["p99_ms"], "other_cpu": t["other_cpu"], "lost": t["lost"]} for t in tries]
        return row

    def _step(self, delivered_rate: float, clients: int, label: str, seconds: float | None = None) -> dict[str, Any]:
        """Publish at the rate that offers `delivered_rate` messages/s to `clients` clients; measure."""
        assert self.publisher is not None and self.server is not None
        self.step_id += 1
        publish_rate = delivered_rate * SYMBOLS / (clients * PER_CLIENT)
        for load in self.loads:
            load.call({"cmd": "step_begin", "step": self.step_id})
        ours = [self.server.pid, self.publisher.pid, *(load.pid for load in self.loads), *self.redis_pids]
        cpu0, wall0, machine0 = tree_cpu_seconds(self.server.pid), time.monotonic(), machine_cpu()
        ours0 = sum(tree_cpu_seconds(pid) for pid in ours)
        pub = self.publisher.call({"cmd": "run", "step": self.step_id, "rate": publish_rate,
                                   "duration": seconds or self.plan.step_seconds},
                                  timeout=(seconds or self.plan.step_seconds) * 3 + 30)
        wall = time.monotonic() - wall0
        server_cpu = (tree_cpu_seconds(self.server.pid) - cpu0) / wall
        ours_cpu = (sum(tree_cpu_seconds(pid) for pid in ours) - ours0) / wall
        machine1 = machine_cpu()
        machine_busy = (machine1[0] - machine0[0]) / max(1.0, machine1[1] - machine0[1])
        other_cpu = max(0.0, machine_busy * (os.cpu_count() or 1) - ours_cpu)  # cores used by work not ours
        for load in self.loads:
            load.send({"cmd": "step_end", "ranges": pub["ranges"], "drain": self.plan.drain_seconds, "settle": 10})
        parts = [load.read_json(timeout=self.plan.drain_seconds + 60) for load in self.loads]
        for part in parts:
            if "error" in part:
                raise RuntimeError(part["error"])
        hist = Histogram.merged(part["hist"] for part in parts)
        slow_hist = Histogram.merged(part["slow_hist"] for part in parts)
        total = {key: sum(part[key] for part in parts) for key in (
            "expected", "received", "lost", "conflated", "duplicates", "received_slow", "expected_slow",
            "lost_slow", "conflated_slow", "live")}
        last = max((part["last_recv"] for part in parts), default=0.0) or pub["t1"]
        span = max(seconds or self.plan.step_seconds, last - pub["t0"])
        row = {
            "label": label, "clients": clients, "offered_per_s": delivered_rate,
            "publish_per_s": round(publish_rate, 1), "publish_achieved_per_s": pub["rate_achieved"],
            "delivered_per_s": round((total["received"] + total["received_slow"]) / span),
            **total, **hist.summary(),
            "slow_p99_ms": slow_hist.summary()["p99_ms"],
            "server_cpu": round(server_cpu, 2), "machine_busy": round(machine_busy, 2),
            "other_cpu": round(other_cpu, 2),
            "load_cpu": [part["load_cpu"] for part in parts],
            "closes": _merge_counts(part["closes"] for part in parts),
            "server_errors": _merge_counts(part["server_errors"] for part in parts),
            "max_by_second": _max_by_second(part.get("max_by_second", {}) for part in parts),
        }
        row["server_send_backlog"] = send_backlog(self.server.port or 0)
        row["ok"] = passed(row)
        self.say(f"  {self.target.name:<10} {label:<9} {clients:>5} clients  offered {delivered_rate:>6.0f}/s  "
                 f"delivered {row['delivered_per_s']:>6}/s  p50 {row['p50_ms']}  p99 {row['p99_ms']}  "
                 f"max {row['max_ms']} ms  lost {row['lost']}  conflated {row['conflated']}  "
                 f"cpu server {row['server_cpu']} load {row['load_cpu']} machine {row['machine_busy']} "
                 f"others {row['other_cpu']} "
                 f"live {row['live']} closes {row['closes']}")
        return row

    def fill(self, clients: int, rate: float) -> dict[str, Any]:
        """Unmeasured traffic until the stalled readers' buffers (theirs, then the server's kernel ones) are full.

        Until then the server has not noticed them: measuring earlier would test nothing. Bounded by fill_seconds.
        """
        assert self.server is not None
        stalled = clients // SLOW_EVERY
        started, steps = time.monotonic(), 0
        backlog = send_backlog(self.server.port or 0)
        while time.monotonic() - started < self.plan.fill_seconds:
            self.step(rate, clients, "fill", 2.0)
            steps += 1
            backlog = send_backlog(self.server.port or 0)
            if backlog.get("over_32k", 0) >= 0.9 * stalled or backlog.get("sockets", clients) <= clients - stalled:
                break  # the stalled sockets are full, or the server already dropped them
        info = {"seconds": round(time.monotonic() - started, 1), "steps": steps, "stalled_clients": stalled,
                "server_send_backlog": backlog}
        self.say(f"  {self.target.name:<10} fill: {info}")
        return info

    def ramp(self, clients: int, rates: list[int], label: str) -> list[dict[str, Any]]:
        """Rising rates until the server saturates, or (once it passed) two steps in a row fail.

        Saturated: p99 above max(1 s, 3x the first step's), or more than 5% lost. A server that never
        passes (the Channels peer) keeps going until it saturates, so its
        operating points can be compared with ours at equal p99.
        """
        rows: list[dict[str, Any]] = []
        failures, ever_passed = 0, False
        for rate in rates:
            row = self.step(rate, clients, label)
            rows.append(row)
            ever_passed = ever_passed or row["ok"]
            failures = 0 if row["ok"] else failures + 1
            ceiling = max(1000.0, 3 * (rows[0]["p99_ms"] or 0))
            saturated = (row["p99_ms"] or 1e9) > ceiling or row["lost"] > 0.05 * max(1, row["expected"])
            if saturated or (ever_passed and failures >= 2):
                break
        return rows


def redis_pids() -> list[int]:
    """The Redis server's pid (its CPU is part of every relay's cost here), if it says."""
    try:
        import redis

        return [int(redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
                    .info("server")["process_id"])]
    except Exception:  # no Redis client or no answer: just leave Redis out of the accounting
        return []


def _max_by_second(parts: Any) -> list[float]:
    """Worst latency in each second of the step (by publish time), over all load processes."""
    merged: dict[int, float] = {}
    for part in parts:
        for key, value in part.items():
            merged[int(key)] = max(merged.get(int(key), 0.0), value)
    return [merged[k] for k in sorted(merged)]


def _merge_counts(parts: Any) -> dict[str, int]:
    merged: dict[str, int] = {}
    for part in parts:
        for key, n in part.items():
            merged[key] = merged.get(key, 0) + n
    return merged


def run_target(target: Target, plan: Plan, log_dir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Memory at plan.big_clients, fan-out ramps at each client count, then the slow-consumer ramp."""
    session = Session(target, plan, log_dir, say)
    result: dict[str, Any] = {"name": target.name, "kind": target.kind, "workers": target.workers}
    try:
        session.start()
        say(f"{target.name}: server {session.url}")
        first = session.connect_to(100)
        if not first["live"]:
            raise RuntimeError(f"no client could connect and subscribe: {first['errors']}")
        time.sleep(0.5)
        rss_base = session.rss_kib()
        grown = session.connect_to(plan.big_clients)
        session.wait_quiet()
        time.sleep(1.0)
        rss_full = session.rss_kib()
        live = (grown["live"] or plan.big_clients)
        result["connect"] = {"first_100": first, "to_big": grown}
        result["memory"] = {
            "connections": live, "rss_kib_100": rss_base, "rss_kib_full": rss_full,
            "kib_per_idle_connection": round((rss_full - rss_base) / max(1, live - 100), 2),
        }
        say(f"{target.name}: {live} idle connections, RSS {rss_base / 1024:.1f} -> {rss_full / 1024:.1f} MiB, "
            f"{result['memory']['kib_per_idle_connection']} KiB per connection")
        result["fanout"] = {}
        for count in plan.clients:
            if count < plan.big_clients:
                session.shrink_to(count)
            if plan.warmup_seconds:
                session.step(plan.rates[0], count, "warmup", plan.warmup_seconds)
            result["fanout"][str(count)] = session.ramp(count, plan.rates, "fanout")
        if plan.slow:
            count = plan.clients[-1]
            baseline = result["fanout"][str(count)]
            rates = [row["offered_per_s"] for row in baseline if row["ok"]] or plan.rates[:2]
            # Paired at one rate, minutes apart at most: a p99 moves by tens of % between identical 5 s steps here.
            pair_rate = max([r for r in rates if r <= plan.slow_pair_rate] or [min(rates)])
            rates = rates[-plan.slow_steps:] if plan.slow_steps else rates
            result["slow_pairs"] = {"offered_per_s": pair_rate, "without": [
                session.step(pair_rate, count, "pair-base") for _ in range(plan.slow_repeats)]}
            for load in session.loads:
                load.call({"cmd": "pause_slow"})
            result["slow_fill"] = session.fill(count, max(rates))
            result["slow_pairs"]["with"] = [session.step(pair_rate, count, "pair-slow")
                                            for _ in range(plan.slow_repeats)]
            if plan.slow_ramp:
                result["slow"] = session.ramp(count, [int(r) for r in rates], "slow")
        result["rss_kib_end"] = session.rss_kib()
    except Exception as exc:  # one failing server must not lose the others' figures
        result["error"] = f"{type(exc).__name__}: {exc}"[:4000]
        say(f"{target.name}: FAILED {result['error'][:600]}")
    finally:
        session.stop()
    return result
