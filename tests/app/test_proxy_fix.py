"""PROXY_FIX_X_*: forwarded headers count only from as many proxies as configured."""

from __future__ import annotations

from flask import Flask, jsonify, request

from tests.conftest import make_app

FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "prices.example"}


def seen_by(app: Flask) -> dict[str, str]:
    """What a view sees of a request carrying FORWARDED."""
    app.add_url_rule("/_seen", "seen", lambda: jsonify(addr=request.remote_addr, scheme=request.scheme,
                                                       host=request.host))
    return app.test_client().get("/_seen", headers=FORWARDED).get_json()  # type: ignore[no-any-return]


def test_forwarded_headers_are_ignored_by_default() -> None:
    assert seen_by(make_app({"DATABASE_URL": "sqlite://"})) == {"addr": "127.0.0.1", "scheme": "http",
                                                                  "host": "localhost"}


def test_one_trusted_proxy() -> None:
    app = make_app({"DATABASE_URL": "sqlite://", "PROXY_FIX_X_FOR": "1", "PROXY_FIX_X_PROTO": "1",
                    "PROXY_FIX_X_HOST": "1"})
    assert seen_by(app) == {"addr": "203.0.113.7", "scheme": "https", "host": "prices.example"}


def test_only_the_configured_headers() -> None:
    app = make_app({"DATABASE_URL": "sqlite://", "PROXY_FIX_X_PROTO": "1"})
    assert seen_by(app) == {"addr": "127.0.0.1", "scheme": "https", "host": "localhost"}
