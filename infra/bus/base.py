"""The bus interface: Bus (publish, listeners) and Listener (subscribe, get), backend-neutral."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple


class BusError(ConnectionError):
    """The bus backend is unreachable; listeners must be rebuilt."""


class BusMessage(NamedTuple):
    """One delivery: the channel (without prefix) and its text."""

    channel: str
    data: str


class Listener(ABC):
    """A subscription set whose messages are read one at a time."""

    @abstractmethod
    def subscribe(self, *channels: str) -> None:
        """Start receiving these channels."""

    @abstractmethod
    def unsubscribe(self, *channels: str) -> None:
        """Stop receiving these channels."""

    @abstractmethod
    def get(self, timeout: float) -> BusMessage | None:
        """The next message, or None after `timeout` seconds; BusError when the backend is gone."""

    @abstractmethod
    def close(self) -> None:
        """Release the subscription."""


class Bus(ABC):
    """Publishes text on named channels; hands out listeners."""

    @abstractmethod
    def publish(self, channel: str, data: str) -> int:
        """Send `data` to every listener of `channel`; returns how many received it (per process)."""

    @abstractmethod
    def listener(self) -> Listener:
        """A fresh listener with no subscriptions."""

    def ping(self) -> bool:
        """True when the backend answers."""
        return True

    def close(self) -> None:  # noqa: B027 - optional hook; the in-process bus holds nothing
        """Release backend resources."""
