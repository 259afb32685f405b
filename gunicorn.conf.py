"""gunicorn reads this from the working directory: one /metrics for all workers (prometheus multiprocess mode)."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_created: list[str] = []


def on_starting(server: Any) -> None:
    """Before any worker starts: an empty directory for the workers' metric files (ours, unless given)."""
    directory = os.environ.get(VARIABLE)
    if not directory:
        directory = tempfile.mkdtemp(prefix="pricewire-metrics-")
        _created.append(directory)
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):  # values of an earlier run would be merged in otherwise
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))
    os.environ[VARIABLE] = directory


def child_exit(server: Any, worker: Any) -> None:
    """A worker that exited no longer counts in the live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker: Any) -> None:
    """In each worker, before it serves: build the exchange calendars (seconds of CPU a socket must not wait on)."""
    from models.session_view import warm_calendars

    app = getattr(worker, "wsgi", None)
    if hasattr(app, "app_context"):  # the Flask app of wsgi:app
        with app.app_context():
            warm_calendars()


def on_exit(server: Any) -> None:
    """Remove the directory if this file made it."""
    for directory in _created:
        shutil.rmtree(directory, ignore_errors=True)
