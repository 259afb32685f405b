"""The dashboard's ledger in real Chromium: create a portfolio, record a trade, see the ledger and the position."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import EmbeddedServer
from tests.browser.test_dashboard import FEED_WAIT_MS, context, log_in  # noqa: F401 - `context` is a fixture

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect


def test_create_a_portfolio_record_a_trade_and_see_it(server: EmbeddedServer, context: Any) -> None:  # noqa: F811
    page = context.new_page()
    log_in(page, server)
    page.locator("details.new-portfolio summary").click()
    page.get_by_test_id("portfolio-name").fill("Euro shares")
    page.locator("#portfolio-form input[name=base_currency]").fill("USD")
    page.locator("#portfolio-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/\?portfolio=\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Euro shares")

    form = page.get_by_test_id("trade-form")
    form.locator("select[name=type]").select_option("buy")
    form.locator("input[name=symbol]").fill("SAP.DE")
    form.locator("input[name=quantity]").fill("20")
    form.locator("input[name=price]").fill("120.50")
    form.locator("input[name=currency]").fill("EUR")
    form.locator("input[name=executed_at]").fill("2024-01-03T10:00")
    # No EURUSD history in a fresh database: the server names fx_rate; give one like a user would.
    form.locator("button[type=submit]").click()
    expect(page.locator("#trade-message")).to_contain_text("fx_rate", timeout=FEED_WAIT_MS)
    form.locator("input[name=fx_rate]").fill("1.10")
    form.locator("button[type=submit]").click()
    expect(page.locator("#trade-message")).to_have_text("Recorded: buy SAP.DE")
    row = page.get_by_test_id("ledger-row").first
    expect(row).to_contain_text("2024-01-03")
    expect(row).to_contain_text("SAP.DE")
    # The position appears (published at once) and, once priced, shows its value in euros.
    position = page.get_by_test_id("position-row").filter(has_text="SAP.DE")
    expect(position).to_be_visible(timeout=FEED_WAIT_MS)
    expect(position.locator("[data-cell=value]")).to_contain_text("€", timeout=FEED_WAIT_MS)
    expect(position.get_by_test_id("position-value-base")).to_contain_text("$", timeout=FEED_WAIT_MS)
    # Returns per period arrive with the portfolio_update; the chart's note says what it shows.
    expect(page.get_by_test_id("returns").locator("tbody tr")).to_have_count(6, timeout=FEED_WAIT_MS)
    expect(page.locator("#performance-note")).not_to_contain_text("Could not")
