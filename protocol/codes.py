"""WebSocket close codes and error codes (docs/protocol.md says which are final), and ProtocolError."""

from __future__ import annotations

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_INVALID_DATA = 1007  # a text frame that is not UTF-8 (an `error` comes first)
CLOSE_NO_PONG = 1008  # policy violation: no pong to the server's ping within one heartbeat interval
CLOSE_INTERNAL_ERROR = 1011
BAD_REQUEST = 4400
UNAUTHORIZED = 4401
FORBIDDEN = 4403
NOT_FOUND = 4404
IDLE_TIMEOUT = 4408
TOO_LARGE = 4413
TOO_MANY = 4429
SLOW_CONSUMER = 4503
FINAL_CLOSE_CODES = frozenset({UNAUTHORIZED, FORBIDDEN, TOO_LARGE})
# What each code means; an `error` with the same code precedes every close with a 44xx/45xx code.
CLOSE_REASONS = {
    BAD_REQUEST: "bad request",
    UNAUTHORIZED: "authentication required",
    FORBIDDEN: "forbidden",
    NOT_FOUND: "not found",
    IDLE_TIMEOUT: "idle timeout",
    TOO_LARGE: "message too large",
    TOO_MANY: "too many requests",
    SLOW_CONSUMER: "slow consumer",
}


class ProtocolError(ValueError):
    """A client frame (or field) we cannot act on; `code` goes into the `error` message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def should_reconnect(code: int) -> bool:
    """False for the final close codes (4401, 4403, 4413): reconnecting cannot help."""
    return code not in FINAL_CLOSE_CODES
