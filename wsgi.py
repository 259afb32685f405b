"""The WSGI entry point: `gunicorn -k gevent wsgi:app`, `flask --app wsgi`, or `python wsgi.py` (embedded)."""

from __future__ import annotations

if __name__ == "__main__":  # Patch before anything imports socket or threading.
    from gevent import monkey

    monkey.patch_all()

from app import create_app
from cli import register_cli
from tasks.wiring import attach_feed

app = create_app()
register_cli(app)
attach_feed(app)


def serve() -> None:
    """Embedded mode: one gevent server process, the in-process bus and feed; SIGTERM/SIGINT stop it gracefully."""
    import signal

    import gevent
    from gevent.pywsgi import WSGIServer

    from app.realtime.relay import close_all_sockets
    from models.session_view import warm_calendars

    port = app.config["PORT"]
    host = "127.0.0.1"
    with app.app_context():
        warm_calendars()  # before the first socket: building calendars would stall the event loop
    if app.config["EMBEDDED"]:  # Celery mode: beat and the workers run the feed, never this process
        from infra.local_server import remove_marker, write_marker
        from tasks.embedded import start_embedded_feed

        start_embedded_feed(app)
        write_marker(app, f"http://{host}:{port}")
    print(f"Pricewire serving on http://{host}:{port} (embedded={app.config['EMBEDDED']})", flush=True)
    server = WSGIServer((host, port), app, log=None)

    def stop() -> None:
        server.close()  # stop accepting first: a socket accepted after the 1001s would be cut without one
        close_all_sockets(app)  # 1001: browsers reconnect at once instead of after a dropped connection
        server.stop(timeout=3)  # the sockets' close handshakes, then whatever is left is ended

    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, gevent.spawn, stop)
    try:
        server.serve_forever()
    finally:
        if app.config["EMBEDDED"]:
            remove_marker(app)


if __name__ == "__main__":
    serve()
