"""SourceHealth (cool-down + circuit breaker) and the quote caches."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tasks.market_data import InProcessQuoteCache, QuoteResult, RedisQuoteCache, SourceHealth
from tests.tasks.market_data.conftest import FakeClock, closed_port

QUOTE = QuoteResult(
    symbol="AAPL",
    success=True,
    price=Decimal("181.1800"),
    previous_close=Decimal("181.91"),
    change=Decimal("-0.73"),
    change_percent=Decimal("-0.4013"),
    volume=62303300,
    high=Decimal("182.76"),
    low=Decimal("180.17"),
    market_cap=Decimal("2817775665152"),
    currency="USD",
    timestamp=datetime(2024, 1, 5, 21, 0, 1, tzinfo=UTC),
    source="yahoo_finance",
)


def test_breaker_opens_at_threshold_and_half_opens_one_trial(clock: FakeClock) -> None:
    health = SourceHealth(threshold=3, reset_seconds=30, clock=clock)
    assert not health.record_failure("a") and not health.record_failure("b")
    assert health.allow() is None
    assert health.record_failure("c")
    assert health.state == "open" and health.allow() == "circuit open after repeated failures"
    clock.advance(30)
    assert health.state == "half_open"
    assert health.allow() is None  # the trial
    assert health.allow() == "circuit half-open, trial request in flight"
    health.record_success()
    assert health.state == "closed" and health.allow() is None


def test_failed_trial_reopens_and_unused_trial_is_released(clock: FakeClock) -> None:
    health = SourceHealth(threshold=1, reset_seconds=10, clock=clock)
    health.record_failure("x")
    clock.advance(10)
    assert health.allow() is None
    health.release_trial()
    assert health.allow() is None
    assert health.record_failure("y")
    assert health.state == "open" and health.snapshot()["last_error"] == "y"


def test_success_resets_the_failure_count(clock: FakeClock) -> None:
    health = SourceHealth(threshold=2, clock=clock)
    health.record_failure("x")
    health.record_success()
    assert not health.record_failure("x")


def test_cool_down_uses_retry_after_or_the_default(clock: FakeClock) -> None:
    health = SourceHealth(default_cooldown=60, clock=clock)
    health.cool_down(5, "429")
    assert health.state == "cooling_down" and "cooling down for 5s" in (health.allow() or "")
    clock.advance(5)
    assert health.allow() is None
    health.cool_down(None, "Note")
    clock.advance(59)
    assert health.allow() is not None
    clock.advance(1)
    assert health.allow() is None and health.snapshot()["cooldown_remaining"] == 0.0


def test_in_process_cache_expires_and_skips_failures(clock: FakeClock) -> None:
    cache = InProcessQuoteCache(ttl=10, clock=clock)
    cache.set_many([QUOTE, QuoteResult.failure("BAD", "yahoo_finance", "nope")])
    assert cache.get_many(["AAPL", "BAD"]) == {"AAPL": QUOTE}
    clock.advance(10)
    assert cache.get_many(["AAPL"]) == {}


def test_redis_cache_round_trips_exact_values(redis_client: redis.Redis, redis_prefix: str) -> None:
    cache = RedisQuoteCache(redis_client, ttl=30, prefix=f"{redis_prefix}:quotecache:")
    cache.set_many([QUOTE, QuoteResult.failure("BAD", "yahoo_finance", "nope")])
    found = cache.get_many(["AAPL", "BAD", "MSFT"])
    assert found == {"AAPL": QUOTE}
    assert found["AAPL"].price == Decimal("181.1800") and str(found["AAPL"].price) == "181.1800"
    assert 0 < redis_client.pttl(f"{redis_prefix}:quotecache:AAPL") <= 30_000
    assert not redis_client.exists(f"{redis_prefix}:quotecache:BAD")
    redis_client.set(f"{redis_prefix}:quotecache:MSFT", b"{not json")
    assert cache.get_many(["MSFT"]) == {}


def test_redis_cache_outage_is_a_miss() -> None:
    down = redis.Redis(host="127.0.0.1", port=closed_port(), retry=Retry(NoBackoff(), 0))
    cache = RedisQuoteCache(down, ttl=30)
    cache.set_many([QUOTE])
    assert cache.get_many(["AAPL"]) == {}
