"""Where batches run, and forced refreshes: light enough for the web process (no providers, no pipeline).

`CeleryExecutor` sends batches to the workers by task name; `tasks.embedded.GeventExecutor` runs them on
greenlets in the serving process. `tasks.runner.run_cycle` and `refresh` below take either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from celery import Celery
from flask import Flask

from infra.feed_status import get_feed_status
from infra.settings import get_settings
from protocol.feed_control import TASK_UPDATE_BATCH
from tasks.celery_app import batch_expiry


def split_batches(symbols: Sequence[str], size: int) -> list[list[str]]:
    """Consecutive batches of at most `size` symbols."""
    size = max(1, int(size))
    return [list(symbols[start:start + size]) for start in range(0, len(symbols), size)]


@dataclass(frozen=True)
class BatchJob:
    """One batch to fetch, store and publish; cycle_id/batch_no tie it to its cycle's latch."""

    symbols: list[str]
    force: bool = False
    cycle_id: str | None = None
    batch_no: int | None = None

    def kwargs(self) -> dict[str, Any]:
        """The update_batch task's keyword arguments."""
        return {"symbols": self.symbols, "force": self.force, "cycle_id": self.cycle_id, "batch_no": self.batch_no}


class BatchExecutor(Protocol):
    """Runs batches somewhere; `wait` asks it to return only when they are done (where it can)."""

    def run(self, jobs: Sequence[BatchJob], wait: bool = False) -> list[str]:
        """Start (or run) the jobs; ids of what was dispatched (task ids, or empty)."""


class CeleryExecutor:
    """Batches as update_batch tasks sent by name (the web process never imports the task code)."""

    def __init__(self, celery: Celery, expires: int) -> None:
        self.celery = celery
        self.expires = expires

    def run(self, jobs: Sequence[BatchJob], wait: bool = False) -> list[str]:
        """Send one task per job; results are ignored (no chord, nobody waits on an AsyncResult)."""
        return [self.celery.send_task(TASK_UPDATE_BATCH, kwargs=job.kwargs(), expires=self.expires).id
                for job in jobs]

    @classmethod
    def for_app(cls, app: Flask, celery: Celery) -> CeleryExecutor:
        """Batches that expire after one interval (the next cycle covers them)."""
        return cls(celery, batch_expiry(get_settings(app)))


def refresh(app: Flask, executor: BatchExecutor, symbols: Sequence[str]) -> tuple[list[str], int, list[str]]:
    """Forced batches of `symbols`, tracked for the next ten minutes: (symbols, batches, dispatched ids)."""
    wanted = list(dict.fromkeys(symbols))
    get_feed_status(app).request_symbols(wanted)
    batches = split_batches(wanted, get_settings(app).realtime_batch_size)
    ids = executor.run([BatchJob(batch, force=True) for batch in batches])
    return wanted, len(batches), ids
