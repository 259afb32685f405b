"""Login, logout and who-am-I, for browsers (form + session cookie) and JSON clients."""

from __future__ import annotations

import contextlib
from typing import Any

from flask import Blueprint, Request, Response, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from app.extensions import db, login_manager, login_required
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


def _credentials() -> tuple[str, str] | None:
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
        return render_template("login.html", error=None)
    credentials = _credentials()
    if credentials is None:  # malformed: a client bug, not a failed login
        return jsonify(error=LOGIN_BODY_ERROR), 400
    username, password = credentials
    user = db.session.scalar(select(User).where(User.username == username.strip())) if username else None
    if user is None or not user.check_password(password):
        if wants_json():
            return jsonify(error="invalid username or password"), 401
        return render_template("login.html", error="Invalid username or password."), 401
    login_user(user)
    if wants_json():
        return jsonify(user=user.to_dict())
    target = request.args.get("next", "")
    # Only local paths: an absolute URL here would be an open redirect.
    return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("web.dashboard"))


@blueprint.post("/logout")
def logout() -> Response | Any:
    """End the session and every live socket of this user."""
    if current_user.is_authenticated:
        user_id = current_user.id
        logout_user()
        # Sockets re-check the session on their next subscribe; logout itself must not fail.
        with contextlib.suppress(BusError):
            get_bus().publish(user_channel(user_id), logout_message())
    if wants_json():
        return jsonify(status="logged out")
    return redirect(url_for("auth.login"))


@blueprint.get("/me")
@login_required
def me() -> Any:
    """The logged-in user."""
    return jsonify(user=current_user.to_dict())
