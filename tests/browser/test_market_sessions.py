"""Market sessions in real Chromium: the embedded server with its market clock set to a Saturday.

US stocks get their closing print and then nothing; the page says the market is closed until Monday's
open in New York time, and labels the day change as Friday's. Waits are Playwright deadlines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import DESKTOP, EmbeddedServer, start_seeded_server
from tests.browser.test_dashboard import FEED_WAIT_MS, log_in, page_errors, watch

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

SATURDAY = "2026-11-28T15:00:00Z"  # the Saturday after Thanksgiving; New York reopens Mon 09:30


@pytest.fixture(scope="module")
def saturday_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """The demo on a Saturday, with the feed's session rules on."""
    embedded = start_seeded_server(tmp_path_factory.mktemp("saturday"), MARKET_CLOCK=SATURDAY,
                                   REALTIME_FETCH_WHEN_CLOSED="false")
    yield embedded
    embedded.stop()


def test_a_closed_market_shows_its_badge_and_fridays_close(browser: Any, saturday_server: EmbeddedServer) -> None:
    ctx = browser.new_context(viewport=DESKTOP)
    errors = page_errors(ctx)
    page = ctx.new_page()
    log_in(page, saturday_server)
    watch(page, saturday_server, "BTC-USD")
    page.reload()  # the watchlist as the server now has it

    row = page.locator('[data-testid=position-row][data-symbol="AAPL"]')
    expect(row.get_by_test_id("market-badge")).to_have_text("Closed until Mon 09:30", timeout=FEED_WAIT_MS)
    expect(row.get_by_test_id("market-badge")).to_have_attribute("data-state", "closed")
    expect(row.get_by_test_id("change-label")).to_have_text("Fri close")
    watched = page.locator('[data-testid=watchlist-item][data-symbol="NVDA"]')
    expect(watched.get_by_test_id("market-badge")).to_have_text("Closed until Mon 09:30", timeout=FEED_WAIT_MS)
    expect(watched.get_by_test_id("change-label")).to_have_text("Fri close")
    # Not stale: Friday's close is the latest price there is.
    expect(row.locator('[data-field="stale"]')).to_be_hidden()
    # Crypto trades on Saturday.
    crypto = page.locator('[data-testid=watchlist-item][data-symbol="BTC-USD"]')
    expect(crypto.get_by_test_id("market-badge")).to_have_text("Open 24/7", timeout=FEED_WAIT_MS)
    expect(crypto.get_by_test_id("change-label")).to_have_text("today")
    # The chart of the selected symbol has a time axis.
    expect(page.get_by_test_id("chart-tick").first).to_have_text(re.compile(r"\d{2}:\d{2}"), timeout=FEED_WAIT_MS)
    ctx.close()
    assert not errors, errors
