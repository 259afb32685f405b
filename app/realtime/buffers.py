"""Pure data structures of the relay: the conflating outbound queue and the per-channel resume buffer."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Any, Generic, Protocol, TypeVar

QUEUED = "queued"
CONFLATED = "conflated"
DROPPED = "dropped"


class OutboundEntry:
    """One frame waiting for the writer; `key` groups entries that may replace each other.

    `frame` is the ready WebSocket frame when it was built once for many sockets.
    """

    __slots__ = ("frame", "key", "kind", "published_at", "text")

    def __init__(self, text: str, kind: str, key: Hashable | None = None, published_at: float | None = None,
                 frame: bytes | None = None) -> None:
        self.text = text
        self.kind = kind
        self.key = key
        self.published_at = published_at
        self.frame = frame

    def __repr__(self) -> str:
        return f"OutboundEntry({self.kind!r}, key={self.key!r})"


class ConflatingQueue:
    """A bounded FIFO that, once full, replaces the newest queued entry with the same key (latest wins).

    Entries without a key (acks, errors) are never replaced; `force` lets them past the bound so
    a reply or the closing error is never lost to a burst of updates.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[OutboundEntry] = deque()
        self._newest: dict[Hashable, OutboundEntry] = {}

    def put(self, entry: OutboundEntry, force: bool = False) -> str:
        """QUEUED, CONFLATED (an older queued entry now carries this one) or DROPPED (full, nothing to replace)."""
        if force or len(self._items) < self.capacity:
            self._items.append(entry)
            if entry.key is not None:
                self._newest[entry.key] = entry
            return QUEUED
        if entry.key is not None:
            queued = self._newest.get(entry.key)
            if queued is not None:
                queued.text, queued.kind, queued.published_at = entry.text, entry.kind, entry.published_at
                queued.frame = entry.frame
                return CONFLATED
        return DROPPED

    def get(self) -> OutboundEntry | None:
        """The oldest entry, or None when empty."""
        if not self._items:
            return None
        entry = self._items.popleft()
        if entry.key is not None and self._newest.get(entry.key) is entry:
            del self._newest[entry.key]
        return entry

    def peek(self) -> OutboundEntry | None:
        """The oldest entry without taking it."""
        return self._items[0] if self._items else None

    def clear(self) -> int:
        """Forget every entry; returns how many there were."""
        count = len(self._items)
        self._items.clear()
        self._newest.clear()
        return count

    def drop_keyed(self) -> int:
        """Forget the conflatable entries (updates), keep replies; returns how many were dropped."""
        kept = deque(entry for entry in self._items if entry.key is None)
        dropped = len(self._items) - len(kept)
        self._items = kept
        self._newest.clear()
        return dropped

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        """True when a keyless, unforced put would be dropped."""
        return len(self._items) >= self.capacity


class Sequenced(Protocol):
    """Anything with a per-channel sequence number."""

    @property
    def seq(self) -> int | None:
        """The channel's sequence number, if any."""


T = TypeVar("T", bound=Sequenced)


class ResumeBuffer(Generic[T]):
    """The last `size` sequenced updates of one channel, received without a gap since the buffer was made.

    The relay makes a fresh buffer whenever it (re)subscribes a channel, so a buffer never
    pretends to cover time during which the relay was not listening.
    """

    def __init__(self, size: int) -> None:
        self._items: deque[T] = deque(maxlen=size) if size > 0 else deque(maxlen=0)

    def append(self, item: T) -> None:
        """Remember an update; a seq that goes backwards (store reset) restarts the buffer."""
        if item.seq is None or self._items.maxlen == 0:
            return
        if self._items:
            newest = self._items[-1].seq
            assert newest is not None
            if item.seq == newest:
                return  # a duplicate publication
            if item.seq < newest:
                self._items.clear()
        self._items.append(item)

    def since(self, last_seq: int) -> list[T] | None:
        """Every update after `last_seq`, oldest first; None when the buffer cannot prove it has them all."""
        if not self._items:
            return None
        newest = self._items[-1].seq
        oldest = self._items[0].seq
        assert newest is not None and oldest is not None
        if last_seq == newest:
            return []
        if last_seq > newest or oldest > last_seq + 1:
            return None
        missed = [item for item in self._items if item.seq is not None and item.seq > last_seq]
        expected = list(range(last_seq + 1, newest + 1))
        # Publishers number each channel's updates 1, 2, 3...: a hole means a publication never arrived.
        return missed if [item.seq for item in missed] == expected else None

    def __len__(self) -> int:
        return len(self._items)

    def seqs(self) -> list[Any]:
        """The buffered sequence numbers (for tests and stats)."""
        return [item.seq for item in self._items]
