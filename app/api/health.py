"""Liveness and health checks."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from sqlalchemy import text

from app.api import blueprint
from app.extensions import db
from infra.bus import get_bus


@blueprint.get("/healthz")
def liveness() -> Any:
    """The process answers, the database and the bus are reachable."""
    checks = {"database": _database_ok(), "bus": get_bus().ping()}
    return jsonify(status="ok" if all(checks.values()) else "degraded", checks=checks), (
        200 if all(checks.values()) else 503
    )


def _database_ok() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception:
        db.session.rollback()
        return False
