"""`python -m bench.run --quick|--full [--only fanout,memory,slow,feed] [--json-out PATH]` (make bench[-quick]).

Real Redis and PostgreSQL on 127.0.0.1, real gunicorn+gevent, the peers side by side; every child process is
stopped in `finally`, and a watchdog alarm bounds the whole run. The last stdout line is the headline JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis

from bench import servers
from bench.fanout import Plan, Target, run_target
from bench.load import raise_nofile
from bench.setup_db import create_database, drop_database, issue_tokens
from bench.summary import headline

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PEER_REDIS_URL = os.environ.get("BENCH_PEER_REDIS_URL", "redis://127.0.0.1:6379/3")  # the reference's default db
RATES = [5_000, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000, 50_000, 60_000, 80_000]
CHANNELS_RATES = [250, 500, 1_000, 2_000, 3_000, 5_000, 7_500, 10_000, 15_000, 20_000]

PLANS = {
    "quick": Plan(big_clients=1000, clients=[1000], rates=[10_000, 20_000, 30_000], step_seconds=2.0,
                  drain_seconds=2.0, warmup_seconds=0, slow_steps=1, fill_seconds=12.0, slow_repeats=3,
                  slow_ramp=False),
    "full": Plan(big_clients=5000, clients=[5000, 1000], rates=RATES, step_seconds=5.0, drain_seconds=5.0,
                 fill_seconds=40.0),
}
TARGETS = {"quick": ["ours-1w", "bare"], "full": ["ours-1w", "ours-2w", "ours-2h", "bare", "channels"]}
WATCHDOG_S = {"quick": 300, "full": 5400}
QUIET_BUSY = 0.15  # fraction of all cores
QUIET_WAIT_S = {"quick": 0.0, "full": 180.0}


def say(text: str) -> None:
    """Progress on stderr (stdout's last line is the headline JSON)."""
    print(text, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")

    def out(*args: str) -> str:
        try:
            return subprocess.run(args, check=False, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    dirty = out("git", "-C", str(ROOT), "status", "--porcelain", "--", "app", "models", "tasks", "wsgi.py")
    return {"commit": out("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"),
            "relay_code_dirty": bool(dirty), "nproc": os.cpu_count(), "cpu": cpu,
            "memory": out("free", "-h").splitlines()[1:2],
            "python": platform.python_version(), "kernel": platform.release(),
            "redis": redis.Redis.from_url(REDIS_URL).info("server").get("redis_version"),
            "postgres": out("psql", "--version"), "nofile": raise_nofile(), "loadavg": os.getloadavg()}


def background_busy(seconds: float = 1.0) -> float:
    """Fraction of all cores busy while none of ours run: other work on a shared machine."""
    first = servers.machine_cpu()
    time.sleep(seconds)
    second = servers.machine_cpu()
    return round((second[0] - first[0]) / max(1.0, second[1] - first[1]), 2)


def wait_for_quiet(limit: float) -> float:
    """Wait (at most `limit` s) until other work leaves the machine mostly idle; the last reading."""
    deadline = time.monotonic() + limit
    busy = background_busy()
    while busy > QUIET_BUSY and time.monotonic() < deadline:
        say(f"the machine is {busy:.0%} busy with other work: waiting for it to calm down")
        busy = background_busy(5.0)
    return busy


def make_targets(names: list[str], env: dict[str, str], tokens: list[str], run_id: str) -> list[Target]:
    """Targets with their own bus prefix each (no cross-talk between runs or engineers)."""
    made = []
    for name in names:
        kind, _, workers = name.partition("-")
        peer_env = {**env, "REDIS_KEY_PREFIX": f"{run_id}-{name}", "BENCH_STATIC_TOKEN": servers.STATIC_TOKEN}
        if kind == "ours" and workers.endswith("h"):  # ours-2h: two web processes behind nginx
            made.append(Target(name, "ours", 1, peer_env, tokens, hosts=int(workers.rstrip("h"))))
        elif kind == "ours":
            made.append(Target(name, "ours", int(workers.rstrip("w")), peer_env, tokens))
        elif kind in ("bare", "channels"):
            made.append(Target(name, kind, 1, peer_env, [servers.STATIC_TOKEN]))
        else:
            raise SystemExit(f"unknown target {name!r}; known: ours-1w, ours-2w, ours-2h, bare, channels")
    return made


def cleanup_redis(run_id: str) -> None:
    """Drop what this run left in Redis: its prefixed keys and the peer's bench groups."""
    try:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{run_id}*", count=1000):
            client.delete(key)
        peer = redis.Redis.from_url(PEER_REDIS_URL)
        for key in peer.scan_iter("asgi:group:asset_BN*", count=1000):
            peer.delete(key)
    except redis.RedisError as exc:
        say(f"redis cleanup skipped: {exc}")


def parse() -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true", help="1,000 clients, ours and the bare relay, < 1 minute")
    mode.add_argument("--full", action="store_true", help="1,000 and 5,000 clients, all servers, the feed")
    parser.add_argument("--only", default="", help="comma-separated subset of fanout,memory,slow,feed")
    parser.add_argument("--targets", default="", help="comma-separated subset of ours-1w,ours-2w,ours-2h,bare,channels "
                                                        "(ours-2h: two web processes behind nginx)")
    parser.add_argument("--load-procs", type=int, default=1, help="load generator processes")
    parser.add_argument("--json-out", default=str(RESULTS / "latest.json"))
    return parser.parse_args()


def run_servers(targets: list[Target], plan: Plan, mode: str, log_dir: Path, report: dict[str, Any]) -> None:
    """Each server in turn, alone on the machine (apart from whatever else runs on it)."""
    for target in targets:
        rates = CHANNELS_RATES if target.kind == "channels" else plan.rates
        if mode == "quick" and target.kind == "channels":
            rates = CHANNELS_RATES[:4]
        busy = wait_for_quiet(QUIET_WAIT_S[mode])
        if busy > QUIET_BUSY:
            say(f"warning: the machine is {busy:.0%} busy with other work; figures will be noisy")
        # bench-quick keeps under a minute: the slow-consumer scenario runs against our relay only.
        slow = plan.slow and (mode == "full" or target.kind == "ours")
        result = run_target(target, replace(plan, rates=rates, slow=slow), log_dir, say)
        result["background_busy"] = busy
        report["results"][target.name] = result


def _on_signal(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:  # noqa: PLR0915 - one linear script
    """Run the benchmark; returns the exit code."""
    args = parse()
    mode = "quick" if args.quick else "full"
    only = {part.strip() for part in args.only.split(",") if part.strip()} or {"fanout", "memory", "slow", "feed"}
    names = [n.strip() for n in args.targets.split(",") if n.strip()] or TARGETS[mode]
    plan = replace(PLANS[mode], load_procs=args.load_procs, slow="slow" in only)
    if "fanout" not in only and "slow" not in only:
        plan = replace(plan, clients=[])
    if only & {"fanout", "memory", "slow"}:
        servers.ensure_peer_venv(say)  # the Channels peer, and uvloop for the load generator
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
        signal.signal(sig, _on_signal)
    signal.alarm(WATCHDOG_S[mode])
    started = time.time()
    run_id = f"bench{os.getpid()}"
    log_dir = RESULTS / "logs" / time.strftime("%Y%m%d-%H%M%S")
    log_dir.mkdir(parents=True, exist_ok=True)
    base_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    base_env.update(REDIS_URL=REDIS_URL, PEER_REDIS_URL=PEER_REDIS_URL, SECRET_KEY="bench-secret",
                    LOG_LEVEL="WARNING", MARKET_DATA_SOURCE_PRIORITIES="simulated:1")
    report: dict[str, Any] = {"mode": mode, "machine": machine(), "plan": plan.__dict__, "results": {}}
    db_url = None
    code = 0
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        wanted_targets = bool(only & {"fanout", "memory", "slow"})
        if wanted_targets or "feed" in only:
            db_url = create_database(base_env)
            base_env["DATABASE_URL"] = db_url
        if wanted_targets:
            tokens = issue_tokens(db_url, plan.big_clients)  # type: ignore[arg-type]
            run_servers(make_targets(names, base_env, tokens, run_id), plan, mode, log_dir, report)
        if "feed" in only and mode == "full":
            from bench.feed_bench import run_feed

            report["feed"] = run_feed(base_env, log_dir, say)
    except (KeyboardInterrupt, redis.RedisError, OSError, RuntimeError, subprocess.SubprocessError) as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        say(f"benchmark stopped: {report['error']}")
        code = 1
    finally:
        signal.alarm(0)
        servers.stop_all()
        cleanup_redis(run_id)
        if db_url:
            drop_database(db_url)
    counts = sorted({row["clients"] for r in report["results"].values() for rows in r.get("fanout", {}).values()
                     for row in rows}) or [plan.big_clients]
    report["headline"] = {str(n): headline(report["results"], n, report.get("feed")) for n in counts}
    report["seconds"] = round(time.time() - started, 1)
    out = Path(args.json_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str))
    say(f"full results: {out} (logs: {log_dir}); {report['seconds']} s")
    line = {"mode": mode, "seconds": report["seconds"], **report["headline"].get("1000", {})}
    if mode == "full":
        line["at_5000"] = report["headline"].get("5000")
    print(json.dumps(line, default=str), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
