"""Headline figures and target verdicts from the raw results of a run."""

from __future__ import annotations

import statistics
from typing import Any

from bench.fanout import P99_LIMIT_MS, STRICT_P99_MS, best, passed

TARGET_RATE = 20_000
TARGET_VS_CHANNELS = 8.0
TARGET_VS_BARE = 0.8
TARGET_KIB_PER_CONNECTION = 40.0
TARGET_SLOW_P99_INCREASE = 0.10
FEED_INTERVAL_S = 30.0
FEED_WELL_INSIDE = 0.5  # "well inside" the interval: at most half of it


def _rows(result: dict[str, Any] | None, clients: int) -> list[dict[str, Any]]:
    if not result:
        return []
    return list(result.get("fanout", {}).get(str(clients), []))


def best_rate(result: dict[str, Any] | None, clients: int, limit_ms: float = P99_LIMIT_MS) -> float | None:
    """Highest delivered rate with p99 under `limit_ms` and nothing missed."""
    row = best(_rows(result, clients), limit_ms)
    return row["delivered_per_s"] if row else None


def rate_at_p99(result: dict[str, Any] | None, clients: int, p99_ms: float) -> float | None:
    """Highest delivered rate with nothing missed and p99 at most `p99_ms` (for "at equal p99" ratios)."""
    good = [row for row in _rows(result, clients) if row["lost"] == 0 and row["conflated"] == 0
            and row["p99_ms"] is not None and row["p99_ms"] <= p99_ms]
    return max((row["delivered_per_s"] for row in good), default=None)


def vs_channels(ours: dict[str, Any] | None, channels: dict[str, Any] | None, clients: int) -> dict[str, Any] | None:
    """At every loss-free operating point of the Channels peer: our best rate at the same or a better p99.

    The ratio reported is the smallest over those points (the most conservative "at equal p99" figure).
    """
    points = []
    for row in _rows(channels, clients):
        if row["lost"] or row["conflated"] or row["p99_ms"] is None:
            continue
        ours_rate = rate_at_p99(ours, clients, row["p99_ms"])
        points.append({"channels_rate": row["delivered_per_s"], "channels_p99_ms": row["p99_ms"],
                       "ours_rate": ours_rate, "ratio": _ratio(ours_rate, row["delivered_per_s"])})
    ratios = [point["ratio"] for point in points if point["ratio"] is not None]
    return {"points": points, "ratio": min(ratios) if ratios else None} if points else None


def slow_pairs(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """The paired steps at one rate: median p99 of the reading clients without and with 5% stalled readers."""
    pairs = (result or {}).get("slow_pairs")
    if not pairs or not pairs.get("with"):
        return None
    without = [row["p99_ms"] for row in pairs["without"] if row["p99_ms"] is not None]
    with_slow = [row["p99_ms"] for row in pairs["with"] if row["p99_ms"] is not None]
    if not without:
        return None
    base = statistics.median(without)
    slow = statistics.median(with_slow) if with_slow else None  # None: nothing reached the reading clients
    return {"offered_per_s": pairs["offered_per_s"], "p99_ms": without, "p99_ms_with_slow": with_slow,
            "median_p99_ms": base, "median_p99_ms_with_slow": slow,
            "increase": None if slow is None else round(slow / base - 1, 3),
            "lost_with_slow": sum(row["lost"] for row in pairs["with"])}


def slow_effect(result: dict[str, Any] | None, clients: int) -> dict[str, Any] | None:
    """p99 of the reading clients with 5% stalled readers vs without, per common offered rate."""
    if not result or not result.get("slow"):
        return None
    base = {row["offered_per_s"]: row for row in _rows(result, clients)}
    pairs = []
    for row in result["slow"]:
        if row["clients"] != clients:
            continue
        ref = base.get(row["offered_per_s"])
        if ref and ref["p99_ms"] and row["p99_ms"] is not None:
            pairs.append({"offered_per_s": row["offered_per_s"], "p99_ms": ref["p99_ms"],
                          "p99_ms_with_slow": row["p99_ms"], "increase": round(row["p99_ms"] / ref["p99_ms"] - 1, 3),
                          "lost_with_slow": row["lost"], "conflated_with_slow": row["conflated"],
                          "slow_clients_closes": row["closes"]})
    if not pairs:
        return None
    top = pairs[-1]
    return {"steps": pairs, "at_highest_rate": top, "worst_increase": max(p["increase"] for p in pairs)}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def headline(results: dict[str, dict[str, Any]], clients: int, feed: dict[str, Any] | None) -> dict[str, Any]:
    """One flat dict of the figures the issue asks for, with verdicts."""
    ours1, bare, channels = results.get("ours-1w"), results.get("bare"), results.get("channels")
    out: dict[str, Any] = {"clients": clients}
    for name, result in results.items():
        key = name.replace("-", "_")
        out[f"{key}_rate"] = best_rate(result, clients)
        out[f"{key}_rate_p99_50ms"] = best_rate(result, clients, STRICT_P99_MS)
        lucky = best(_rows(result, clients), held=False)
        out[f"{key}_best_single_step"] = lucky["delivered_per_s"] if lucky else None
        top = best(_rows(result, clients))
        out[f"{key}_p99_ms"] = top["p99_ms"] if top else None
        if result.get("memory"):
            out[f"{key}_kib_per_idle_conn"] = result["memory"]["kib_per_idle_connection"]
            out[f"{key}_idle_conns"] = result["memory"]["connections"]
        if result.get("error"):
            out[f"{key}_error"] = result["error"][:300]
    out["ours_vs_bare"] = _ratio(best_rate(ours1, clients), best_rate(bare, clients))
    peer = vs_channels(ours1, channels, clients)
    if peer:
        out["ours_vs_channels_at_equal_p99"] = peer["ratio"]
        out["channels_points"] = [(p["channels_rate"], p["channels_p99_ms"], p["ours_rate"]) for p in peer["points"]]
    paired = slow_pairs(ours1)
    if paired:
        out["slow_p99_increase"] = paired["increase"]
        out["slow_p99_ms"] = [paired["median_p99_ms"], paired["median_p99_ms_with_slow"]]
        out["slow_pair_rate"] = paired["offered_per_s"]
    if feed:
        out["feed"] = {size: {k: run.get(k) for k in ("cycle_s", "symbols_per_s", "queries_per_batch")}
                       for size, run in feed.get("cycles", {}).items()}
    out["targets"] = verdicts(results, clients, feed)
    return out


def verdicts(results: dict[str, dict[str, Any]], clients: int, feed: dict[str, Any] | None) -> dict[str, Any]:
    """Each target of issue 8: True (met), False (missed) or None (not measured in this run)."""
    ours1 = results.get("ours-1w")
    rows = _rows(ours1, clients)
    verdict: dict[str, Any] = {}
    if rows and clients == 1000:
        verdict["fanout_20k_p99_50ms_1000_clients"] = any(
            passed(row, STRICT_P99_MS) and row["offered_per_s"] >= TARGET_RATE for row in rows)
    peer = vs_channels(ours1, results.get("channels"), clients)
    if rows and peer:
        verdict["8x_channels_at_equal_p99"] = peer["ratio"] is not None and peer["ratio"] >= TARGET_VS_CHANNELS
    vs_bare = _ratio(best_rate(ours1, clients), best_rate(results.get("bare"), clients))
    if rows and results.get("bare"):
        verdict["within_80pct_of_bare"] = vs_bare is not None and vs_bare >= TARGET_VS_BARE
    if ours1 and ours1.get("memory"):
        verdict["memory_40kib_per_idle_conn"] = ours1["memory"]["kib_per_idle_connection"] <= TARGET_KIB_PER_CONNECTION
    paired = slow_pairs(ours1)
    if paired:
        verdict["slow_consumers_p99_within_10pct"] = (paired["increase"] is not None
                                                      and paired["increase"] <= TARGET_SLOW_P99_INCREASE)
    if feed and feed.get("cycles"):
        cycles = [run["cycle_s"] for run in feed["cycles"].values() if run.get("cycle_s")]
        verdict["feed_5000_well_inside_30s"] = bool(cycles) and min(cycles) <= FEED_INTERVAL_S * FEED_WELL_INSIDE
    return verdict
