"""Find the real PostgreSQL and Redis; skip locally with a how-to, fail under CI=true."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

HOW_TO = {
    "postgresql": "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "redis": 'start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
    "chromium": "install it with: apt-get install -y chromium",
    "nginx": "install it with: apt-get install -y nginx (make test does when root)",
    "systemd": "systemd-analyze comes with systemd (apt-get install -y systemd)",
}


def in_ci() -> bool:
    """True when running under CI, where a missing service is a failure."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(service: str, detail: str) -> None:
    """Fail under CI, skip elsewhere, always saying how to get the service."""
    message = f"{service} is not available ({detail}); {HOW_TO.get(service, '')}"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def postgres_admin_url() -> str:
    """A PostgreSQL URL for creating test databases."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql")) else DEFAULT_POSTGRES_URL


def redis_url() -> str:
    """The Redis the tests use."""
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02,
             message: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
