"""The WebSocket blueprint: /ws/realtime/."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("ws", __name__)
