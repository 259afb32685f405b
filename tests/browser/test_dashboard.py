"""The dashboard in real Chromium against the embedded server with its simulated feed (issue 7).

Waits are deadlines (Playwright's expect/wait_for_function timeouts), never sleeps.
`SCREENSHOT=1` also writes docs/dashboard.png from the first test.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import DESKTOP, PHONE, EmbeddedServer
from tests.support.processes import ROOT

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

FEED_WAIT_MS = 30_000  # a few feed cycles at REALTIME_UPDATE_INTERVAL=1, with room for a slow machine
RECONNECT_WAIT_MS = 90_000  # backoff after a restart is capped at 30 s; two rounds of it
MONEY = re.compile(r"\$[\d,]+\.\d{2}")
PRICE = re.compile(r"^\d[\d,]*\.\d{2,4}$")


def page_errors(ctx: Any) -> list[str]:
    """Uncaught script errors and Content-Security-Policy violations of every page of `ctx`, as they happen."""
    errors: list[str] = []

    def csp_violation(page: Any, message: Any) -> None:
        if "Content Security Policy" in message.text:
            errors.append(f"{page.url}: {message.text}")

    def watch_page(page: Any) -> None:
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        page.on("console", lambda message: csp_violation(page, message))

    ctx.on("page", watch_page)
    return errors


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies) at desktop size; fails the test on uncaught script errors."""
    ctx = browser.new_context(viewport=DESKTOP)
    errors = page_errors(ctx)
    yield ctx
    ctx.close()
    assert not errors, errors


def log_in(page: Any, server: EmbeddedServer) -> None:
    """Log in as demo through the form and land on the dashboard."""
    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile(r"/auth/login"))
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(server.url + "/")


def watch(page: Any, server: EmbeddedServer, *symbols: str) -> None:
    """Put symbols on the demo watchlist through the API (the page's session cookie and CSRF token)."""
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    for symbol in symbols:
        response = page.request.post(server.url + "/api/watchlist", data={"symbol": symbol},
                                     headers={"X-CSRFToken": token})
        assert response.status in (200, 201), response.text()


def watchlist_prices(page: Any) -> dict[str, str]:
    """Symbol -> price text of every watchlist entry that has a price."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('[data-testid=watchlist-item]')]
            .map((li) => [li.dataset.symbol, li.querySelector('[data-testid=watchlist-price]').textContent])
            .filter(([, price]) => /\\d/.test(price)))"""
    )


def wait_for_price_change(page: Any, before: dict[str, str], timeout: int = FEED_WAIT_MS) -> None:
    """Until some watchlist price on screen differs from `before`."""
    page.wait_for_function(
        """(before) => [...document.querySelectorAll('[data-testid=watchlist-item]')].some((li) => {
            const shown = li.querySelector('[data-testid=watchlist-price]').textContent;
            return li.dataset.symbol in before && /\\d/.test(shown) && shown !== before[li.dataset.symbol];
        })""",
        arg=before,
        timeout=timeout,
    )


def wait_for_prices(page: Any, count: int, timeout: int = FEED_WAIT_MS) -> dict[str, str]:
    """Until at least `count` watchlist entries show a price; returns them."""
    page.wait_for_function(
        """(count) => [...document.querySelectorAll('[data-testid=watchlist-price]')]
            .filter((el) => /\\d/.test(el.textContent)).length >= count""",
        arg=count,
        timeout=timeout,
    )
    return watchlist_prices(page)


def expect_connected(page: Any, timeout: int = FEED_WAIT_MS) -> None:
    status = page.get_by_test_id("connection-status")
    expect(status).to_have_attribute("data-state", "open", timeout=timeout)
    expect(status).to_have_text("Connected")


def record_subscriptions(page: Any) -> list[list[str]]:
    """Per socket the page opens, the symbols of every subscribe_asset frame it sent, in order."""
    per_socket: list[list[str]] = []

    def opened(ws: Any) -> None:
        sent: list[str] = []
        per_socket.append(sent)

        def frame(payload: str | bytes) -> None:
            message = json.loads(payload)
            if message.get("type") == "subscribe_asset":
                data = message.get("data", {})
                sent.extend(data.get("symbols") or [data.get("symbol")])

        ws.on("framesent", frame)

    page.on("websocket", opened)
    return per_socket


def test_login_shows_portfolio_total_and_live_watchlist_prices(context: Any, server: EmbeddedServer) -> None:
    page = context.new_page()
    log_in(page, server)
    watch(page, server, "AAPL", "MSFT", "NVDA")
    subscriptions = record_subscriptions(page)
    page.reload()
    expect_connected(page)
    expect(page.get_by_test_id("total-value")).to_have_text(MONEY, timeout=FEED_WAIT_MS)
    expect(page.get_by_test_id("position-row")).to_have_count(5)
    expect(page.get_by_test_id("daily-change")).to_have_attribute("data-direction", re.compile("up|down|flat"))
    before = wait_for_prices(page, 3)
    assert all(PRICE.match(price) for price in before.values()), before
    wait_for_price_change(page, before)
    # Every shown price names its source and age.
    expect(page.locator('#watchlist [data-field="age"]').first).to_have_text(re.compile(r"Simulated · "))
    expect(page.locator("#chart path.spark-line")).to_have_count(1, timeout=FEED_WAIT_MS)
    # Live updates must not make the page re-send subscriptions (the server rate-limits client frames).
    sent = subscriptions[-1]
    assert {"AAPL", "MSFT", "NVDA", "GOOGL"} <= set(sent), sent
    assert len(sent) == len(set(sent)), f"symbols subscribed more than once: {sent}"
    if os.environ.get("SCREENSHOT") == "1":
        save_screenshot(page)


def save_screenshot(page: Any) -> None:
    """docs/dashboard.png for the README: a fuller watchlist, a longer chart, no mid-flash colours."""
    for symbol in ("META", "EURUSD=X"):
        page.get_by_label("Add a symbol").fill(symbol)
        page.keyboard.press("Enter")
        expect(page.locator(f'[data-testid=watchlist-item][data-symbol="{symbol}"]')).to_be_visible()
    wait_for_prices(page, 5)
    page.wait_for_function("() => Number(document.getElementById('chart').dataset.points) >= 45", timeout=120_000)
    page.get_by_label("Add a symbol").blur()
    page.emulate_media(reduced_motion="reduce")  # the stylesheet turns flashes off for reduced motion
    page.screenshot(path=str(ROOT / "docs" / "dashboard.png"), full_page=True)


def test_add_a_symbol_with_the_keyboard_and_see_its_price(context: Any, server: EmbeddedServer) -> None:
    page = context.new_page()
    log_in(page, server)
    expect_connected(page)
    field = page.get_by_label("Add a symbol")
    field.focus()
    page.keyboard.type("amd")
    page.keyboard.press("Enter")
    item = page.locator('[data-testid=watchlist-item][data-symbol="AMD"]')
    expect(item).to_be_visible()
    expect(item.get_by_test_id("watchlist-price")).to_have_text(PRICE, timeout=FEED_WAIT_MS)
    expect(item.locator('[data-field="age"]')).to_have_text(re.compile(r"· (just now|\d+ s ago)"))
    # Removing works from the keyboard too, and survives a reload.
    item.get_by_role("button", name="Remove AMD from the watchlist").focus()
    page.keyboard.press("Enter")
    expect(item).to_have_count(0)
    page.reload()
    expect_connected(page)
    expect(page.locator('[data-testid=watchlist-item][data-symbol="AMD"]')).to_have_count(0)


def test_server_restart_reconnects_without_a_reload(context: Any, server: EmbeddedServer) -> None:
    page = context.new_page()
    log_in(page, server)
    watch(page, server, "AAPL", "MSFT")
    page.reload()
    expect_connected(page)
    wait_for_prices(page, 2)
    page.evaluate("() => { window.__sameDocument = true; }")
    status = page.get_by_test_id("connection-status")

    server.stop()
    expect(status).to_have_attribute("data-state", re.compile("reconnecting|connecting"), timeout=FEED_WAIT_MS)
    expect(status).to_have_text(re.compile(r"Reconnecting in \d+ s|Connecting…"))
    page.wait_for_function(
        "() => /Reconnecting in \\d+ s/.test(document.getElementById('connection-status').textContent)",
        timeout=RECONNECT_WAIT_MS,
    )

    server.start()
    expect_connected(page, timeout=RECONNECT_WAIT_MS)
    wait_for_price_change(page, watchlist_prices(page))
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"


def test_logout_closes_the_socket_and_asks_for_login(context: Any, server: EmbeddedServer) -> None:
    dashboard = context.new_page()
    sockets: list[Any] = []

    def opened(ws: Any) -> None:  # Playwright tags its handlers, so a bound builtin will not do
        sockets.append(ws)

    dashboard.on("websocket", opened)
    log_in(dashboard, server)
    expect_connected(dashboard)
    assert sockets and not sockets[-1].is_closed()

    # Log out from a second tab: the server closes this tab's socket (4401) and the page says so.
    other = context.new_page()
    other.goto(server.url + "/")
    other.get_by_role("button", name="Log out").click()
    expect(other).to_have_url(re.compile(r"/auth/login"))
    expect(other.get_by_label("Username")).to_be_visible()

    banner = dashboard.get_by_test_id("session-ended")
    expect(banner).to_be_visible(timeout=FEED_WAIT_MS)
    expect(banner).to_contain_text("Session ended — log in again")
    expect(dashboard.get_by_test_id("connection-status")).to_have_text("Logged out")
    for ws in sockets:
        if not ws.is_closed():
            ws.wait_for_event("close", timeout=FEED_WAIT_MS)
    banner.get_by_role("link", name="log in again").click()
    expect(dashboard).to_have_url(re.compile(r"/auth/login"))

    # And the page itself needs a login again.
    dashboard.goto(server.url + "/")
    expect(dashboard).to_have_url(re.compile(r"/auth/login"))


def test_log_out_button_ends_the_session(context: Any, server: EmbeddedServer) -> None:
    page = context.new_page()
    log_in(page, server)
    expect_connected(page)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/auth/login"))
    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile(r"/auth/login"))


def test_phone_width_has_no_horizontal_scroll(browser: Any, server: EmbeddedServer) -> None:
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    errors = page_errors(phone)
    try:
        page = phone.new_page()
        log_in(page, server)
        watch(page, server, "GOOGL")
        page.reload()
        expect_connected(page)
        expect(page.get_by_test_id("total-value")).to_have_text(MONEY, timeout=FEED_WAIT_MS)
        wait_for_prices(page, 1)
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"page is {widths[0]} px wide in a {widths[1]} px viewport"
        expect(page.get_by_label("Add a symbol")).to_be_visible()
        if os.environ.get("SCREENSHOT") == "1":
            page.screenshot(path=str(ROOT / "docs" / "dashboard-phone.png"), full_page=True)
    finally:
        phone.close()
    assert not errors, errors


def test_old_prices_get_a_stale_badge(context: Any, server: EmbeddedServer) -> None:
    page = context.new_page()
    page.clock.install()  # the page's clock runs on, but the test can move it ahead
    log_in(page, server)
    watch(page, server, "AAPL")
    page.reload()
    expect_connected(page)
    item = page.locator('[data-testid=watchlist-item][data-symbol="AAPL"]')
    expect(item.get_by_test_id("watchlist-price")).to_have_text(PRICE, timeout=FEED_WAIT_MS)
    badge = item.locator('[data-field="stale"]')
    expect(badge).to_be_hidden()
    # Six minutes on the page's clock: every quote is now older than DATA_STALE_AFTER_SECONDS (300).
    page.clock.fast_forward("06:00")
    expect(badge).to_be_visible()
    expect(badge).to_have_text("Stale")
    expect(item.locator('[data-field="age"]')).to_have_text(re.compile(r"Simulated · \d+ min ago"))
    expect(page.locator('[data-testid=position-row] [data-field="stale"]:visible')).to_have_count(5)
