"""Hashed standard normals and a stateless Brownian path over one UTC day (Lévy construction)."""

from __future__ import annotations

import hashlib
import math
import struct
from array import array
from functools import lru_cache
from statistics import NormalDist

__all__ = ["DAY_MICROS", "GRID_LEVEL", "LEVELS", "BrownianDay", "hashed_int", "hashed_normal"]

DAY_MICROS = 86_400 * 1_000_000
#: Depth of the dyadic tree: 86400 s / 2**17 is about 0.66 s.
LEVELS = 17
#: Nodes down to this level (every 675 s) are memoised; they are also the high/low grid.
#: Only this module's code may compute them, so every process gets the same floats.
GRID_LEVEL = 7
_FINE = LEVELS - GRID_LEVEL
_INV_CDF = NormalDist().inv_cdf
_UNIT = 2.0**-53
_SHA256 = hashlib.sha256
_FIRST_U64 = struct.Struct(">Q").unpack_from


def _key(parts: tuple[object, ...]) -> bytes:
    """The hashed form of parts: ``str`` of each joined by ``:``."""
    return ":".join(str(part) for part in parts).encode()


def hashed_int(*parts: object) -> int:
    """Stable 64-bit integer from parts (``hash()`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(_key(parts)).digest()[:8], "big")


def _normal(digest: bytes) -> float:
    """Standard normal from the first 53 bits of a digest."""
    bits = _FIRST_U64(digest)[0] >> 11
    # u = bits / 2**53 lies in [0, 1); clamping 0 up to 2**-53 keeps inv_cdf finite.
    return _INV_CDF(max(bits, 1) * _UNIT)


def hashed_normal(*parts: object) -> float:
    """Standard normal derived from the SHA-256 of parts; the same in every process."""
    return _normal(hashlib.sha256(_key(parts)).digest())


@lru_cache(maxsize=8)
def _midpoint_sds(span: float) -> list[float]:
    """Sd of a level-l midpoint: its parent interval spans span / 2**(l-1), variance a quarter of it."""
    return [math.sqrt(span / 2 ** (level + 1)) for level in range(LEVELS + 1)]


class BrownianDay:
    """Brownian motion W on one day, W(0) = 0, a pure function of its key parts.

    W(end of day) = sqrt(span) * Z(parts, "root"); each dyadic midpoint is the mean of its
    interval's endpoints plus sqrt(interval / 4) * Z(parts, level, index): exactly the Brownian
    bridge, so W is exact Brownian motion at every node and linear inside the last 0.66 s.
    ``span_years`` is the day's length in the caller's time unit (variance per day).
    """

    __slots__ = ("_filled", "_grid", "_prefix", "_sd")

    def __init__(self, *parts: object, span_years: float) -> None:
        self._prefix = _key((*parts, ""))
        self._sd = _midpoint_sds(span_years)
        self._grid = array("d", [math.nan]) * (2**GRID_LEVEL + 1)
        self._grid[0] = 0.0
        self._grid[-1] = math.sqrt(span_years) * _normal(_SHA256(self._prefix + b"root").digest())
        self._filled = 0  # grid[0..filled] are all computed

    def grid(self, k: int) -> array[float]:
        """The memoised nodes at i * 675 s, computed at least for 0 <= i <= k (k <= 128)."""
        grid: array[float] = self._grid
        if k > self._filled:
            prefix = self._prefix
            for level in range(1, GRID_LEVEL + 1):
                half = 1 << (GRID_LEVEL - level)
                # Nodes of this level inside [0, k], plus the one whose interval holds k.
                for node in range(half, min(k + half, 2**GRID_LEVEL) + 1, 2 * half):
                    if grid[node] != grid[node]:  # NaN: not computed yet
                        z = _normal(_SHA256(prefix + b"%d:%d" % (level, node // (2 * half))).digest())
                        grid[node] = (grid[node - half] + grid[node + half]) / 2 + self._sd[level] * z
            self._filled = k
        return grid

    def at(self, micros: int) -> float:
        """W at ``micros`` microseconds after midnight (0 <= micros < DAY_MICROS)."""
        scaled = micros << LEVELS
        leaf = scaled // DAY_MICROS  # index of the finest interval holding the instant
        k = leaf >> _FINE
        grid = self.grid(k + 1)
        low, high = grid[k], grid[k + 1]
        prefix, sd = self._prefix, self._sd
        for level in range(GRID_LEVEL + 1, LEVELS + 1):
            # Inlined _z: this loop is the hot path of every quote.
            z = _normal(_SHA256(prefix + b"%d:%d" % (level, leaf >> (LEVELS - level + 1))).digest())
            mid = (low + high) / 2 + sd[level] * z
            if (leaf >> (LEVELS - level)) & 1:
                low = mid
            else:
                high = mid
        return low + (high - low) * ((scaled - leaf * DAY_MICROS) / DAY_MICROS)
