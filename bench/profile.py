"""Profile a relay under fan-out load with py-spy (from bench/.venv-peer; it attaches to any Python process).

`python -m bench.profile [--target ours-1w|bare] [--clients 1000] [--rate 20000] [--seconds 10]`
writes the collapsed stacks to bench/results/profiles/<target>-<rate>.txt and prints the functions with the
most samples, by own time and by inclusive time. `--storm` profiles a reconnect storm of `--clients` instead
(bench/reconnect.py; bench/results/profiles/storm-<clients>.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from bench import servers
from bench.fanout import Session
from bench.load import raise_nofile
from bench.run import PLANS, REDIS_URL, cleanup_redis, make_targets, say
from bench.setup_db import create_database, drop_database, issue_tokens

PROFILES = Path(__file__).resolve().parent / "results" / "profiles"


def summarise(collapsed: Path, top: int = 25) -> str:
    """Top frames by own and inclusive samples from py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [frame.split(" (")[0] + " (" + frame.rsplit("/", 1)[-1] if " (" in frame else frame
                  for frame in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "inclusive time:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines)


def _record(peer_bin: Path, pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy recording `pid` for `seconds` into `out` (raw collapsed stacks), started in the background."""
    return subprocess.Popen([str(peer_bin / "py-spy"), "record", "--pid", str(pid), "--rate", "200",
                             "--duration", str(int(seconds)), "--format", "raw", "--output", str(out),
                             "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def _summarise_to(out: Path) -> int:
    if not out.exists():
        print("py-spy wrote nothing (ptrace not permitted?)", file=sys.stderr)
        return 1
    summary = summarise(out)
    out.with_suffix(".summary.txt").write_text(summary + "\n")
    print(summary)
    return 0


def profile_storm(peer_bin: Path, clients: int, seconds: float) -> int:
    """A reconnect storm of `clients` against a fresh worker, recorded by py-spy from just before it starts."""
    from bench.load import symbol_names
    from bench.reconnect import SYMBOLS, seed_quotes, storm_once

    PROFILES.mkdir(parents=True, exist_ok=True)
    log_dir = PROFILES / "logs"
    log_dir.mkdir(exist_ok=True)
    run_id = f"bench{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(REDIS_URL=REDIS_URL, SECRET_KEY="bench-secret", LOG_LEVEL="WARNING", REDIS_KEY_PREFIX=run_id)
    db_url = create_database(env)
    env["DATABASE_URL"] = db_url
    out = PROFILES / f"storm-{clients}.txt"
    spies: list[subprocess.Popen[bytes]] = []
    try:
        seed_quotes(db_url, symbol_names(SYMBOLS))
        tokens_file = log_dir / "storm-tokens.json"
        tokens_file.write_text(json.dumps(issue_tokens(db_url, clients)))
        result = storm_once(env, tokens_file, clients, log_dir,
                            started=lambda pid: spies.append(_record(peer_bin, pid, seconds, out)))
        print(json.dumps({k: v for k, v in result.items() if k != "client_total_ms"}))
        for spy in spies:
            spy.wait(timeout=seconds + 30)
    finally:
        servers.stop_all()
        cleanup_redis(run_id)
        drop_database(db_url)
    return _summarise_to(out)


def main() -> int:
    """Start the target, load it, record one step with py-spy, summarise."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="ours-1w", choices=["ours-1w", "bare"])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=20_000, help="offered delivered messages/s")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--storm", action="store_true", help="profile a reconnect storm of --clients instead")
    args = parser.parse_args()
    raise_nofile()
    peer_bin = servers.ensure_peer_venv(say)
    if args.storm:
        return profile_storm(peer_bin, args.clients, args.seconds)
    PROFILES.mkdir(parents=True, exist_ok=True)
    log_dir = PROFILES / "logs"
    log_dir.mkdir(exist_ok=True)
    run_id = f"bench{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(REDIS_URL=REDIS_URL, SECRET_KEY="bench-secret", LOG_LEVEL="WARNING")
    db_url = create_database(env)
    env["DATABASE_URL"] = db_url
    plan = replace(PLANS["quick"], big_clients=args.clients, clients=[args.clients], slow=False,
                   step_seconds=args.seconds, drain_seconds=3.0)
    target = make_targets([args.target], env, issue_tokens(db_url, args.clients), run_id)[0]
    session = Session(target, plan, log_dir, say)
    out = PROFILES / f"{args.target}-{args.rate}.txt"
    try:
        session.start()
        session.connect_to(args.clients)
        session.step(args.rate // 2, args.clients, "warmup", 2.0)
        assert session.server is not None
        worker = max(servers.tree_pids(session.server.pid))  # the (single) gunicorn worker
        spy = _record(peer_bin, worker, args.seconds, out)
        time.sleep(0.5)
        session.step(args.rate, args.clients, "profiled")
        spy.wait(timeout=args.seconds + 30)
    finally:
        session.stop()
        servers.stop_all()
        cleanup_redis(run_id)
        drop_database(db_url)
    return _summarise_to(out)


if __name__ == "__main__":
    sys.exit(main())
