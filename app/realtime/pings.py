"""The relay's ping schedule: each socket pinged at most once per heartbeat interval, closed when a pong is overdue.

A client that does not read for a moment (a synchronous client between calls, a busy event loop) answers
late; that is not a dead peer. A socket is closed only when its ping has gone unanswered for
`pong_timeout` seconds, and never pinged again before `interval` seconds have passed since its last ping,
however many sockets there are. First pings are spread over the second half of the first interval, so a
burst of connects does not become a burst of pongs.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections.abc import Callable, Iterator
from typing import Protocol


class Pingable(Protocol):
    """What the schedule needs of a connection."""

    id: str

    def send_ping(self) -> bool:
        """Send a ping (the socket forgets any earlier pong); False when the socket is closing or gone."""

    def pong_received(self) -> bool:
        """True when a pong arrived since the last ping."""

    def close_no_pong(self) -> None:
        """Close: the peer answered no ping within the pong timeout."""


class PingSchedule:
    """A heap of (when to look next, order, connection id, when its last ping went); looking pings, waits or closes.

    The last ping's time lives in the socket's one heap entry, not on the connection: an attribute more on
    every Connection cost ~1 KiB per idle socket (its instance dict grew).
    """

    def __init__(self, interval: float, pong_timeout: float, clock: Callable[[], float] = time.monotonic,
                 jitter: Callable[[], float] = random.random) -> None:
        self.interval = interval
        self.pong_timeout = pong_timeout
        self.clock = clock
        self.jitter = jitter
        self._heap: list[tuple[float, int, str, float | None]] = []
        self._order = itertools.count()  # ties never compare ids

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, connection_id: str) -> None:
        """A new socket: its first ping comes between half an interval and one interval from now."""
        self._push(self.clock() + self.interval * (0.5 + 0.5 * self.jitter()), connection_id, None)

    def next_due(self) -> float | None:
        """When the earliest entry is due (None: no sockets)."""
        return self._heap[0][0] if self._heap else None

    def run_due(self, lookup: Callable[[str], Pingable | None]) -> Iterator[None]:
        """Handle every due entry; yields after each one so the caller can give other greenlets a turn."""
        now = self.clock()
        while self._heap and self._heap[0][0] <= now:
            _, _, connection_id, sent = heapq.heappop(self._heap)
            connection = lookup(connection_id)  # None: the socket ended since it was scheduled
            if connection is not None:
                following = self._visit(connection, sent, now)
                if following is not None:
                    self._push(following[0], connection_id, following[1])
            yield None

    def _visit(self, connection: Pingable, sent: float | None, now: float) -> tuple[float, float | None] | None:
        """Ping, keep waiting, or close; (when to look next, when the last ping went), None: done with it."""
        if sent is not None and not connection.pong_received():
            if now - sent >= self.pong_timeout:
                connection.close_no_pong()
                return None
            return sent + self.pong_timeout, sent
        if sent is not None and now - sent < self.interval:
            return sent + self.interval, sent  # the pong came: the next ping one interval after the last
        if not connection.send_ping():
            return None
        return now + min(self.pong_timeout, self.interval), now

    def _push(self, due: float, connection_id: str, sent: float | None) -> None:
        heapq.heappush(self._heap, (due, next(self._order), connection_id, sent))
