"""The web app's defences: CSRF tokens, login throttling, security headers and CSP (see docs/security.md)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFError, CSRFProtect

from app.http_auth import bearer_token, credentials, wants_json
from infra.settings import get_settings

csrf = CSRFProtect()
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LIMITER_KEY = "pricewire.limiter"

# Same-origin everything; the dashboard has no inline script or style. 'self' covers ws(s):// to this host.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": ["'self'", "data:"],
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def init_security(app: Flask) -> None:
    """Wire CSRF (cookie sessions only), the login limits and the headers into `app`."""
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # checked below: bearer-token calls are exempt
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's life (a dashboard left open)
    csrf.init_app(app)
    app.before_request(_check_csrf)
    app.register_error_handler(CSRFError, _csrf_failed)
    secure = get_settings(app).session_cookie_secure
    Talisman(app, force_https=False, frame_options="DENY", content_security_policy=CONTENT_SECURITY_POLICY,
             session_cookie_secure=secure, session_cookie_http_only=True, session_cookie_samesite="Lax",
             strict_transport_security=secure)
    _limit_logins(app)


def _check_csrf() -> None:
    # A bearer token is not sent by browsers on their own, so it cannot be forged cross-site; a cookie is.
    if request.method in UNSAFE_METHODS and bearer_token(request) is None:
        csrf.protect()


def _csrf_failed(error: CSRFError) -> Any:
    message = f"CSRF check failed: {error.description} (send the token from GET /auth/csrf as X-CSRFToken)"
    if wants_json() or request.blueprint == "api":
        return jsonify(error=message), 400
    return render_template("login.html", error="Your form expired; please try again.", next_url=None), 400


def _account_key() -> str:
    found = credentials()
    return "account:" + (found[0].strip().lower()[:80] if found else "")


def _failed_login(response: Response) -> bool:
    return response.status_code == 401


def _too_many(limit: RequestLimit) -> Response:
    """429 in the caller's language; Flask-Limiter adds Retry-After."""
    if wants_json():
        response = jsonify(error="too many login attempts; try again later")
    else:
        response = current_app.make_response(
            render_template("login.html", error="Too many login attempts; try again later.", next_url=None))
    response.status_code = 429
    return response


def _limit_logins(app: Flask) -> None:
    """Per account (failed attempts) and per address (every attempt), in Redis when there is one."""
    settings = get_settings(app)
    prefix = f"{settings.redis_key_prefix}:limits"
    limiter = Limiter(get_remote_address, app=app, storage_uri=settings.redis_url or "memory://",
                      storage_options={"key_prefix": prefix} if settings.redis_url else {},
                      headers_enabled=True, swallow_errors=True, in_memory_fallback_enabled=True,
                      strategy="moving-window")
    app.extensions[LIMITER_KEY] = limiter
    # Sockets live for hours inside their request: no per-request limiter state kept for each of them.
    limiter.exempt(app.view_functions["ws.realtime_socket"])
    view: Any = app.view_functions["auth.login"]
    view = limiter.limit(lambda: get_settings(app).login_rate_limit_per_account, key_func=_account_key,
                         methods=["POST"], deduct_when=_failed_login, on_breach=_too_many)(view)
    view = limiter.limit(lambda: get_settings(app).login_rate_limit_per_address, methods=["POST"],
                         on_breach=_too_many)(view)
    app.view_functions["auth.login"] = view
