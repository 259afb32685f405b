"""Who runs the embedded feed: `python wsgi.py` leaves a marker under instance/ while it serves.

In embedded mode the bus and the feed live inside that one process, so a CLI command in another process
cannot publish to its browsers, and a second feed would write the same database. The CLI reads the
marker to say so (and where the server is) instead of printing its own empty state.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from flask import Flask

MARKER_NAME = "embedded-server.json"


def marker_path(app: Flask) -> Path:
    """Where the serving process leaves its marker."""
    return Path(app.instance_path) / MARKER_NAME


def write_marker(app: Flask, url: str) -> Path:
    """Announce this process as the embedded server at `url` (call remove_marker on exit)."""
    path = marker_path(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": os.getpid(), "url": url}))
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
    """{"pid", "url"} of a live embedded server on this instance directory, or None."""
    try:
        marker = json.loads(marker_path(app).read_text())
        pid = int(marker["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid() or not _alive(pid):
        return None
    return {"pid": pid, "url": str(marker.get("url", ""))}
