"""The bus's interface: a Bus publishes on named channels and hands out Listeners; one module per backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

from protocol.channels import ASSET_PREFIX, PORTFOLIO_PREFIX

# Channels whose recent messages Redis keeps, so a client resumes by seq on whichever web process it reaches.
RESUMABLE_PREFIXES = (ASSET_PREFIX, PORTFOLIO_PREFIX)
DEFAULT_HISTORY = 100  # messages kept per channel (WEBSOCKET_RESUME_BUFFER_SIZE in the app)
HISTORY_TTL_SECONDS = 86_400  # a channel silent this long (a symbol no longer tracked) forgets its history


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

    def recent(self, channel: str) -> list[str]:
        """The channel's kept messages, oldest first ([] when this backend keeps none)."""
        return []

    def ping(self) -> bool:
        """True when the backend answers."""
        return True

    def describe(self) -> dict[str, Any]:
        """What backend this is and where it stands (for /health)."""
        return {"mode": "memory"}

    def close(self) -> None:  # noqa: B027 - optional hook; the in-process bus holds nothing
        """Release backend resources."""
