"""Latency histograms that merge across load processes, and percentile summaries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

RESOLUTION_MS = 0.1  # bucket width
BUCKETS = 30_000  # 0..3 s at 0.1 ms; slower samples are kept exactly


class Histogram:
    """Counts of latencies in 0.1 ms buckets, plus exact values above 3 s."""

    __slots__ = ("buckets", "count", "max_ms", "overflow")

    def __init__(self) -> None:
        self.buckets = [0] * BUCKETS
        self.overflow: list[float] = []
        self.count = 0
        self.max_ms = 0.0

    def add(self, latency_ms: float) -> None:
        """Record one sample (negative clock noise counts as zero)."""
        index = int(latency_ms / RESOLUTION_MS)
        if index < BUCKETS:
            self.buckets[index if index > 0 else 0] += 1
        else:
            self.overflow.append(latency_ms)
        self.count += 1
        self.max_ms = max(self.max_ms, latency_ms)

    def to_json(self) -> dict[str, object]:
        """A sparse form for the pipe between processes."""
        return {
            "b": {str(i): n for i, n in enumerate(self.buckets) if n},
            "o": self.overflow,
            "n": self.count,
            "max": self.max_ms,
        }

    @classmethod
    def merged(cls, parts: Iterable[Mapping[str, object]]) -> Histogram:
        """One histogram from the sparse forms of several."""
        total = cls()
        for part in parts:
            for key, n in part["b"].items():  # type: ignore[attr-defined]
                total.buckets[int(key)] += int(n)
            total.overflow.extend(part["o"])  # type: ignore[arg-type]
            total.count += int(part["n"])  # type: ignore[call-overload]
            total.max_ms = max(total.max_ms, float(part["max"]))  # type: ignore[arg-type]
        return total

    def percentile(self, fraction: float) -> float | None:
        """The latency at `fraction` (0..1), upper bucket edge, in ms."""
        if not self.count:
            return None
        rank = max(1, round(fraction * self.count))
        seen = 0
        for index, n in enumerate(self.buckets):
            seen += n
            if seen >= rank:
                return round((index + 1) * RESOLUTION_MS, 2)
        ordered = sorted(self.overflow)
        return round(ordered[min(len(ordered) - 1, rank - seen - 1)], 2)

    def summary(self) -> dict[str, float | None]:
        """p50, p99, max in ms."""
        return {
            "p50_ms": self.percentile(0.50),
            "p99_ms": self.percentile(0.99),
            "max_ms": round(self.max_ms, 2) if self.count else None,
        }
