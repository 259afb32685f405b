"""Redis URLs: plain, Sentinel (parsed, redacted, for Celery), and their bad forms."""

from __future__ import annotations

import pytest
import redis

from infra.redis_connect import (
    SentinelTarget,
    celery_broker,
    current_master,
    parse_sentinel_url,
    redacted,
    redis_client,
)


def test_parse_sentinel_url() -> None:
    assert parse_sentinel_url("redis+sentinel://user:pw@h1:26380,h2/pricewire/4") == SentinelTarget(
        (("h1", 26380), ("h2", 26379)), "pricewire", 4, "user", "pw")
    assert parse_sentinel_url("redis+sentinel://h1/m") == SentinelTarget((("h1", 26379),), "m", 0)


@pytest.mark.parametrize("url", ["redis://h1/m", "redis+sentinel://h1", "redis+sentinel:///m",
                                 "redis+sentinel://h1/m/x", "redis+sentinel://h1/m/0/extra", "redis+sentinel://h1:x/m"])
def test_bad_sentinel_urls(url: str) -> None:
    with pytest.raises(ValueError):
        parse_sentinel_url(url)


def test_redacted() -> None:
    assert redacted("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert redacted("redis+sentinel://u:pw@h1,h2/m") == "redis+sentinel://u:***@h1,h2/m"
    assert redacted("redis://h:6379/0") == "redis://h:6379/0"


def test_plain_urls_pass_through() -> None:
    assert celery_broker("redis://h:6379/1") == ("redis://h:6379/1", {})
    assert current_master("redis://h:6379/1") is None
    assert isinstance(redis_client("redis://127.0.0.1:1/0"), redis.Redis)


def test_no_sentinel_answers() -> None:
    """A master nobody can name is None, not an exception (for /health)."""
    assert current_master("redis+sentinel://127.0.0.1:1/m") is None
