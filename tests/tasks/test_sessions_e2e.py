"""Market sessions end to end on PostgreSQL, Redis, Celery (worker + beat) and gunicorn, on a Saturday.

The market clock of every process stands at Saturday 2026-11-28 15:00 UTC: US stocks get their closing
print and then nothing, crypto keeps trading, /health is 200 and a WebSocket snapshot says `closed`.
"""

from __future__ import annotations

import pytest
import requests

from cli.demo import DEMO_SYMBOLS, seed_demo
from infra.feed_status import get_feed_status
from models import ApiToken, User, WatchlistItem, db
from models.market import get_or_create_asset
from tests.app.ws.client import WsClient
from tests.support.processes import start_web
from tests.support.services import wait_for
from tests.tasks.celery_harness import FeedHarness, celery_command
from tests.tasks.test_feed_celery import quotes_of

pytestmark = pytest.mark.integration

SATURDAY = {"MARKET_CLOCK": "2026-11-28T15:00:00Z", "REALTIME_FETCH_WHEN_CLOSED": "false",
            "REALTIME_UPDATE_INTERVAL": "3"}  # "running" needs a heartbeat (every 5 s) within two intervals


def seed_saturday(feed: FeedHarness) -> str:
    """The demo portfolio and watchlist plus BTC-USD; an API token of the demo user."""
    with feed.db():
        user: User = seed_demo()
        btc = get_or_create_asset("BTC-USD")
        db.session.add(WatchlistItem(user_id=user.id, asset_id=btc.id))
        token, plain = ApiToken.issue(user, "sessions e2e")
        db.session.add(token)
        db.session.commit()
        db.session.remove()
    return plain


def seq(feed: FeedHarness, symbol: str) -> int:
    return quotes_of(feed).get(symbol, (None, 0))[1]


def test_on_a_saturday_only_crypto_is_polled_and_health_stays_up(feed: FeedHarness) -> None:
    token = seed_saturday(feed)
    feed.start_worker("w1", concurrency=2, **SATURDAY)
    feed.start_process("beat", celery_command("beat", "--schedule", str(feed.log_dir / "beat-schedule"),
                                              "--loglevel", "INFO"), **SATURDAY)

    # Crypto trades: cycle after cycle updates it. The US closing prints come in the first cycles.
    wait_for(lambda: seq(feed, "BTC-USD") >= 2, timeout=60, interval=0.2, message="crypto to be polled")
    us = {symbol: seq(feed, symbol) for symbol in DEMO_SYMBOLS}
    assert all(value >= 1 for value in us.values()), us
    btc = seq(feed, "BTC-USD")
    wait_for(lambda: seq(feed, "BTC-USD") >= btc + 3, timeout=90, interval=0.2, message="three more crypto updates")
    assert {symbol: seq(feed, symbol) for symbol in DEMO_SYMBOLS} == us  # nothing fetched after the closing print
    with feed.db():
        status = get_feed_status(feed.app).read()
    assert status["closed_skipped"] == len(DEMO_SYMBOLS) and status["assets_fetched"] == 1

    web = start_web({**feed.env, **SATURDAY}, feed.log_dir)
    feed.processes.append(web)
    health = wait_for(lambda: (answer := requests.get(web.url + "/health", timeout=10)).status_code == 200 and answer,
                      timeout=30, interval=0.5, message="/health to answer 200")
    markets = health.json()["services"]["markets"]
    assert markets["XNYS"]["open"] is False and markets["XNYS"]["next_open"] == "2026-11-30T14:30:00Z"
    assert markets["CRYPTO"]["open"] is True and markets["CRYPTO"]["stale"] is False

    client = WsClient(web.ws_url, token=token)
    try:
        client.expect_type("connection")
        client.send("subscribe_asset", {"symbol": "AAPL"})
        snapshot = client.expect_type("asset_update", channel="asset:AAPL")["data"]
    finally:
        client.close()
    assert snapshot["market_state"] == "closed" and snapshot["session_date"] == "2026-11-27"
    assert snapshot["next_open"] == "2026-11-30T14:30:00Z" and snapshot["stale"] is False
