"""Server-rendered pages: the dashboard."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_login import current_user, login_required

blueprint = Blueprint("web", __name__)


@blueprint.get("/")
@login_required
def dashboard() -> Any:
    """The live dashboard of the logged-in user."""
    return render_template("dashboard.html", user=current_user)
