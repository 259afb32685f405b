"""The relay's lifecycle: its greenlets (bus loop, pings, stats, collector), SIGTERM, and shutdown with 1001."""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Callable
from typing import Any

import gevent

from app.realtime.bus_loop import OP_TIMEOUT, BusLoop
from app.realtime.gc_tuning import GcScheduler
from app.realtime.pings import PingSchedule
from app.realtime.router import FANOUT_YIELD, Router
from app.realtime.stats import StatsHeartbeat
from app.realtime.tasks import spawn
from protocol.codes import CLOSE_GOING_AWAY

logger = logging.getLogger("pricewire.realtime")

PING_TICK_SECONDS = 1.0


class Lifecycle:
    """Starts and stops the relay's background work; on SIGTERM closes every socket 1001 first."""

    def __init__(self, router: Router, loop: BusLoop, stats: StatsHeartbeat, pings: PingSchedule,
                 gc: GcScheduler) -> None:
        self.router = router
        self.loop = loop
        self.stats = stats
        self.pings = pings
        self.gc = gc
        self.greenlet: gevent.Greenlet | None = None
        self.pinger: gevent.Greenlet | None = None
        self.stopping = False  # SIGTERM came: new sockets are told 1001 too

    def ensure_started(self) -> None:
        """Start the listener greenlet, the pings, the stats heartbeat and the collector on first use."""
        if self.greenlet is None or self.greenlet.dead:
            self.greenlet = spawn(self.loop.run, name="relay")
            self.pinger = spawn(self._ping_all, name="relay-pings")
            self.stats.start()
            self.gc.start()
            self._close_sockets_on_sigterm()

    def stop(self) -> None:
        """Stop listening (tests, shutdown)."""
        self.loop.stopped = True
        for greenlet in (self.greenlet, self.pinger):
            if greenlet is not None:
                greenlet.kill(block=True, timeout=OP_TIMEOUT)
        self.loop.drop_listener()
        self.stats.stop()
        self.gc.stop()

    def going_away(self) -> None:
        """The process is stopping: close every socket with 1001, so clients reconnect (and resume) elsewhere now.

        From here on a socket accepted before the server stops listening is closed 1001 at once (see
        ws.routes): it would otherwise be cut without a close frame when the graceful timeout ends.
        """
        self.stopping = True
        logger.info("server shutting down: closing sockets", extra={"connections": len(self.router.connections)})
        self.router.close_all(CLOSE_GOING_AWAY, "server shutting down")

    def _close_sockets_on_sigterm(self) -> None:
        """Say 1001 to every socket on SIGTERM, then let the server's own handler run.

        gunicorn's graceful stop waits for requests to end, and a socket never ends on its own. Not
        installed without a server's handler.
        """
        previous: Any = signal.getsignal(signal.SIGTERM)
        if not callable(previous) or getattr(previous, "pricewire_relay", False):
            return
        handler: Callable[[int, Any], None] = previous

        def on_sigterm(signum: int, frame: Any) -> None:
            spawn(self.going_away, name="relay-going-away")
            handler(signum, frame)

        on_sigterm.pricewire_relay = True  # type: ignore[attr-defined]
        with contextlib.suppress(ValueError):  # not the main thread: leave the server's handling alone
            signal.signal(signal.SIGTERM, on_sigterm)

    def _ping_all(self) -> None:
        """One timer for every socket's pings (see PingSchedule): never a socket pinged twice in an interval."""
        tick = min(PING_TICK_SECONDS, self.pings.interval, self.pings.pong_timeout)
        while True:
            gevent.sleep(tick)
            for index, _ in enumerate(self.pings.run_due(self.router.connections.get), 1):
                if index % FANOUT_YIELD == 0:
                    gevent.sleep(0)
