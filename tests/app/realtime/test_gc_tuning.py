"""The web process's collector schedule: tuned while running, restored after, cyclic garbage still freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from app.realtime.gc_tuning import THRESHOLDS, GcScheduler


@pytest.fixture
def scheduler() -> Iterator[GcScheduler]:
    created = GcScheduler(freeze_interval=3600, collect_interval=0)
    yield created
    created.stop()


class Node:
    """A reference cycle in miniature."""

    def __init__(self) -> None:
        self.other: Node | None = None


def test_start_tunes_and_freezes_stop_restores(scheduler: GcScheduler) -> None:
    before = gc.get_threshold()
    scheduler.start()
    assert gc.get_threshold() == THRESHOLDS and gc.get_freeze_count() > 0
    scheduler.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_disabled_leaves_the_interpreter_alone() -> None:
    before = gc.get_threshold()
    GcScheduler(freeze_interval=0, collect_interval=3600).start()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_full_collection_frees_frozen_cycles(scheduler: GcScheduler) -> None:
    first, second = Node(), Node()
    first.other, second.other = second, first
    probe = weakref.ref(first)
    scheduler.start()  # the cycle is frozen: ordinary collections skip it
    del first, second
    gc.collect()
    assert probe() is not None
    assert scheduler.collect_all() >= 2
    assert probe() is None
    assert scheduler.last_collection is not None and scheduler.last_collection["freed"] >= 2


def test_cyclic_garbage_is_collected_before_it_is_frozen(scheduler: GcScheduler) -> None:
    # Issue 16, item 5: the periodic freeze froze garbage cycles, kept until the hourly full collection.
    scheduler.start()
    first, second = Node(), Node()
    first.other, second.other = second, first
    probe = weakref.ref(first)
    del first, second
    scheduler.tick(0.0)  # a periodic step, not the collection of everything
    assert probe() is None


def test_living_objects_are_frozen_by_a_periodic_step(scheduler: GcScheduler) -> None:
    scheduler.start()
    frozen = gc.get_freeze_count()
    survivors = [Node() for _ in range(1000)]
    scheduler.tick(0.0)
    assert gc.get_freeze_count() >= frozen + len(survivors)


def test_survivors_of_a_full_collection_are_frozen(scheduler: GcScheduler) -> None:
    scheduler.start()
    frozen = gc.get_freeze_count()
    survivors = [Node() for _ in range(1000)]
    gc.collect()
    assert gc.get_freeze_count() >= frozen + len(survivors)
    scheduler.stop()
    assert scheduler._freeze_survivors not in gc.callbacks
