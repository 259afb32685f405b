"""What the CLI does in embedded mode, where the feed, the bus and the live state live in the server process.

A running `make run` server leaves a marker (infra.local_server); the CLI asks it for its live state over
`GET /api/local/status` instead of printing its own, empty one, and refuses what would go wrong.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from flask import Flask

from infra.local_server import TOKEN_HEADER, running_server

logger = logging.getLogger("pricewire.cli")

STATE_TIMEOUT = 3.0  # seconds; a server too busy to answer is reported, not waited for


def embedded_broadcast_refusal(app: Flask) -> str:
    """Why --broadcast cannot work from this process in embedded mode, and what to do instead."""
    server = running_server(app)
    where = f"the server (pid {server['pid']}) at {server['url']}" if server else "a running `make run` server"
    return (f"--broadcast cannot reach browsers in embedded mode: this command's in-process bus is not the "
            f"server's. Ask {where} instead: POST /api/prices/refresh (it fetches, stores and publishes), "
            "or set REDIS_URL so every process shares one bus.")


def server_state(app: Flask, detailed: bool = False) -> dict[str, Any] | None:
    """The running embedded server's live state (its /api/local/status), or None when none answers."""
    server = running_server(app)
    if server is None:
        return None
    try:
        response = requests.get(f"{server['url']}/api/local/status", params={"detailed": "1"} if detailed else None,
                                headers={TOKEN_HEADER: server["token"]}, timeout=STATE_TIMEOUT)
        response.raise_for_status()
        state: dict[str, Any] = response.json()
    except (requests.RequestException, ValueError) as exc:
        logger.info("embedded server did not answer", extra={"error": str(exc)})
        return None
    return {**state, "server": {"pid": server["pid"], "url": server["url"]}}


def embedded_note(app: Flask, state: dict[str, Any] | None) -> str:
    """Whose numbers these are in embedded mode."""
    if state is not None:
        return f"embedded mode: the live state of the server (pid {state['server']['pid']}, {state['server']['url']})"
    if (server := running_server(app)) is not None:
        return (f"embedded mode: the server (pid {server['pid']}) did not answer; below: what this process "
                "sees (in embedded mode the sockets live inside the server process)")
    return ("embedded mode: no server is running (start one with `make run`); in embedded mode the sockets "
            "live inside the server process")
