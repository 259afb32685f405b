"""Portfolio revaluation after feed batches, one round at a time, for everything changed so far.

Batches leave their changed symbols; whoever holds the revaluation lock revalues all that is left.

While a round runs, the symbols of every batch that finishes meanwhile pile up and are revalued together in
the next round. A portfolio touched by many batches of a cycle is revalued once per round instead of once per
batch, and two worker processes never revalue (and wait on the row locks of) the same portfolios at once.
Keys, under `<REDIS_KEY_PREFIX>:revalue:`: `pending` (set of symbols), `lock` (the holder's token, with a TTL).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable

import redis
from flask import Flask

from infra.feed_status import get_feed_status

logger = logging.getLogger("pricewire.feed")

LOCK_TTL_MS = 120_000  # a holder that died frees the lock after this; each round renews it
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class Revaluer:
    """The pending symbols and the single-flight lock: in Redis across processes, in memory without it."""

    def __init__(self, client: redis.Redis | None, prefix: str = "pricewire") -> None:
        self.client = client
        self.pending_key = f"{prefix}:revalue:pending"
        self.lock_key = f"{prefix}:revalue:lock"
        self._pending: set[str] = set()
        self._guard = threading.Lock()
        self._running = threading.Lock()

    def add(self, symbols: Iterable[str]) -> None:
        """Leave symbols for the next round."""
        wanted = [s for s in symbols if s]
        if not wanted:
            return
        if self.client is None:
            with self._guard:
                self._pending.update(wanted)
        else:
            self.client.sadd(self.pending_key, *wanted)

    def take(self) -> set[str]:
        """Every pending symbol, removed (atomically: a symbol added meanwhile stays for the next round)."""
        if self.client is None:
            with self._guard:
                taken, self._pending = self._pending, set()
            return taken
        pipe = self.client.pipeline(transaction=True)
        pipe.smembers(self.pending_key)
        pipe.delete(self.pending_key)
        members = pipe.execute()[0]
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

    def has_pending(self) -> bool:
        """Whether symbols wait for a round."""
        if self.client is None:
            with self._guard:
                return bool(self._pending)
        return bool(self.client.scard(self.pending_key))

    def _acquire(self) -> str | None:
        if self.client is None:
            return "local" if self._running.acquire(blocking=False) else None
        token = uuid.uuid4().hex
        return token if self.client.set(self.lock_key, token, nx=True, px=LOCK_TTL_MS) else None

    def _renew(self, token: str) -> None:
        if self.client is not None:
            self.client.set(self.lock_key, token, xx=True, px=LOCK_TTL_MS)

    def _release(self, token: str) -> None:
        if self.client is None:
            self._running.release()
        else:
            self.client.eval(_RELEASE, 1, self.lock_key, token)

    def run(self, symbols: Iterable[str], revalue: Callable[[set[str]], object]) -> int:
        """Leave `symbols`, then revalue rounds while this caller holds the lock; the rounds it ran."""
        self.add(symbols)
        rounds = 0
        while (token := self._acquire()) is not None:
            try:
                while pending := self.take():
                    rounds += 1
                    try:
                        revalue(pending)
                    except Exception:  # one failed round must not strand the symbols of later ones
                        logger.exception("portfolio revaluation failed", extra={"symbols": sorted(pending)[:20]})
                    self._renew(token)
            finally:
                self._release(token)
            if not self.has_pending():  # added after our last take, by a caller the lock turned away
                break
        return rounds


EXTENSION_KEY = "pricewire.revaluer"


def get_revaluer(app: Flask) -> Revaluer:
    """The app's revaluer, on the feed status store's Redis (in memory when it has none)."""
    found: Revaluer | None = app.extensions.get(EXTENSION_KEY)
    if found is None:
        store = get_feed_status(app)
        found = app.extensions[EXTENSION_KEY] = Revaluer(store.client, store.prefix)
    return found
