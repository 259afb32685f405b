"""The Celery feed with real worker processes, the real Redis broker and PostgreSQL."""

from __future__ import annotations

import os
import signal
from decimal import Decimal

import pytest
from sqlalchemy import select

from cli.demo import DEMO_SYMBOLS, seed_demo
from models import Portfolio, db
from protocol.channels import FEED_CHANNEL, HEARTBEAT_CHANNEL, asset_channel, portfolio_channel
from protocol.feed_control import TASK_RUN_CYCLE, TASK_UPDATE_BATCH
from tests.support.services import wait_for
from tests.tasks.celery_harness import FeedHarness, celery_command, collect, pool_children, wait_for_types
from tests.tasks.feed_support import history_counts, stored_quotes
from tests.tasks.market_data.conftest import Reply, StubServer, load_response
from tests.tasks.market_data.replay import cookie_url, install_session

pytestmark = pytest.mark.integration

SYMBOLS = DEMO_SYMBOLS


def seed(feed: FeedHarness) -> None:
    """The demo portfolio and watchlist: the symbols for the cycle to track."""
    with feed.db():
        seed_demo()
        db.session.remove()


def quotes_of(feed: FeedHarness) -> dict[str, tuple[Decimal, int]]:
    with feed.db():
        found = {symbol: (quote.price, quote.seq) for symbol, quote in stored_quotes().items()}
        db.session.remove()
        return found


def history_of(feed: FeedHarness) -> dict[str, int]:
    with feed.db():
        counts = history_counts()
        db.session.remove()
        return counts


def yahoo_at(stub: StubServer) -> dict[str, str]:
    """Worker settings: Yahoo only, at the stub server (session included), no in-adapter retries."""
    install_session(stub)
    return {"MARKET_DATA_SOURCE_PRIORITIES": "yahoo_finance:1", "YAHOO_FINANCE_BASE_URL": stub.url,
            "YAHOO_FINANCE_COOKIE_URL": cookie_url(stub), "MARKET_DATA_RETRIES": "0", "YAHOO_FINANCE_RATE_LIMIT": "0"}


def test_a_cycle_stores_quotes_and_publishes_them(feed: FeedHarness) -> None:
    seed(feed)
    listener = feed.listen(*(asset_channel(s) for s in SYMBOLS))
    worker = feed.start_worker("w1", concurrency=2)

    feed.send(TASK_RUN_CYCLE)

    messages = collect(listener, len(SYMBOLS))
    assert sorted(m["data"]["symbol"] for m in messages) == SYMBOLS
    assert all(m["type"] == "asset_update" and m["data"]["seq"] == 1 and m["data"]["source"] == "simulated"
               for m in messages)
    stored = quotes_of(feed)
    assert sorted(stored) == SYMBOLS
    assert {m["data"]["symbol"]: Decimal(str(m["data"]["price"])) for m in messages} == {
        s: price for s, (price, _) in stored.items()}
    assert history_of(feed) == dict.fromkeys(SYMBOLS, 1)
    last_cycle = wait_for(lambda: feed.status()["last_cycle"], message="the cycle to complete")
    assert (last_cycle["symbols"], last_cycle["successes"], last_cycle["failures"]) == (len(SYMBOLS), len(SYMBOLS), 0)
    status = feed.status()
    assert status["assets_tracked"] == len(SYMBOLS) and status["successes_by_source"]["simulated"] == len(SYMBOLS)
    # The cycle's log line is written after its summary is stored (finish_batch): wait for it, do not assume it.
    wait_for(lambda: '"message": "price feed cycle"' in worker.log(), message="the cycle's log line")
    assert f'"symbols": {len(SYMBOLS)}' in worker.log()


def test_a_batch_revalues_its_holders_in_a_task_of_its_own(feed: FeedHarness) -> None:
    seed(feed)
    with feed.db():
        portfolio_id = db.session.scalar(select(Portfolio.id))
        db.session.remove()
    listener = feed.listen(portfolio_channel(portfolio_id))
    worker = feed.start_worker("w1", concurrency=2)

    feed.send(TASK_UPDATE_BATCH, symbols=SYMBOLS)

    update = collect(listener, 1)[0]
    assert update["type"] == "portfolio_update" and update["data"]["portfolio_id"] == portfolio_id
    wait_for(lambda: "pricewire.feed.revalue_portfolios" in worker.log() and "portfolios revalued" in worker.log(),
             message="the revaluation task")


def test_two_overlapping_cycles_run_once(feed: FeedHarness) -> None:
    seed(feed)
    feed.start_worker("w1", concurrency=2)

    feed.send(TASK_RUN_CYCLE)
    feed.send(TASK_RUN_CYCLE)

    wait_for(lambda: feed.status()["cycles_started"] + feed.status()["cycles_skipped"] == 2, timeout=30,
             message="both cycle tasks to run")
    assert (feed.status()["cycles_started"], feed.status()["cycles_skipped"]) == (1, 1)
    wait_for(lambda: feed.status()["last_cycle"], message="the cycle to complete")
    assert history_of(feed) == dict.fromkeys(SYMBOLS, 1)
    assert {seq for _, seq in quotes_of(feed).values()} == {1}


def test_a_batch_whose_worker_dies_is_finished_by_another_worker(feed: FeedHarness) -> None:
    """SIGKILL the whole worker mid-batch: Redis redelivers after the visibility timeout, stored once."""
    slow = {"SIMULATED_LATENCY_MS": "4000", "CELERY_VISIBILITY_TIMEOUT": "6"}
    first = feed.start_worker("doomed", **slow)
    task_id = feed.send(TASK_UPDATE_BATCH, symbols=SYMBOLS)
    wait_for(lambda: "update_batch started" in first.log(), timeout=30, message="the batch to start")

    first.signal(signal.SIGKILL)  # the main process and its pool child: nobody acknowledges the batch
    assert first.process is not None and first.process.wait(timeout=10) == -signal.SIGKILL
    assert quotes_of(feed) == {}  # killed while fetching: nothing was committed

    second = feed.start_worker("rescuer", **slow)
    wait_for(lambda: f"{task_id}] succeeded" in second.log(), timeout=90, message="the redelivered batch")
    assert sorted(quotes_of(feed)) == SYMBOLS
    assert history_of(feed) == dict.fromkeys(SYMBOLS, 1)  # stored exactly once
    assert {seq for _, seq in quotes_of(feed).values()} == {1}


def test_a_batch_whose_pool_child_dies_is_not_replayed_but_covered_by_the_next_cycle(feed: FeedHarness) -> None:
    """task_reject_on_worker_lost=False: the lost batch is acked as failed (no loop); the next cycle stores it."""
    seed(feed)
    worker = feed.start_worker("w1", SIMULATED_LATENCY_MS="3000", REALTIME_UPDATE_INTERVAL="2")
    feed.send(TASK_RUN_CYCLE)
    wait_for(lambda: "update_batch started" in worker.log(), timeout=30, message="the batch to start")

    for child in pool_children(worker):  # the pool child only; the worker's main process lives on
        os.kill(child, signal.SIGKILL)
    wait_for(lambda: "WorkerLostError" in worker.log(), timeout=30, message="the worker to notice its lost child")
    assert quotes_of(feed) == {}
    lock_key = f"{feed.env['REDIS_KEY_PREFIX']}:feed:cycle-lock"
    wait_for(lambda: not feed.redis.exists(lock_key), timeout=10, message="the cycle lock to expire")

    feed.send(TASK_RUN_CYCLE)

    wait_for(lambda: len(quotes_of(feed)) == len(SYMBOLS), timeout=60, message="the next cycle to store quotes")
    assert history_of(feed) == dict.fromkeys(SYMBOLS, 1)
    assert worker.log().count('"message": "update_batch started"') == 2  # the lost one was not replayed


def test_a_provider_failing_twice_then_succeeding_is_retried(feed: FeedHarness) -> None:
    stub = StubServer()
    try:
        success = Reply(load_response("yahoo_quote_success.json"))
        stub.route("/v7/finance/quote", [Reply("{}", 503), Reply("{}", 503), success])
        listener = feed.listen(FEED_CHANNEL, asset_channel("AAPL"))
        worker = feed.start_worker("w1", **yahoo_at(stub))

        task_id = feed.send(TASK_UPDATE_BATCH, symbols=["AAPL", "MSFT"])

        wait_for(lambda: f"{task_id}] succeeded" in worker.log(), timeout=60, message="the batch to succeed")
        assert len(stub.seen("/v7/finance/quote")) == 3
        assert worker.log().count(f"{task_id}] retry: Retry in") == 2
        assert quotes_of(feed)["AAPL"] == (Decimal("181.18"), 1)
        messages = collect(listener, 3)
        assert [(m["type"], m["data"].get("status")) for m in messages if m["channel"] == FEED_CHANNEL] == [
            ("feed_status", "failover"), ("feed_status", "recovered")]
        assert feed.status()["failed_symbols"] == []
    finally:
        stub.close()


def test_a_4xx_is_not_retried_and_the_symbols_are_recorded_as_failed(feed: FeedHarness) -> None:
    stub = StubServer()
    try:
        stub.route("/v7/finance/quote", Reply('{"detail": "bad"}', 400))
        worker = feed.start_worker("w1", **yahoo_at(stub))

        task_id = feed.send(TASK_UPDATE_BATCH, symbols=["AAPL"])

        wait_for(lambda: f"{task_id}] succeeded" in worker.log(), timeout=60, message="the batch to finish")
        assert len(stub.seen("/v7/finance/quote")) == 1 and "Retry in" not in worker.log()
        assert feed.status()["failed_symbols"] == ["AAPL"]
        assert quotes_of(feed) == {}
    finally:
        stub.close()


def test_beat_schedules_cycles_heartbeats_and_a_second_beat_stands_by(feed: FeedHarness) -> None:
    seed(feed)
    listener = feed.listen(HEARTBEAT_CHANNEL, asset_channel("AAPL"))
    fast = {"REALTIME_UPDATE_INTERVAL": "1"}
    feed.start_worker("w1", concurrency=2, **fast)
    schedule = str(feed.log_dir / "beat-1-schedule")
    beat = feed.start_process("beat-1", celery_command("beat", "--schedule", schedule, "--loglevel", "INFO"), **fast)

    wait_for_types(listener, {"_heartbeat", "asset_update"})
    wait_for(lambda: feed.status()["running"], message="the status to say running")
    wait_for(lambda: "Sending due task pricewire-feed-cycle (pricewire.feed.run_cycle)" in beat.log(),
             message="beat's log line")  # another process's log: polled, not assumed flushed

    standby = feed.start_process("beat-2", celery_command("beat", "--schedule", str(feed.log_dir / "beat-2-schedule"),
                                                          "--loglevel", "INFO"), **fast)
    wait_for(lambda: "waits as a standby" in standby.log(), timeout=30, message="the second beat to stand by")
    assert "Sending due task" not in standby.log()
