"""The embedded server's marker: `python wsgi.py` leaves one under instance/ while it serves.

In embedded mode the bus, the feed and the sockets live inside that one process, so a CLI command in
another process cannot publish to its browsers, a second feed would write the same database, and the
command's own status is empty. The marker says which process serves (pid), where (url), and holds a
token with which a local process may ask it for its live state (`GET /api/local/status`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

MARKER_NAME = "embedded-server.json"
# The serving app keeps its token here; the local endpoint compares the request's against it.
TOKEN_EXTENSION = "pricewire.local_token"
TOKEN_HEADER = "X-Pricewire-Local-Token"


def marker_path(app: Flask) -> Path:
    """Where the serving process leaves its marker."""
    return Path(app.instance_path) / MARKER_NAME


def write_marker(app: Flask, url: str) -> Path:
    """Announce this process as the embedded server at `url`, readable by its owner only (remove_marker on exit)."""
    path = marker_path(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = app.extensions[TOKEN_EXTENSION] = secrets.token_urlsafe(24)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"pid": os.getpid(), "url": url, "token": token}, handle)
    return path


def remove_marker(app: Flask) -> None:
    """Withdraw this process's marker (another process's marker is left alone)."""
    path = marker_path(app)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def running_server(app: Flask) -> dict[str, Any] | None:
    """{"pid", "url", "token"} of a live embedded server on this instance directory, or None."""
    try:
        marker = json.loads(marker_path(app).read_text())
        pid = int(marker["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid() or not _alive(pid):
        return None
    return {"pid": pid, "url": str(marker.get("url", "")), "token": str(marker.get("token", ""))}
