"""Per-source health: a cool-down after throttling and a circuit breaker after failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["CLOSED", "COOLING_DOWN", "HALF_OPEN", "OPEN", "SourceHealth"]

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
COOLING_DOWN = "cooling_down"


class SourceHealth:
    """Decides whether a source may be asked now.

    ``threshold`` consecutive failures open the breaker; after ``reset_seconds`` it
    half-opens and lets one trial request through: success closes it, failure re-opens it.
    A throttle opens a cool-down (Retry-After or ``default_cooldown``) without counting
    as a failure.
    """

    def __init__(
        self,
        threshold: int = 5,
        reset_seconds: float = 60.0,
        default_cooldown: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1:
            raise ValueError(f"breaker threshold must be >= 1, got {threshold}")
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self.default_cooldown = default_cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self._cooldown_until = 0.0
        self.last_error: str | None = None

    def allow(self) -> str | None:
        """Return None if a request may be sent now, else why not (and claim a half-open trial)."""
        with self._lock:
            now = self._clock()
            if now < self._cooldown_until:
                return f"cooling down for {self._cooldown_until - now:.0f}s after throttling"
            if self._opened_at is None:
                return None
            if now < self._opened_at + self.reset_seconds:
                return "circuit open after repeated failures"
            if self._trial_in_flight:
                return "circuit half-open, trial request in flight"
            self._trial_in_flight = True
            return None

    def record_success(self) -> None:
        """The source answered: close the breaker."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_in_flight = False

    def record_failure(self, reason: str) -> bool:
        """Count a failure; return True if this opened (or re-opened) the breaker."""
        with self._lock:
            self.last_error = reason
            self._failures += 1
            was_trial = self._trial_in_flight
            self._trial_in_flight = False
            if was_trial or (self._opened_at is None and self._failures >= self.threshold):
                self._opened_at = self._clock()
                return True
            return False

    def release_trial(self) -> None:
        """A claimed half-open trial was not used (e.g. nothing sent): free it."""
        with self._lock:
            self._trial_in_flight = False

    def cool_down(self, seconds: float | None, reason: str) -> None:
        """Stop asking the source for ``seconds`` (default cool-down if None)."""
        with self._lock:
            self.last_error = reason
            self._trial_in_flight = False
            wait = self.default_cooldown if seconds is None else seconds
            self._cooldown_until = max(self._cooldown_until, self._clock() + wait)

    @property
    def state(self) -> str:
        """One of closed, open, half_open, cooling_down."""
        with self._lock:
            now = self._clock()
            if now < self._cooldown_until:
                return COOLING_DOWN
            if self._opened_at is None:
                return CLOSED
            return OPEN if now < self._opened_at + self.reset_seconds else HALF_OPEN

    def snapshot(self) -> dict[str, Any]:
        """State for status pages."""
        state = self.state
        with self._lock:
            return {
                "state": state,
                "consecutive_failures": self._failures,
                "cooldown_remaining": max(0.0, self._cooldown_until - self._clock()),
                "last_error": self.last_error,
            }
