"""The one feed runner: run_cycle with any executor (here a recording one), and the batches it hands over."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Flask

from cli.demo import DEMO_SYMBOLS, seed_demo
from infra.feed_status import get_feed_status
from infra.settings import update_settings
from tasks.executors import BatchJob, split_batches
from tasks.runner import run_cycle


class Recording:
    """An executor that runs nothing and remembers what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[BatchJob], bool]] = []

    def run(self, jobs: Sequence[BatchJob], wait: bool = False) -> list[str]:
        self.calls.append((list(jobs), wait))
        return [f"job-{index}" for index, _ in enumerate(jobs)]


def test_a_cycle_hands_numbered_batches_of_its_plan_to_the_executor(app: Flask) -> None:
    seed_demo()
    update_settings(app, realtime_batch_size=2)
    executor = Recording()

    outcome = run_cycle(app, executor, wait=True)

    [(jobs, wait)] = executor.calls
    assert wait is True and outcome["batches"] == len(jobs) == len(split_batches(DEMO_SYMBOLS, 2))
    assert sorted(symbol for job in jobs for symbol in job.symbols) == DEMO_SYMBOLS
    assert [job.batch_no for job in jobs] == list(range(1, len(jobs) + 1))
    assert {job.cycle_id for job in jobs} == {outcome["cycle_id"]}
    assert jobs[0].kwargs() == {"symbols": jobs[0].symbols, "force": jobs[0].force, "cycle_id": outcome["cycle_id"],
                                "batch_no": 1}


def test_a_second_cycle_in_the_interval_is_skipped_without_dispatching(app: Flask) -> None:
    seed_demo()
    executor = Recording()
    run_cycle(app, executor)
    assert run_cycle(app, executor) == {"skipped": True}
    assert len(executor.calls) == 1 and get_feed_status().read()["cycles_skipped"] == 1


def test_nothing_tracked_dispatches_nothing(app: Flask) -> None:
    executor = Recording()
    assert run_cycle(app, executor)["batches"] == 0 and executor.calls == []
