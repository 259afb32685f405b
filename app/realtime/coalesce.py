"""Reads that many socket greenlets ask for at once, done as one call (group commit for reads).

While one batch is being fetched, every request that arrives joins the next batch, so a reconnect
storm of N subscriptions costs a handful of queries instead of N, and a lone request waits for
nothing: its batch starts at the next turn of the hub.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Generic, TypeVar

import gevent
import gevent.event
from flask import Flask

from app.extensions import db
from app.realtime.tasks import spawn

logger = logging.getLogger("pricewire.realtime")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

WAIT_SECONDS = 10.0  # a batch that never ends (a frozen database) fails its waiters instead of hanging them


class CoalesceError(RuntimeError):
    """The shared read failed or did not finish in time."""


class _Batch(Generic[K, V]):
    __slots__ = ("done", "error", "keys", "result")

    def __init__(self) -> None:
        self.keys: dict[K, None] = {}
        self.result: dict[K, V] = {}
        self.error: BaseException | None = None
        self.done = gevent.event.Event()


class Coalescer(Generic[K, V]):
    """`get(keys)` from any greenlet; one runner greenlet calls `fetch(keys)` for everyone waiting, in chunks."""

    def __init__(self, app: Flask, fetch: Callable[[list[K]], Mapping[K, V]], name: str, chunk: int = 500) -> None:
        self.app = app
        self.fetch = fetch
        self.name = name
        self.chunk = chunk
        self.batches = 0  # fetch rounds run (stats and tests)
        self._open: _Batch[K, V] | None = None
        self._runner: gevent.Greenlet | None = None

    def get(self, keys: Iterable[K], timeout: float = WAIT_SECONDS) -> dict[K, V]:
        """The fetched value of each key that has one (missing keys are left out); raises CoalesceError."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        batch = self._join(wanted)
        if not batch.done.wait(timeout):
            raise CoalesceError(f"{self.name}: no answer within {timeout} s")
        if batch.error is not None:
            raise CoalesceError(f"{self.name}: {batch.error}") from batch.error
        return {key: batch.result[key] for key in wanted if key in batch.result}

    def submit(self, keys: Iterable[K]) -> None:
        """Have `keys` fetched with the next batch without waiting (the fetch's effect is what counts)."""
        wanted = list(keys)
        if wanted:
            self._join(wanted)

    def _join(self, keys: list[K]) -> _Batch[K, V]:
        batch = self._open
        if batch is None:
            batch = self._open = _Batch()
        batch.keys.update(dict.fromkeys(keys))
        if self._runner is None or self._runner.dead:
            self._runner = spawn(self._run, name=f"coalesce-{self.name}")
        return batch

    def _run(self) -> None:
        try:
            while self._open is not None:
                batch, self._open = self._open, None
                self._fetch_into(batch)
        finally:
            self._runner = None
            if self._open is not None and self._open.keys:  # killed with work left: whoever asks next restarts it
                pending, self._open = self._open, None
                pending.error = CoalesceError(f"{self.name}: reader stopped")
                pending.done.set()

    def _fetch_into(self, batch: _Batch[K, V]) -> None:
        keys = list(batch.keys)
        try:
            with self.app.app_context():
                try:
                    for start in range(0, len(keys), self.chunk):
                        batch.result.update(self.fetch(keys[start:start + self.chunk]))
                finally:
                    db.session.remove()  # a socket process keeps no pooled connection between reads
            self.batches += 1
        except BaseException as exc:
            batch.error = exc
            if not isinstance(exc, Exception):
                raise  # killed: the waiters see an error, never a partial answer
            logger.warning("shared read failed", extra={"read": self.name, "keys": len(keys), "error": repr(exc)})
        finally:
            batch.done.set()
