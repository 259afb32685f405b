"""/ws/realtime/: decide who it is before the handshake, accept, then read frames until the socket ends."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import gevent
from flask import Flask, Response, current_app, jsonify, request
from simple_websocket import ConnectionClosed

from app import metrics
from app.extensions import db
from app.realtime.connection import Connection, Identity
from app.realtime.limits import SlidingWindowLimiter
from app.realtime.relay import Relay, get_relay
from app.realtime.socket import RealtimeSocket
from app.realtime.socket_auth import Rejection, authenticate
from app.realtime.stats import get_cluster
from app.ws import blueprint
from app.ws.handlers import MessageHandler
from infra.settings import Settings, get_settings
from protocol.channels import FEED_CHANNEL
from protocol.client import CONNECTION, ERROR, FEED_STATUS, MAX_HZ_LIMIT, MAX_SYMBOLS_PER_MESSAGE, error_data
from protocol.codes import CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR, IDLE_TIMEOUT, TOO_LARGE, TOO_MANY
from protocol.wire import client_envelope

logger = logging.getLogger("pricewire.realtime")

PATH = "/ws/realtime/"
CONNECTION_LIMIT_RETRY_AFTER = 30  # seconds: a slot frees when another socket of the user closes


@blueprint.get(PATH)
def upgrade_required() -> Any:
    """Plain HTTP on the socket path: say what to do instead of a bare 400."""
    response = jsonify(error="WebSocket upgrade required", path=PATH)
    response.status_code = 426
    response.headers["Upgrade"] = "websocket"
    return response


@blueprint.route(PATH, websocket=True)
def realtime_socket() -> Response:
    """The realtime WebSocket (see docs/protocol.md)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = get_settings(app)
    relay = get_relay(app)
    try:
        # @login_required cannot guard a WebSocket route: the decision is taken here, before the handshake.
        # Token lookups are shared with every socket connecting at the same time (one query for a storm).
        decision: Identity | Rejection = authenticate(request, settings.websocket_allowed_origins,
                                                      relay.reads.token_owner)
    except Exception:
        logger.exception("websocket authentication failed")
        decision = Rejection(CLOSE_INTERNAL_ERROR, "server error; please retry")
    finally:
        db.session.remove()  # the socket must not hold a pooled database connection for its life
    connection_id = str(uuid.uuid4())
    slot_taken = False
    if isinstance(decision, Identity):
        slot_taken = _reserve_slot(app, relay, decision.user_id, connection_id)
        if not slot_taken:
            decision = Rejection(TOO_MANY, "too many connections for this user "
                                           f"(at most {settings.websocket_max_connections_per_user})",
                                 CONNECTION_LIMIT_RETRY_AFTER)

    def close_error(code: int) -> str:
        metrics.client_errors.labels(str(code)).inc()
        message = _size_message(settings) if code == TOO_LARGE else "a text frame was not UTF-8"
        return client_envelope(ERROR, error_data(code, message, closing=True), connection_id)

    ws = RealtimeSocket(request.environ, close_error=close_error,
                        compression=settings.websocket_compression,
                        max_message_size=settings.websocket_message_size_limit)
    try:
        if isinstance(decision, Rejection):
            _refuse(ws, decision, connection_id, float(settings.websocket_send_timeout))
        else:
            connection = Connection(decision, queue_size=settings.websocket_send_queue_size,
                                    send_timeout=float(settings.websocket_send_timeout),
                                    remote_addr=request.remote_addr, connection_id=connection_id,
                                    raw_frames=not settings.websocket_compression)
            _serve(app, relay, connection, ws)
    finally:
        if slot_taken:
            _release_slot(app, relay, decision, connection_id)
        ws.finish()
    return _socket_response(ws)


def _size_message(settings: Settings) -> str:
    return f"message too large: at most {settings.websocket_message_size_limit} bytes"


def _reserve_slot(app: Flask, relay: Relay, user_id: int, connection_id: str) -> bool:
    """One of the user's WEBSOCKET_MAX_CONNECTIONS_PER_USER slots: cluster-wide in Redis, else per process."""
    limit = get_settings(app).websocket_max_connections_per_user
    if get_cluster(app) is not None:
        try:  # in one pipeline with every other socket connecting now (a reconnect storm)
            return relay.reads.reserve_slot(user_id, connection_id, limit)
        except Exception as exc:
            logger.info("connection slot check fell back to local count", extra={"error": str(exc)})
    return len(relay.user_connections(user_id)) < limit


def _release_slot(app: Flask, relay: Relay, identity: Any, connection_id: str) -> None:
    if get_cluster(app) is not None and isinstance(identity, Identity):
        relay.reads.release_slot(identity.user_id, connection_id)  # batched; the slot expires on its own anyway


def _refuse(ws: RealtimeSocket, rejection: Rejection, connection_id: str, send_timeout: float) -> None:
    """Accepted only to say why: `error` with the code (Chrome shows custom close codes as 1006), then close."""
    metrics.client_errors.labels(str(rejection.code)).inc()
    text = client_envelope(ERROR, error_data(rejection.code, rejection.message, rejection.retry_after, closing=True),
                           connection_id)
    try:
        with gevent.Timeout(send_timeout):
            ws.send(text)
            ws.close(rejection.code, rejection.message[:120])
    except (gevent.Timeout, ConnectionClosed, OSError):
        ws.abort()


def _serve(app: Flask, relay: Relay, connection: Connection, ws: RealtimeSocket) -> None:
    settings = get_settings(app)
    connection.start(ws)
    # Listen on the user's channel before saying "connected", so a logout right after cannot be missed.
    relay.wait_applied(relay.register(connection))
    if relay.stopping:  # accepted after SIGTERM, before the server stopped listening: go elsewhere
        connection.close(CLOSE_GOING_AWAY, "server shutting down")
    try:
        connection.reply(CONNECTION, {
            "status": "connected",
            "connection_id": connection.id,
            "authenticated": True,
            "user_id": connection.user_id,
            "auth": connection.identity.method,
            "heartbeat_interval": settings.websocket_heartbeat_interval,
            "limits": {
                "max_subscriptions": settings.websocket_max_subscriptions_per_connection,
                "max_symbols_per_message": MAX_SYMBOLS_PER_MESSAGE,
                "message_size_limit": settings.websocket_message_size_limit,
                "rate_limit_messages_per_minute": settings.websocket_rate_limit_messages_per_minute,
                "timeout": settings.websocket_timeout,
                "max_connections_per_user": settings.websocket_max_connections_per_user,
                "max_hz": MAX_HZ_LIMIT,
                "resume_buffer_size": settings.websocket_resume_buffer_size,
            },
        })
        notice = relay.degraded_notice()
        if notice is not None:
            connection.send(notice, FEED_STATUS, FEED_CHANNEL)
        _read_loop(app, relay, connection, ws)
    finally:
        relay.unregister(connection)
        connection.stop()


def _read_loop(app: Flask, relay: Relay, connection: Connection, ws: RealtimeSocket) -> None:
    settings = get_settings(app)
    timeout = float(settings.websocket_timeout)
    size_limit = settings.websocket_message_size_limit
    limiter = SlidingWindowLimiter(settings.websocket_rate_limit_messages_per_minute)
    handler = MessageHandler(app, connection, relay)
    while not connection.closing:
        idle_left = connection.last_client_message + timeout - time.monotonic()
        if idle_left <= 0:
            connection.close(IDLE_TIMEOUT, f"idle timeout: no message for {int(timeout)} s (send ping)")
            break
        try:
            frame = ws.receive(timeout=idle_left)
        except ConnectionClosed:
            break
        if frame is None:
            if not ws.connected:
                break
            continue
        now = time.monotonic()
        connection.last_client_message = now
        size = len(frame) if isinstance(frame, (bytes, bytearray)) else len(frame.encode("utf-8", "replace"))
        if size > size_limit:
            connection.close(TOO_LARGE, _size_message(settings))
            break
        retry_after = limiter.hit(now)
        if retry_after is not None:
            connection.close(TOO_MANY, "rate limit exceeded: at most "
                             f"{limiter.limit} messages per minute", retry_after)
            break
        try:
            handler.handle(bytes(frame) if isinstance(frame, bytearray) else frame)
        except Exception:
            logger.exception("message handling failed", extra={"connection_id": connection.id})
            connection.error(CLOSE_INTERNAL_ERROR, "internal error; please retry")


def _socket_response(ws: RealtimeSocket) -> Response:
    """What the WSGI server gets back after the socket ended (the trick flask-sock uses per server mode).

    The route does not go through flask-sock: docs/protocol.md, "Why not flask-sock", says why.
    """

    class WebSocketResponse(Response):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            if ws.mode == "gunicorn":
                raise StopIteration()
            if ws.mode == "werkzeug":
                return super().__call__(*args, **kwargs)
            return []

    return WebSocketResponse()
