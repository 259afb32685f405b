"""Who may open a socket: origin check, session cookie or bearer token; re-checks on every subscribe."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Request
from flask_login import current_user
from sqlalchemy import select

from app.auth import bearer_token
from app.extensions import db
from app.realtime.connection import Identity
from models import ApiToken, User
from protocol.codes import FORBIDDEN, UNAUTHORIZED

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@dataclass(frozen=True)
class Rejection:
    """Why a socket is refused: the error code it is closed with, and the message sent first."""

    code: int
    message: str
    retry_after: int | None = None


def normalize_origin(origin: str) -> str | None:
    """scheme://host[:port] lower-cased, default port dropped; None when not an http(s) origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def origin_allowed(origin: str, allowed: Iterable[str], host: str, schemes: Iterable[str]) -> bool:
    """True when `origin` is configured, or (none configured) is this server's own scheme://Host."""
    given = normalize_origin(origin)
    if given is None:
        return False
    configured = [normalize_origin(item) for item in allowed]
    if configured:
        return given in configured
    return given in {normalize_origin(f"{scheme}://{host}") for scheme in schemes}


def token_identity(token: str) -> Identity | None:
    """The user of an API token (stored hashed), or None."""
    user_id = ApiToken.owner_id(token)
    return None if user_id is None else Identity(int(user_id), "token", ApiToken.hash_token(token))


def authenticate(request: Request, allowed_origins: Iterable[str]) -> Identity | Rejection:
    """Decide before the handshake; the caller must db.session.remove() afterwards."""
    has_auth_header = "Authorization" in request.headers
    token = bearer_token(request)
    origin = request.headers.get("Origin")
    if origin is not None:
        # Behind a proxy, ProxyFix (PROXY_FIX_X_PROTO) has already made the scheme the client's.
        if not origin_allowed(origin, allowed_origins, request.host, {request.scheme}):
            return Rejection(FORBIDDEN, "origin not allowed")
    elif token is None:
        # Browsers always send Origin; only non-browser clients (with a token) may omit it.
        return Rejection(FORBIDDEN, "origin required (or authenticate with a bearer token)")
    if has_auth_header:
        identity = token_identity(token) if token else None
        return identity or Rejection(UNAUTHORIZED, "invalid token")
    if current_user.is_authenticated:
        return Identity(int(current_user.id), "session", session_version=int(current_user.session_version or 0))
    return Rejection(UNAUTHORIZED, "authentication required")


def still_authorised(identity: Identity) -> bool:
    """True while the user exists and the token is not revoked or the session version unchanged. Short session."""
    try:
        if identity.method == "token":
            found = db.session.scalar(select(ApiToken.id).where(ApiToken.token_hash == identity.token_hash,
                                                                ApiToken.user_id == identity.user_id))
        else:
            found = db.session.scalar(select(User.id).where(User.id == identity.user_id,
                                                            User.session_version == identity.session_version))
        return found is not None
    finally:
        db.session.remove()


def may_read_portfolio(identity: Identity, portfolio_id: int) -> bool:
    """True when the user owns the portfolio (missing and foreign are the same answer). Short session."""
    from models import Portfolio

    try:
        owner = db.session.scalar(select(Portfolio.user_id).where(Portfolio.id == portfolio_id))
        return owner is not None and int(owner) == identity.user_id
    finally:
        db.session.remove()
