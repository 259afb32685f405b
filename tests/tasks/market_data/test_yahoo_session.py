"""Yahoo's session flow against the replay server: no cookie -> 401; cookie -> crumb -> quote; renew; throttle."""

from __future__ import annotations

import json

import pytest
import redis

from tasks.market_data import DataSourceManager, RateLimitedError, SourceError, YahooFinanceSource
from tasks.market_data.yahoo_session import RedisSessionStore, YahooCredentials, cookie_header
from tests.tasks.market_data.conftest import FakeClock, Reply, StubServer, load_response
from tests.tasks.market_data.replay import (
    COOKIE,
    COOKIE_PATH,
    CRUMB,
    CRUMB_PATH,
    QUOTE_PATH,
    SET_COOKIE,
    cookie_url,
    guarded,
    install_session,
)


def make(stub: StubServer, session: bool = True) -> YahooFinanceSource:
    """An adapter at the stub, with the session at the stub's cookie URL (or none)."""
    return YahooFinanceSource(base_url=stub.url, retries=0, backoff=0, timeout=5,
                              cookie_url=cookie_url(stub) if session else None)


def test_without_cookie_and_crumb_yahoo_answers_401_and_the_source_fails(stub: StubServer) -> None:
    stub.route(QUOTE_PATH, guarded(load_response("yahoo_quote_success.json")))
    with pytest.raises(SourceError, match=r"authentication failed \(HTTP 401\)"):
        make(stub, session=False).fetch_quotes(["AAPL"])


def test_cookie_then_crumb_then_quote_with_both(stub: StubServer) -> None:
    install_session(stub)
    stub.route(QUOTE_PATH, guarded(load_response("yahoo_quote_success.json")))
    results = make(stub).fetch_quotes(["AAPL", "MSFT"])
    assert results["AAPL"].success and results["MSFT"].success
    assert [r.path for r in stub.requests] == [COOKIE_PATH, CRUMB_PATH, QUOTE_PATH]
    assert stub.seen(QUOTE_PATH)[0].query["crumb"] == CRUMB
    # Browser impersonation: no python-requests or library User-Agent goes out.
    headers = {name.lower(): value for name, value in stub.seen(QUOTE_PATH)[0].headers.items()}
    agent = headers.get("user-agent", "")
    assert agent.startswith("Mozilla/5.0") and "python" not in agent.lower()


def test_one_negotiation_serves_every_worker_through_redis(
    stub: StubServer, redis_client: redis.Redis, redis_prefix: str
) -> None:
    install_session(stub)
    stub.route(QUOTE_PATH, guarded(load_response("yahoo_quote_success.json")))
    workers = [make(stub), make(stub)]
    for worker in workers:
        worker.share_state(redis_client, f"{redis_prefix}:")
        assert worker.fetch_quotes(["AAPL"])["AAPL"].success
    assert len(stub.seen(CRUMB_PATH)) == 1 and len(stub.seen(QUOTE_PATH)) == 2
    stored = json.loads(redis_client.get(f"{redis_prefix}:yahoo:session") or b"{}")
    assert stored == {"cookie": COOKIE, "crumb": CRUMB}
    assert 0 < redis_client.pttl(f"{redis_prefix}:yahoo:session") <= 3600 * 1000


def test_expired_crumb_is_renewed_once_and_the_call_retried_once(stub: StubServer) -> None:
    install_session(stub, crumbs=[Reply("oldcrumb1"), Reply("newcrumb2")])
    stub.route(QUOTE_PATH, guarded(load_response("yahoo_quote_success.json"), valid_crumb="newcrumb2"))
    assert make(stub).fetch_quotes(["AAPL"])["AAPL"].success
    assert [r.query.get("crumb") for r in stub.seen(QUOTE_PATH)] == ["oldcrumb1", "newcrumb2"]
    assert len(stub.seen(CRUMB_PATH)) == 2


def test_a_crumb_rejected_after_renewal_fails_the_source_without_a_loop(stub: StubServer) -> None:
    install_session(stub, crumbs=[Reply("bad1"), Reply("bad2"), Reply("bad3")])
    stub.route(QUOTE_PATH, guarded(load_response("yahoo_quote_success.json"), valid_crumb="never"))
    with pytest.raises(SourceError, match="Invalid Crumb after renewal"):
        make(stub).fetch_quotes(["AAPL"])
    assert len(stub.seen(QUOTE_PATH)) == 2 and len(stub.seen(CRUMB_PATH)) == 2


def test_invalid_crumb_body_with_http_200_also_renews(stub: StubServer) -> None:
    install_session(stub, crumbs=[Reply("oldcrumb1"), Reply(CRUMB)])
    real = load_response("yahoo_quote_success.json")
    stub.route(QUOTE_PATH, [Reply(load_response("yahoo_invalid_crumb.json")), Reply(real)])
    assert make(stub).fetch_quotes(["AAPL"])["AAPL"].success
    assert len(stub.seen(CRUMB_PATH)) == 2


@pytest.mark.parametrize("reply", [
    Reply("Too Many Requests", 429, {"Retry-After": "120"}),
    Reply(load_response("yahoo_getcrumb_too_many_requests.txt")),  # a 200 whose "crumb" is the throttle text
])
def test_getcrumb_throttled_is_a_cool_down(stub: StubServer, clock: FakeClock, reply: Reply) -> None:
    install_session(stub, crumbs=[reply])
    stub.route(QUOTE_PATH, guarded(load_response("yahoo_quote_success.json")))
    with pytest.raises(RateLimitedError, match="getcrumb throttled"):
        make(stub).fetch_quotes(["AAPL"])
    manager = DataSourceManager(clock=clock, default_cooldown=60)
    manager.add_source(make(stub))
    assert not manager.get_asset_data(["AAPL"])["AAPL"].success
    assert manager.source_stats()["yahoo_finance"]["state"] == "cooling_down"
    asked = len(stub.seen(CRUMB_PATH))
    manager.get_asset_data(["AAPL"], force=True)
    assert len(stub.seen(CRUMB_PATH)) == asked and not stub.seen(QUOTE_PATH)  # nothing sent while cooling


def test_no_cookie_from_the_cookie_url_fails_the_source(stub: StubServer) -> None:
    stub.route(COOKIE_PATH, Reply("", 404))
    with pytest.raises(SourceError, match="no session cookie"):
        make(stub).fetch_quotes(["AAPL"])


def test_cookie_header_keeps_name_value_pairs_only() -> None:
    assert cookie_header([SET_COOKIE, "B=2; Path=/"]) == f"{COOKIE}; B=2"
    assert cookie_header(["garbage;;=;"]) == ""


def test_redis_store_forgets_only_the_pair_it_holds(redis_client: redis.Redis, redis_prefix: str) -> None:
    store = RedisSessionStore(redis_client, f"{redis_prefix}:")
    kept, other = YahooCredentials("A3=1", "c1"), YahooCredentials("A3=2", "c2")
    store.put(kept, 60)
    store.forget(other)  # another worker already renewed: its new pair stays
    assert store.get() == kept
    store.forget(kept)
    assert store.get() is None
