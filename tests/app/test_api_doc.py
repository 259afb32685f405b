"""docs/api.md lists every route the app serves (walks app.url_map)."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def documented_routes() -> set[tuple[str, str]]:
    """(METHOD, /path) of every `### `METHOD /path...`` heading, query strings dropped."""
    headings = re.findall(r"^### `([A-Z]+) (/[^`?\s]*)", API_DOC.read_text(), flags=re.M)
    return {(method, path) for method, path in headings}


def served_routes(app: Flask) -> set[tuple[str, str]]:
    """(METHOD, /path) of every rule, converters written as plain `<name>`."""
    routes = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"<\1>", rule.rule)
        routes.update((method, path) for method in rule.methods or () if method not in IGNORED_METHODS)
    return routes


def test_every_route_is_documented(app: Flask) -> None:
    missing = served_routes(app) - documented_routes()
    assert not missing, f"docs/api.md lacks a heading for: {sorted(missing)}"


def test_no_heading_documents_a_route_that_is_gone(app: Flask) -> None:
    stale = documented_routes() - served_routes(app)
    assert not stale, f"docs/api.md documents routes the app does not serve: {sorted(stale)}"
