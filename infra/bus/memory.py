"""The in-process bus: one process, no broker (embedded mode, like Channels' in-memory layer)."""

from __future__ import annotations

import queue
import threading

from infra.bus.base import Bus, BusMessage, Listener


class InMemoryListener(Listener):
    """A listener fed by InMemoryBus through a queue."""

    def __init__(self, bus: InMemoryBus) -> None:
        self._bus = bus
        self.channels: set[str] = set()
        self.inbox: queue.Queue[BusMessage] = queue.Queue()

    def subscribe(self, *channels: str) -> None:
        """Start receiving these channels."""
        with self._bus.lock:
            self.channels.update(channels)

    def unsubscribe(self, *channels: str) -> None:
        """Stop receiving these channels."""
        with self._bus.lock:
            self.channels.difference_update(channels)

    def get(self, timeout: float) -> BusMessage | None:
        """The next message, or None after `timeout` seconds."""
        try:
            return self.inbox.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        """Release the subscription."""
        self._bus.drop(self)


class InMemoryBus(Bus):
    """One process, no broker: the embedded mode's bus (like Channels' in-memory layer)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._listeners: set[InMemoryListener] = set()

    def publish(self, channel: str, data: str) -> int:
        """Send `data` to every listener of `channel`; how many received it."""
        with self.lock:
            targets = [item for item in self._listeners if channel in item.channels]
        for target in targets:
            target.inbox.put(BusMessage(channel, data))
        return len(targets)

    def listener(self) -> InMemoryListener:
        """A fresh listener with no subscriptions."""
        created = InMemoryListener(self)
        with self.lock:
            self._listeners.add(created)
        return created

    def drop(self, listener: InMemoryListener) -> None:
        """Forget a closed listener."""
        with self.lock:
            self._listeners.discard(listener)
