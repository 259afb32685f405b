"""Faults on a live feed (issue 16): nothing may be lost.

Redis killed or frozen, PostgreSQL stopped, a worker SIGKILLed mid-batch, two beats, a web process
stopped under reconnecting clients.
"""

from __future__ import annotations

import signal
import time

import pytest

from cli.demo import DEMO_SYMBOLS
from tests.faults.conftest import SeqClient, Stack, assert_nothing_lost
from tests.support.processes import ManagedProcess
from tests.support.services import wait_for

pytestmark = [pytest.mark.fault, pytest.mark.integration]


def live(stack: Stack, client: SeqClient, timeout: float = 90) -> dict[str, int]:
    """Wait until the client holds a seq of every symbol that is newer than what it had; returns them."""
    before = client.last()

    def moved() -> bool:
        client.pump(0.3)
        now = client.last()
        return len(now) == len(DEMO_SYMBOLS) and any(now[s] > before.get(s, -1) for s in now)

    wait_for(moved, timeout=timeout, interval=0, message="live updates")
    return client.last()


def health_is(stack: Stack, client: SeqClient, code: int, check: str | None = None, timeout: float = 90) -> None:
    """Poll /health (reading the client meanwhile) until it answers `code` (and `check` has the matching value)."""

    def answered() -> bool:
        client.pump(0.2)
        status, checks = stack.health()
        return status == code and (check is None or checks.get(check) is (code == 200))

    wait_for(answered, timeout=timeout, interval=0.3, message=f"/health {code} ({check})")


def running(stack: Stack) -> tuple[SeqClient, ManagedProcess]:
    stack.start_web()
    stack.start_worker()
    beat = stack.start_beat()
    client = stack.client()
    live(stack, client)
    health_is(stack, client, 200)
    return client, beat


def recovers_with_nothing_lost(stack: Stack, client: SeqClient, beat: ManagedProcess) -> None:
    """/health healthy again, live updates flowing, then (feed stopped) the invariants hold."""
    health_is(stack, client, 200)
    live(stack, client)
    beat.stop()
    assert_nothing_lost(stack, client, timeout=90)


def test_redis_killed_and_restarted(stack: Stack) -> None:
    client, beat = running(stack)
    stack.redis.kill()
    health_is(stack, client, 503, "bus")
    stack.redis.start()  # empty: no queue, no feed status, no locks survived
    recovers_with_nothing_lost(stack, client, beat)


def test_redis_frozen(stack: Stack) -> None:
    client, beat = running(stack)
    stack.redis.freeze(True)
    try:
        health_is(stack, client, 503, "bus")
    finally:
        stack.redis.freeze(False)
    recovers_with_nothing_lost(stack, client, beat)


def test_postgresql_stopped_and_started(stack: Stack) -> None:
    client, beat = running(stack)
    stack.pg.stop()
    health_is(stack, client, 503, "database")
    stack.pg.start()
    recovers_with_nothing_lost(stack, client, beat)


def test_worker_sigkilled_mid_batch(stack: Stack) -> None:
    stack.env["SIMULATED_LATENCY_MS"] = "1500"  # batches take a while: the kill lands inside one
    client, beat = running(stack)
    worker = stack.processes[1]
    started = worker.log().count("update_batch")
    wait_for(lambda: worker.log().count("update_batch") > started, timeout=30, message="a batch to start")
    worker.signal(signal.SIGKILL)  # the main process and its pool child, mid-batch
    stack.start_worker("w2")
    recovers_with_nothing_lost(stack, client, beat)


def test_two_beats_one_active_and_a_prompt_takeover(stack: Stack) -> None:
    client, first = running(stack)
    second = stack.start_beat("beat-2")
    wait_for(lambda: "waits as a standby" in second.log(), timeout=30, message="the second beat to stand by")
    live(stack, client)
    first.stop()  # SIGTERM: its lease is released on the way out
    wait_for(lambda: "waits as a standby" in second.log() and second.log().count("Sending due task") > 0,
             timeout=30, message="the standby beat to take over")
    recovers_with_nothing_lost(stack, client, second)


def test_web_sigterm_with_clients_reconnecting_at_once(stack: Stack) -> None:
    client, beat = running(stack)
    assert stack.web is not None
    first_web = stack.web
    second_web = stack.start_web()
    client.urls.append(second_web.ws_url)  # where a load balancer would send the reconnect
    first_web.signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    while not client.closes and time.monotonic() < deadline:
        client.pump(0.3)
    assert client.closes and set(client.closes) == {1001}  # told to go, never cut (1006)
    stack.web = second_web
    live(stack, client)
    beat.stop()
    assert_nothing_lost(stack, client)
