"""A real Celery feed for integration tests: worker/beat processes, a producer app, Redis and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from flask import Flask

from infra.bus import Listener, get_bus
from infra.feed_status import get_feed_status
from tests.support.processes import BIN, ManagedProcess, start_worker
from tests.support.services import wait_for


@dataclass
class FeedHarness:
    """Everything one test needs to drive the Celery feed and observe it."""

    env: dict[str, str]
    log_dir: Path
    app: Flask
    celery: Celery
    redis: redis.Redis
    processes: list[ManagedProcess] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)

    def start_worker(self, name: str, concurrency: int = 1, **extra: str) -> ManagedProcess:
        """A `celery worker` process with this test's environment (plus `extra`)."""
        worker = start_worker({**self.env, **extra}, self.log_dir, name=name, concurrency=concurrency)
        self.processes.append(worker)
        return worker

    def start_process(self, name: str, args: list[str], **extra: str) -> ManagedProcess:
        """Any Pricewire command (celery beat, flask ...) with this test's environment."""
        process = ManagedProcess(args, {**self.env, **extra}, self.log_dir / f"{name}.log").start()
        self.processes.append(process)
        return process

    def send(self, name: str, **kwargs: Any) -> str:
        """Enqueue a task by name; its id."""
        return str(self.celery.send_task(name, kwargs=kwargs).id)

    def listen(self, *channels: str) -> Listener:
        """A Redis subscription of this test's bus."""
        listener = get_bus(self.app).listener()
        listener.subscribe(*channels)
        self.listeners.append(listener)
        return listener

    def status(self) -> dict[str, Any]:
        """The feed status as any process reads it."""
        with self.app.app_context():
            return get_feed_status(self.app).service_status(60)

    def db(self) -> Any:
        """An app context for reading what the workers committed."""
        return self.app.app_context()


def pool_children(process: ManagedProcess) -> list[int]:
    """Pids of the prefork pool children of a worker's main process."""
    assert process.process is not None
    found = subprocess.run(["pgrep", "-P", str(process.process.pid)], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def collect(listener: Listener, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    """Read `count` messages (decoded, with their channel), failing after `timeout` seconds."""
    received: list[dict[str, Any]] = []

    def enough() -> bool:
        message = listener.get(timeout=0.2)
        if message is not None:
            received.append({"channel": message.channel, **json.loads(message.data)})
        return len(received) >= count

    wait_for(enough, timeout=timeout, interval=0, message=f"{count} bus messages")
    return received


def wait_for_types(listener: Listener, wanted: set[str], timeout: float = 30) -> set[str]:
    """Read messages until every type in `wanted` was seen; the types seen."""
    seen: set[str] = set()

    def all_seen() -> bool:
        message = listener.get(timeout=0.2)
        if message is not None:
            seen.add(json.loads(message.data)["type"])
        return wanted <= seen

    wait_for(all_seen, timeout=timeout, interval=0, message=f"messages of types {sorted(wanted)}")
    return seen


def celery_command(*args: str) -> list[str]:
    """Argv of `celery -A celery_worker.celery ...`."""
    return [str(BIN / "celery"), "-A", "celery_worker.celery", *args]
