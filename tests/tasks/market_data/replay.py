"""Yahoo's session replayed on the stub server: cookie URL, getcrumb, and quote/chart routes that demand both."""

from __future__ import annotations

from collections.abc import Callable

from tests.tasks.market_data.conftest import Reply, Seen, StubServer, load_response

COOKIE_PATH = "/fc"  # stands in for https://fc.yahoo.com
CRUMB_PATH = "/v1/test/getcrumb"
QUOTE_PATH = "/v7/finance/quote"
# fc.yahoo.com answers 404 with the session cookie (hand-built: no recording shows the header's exact value).
SET_COOKIE = "A3=d=AQABBKreplay&S=AQAAAreplay; Expires=Sun, 29 Nov 2027 23:00:00 GMT; Max-Age=31557600; " \
             "Domain=.yahoo.com; Path=/; SameSite=None; Secure; HttpOnly"
COOKIE = "A3=d=AQABBKreplay&S=AQAAAreplay"
CRUMB = load_response("yahoo_getcrumb.txt")


def install_session(stub: StubServer, crumbs: list[Reply] | None = None) -> None:
    """Answer the cookie URL with Set-Cookie, and getcrumb (given the cookie) with the crumbs in turn."""
    stub.route(COOKIE_PATH, Reply("<html>404</html>", 404, {"Set-Cookie": SET_COOKIE}))
    replies = crumbs or [Reply(CRUMB)]

    def crumb(seen: Seen) -> Reply:
        if seen.headers.get("Cookie") != COOKIE:
            return Reply(load_response("yahoo_invalid_crumb.json"), 401)
        served = len(stub.seen(CRUMB_PATH))
        return replies[min(served, len(replies)) - 1]

    stub.route(CRUMB_PATH, crumb)


def guarded(body: str | Callable[[Seen], Reply], valid_crumb: str = CRUMB) -> Callable[[Seen], Reply]:
    """A route answering 401 Invalid Crumb (Yahoo's real body) unless the cookie and crumb are right."""

    def route(seen: Seen) -> Reply:
        if seen.headers.get("Cookie") != COOKIE or seen.query.get("crumb") != valid_crumb:
            return Reply(load_response("yahoo_invalid_crumb.json"), 401)
        return body(seen) if callable(body) else Reply(body)

    return route


def cookie_url(stub: StubServer) -> str:
    """The stub's stand-in for YAHOO_FINANCE_COOKIE_URL."""
    return stub.url + COOKIE_PATH
