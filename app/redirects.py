"""Where a login may send the browser next: same-origin relative paths only, judged as a browser reads them."""

from __future__ import annotations

from urllib.parse import urlsplit

# Browsers drop ASCII tab, LF and CR anywhere in a URL, and read "\" as "/" in http(s) URLs (WHATWG URL).
_DROPPED = str.maketrans("", "", "\t\n\r")


def browser_normalized(target: str) -> str:
    """`target` as a browser would resolve it: tabs and newlines gone, backslashes as slashes."""
    return target.translate(_DROPPED).replace("\\", "/")


def safe_next_url(target: str | None) -> str | None:
    r"""The normalized path when `target` stays on this origin, else None (the caller picks a default).

    Accepted: "/path?query#fragment". Refused: anything with a scheme or host, scheme-relative "//host"
    (in any spelling a browser reads that way: "/\\host", "/\\t/host"), control characters, or no leading "/".
    """
    if not target:
        return None
    normalized = browser_normalized(target.strip(" \x00\x0b\x0c"))
    if not normalized.startswith("/") or normalized.startswith("//"):
        return None
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in normalized):
        return None
    parts = urlsplit(normalized)
    if parts.scheme or parts.netloc:
        return None
    return normalized
