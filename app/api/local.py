"""GET /api/local/status: the embedded server's live state for `flask feed status` / `flask ws monitor`.

Only from this machine, and only with the token of the server's marker (infra.local_server), which its
owner alone can read: in embedded mode the CLI runs in another process and has no state of its own.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from flask import Response, current_app, request

from app.api import blueprint
from app.api.monitoring import connection_manager, connection_stats, data_freshness, feed_status, json_response
from infra.local_server import TOKEN_EXTENSION, TOKEN_HEADER
from protocol.wire import iso

LOOPBACK = frozenset({"127.0.0.1", "::1"})


@blueprint.get("/api/local/status")
def local_status() -> Response:
    """Feed status, connection statistics (and with ?detailed=1 this process's numbers) for a local CLI."""
    token = current_app.extensions.get(TOKEN_EXTENSION)
    given = request.headers.get(TOKEN_HEADER, "")
    if request.remote_addr not in LOOPBACK or not token or not hmac.compare_digest(given, token):
        return json_response({"error": "local callers with the server's token only"}, 403)
    report = {
        "timestamp": iso(datetime.now(UTC)),
        "price_feed": feed_status(),
        "connections": connection_stats(),
        "data_freshness": data_freshness(),
    }
    if request.args.get("detailed"):
        report["processes"] = connection_manager().process_stats()
    return json_response(report)
