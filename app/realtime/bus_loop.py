"""The relay's listener greenlet: (re)connect with backoff, keep subscriptions in line, notice a silent bus."""

from __future__ import annotations

import contextlib
import logging
import random
import time
from typing import Any, Protocol

import gevent

from app.realtime.tasks import spawn
from infra.bus import Bus, BusError, BusMessage, Listener

logger = logging.getLogger("pricewire.realtime")

TICK = 0.02  # one listener read waits this long, so new subscriptions are applied within ~20 ms
OP_TIMEOUT = 5.0  # any single bus operation; a silent Redis must not hang the relay
BACKOFF_BASE, BACKOFF_CAP = 0.5, 15.0
SILENT_PROBES = 3  # nothing at all for this many probe periods: the bus is silently dead
LINGER_CHECK_SECONDS = 1.0


def backoff_delay(attempt: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Capped exponential backoff with jitter (half fixed, half random)."""
    delay = min(cap, base * 2.0 ** min(attempt, 16))
    return delay / 2 + random.random() * delay / 2


class BusClient(Protocol):
    """What the loop needs of the relay: the channels to hear, and where to report."""

    @property
    def requested(self) -> int:
        """The newest subscription generation asked for."""

    @property
    def applied(self) -> int:
        """The newest generation the listener applied."""

    def wanted_channels(self) -> set[str]:
        """Every channel the listener should hear now."""

    def listening(self, added: set[str], removed: set[str], generation: int) -> None:
        """The listener now hears `added`, not `removed`, up to `generation`."""

    def dispatch(self, message: BusMessage) -> None:
        """Handle one message."""

    def mark_down(self, reason: str) -> None:
        """The bus failed."""

    def mark_up(self) -> None:
        """The bus works (again)."""


class BusLoop:
    """The only user of the process's Listener (redis-py pub/sub is not safe to share between greenlets).

    Connections never touch it: they change the relay's wanted channels and wait for `applied`.
    """

    def __init__(self, relay: BusClient, bus: Bus, probe_channel: str, probe_interval: float) -> None:
        self.relay = relay
        self.bus = bus
        self.probe_channel = probe_channel
        self.probe_interval = probe_interval
        self.active: set[str] = set()
        self.received = 0
        self.connects = 0
        self.last_rx = time.monotonic()
        self.last_probe_echo = 0.0
        self.stopped = False
        self._listener: Listener | None = None
        self._last_probe = 0.0
        self._next_linger_check = 0.0

    def run(self) -> None:
        """Connect, serve, and on any failure report down, back off and start over."""
        attempt = 0
        while not self.stopped:
            try:
                self._connect()
                attempt = 0
                self._serve()
            except BusError as exc:
                reason = str(exc) or type(exc).__name__
            except Exception as exc:  # a bug must not end live delivery for the whole process
                logger.exception("relay failed")
                reason = f"relay error: {exc}"
            else:
                return
            self.drop_listener()
            self.active = set()
            self.relay.mark_down(reason)
            gevent.sleep(backoff_delay(attempt))
            attempt += 1

    def drop_listener(self) -> None:
        """Close the listener (errors ignored: it may be dead already)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                self._op(listener.close)

    def _op(self, function: Any, *args: Any) -> Any:
        timer = gevent.Timeout(OP_TIMEOUT)
        timer.start()
        try:
            return function(*args)
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            raise BusError(f"bus operation timed out after {OP_TIMEOUT}s") from None
        finally:
            timer.close()

    def _connect(self) -> None:
        self._listener = self._op(self.bus.listener)
        self.active = set()
        self._reconcile()
        started = time.monotonic()
        self._probe(synchronous=True)
        # Subscribing proves little (a frozen Redis accepts it): our own probe must come back.
        while self.last_probe_echo < started:
            if time.monotonic() - started > OP_TIMEOUT:
                raise BusError("bus accepted the subscription but delivers nothing")
            self._receive()
        self.connects += 1
        self.relay.mark_up()

    def _serve(self) -> None:
        handled = 0
        while not self.stopped:
            now = time.monotonic()
            if self.relay.requested != self.relay.applied or now >= self._next_linger_check:
                self._next_linger_check = now + LINGER_CHECK_SECONDS
                self._reconcile()
            if now - self._last_probe >= self.probe_interval:
                self._probe(synchronous=False)
            if now - self.last_rx > SILENT_PROBES * self.probe_interval:
                raise BusError(f"bus silent for {now - self.last_rx:.1f}s")
            if self._receive():
                handled += 1
                if handled % 64 == 0:
                    gevent.sleep(0)  # a flood must not starve the writers

    def _receive(self) -> bool:
        assert self._listener is not None
        message = self._op(self._listener.get, TICK)
        if message is None:
            return False
        self.last_rx = time.monotonic()
        self.received += 1
        if message.channel == self.probe_channel:
            self.last_probe_echo = self.last_rx
            return True
        try:
            self.relay.dispatch(message)
        except Exception:
            logger.exception("relay could not handle a message", extra={"channel": message.channel})
        return True

    def _reconcile(self) -> None:
        assert self._listener is not None
        generation = self.relay.requested
        wanted = self.relay.wanted_channels() | {self.probe_channel}
        added, removed = wanted - self.active, self.active - wanted
        if added:
            self._op(self._listener.subscribe, *sorted(added))
        if removed:
            self._op(self._listener.unsubscribe, *sorted(removed))
        self.active = wanted
        self.relay.listening(added, removed, generation)

    def _probe(self, synchronous: bool) -> None:
        self._last_probe = time.monotonic()
        if synchronous:
            self._op(self.bus.publish, self.probe_channel, "probe")
        else:
            spawn(self._probe_quietly, name="relay-probe")

    def _probe_quietly(self) -> None:
        try:
            self._op(self.bus.publish, self.probe_channel, "probe")
        except BusError as exc:
            logger.info("relay probe failed", extra={"error": str(exc)})
