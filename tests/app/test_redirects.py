"""safe_next_url: only same-origin paths survive, after the normalization browsers apply."""

from __future__ import annotations

import pytest

from app.redirects import safe_next_url


@pytest.mark.parametrize("target", [
    "//evil.example", "/%09/evil.example".replace("%09", "\t"), "/\t/evil.example", "/\n/evil.example",
    "/\r\n/evil.example", "/\\evil.example", "\\\\evil.example", "\\/evil.example", "https://evil.example/",
    "javascript:alert(1)", "evil.example", " //evil.example", "\t//evil.example", "/\x00x", "/a\x7fb",
    "http:/evil.example", "", None,
])
def test_refused(target: str | None) -> None:
    assert safe_next_url(target) is None


@pytest.mark.parametrize(("target", "expected"), [
    ("/", "/"),
    ("/?portfolio=2", "/?portfolio=2"),
    ("/api/prices?symbols=AAPL#x", "/api/prices?symbols=AAPL#x"),
    ("/\r\nSet-Cookie:x=1", "/Set-Cookie:x=1"),  # newlines gone, as a browser drops them: no header injection
    ("/a\\b", "/a/b"),
])
def test_kept_and_normalized(target: str, expected: str) -> None:
    assert safe_next_url(target) == expected
