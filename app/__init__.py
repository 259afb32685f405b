"""The Flask application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import load_config
from app.extensions import db, login_manager, migrate
from app.logging_setup import configure_logging
from app.security import init_security
from infra.bus import init_bus
from infra.feed_status import init_feed_status
from infra.settings import get_settings, init_settings
from models import User


def create_app(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Flask:
    """Build the web app: config from the environment, extensions, blueprints."""
    config = load_config(environ)
    config.update(overrides or {})
    app = Flask(__name__, instance_path=config["INSTANCE_PATH"])
    app.config.update(config)
    configure_logging(init_settings(app))

    db.init_app(app)
    migrate.init_app(app, db)
    login_manager.init_app(app)
    init_bus(app)
    init_feed_status(app)

    from app import api, http_auth, web, ws

    app.url_map.converters["id"] = api.RowIdConverter
    for blueprint in (http_auth.blueprint, api.blueprint, web.blueprint, ws.blueprint):
        app.register_blueprint(blueprint)
    trust_proxies(app)
    init_security(app)
    return app


def trust_proxies(app: Flask) -> None:
    """Believe exactly the configured number of proxies' forwarded headers (none by default: clients can forge them)."""
    settings = get_settings(app)
    hops = (settings.proxy_fix_x_for, settings.proxy_fix_x_proto, settings.proxy_fix_x_host)
    if any(hops):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops[0], x_proto=hops[1], x_host=hops[2])  # type: ignore[method-assign]


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    """The session's user, only while the cookie's session version is the user's current one."""
    parsed = User.parse_session_id(session_id)
    if parsed is None:
        return None
    user = db.session.get(User, parsed[0])
    return user if user is not None and user.session_version == parsed[1] else None
