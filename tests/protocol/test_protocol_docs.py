"""docs/protocol.md names every close code and every WebSocket setting the code has."""

from __future__ import annotations

from pathlib import Path

from app.config import BOOL_SETTINGS, INT_SETTINGS
from protocol import codes

ROOT = Path(__file__).resolve().parents[2]


def test_every_close_code_is_documented() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text()
    found = {value for name, value in vars(codes).items()
             if isinstance(value, int) and not isinstance(value, bool) and 1000 <= value < 5000 and name.isupper()}
    assert found and sorted(code for code in found if f"| {code} |" not in text and f"{code} (" not in text) == []


def test_every_websocket_setting_is_documented() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text()
    names = [name for name in [*INT_SETTINGS, *BOOL_SETTINGS] if name.startswith("WEBSOCKET_")]
    assert [name for name in names if f"`{name}`" not in text] == []
