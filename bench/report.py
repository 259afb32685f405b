"""Markdown tables from a results file: `python -m bench.report bench/results/latest.json` (for docs/performance.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.fanout import P99_LIMIT_MS, STRICT_P99_MS
from bench.summary import best_rate, slow_effect, slow_pairs, vs_channels

NAMES = {"ours-1w": "Pricewire, 1 gevent worker", "ours-2w": "Pricewire, 2 gevent workers",
         "bare": "bare gevent relay", "channels": "Channels peer (daphne)"}


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        value = round(value, 1)
    return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def fanout_table(results: dict[str, Any], clients: int) -> list[str]:
    """One row per server: best rates under both p99 limits, the p99 there, and CPU per message."""
    lines = [f"| {clients:,} clients | best rate, p99 < {P99_LIMIT_MS:.0f} ms "
             f"| best rate, p99 < {STRICT_P99_MS:.0f} ms | p99 there | server CPU per message "
             "| p99 in ms at each offered rate (* = contended step) |", "|---|---|---|---|---|---|"]
    for name, result in results.items():
        rows = result.get("fanout", {}).get(str(clients), [])
        if not rows:
            continue
        rate = best_rate(result, clients)
        top = max((r for r in rows if r["ok"]), key=lambda r: r["delivered_per_s"], default=None)
        cost = sorted(r["server_cpu"] / r["delivered_per_s"] * 1e6 for r in rows
                      if r["delivered_per_s"] and not r.get("contended") and r["offered_per_s"] >= 1000)
        steps = ", ".join(f"{r['offered_per_s'] // 1000 if r['offered_per_s'] >= 1000 else r['offered_per_s']}"
                          f"{'k' if r['offered_per_s'] >= 1000 else ''}: {_fmt(r['p99_ms'])}"
                          f"{'' if not (r['lost'] or r['conflated']) else ' (lost ' + str(r['lost']) + ')'}"
                          f"{'*' if r.get('contended') else ''}" for r in rows)
        lines.append(f"| {NAMES.get(name, name)} | {_fmt(rate)} | {_fmt(best_rate(result, clients, STRICT_P99_MS))} "
                     f"| {_fmt(top['p99_ms'] if top else None, ' ms')} "
                     f"| {_fmt(round(cost[len(cost) // 2]) if cost else None, ' µs')} | {steps} |")
    return lines


def memory_table(results: dict[str, Any]) -> list[str]:
    """RSS per idle connection."""
    lines = ["| server | idle connections | RSS at 100 | RSS at all | KiB per idle connection |",
             "|---|---|---|---|---|"]
    for name, result in results.items():
        memory = result.get("memory")
        if memory:
            lines.append(f"| {NAMES.get(name, name)} | {memory['connections']:,} "
                         f"| {memory['rss_kib_100'] / 1024:.0f} MiB | {memory['rss_kib_full'] / 1024:.0f} MiB "
                         f"| {memory['kib_per_idle_connection']} |")
    return lines


def slow_table(results: dict[str, Any], clients: int = 1000) -> list[str]:
    """The reading clients' p99 with 5% stalled readers, beside the same rate without."""
    lines = ["| server | offered/s | p99 without | p99 with 5% stalled | change | lost (reading clients) |",
             "|---|---|---|---|---|---|"]
    for name, result in results.items():
        effect = slow_effect(result, clients)
        for step in (effect or {}).get("steps", []):
            lines.append(f"| {NAMES.get(name, name)} | {step['offered_per_s']:,} | {step['p99_ms']} ms "
                         f"| {step['p99_ms_with_slow']} ms | {step['increase']:+.0%} | {step['lost_with_slow']} |")
    return lines


def slow_pairs_table(results: dict[str, Any]) -> list[str]:
    """The paired steps: the same rate several times without, then with, 5% stalled readers."""
    lines = ["| server | offered/s | p99 without (each step) | p99 with 5% stalled (each step) | median change "
             "| lost (reading clients) |", "|---|---|---|---|---|---|"]
    for name, result in results.items():
        paired = slow_pairs(result)
        if paired:
            with_slow = (f"{', '.join(map(str, paired['p99_ms_with_slow']))} ms" if paired["p99_ms_with_slow"]
                         else "nothing delivered")
            change = "—" if paired["increase"] is None else f"{paired['increase']:+.0%}"
            lines.append(f"| {NAMES.get(name, name)} | {paired['offered_per_s']:,} "
                         f"| {', '.join(map(str, paired['p99_ms']))} ms | {with_slow} | {change} "
                         f"| {paired['lost_with_slow']:,} |")
    return lines if len(lines) > 2 else []


def channels_table(results: dict[str, Any], clients: int) -> list[str]:
    """Every loss-free operating point of the Channels peer beside our best rate at that p99."""
    peer = vs_channels(results.get("ours-1w"), results.get("channels"), clients)
    if not peer:
        return []
    lines = [f"| {clients:,} clients: Channels rate | its p99 | ours (1 worker) at that p99 or better | ratio |",
             "|---|---|---|---|"]
    lines += [f"| {p['channels_rate']:,} | {p['channels_p99_ms']} ms | {_fmt(p['ours_rate'])} | {_fmt(p['ratio'])} |"
              for p in peer["points"]]
    return lines


def feed_table(feed: dict[str, Any] | None) -> list[str]:
    """Cycle figures per batch size."""
    if not feed or not feed.get("cycles"):
        return []
    probe = feed.get("probe", {})
    lines = ["| batch size | cycle (5,000 symbols) | symbols/s | stored | published | SQL statements per batch "
             "| one batch (warm) |", "|---|---|---|---|---|---|---|"]
    for size, run in feed["cycles"].items():
        cycle = f"{run['cycle_s']} s" if run.get("completed") else f"incomplete ({run.get('expired_batches')} expired)"
        lines.append(f"| {size} | {cycle} | {_fmt(run.get('symbols_per_s'))} | {run.get('stored_quotes')} "
                     f"| {run.get('published')} | {run.get('queries_per_batch')} "
                     f"| {probe.get(size, {}).get('seconds_warm')} s |")
    return lines


def main() -> None:
    """Print every table."""
    report = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.json").read_text())
    results = report["results"]
    counts = sorted({int(c) for r in results.values() for c in r.get("fanout", {})}, reverse=True)
    blocks = [fanout_table(results, c) for c in counts]
    blocks += [memory_table(results), slow_pairs_table(results), slow_table(results)]
    blocks += [channels_table(results, c) for c in counts] + [feed_table(report.get("feed"))]
    print("\n\n".join("\n".join(block) for block in blocks if block))


if __name__ == "__main__":
    main()
