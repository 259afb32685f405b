"""WebSocket authentication: who may open a socket (origin, cookie or bearer token), re-checked on subscribe."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Request
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.http_auth import bearer_token
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


TokenOwners = Callable[[str], int | None]  # token hash -> user id


def token_owners(token_hashes: Iterable[str]) -> dict[str, int]:
    """Token hash -> its user's id, for the tokens that exist (one query)."""
    wanted = list(dict.fromkeys(token_hashes))
    if not wanted:
        return {}
    rows = db.session.execute(select(ApiToken.token_hash, ApiToken.user_id).where(ApiToken.token_hash.in_(wanted)))
    return {str(token_hash): int(user_id) for token_hash, user_id in rows}


def token_identity(token: str, owners: TokenOwners) -> Identity | None:
    """The user of an API token (stored hashed), or None; `owners` looks hashes up (shared, batched)."""
    token_hash = ApiToken.hash_token(token)
    user_id = owners(token_hash)
    return None if user_id is None else Identity(int(user_id), "token", token_hash)


def authenticate(request: Request, allowed_origins: Iterable[str], owners: TokenOwners) -> Identity | Rejection:
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
        identity = token_identity(token, owners) if token else None
        return identity or Rejection(UNAUTHORIZED, "invalid token")
    if current_user.is_authenticated:
        return Identity(int(current_user.id), "session", session_version=int(current_user.session_version or 0))
    return Rejection(UNAUTHORIZED, "authentication required")


def authorised(identities: Iterable[Identity]) -> dict[Identity, bool]:
    """Each identity -> True while its user exists, its token is not revoked or its session version unchanged.

    Two queries at most, for any number of identities.
    """
    wanted = list(dict.fromkeys(identities))
    hashes = [i.token_hash for i in wanted if i.method == "token" and i.token_hash is not None]
    users = [i.user_id for i in wanted if i.method != "token"]
    tokens = token_owners(hashes)
    existing: set[tuple[int, int | None]] = set()
    if users:  # a session stays valid while its user's session_version is the one seen at the handshake
        existing = {(int(u), v) for u, v in db.session.execute(
            select(User.id, User.session_version).where(User.id.in_(users)))}
    return {i: (tokens.get(i.token_hash or "") == i.user_id if i.method == "token"
                else (i.user_id, i.session_version) in existing)
            for i in wanted}


def portfolio_owners(portfolio_ids: Iterable[int]) -> dict[int, int]:
    """Portfolio id -> owner's user id, for those that exist (one query)."""
    from models import Portfolio

    wanted = list(dict.fromkeys(portfolio_ids))
    if not wanted:
        return {}
    rows = db.session.execute(select(Portfolio.id, Portfolio.user_id).where(Portfolio.id.in_(wanted)))
    return {int(pid): int(owner) for pid, owner in rows}
