"""docs/portfolio.md names every transaction type and CSV column (tests/app/test_api_doc.py covers the routes)."""

from __future__ import annotations

from pathlib import Path

from models.ledger import TYPES
from models.transaction_input import FIELDS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_portfolio_md_names_every_type_and_column() -> None:
    text = (DOCS / "portfolio.md").read_text()
    for kind in TYPES:
        assert f"| `{kind}` |" in text, kind
    assert ", ".join(FIELDS) in text
    assert "pricewire_portfolio_revaluation_failures_total" in (DOCS / "api.md").read_text()
