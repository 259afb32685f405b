"""FeedStatusStore against the real Redis and in memory: requests, failures, counters, cycle latch, flags."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from infra.feed_status import REQUEST_WINDOW_SECONDS, FeedStatusStore, MemoryFeedStatusStore, RedisFeedStatusStore


@pytest.fixture(params=["redis", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[FeedStatusStore]:
    """A store on the real Redis under a private prefix (keys removed afterwards), or in memory."""
    if request.param == "memory":
        yield MemoryFeedStatusStore("mem")
        return
    prefix = request.getfixturevalue("redis_prefix")
    client = redis.Redis.from_url(request.getfixturevalue("redis_server_url"))
    yield RedisFeedStatusStore(client, prefix)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_requested_symbols_expire_after_the_window(store: FeedStatusStore) -> None:
    store.request_symbols(["AAPL", "MSFT", "AAPL"])
    if store.client is None:
        store._requested["MSFT"] -= REQUEST_WINDOW_SECONDS + 1
    else:
        store.client.zincrby(store.requested_key, -(REQUEST_WINDOW_SECONDS + 1), "MSFT")

    assert store.requested_symbols() == ["AAPL"]


def test_failures_keep_their_first_time_and_clear_on_success(store: FeedStatusStore) -> None:
    store.record_results([], {"GHOST": "stub: unknown symbol", "SLOW": "x: server error (HTTP 503)"})
    first = store.failed_updates()["GHOST"]["since"]
    store.record_results(["SLOW"], {"GHOST": "stub: still unknown"})

    failures = store.failed_updates()
    assert list(failures) == ["GHOST"]
    assert failures["GHOST"]["error"] == "stub: still unknown" and failures["GHOST"]["since"] == first
    assert store.retryable_failures() == ["GHOST"]


def test_source_counters_add_up_over_processes(store: FeedStatusStore) -> None:
    store.record_source_stats({"simulated": {"successes": 4, "failures": 1, "state": "closed"}})
    if store.client is None:
        store._sources["other-host:1"] = '{"simulated": {"successes": 6, "failures": 0}}'
    else:
        store.client.hset(store.sources_key, "other-host:1", '{"simulated": {"successes": 6, "failures": 0}}')

    assert store.source_totals() == ({"simulated": 10}, {"simulated": 1})


def test_a_cycle_completes_once_when_its_last_batch_finishes(store: FeedStatusStore) -> None:
    store.start_cycle("c1", batches=2, symbols=3)

    assert store.finish_batch("c1", 1, successes=1, failures=0, final=False) is None  # will retry
    assert store.finish_batch("c1", 1, successes=1, failures=0) is None
    assert store.finish_batch("c1", 1, successes=1, failures=0) is None  # redelivered copy
    summary = store.finish_batch("c1", 2, successes=0, failures=1)
    assert summary is not None
    assert (summary["batches"], summary["symbols"], summary["failures"]) == (2, 3, 1)
    assert summary["successes"] == 3  # every attempt counts its successes
    assert store.finish_batch("c1", 2, successes=0, failures=1) is None
    assert store.read()["last_cycle"]["cycle_id"] == "c1"
    assert store.finish_batch("unknown", 1, 1, 0) is None


def test_only_the_call_that_flips_a_flag_sees_a_change(store: FeedStatusStore) -> None:
    assert store.set_flag("failover", True) and not store.set_flag("failover", True)
    assert store.flag("failover")
    assert store.set_flag("failover", False) and not store.set_flag("failover", False)
    assert not store.set_flag("stale", False)  # never set: already off


def test_service_status_shape(store: FeedStatusStore) -> None:
    store.heartbeat()
    store.write(assets_tracked=5, update_interval=15, last_update="2026-01-05T15:30:00+00:00")
    store.record_results([], {"GHOST": "stub: unknown symbol"})

    status = store.service_status(update_interval=30)

    assert status["running"] is True and status["update_interval"] == 15 and status["assets_tracked"] == 5
    assert status["failed_symbols"] == ["GHOST"] and status["last_update"].startswith("2026-01-05")
    assert {"successes_by_source", "failures_by_source", "last_cycle_duration"} <= set(status)


def test_no_heartbeat_means_not_running(store: FeedStatusStore) -> None:
    assert store.service_status(update_interval=30)["running"] is False
    store.write(heartbeat_at=1.0)
    assert store.service_status(update_interval=30)["running"] is False


def test_a_short_interval_does_not_make_the_feed_flap(store: FeedStatusStore) -> None:
    # Issue 16, item 7: at an interval of 1-2 s readiness wanted a heartbeat every 2-4 s, beat beats every 5 s.
    import time

    store.write(heartbeat_at=time.time() - 4.9, update_interval=1)  # just before the next beat heartbeat
    assert store.service_status(update_interval=1)["running"] is True
    store.write(heartbeat_at=time.time() - 16)  # three heartbeats missed
    assert store.service_status(update_interval=1)["running"] is False
