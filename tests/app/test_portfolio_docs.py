"""docs/api.md lists every portfolio endpoint and docs/portfolio.md every transaction type and CSV column."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

from models.ledger import TYPES
from models.transaction_input import FIELDS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_portfolio_route_is_in_api_md(app: Flask) -> None:
    text = (DOCS / "api.md").read_text()
    documented = set(re.findall(r"^### `(GET|POST|PATCH|DELETE) (/api/portfolios[^`?]*)", text, re.M))
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/portfolios"):
            continue
        path = re.sub(r"<(?:int:)?(\w+)>", lambda m: "<id>" if m.group(1) == "portfolio_id" else f"<{m.group(1)}>",
                      rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert (method, path) in documented, f"{method} {path} is not in docs/api.md"


def test_portfolio_md_names_every_type_and_column() -> None:
    text = (DOCS / "portfolio.md").read_text()
    for kind in TYPES:
        assert f"| `{kind}` |" in text, kind
    assert ", ".join(FIELDS) in text
    assert "pricewire_portfolio_revaluation_failures_total" in (DOCS / "api.md").read_text()
