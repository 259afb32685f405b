"""HTTP authentication: login, logout, who-am-I and bearer tokens, for browsers (form + cookie) and JSON clients."""

from __future__ import annotations

import contextlib
from typing import Any

from flask import Blueprint, Request, Response, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from app.extensions import db, login_manager, login_required
from app.passwords import verify_password
from app.redirects import safe_next_url
from infra.bus import BusError, get_bus
from models import ApiToken, User
from protocol.bus import logout_message
from protocol.channels import user_channel

blueprint = Blueprint("auth", __name__, url_prefix="/auth")


def wants_json() -> bool:
    """True for API clients: a JSON body or a JSON-preferring Accept header."""
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def bearer_token(req: Request) -> str | None:
    """The token of an `Authorization: Bearer ...` header, if any."""
    scheme, _, token = req.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@login_manager.request_loader
def _user_from_bearer_token(req: Request) -> User | None:
    """Non-browser clients call the API with a token from `flask tokens create` instead of a cookie."""
    token = bearer_token(req)
    user_id = ApiToken.owner_id(token) if token else None
    return None if user_id is None else db.session.get(User, user_id)


@login_manager.unauthorized_handler
def unauthorized() -> Any:
    """401 JSON for API clients, the login page for browsers."""
    if wants_json() or request.blueprint == "api" or request.endpoint == "auth.me":
        return jsonify(error="authentication required"), 401
    return redirect(url_for("auth.login", next=request.path))


LOGIN_BODY_ERROR = 'expected a JSON object {"username": ..., "password": ...}'


def credentials() -> tuple[str, str] | None:
    """Username and password from a JSON object or the form; None when a JSON body is not an object."""
    source = request.get_json(silent=True) if request.is_json else request.form
    if source is None or not hasattr(source, "get"):
        return None
    username, password = source.get("username"), source.get("password")
    return (username if isinstance(username, str) else "", password if isinstance(password, str) else "")


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Show the form, or check credentials and start a session."""
    if request.method == "GET":
        return render_template("login.html", error=None, next_url=safe_next_url(request.args.get("next")))
    found = credentials()
    if found is None:  # malformed: a client bug, not a failed login
        return jsonify(error=LOGIN_BODY_ERROR), 400
    username, password = found
    user = db.session.scalar(select(User).where(User.username == username.strip())) if username else None
    if not verify_password(user, password):
        if wants_json():
            return jsonify(error="invalid username or password"), 401
        return render_template("login.html", error="Invalid username or password.",
                               next_url=safe_next_url(request.args.get("next"))), 401
    assert user is not None
    login_user(user)
    if wants_json():
        return jsonify(user=user.to_dict())
    # Only same-origin paths, judged after a browser's normalization: anything else is an open redirect.
    return redirect(safe_next_url(request.args.get("next")) or url_for("web.dashboard"))


def announce_logout(user_id: int) -> None:
    """Close the user's browser sockets in every web process now (they re-check on subscribe anyway)."""
    with contextlib.suppress(BusError):  # a logout must not fail on the bus
        get_bus().publish(user_channel(user_id), logout_message())


def end_all_sessions(user: User) -> None:
    """Bump the user's session version (every cookie issued so far is dead), commit, close their sockets."""
    user.end_sessions()
    db.session.commit()
    announce_logout(user.id)


@blueprint.post("/logout")
def logout() -> Response | Any:
    """End the session: the session version moves on, so this cookie and every copy of it are dead."""
    if current_user.is_authenticated and "_user_id" in session:  # a bearer token is not a session
        user = current_user._get_current_object()
        logout_user()
        end_all_sessions(user)
    if wants_json():
        return jsonify(status="logged out")
    return redirect(url_for("auth.login"))


@blueprint.get("/csrf")
def csrf_token() -> Any:
    """This session's CSRF token: cookie-session clients send it back as `X-CSRFToken` on every change."""
    return jsonify(csrf_token=generate_csrf())


@blueprint.get("/me")
@login_required
def me() -> Any:
    """The logged-in user."""
    return jsonify(user=current_user.to_dict())
