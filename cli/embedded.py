"""What the CLI says in embedded mode, where the feed, the bus and the live state live in the server process."""

from __future__ import annotations

from flask import Flask

from tasks.embedded_server import running_server


def embedded_broadcast_refusal(app: Flask) -> str:
    """Why --broadcast cannot work from this process in embedded mode, and what to do instead."""
    server = running_server(app)
    where = f"the server (pid {server['pid']}) at {server['url']}" if server else "a running `make run` server"
    return (f"--broadcast cannot reach browsers in embedded mode: this command's in-process bus is not the "
            f"server's. Ask {where} instead: POST /api/prices/refresh (it fetches, stores and publishes), "
            "or set REDIS_URL so every process shares one bus.")


def embedded_note(app: Flask, status_path: str) -> str:
    """Where the live state is in embedded mode (this process only sees the database)."""
    if (server := running_server(app)) is not None:
        return (f"in embedded mode the sockets live inside the server process (pid {server['pid']}): "
                f"its live state is at {server['url']}{status_path} (log in first)")
    return ("in embedded mode the sockets live inside the server process, and none is running "
            "(start one with `make run`)")
