"""The WebSocket blueprint: /ws/realtime/."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("ws", __name__)

from app.ws import routes  # noqa: E402,F401 - registers the socket route on the blueprint
