"""Unbound extensions, initialised by create_app."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import flask_login
from flask_login import LoginManager
from flask_migrate import Migrate

from models import db

MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "models" / "migrations")

migrate = Migrate(directory=MIGRATIONS_DIR, render_as_batch=True)
login_manager = LoginManager()

View = TypeVar("View", bound=Callable[..., Any])


def login_required(view: View) -> View:
    """flask_login.login_required with its type kept (flask-login ships no annotations)."""
    return cast(View, flask_login.login_required(view))


__all__ = ["db", "login_manager", "login_required", "migrate"]
