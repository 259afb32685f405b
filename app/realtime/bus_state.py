"""What the relay knows about its bus: up or down, which channels the listener hears, the feed's last word.

Socket greenlets ask for channels and wait until the listener hears them (generations); the bus loop
reports what it applied, and whether the bus is up.
"""

from __future__ import annotations

import time

import gevent.event

from protocol.bus import FEED_DEGRADED, FEED_RECOVERED
from protocol.client import FEED_STATUS, feed_status_data
from protocol.wire import client_envelope

STARTING, UP, DOWN = "starting", "up", "down"
HEALTHY_FEED_STATES = frozenset({"ok", "healthy", "recovered", "running", ""})
DEGRADED_MESSAGE = "live updates are interrupted; reconnecting to the bus"
RECOVERED_MESSAGE = "live updates resumed"


def relay_feed_status(status: str, message: str) -> str:
    """A feed_status frame the relay itself sends (source "relay")."""
    return client_envelope(FEED_STATUS, feed_status_data(status, message, "relay"))


class BusState:
    """Listener generations, the bus's state, the last worker heartbeat and the feed's latest status."""

    def __init__(self) -> None:
        self.state = STARTING
        self.listened: set[str] = set()
        self.requested = 0
        self.applied = 0
        self._applied_event = gevent.event.Event()
        self.last_worker_heartbeat: float | None = None
        self.last_feed_status: tuple[str, str] | None = None  # (status, frame) of the feed's latest word

    def request(self, channel: str) -> int:
        """A generation to wait for until the listener hears `channel` (0: already heard, or the bus is down)."""
        if channel in self.listened or self.state == DOWN:
            return 0
        self.requested += 1
        return self.requested

    def wait_applied(self, generation: int, timeout: float = 2.0) -> bool:
        """Block this greenlet until the listener subscribed everything asked for up to `generation`."""
        deadline = time.monotonic() + timeout
        while self.applied < generation and self.state != DOWN:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._applied_event.wait(remaining):
                return False
        return True

    def listening(self, added: set[str], removed: set[str], generation: int) -> None:
        """The listener now hears `added` and not `removed`, up to `generation`."""
        self.listened = (self.listened | added) - removed
        self._set_applied(generation)

    def _set_applied(self, generation: int) -> None:
        self.applied = max(self.applied, generation)
        event, self._applied_event = self._applied_event, gevent.event.Event()
        event.set()

    def went_down(self) -> bool:
        """The bus failed: nothing is heard, every waiter is released; True when it was not down already."""
        previous, self.state = self.state, DOWN
        self.listened = set()
        self._set_applied(self.requested)
        return previous != DOWN

    def came_up(self) -> bool:
        """The bus works; True when it recovers from an outage."""
        previous, self.state = self.state, UP
        return previous == DOWN

    def heard_heartbeat(self) -> None:
        """A worker said it is alive."""
        self.last_worker_heartbeat = time.time()

    def heard_feed_status(self, status: str, frame: str) -> None:
        """The feed's latest feed_status (a new socket sees it first when it is bad)."""
        self.last_feed_status = (status, frame)

    def degraded_notice(self) -> str | None:
        """The feed_status a new socket should see first: the bus is down, or the feed's last word was bad."""
        if self.state == DOWN:
            return relay_feed_status(FEED_DEGRADED, DEGRADED_MESSAGE)
        if self.last_feed_status is not None and self.last_feed_status[0] not in HEALTHY_FEED_STATES:
            return self.last_feed_status[1]
        return None

    @staticmethod
    def recovered_notice() -> str:
        """The feed_status sent to every socket when the bus is back."""
        return relay_feed_status(FEED_RECOVERED, RECOVERED_MESSAGE)

    @staticmethod
    def degraded_broadcast() -> str:
        """The feed_status sent to every socket when the bus fails."""
        return relay_feed_status(FEED_DEGRADED, DEGRADED_MESSAGE)

    def snapshot(self) -> dict[str, object]:
        """The bus's part of the process stats."""
        heartbeat = self.last_worker_heartbeat
        return {
            "channels": len(self.listened),
            "bus_state": self.state,
            "worker_heartbeat_age": None if heartbeat is None else round(time.time() - heartbeat, 3),
        }
