"""Symbols sockets ask the feed for: per-user and global caps, and symbols known not to exist.

Keys (under `<REDIS_KEY_PREFIX>:feed:`): `requested:user:<id>` (sorted set of the symbols one user had the
feed track, scored by request time), `unknown` (sorted set of symbols no provider knows, scored by when
that verdict expires). Embedded mode keeps the same in dicts. The checks are not atomic: concurrent
requests may overshoot a cap by what is in flight at once, which bounds the harm all the same.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import redis

from infra.feed_status import REQUEST_WINDOW_SECONDS

LOOKUP_EXTENSION = "pricewire.symbol_lookup"  # tasks.wiring registers: symbols -> {symbol: exists (None: unsure)}
SymbolLookup = Callable[[list[str]], dict[str, bool | None]]
UNKNOWN_TTL_SECONDS = 3600  # a symbol no provider knows is not asked about again for an hour


class SymbolRequests:
    """Admission of socket symbol requests to the feed, in Redis or (embedded) in this process."""

    def __init__(self, client: redis.Redis | None, prefix: str, window: float = REQUEST_WINDOW_SECONDS) -> None:
        self.client = client
        self.window = window
        self.user_prefix = f"{prefix}:feed:requested:user:"
        self.requested_key = f"{prefix}:feed:requested"
        self.unknown_key = f"{prefix}:feed:unknown"
        self._users: dict[int, dict[str, float]] = {}
        self._unknown: dict[str, float] = {}
        self._lock = threading.Lock()

    def unknown(self, symbols: Iterable[str]) -> set[str]:
        """Those of `symbols` a provider recently said do not exist."""
        wanted, now = list(symbols), time.time()
        if not wanted:
            return set()
        if self.client is None:
            with self._lock:
                return {symbol for symbol in wanted if self._unknown.get(symbol, 0) > now}
        scores = self.client.zmscore(self.unknown_key, wanted)
        return {symbol for symbol, until in zip(wanted, scores, strict=True) if until is not None and until > now}

    def remember_unknown(self, symbols: Iterable[str], ttl: float = UNKNOWN_TTL_SECONDS) -> None:
        """Negative caching: do not ask providers about these again for `ttl` seconds."""
        now = time.time()
        entries = {symbol: now + ttl for symbol in symbols}
        if not entries:
            return
        if self.client is None:
            with self._lock:
                self._unknown = {s: until for s, until in self._unknown.items() if until > now} | entries
            return
        pipe = self.client.pipeline()
        pipe.zremrangebyscore(self.unknown_key, "-inf", now)
        pipe.zadd(self.unknown_key, entries)
        pipe.execute()

    def admit(self, user_id: int, symbols: list[str], per_user: int, global_cap: int) -> tuple[list[str], int]:
        """(the symbols this user may have the feed track now, how many were refused by a cap).

        A symbol counts against the user for the request window; asking again for one of them is free.
        """
        now = time.time()
        mine, total = self._current(user_id, now)
        new = [symbol for symbol in dict.fromkeys(symbols) if symbol not in mine]
        room = max(0, min(per_user - len(mine), global_cap - total))
        accepted = new[:room]
        self._record(user_id, accepted, now)
        return [symbol for symbol in symbols if symbol in mine] + accepted, len(new) - len(accepted)

    def _current(self, user_id: int, now: float) -> tuple[set[str], int]:
        cutoff = now - self.window
        if self.client is None:
            with self._lock:
                entries = {s: at for s, at in self._users.get(user_id, {}).items() if at >= cutoff}
                self._users[user_id] = entries
                total = len({s for user in self._users.values() for s, at in user.items() if at >= cutoff})
            return set(entries), total
        key = self.user_prefix + str(user_id)
        pipe = self.client.pipeline()
        pipe.zremrangebyscore(key, "-inf", f"({cutoff}")
        pipe.zrange(key, 0, -1)
        pipe.zcount(self.requested_key, cutoff, "+inf")
        _, members, total = pipe.execute()
        return {m.decode() if isinstance(m, bytes) else m for m in members}, int(total)

    def _record(self, user_id: int, symbols: list[str], now: float) -> None:
        if not symbols:
            return
        if self.client is None:
            with self._lock:
                self._users.setdefault(user_id, {}).update(dict.fromkeys(symbols, now))
            return
        key = self.user_prefix + str(user_id)
        pipe = self.client.pipeline()
        pipe.zadd(key, dict.fromkeys(symbols, now))
        pipe.expire(key, int(self.window) + 60)
        pipe.execute()
