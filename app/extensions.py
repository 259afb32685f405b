"""Unbound extensions, initialised by create_app."""

from __future__ import annotations

from pathlib import Path

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sock import Sock

from models import db

MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "models" / "migrations")

migrate = Migrate(directory=MIGRATIONS_DIR, render_as_batch=True)
login_manager = LoginManager()
sock = Sock()

__all__ = ["db", "login_manager", "migrate", "sock"]
