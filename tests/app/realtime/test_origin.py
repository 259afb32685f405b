"""Origin normalization and the default same-origin rule."""

from __future__ import annotations

import pytest

from app.realtime.socket_auth import normalize_origin, origin_allowed


@pytest.mark.parametrize(("raw", "expected"), [
    ("https://App.Example.com", "https://app.example.com"),
    ("https://app.example.com:443/", "https://app.example.com"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("http://[::1]:80", "http://[::1]"),
    ("null", None),
    ("file://", None),
    ("chrome-extension://abc", None),
    ("http://host:99999", None),
])
def test_normalize_origin(raw: str, expected: str | None) -> None:
    assert normalize_origin(raw) == expected


def test_default_is_own_scheme_and_host() -> None:
    assert origin_allowed("http://127.0.0.1:8000", (), "127.0.0.1:8000", {"http"})
    assert not origin_allowed("https://127.0.0.1:8000", (), "127.0.0.1:8000", {"http"})
    assert origin_allowed("https://pricewire.example", (), "pricewire.example", {"http", "https"})
    assert not origin_allowed("http://evil.example", (), "127.0.0.1:8000", {"http"})


def test_configured_origins_replace_the_default() -> None:
    allowed = ("https://app.example.com",)
    assert origin_allowed("https://app.example.com:443", allowed, "internal:8000", {"http"})
    assert not origin_allowed("http://internal:8000", allowed, "internal:8000", {"http"})
