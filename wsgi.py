"""The WSGI entry point: `gunicorn -k gevent wsgi:app`, `flask --app wsgi`, or `python wsgi.py` (embedded)."""

from __future__ import annotations

if __name__ == "__main__":  # Patch before anything imports socket or threading.
    from gevent import monkey

    monkey.patch_all()

from app import create_app
from cli import register_cli

app = create_app()
register_cli(app)


def serve() -> None:
    """Embedded mode: one gevent server process, the in-process bus and feed."""
    from gevent.pywsgi import WSGIServer

    port = app.config["PORT"]
    host = "127.0.0.1"
    print(f"Pricewire serving on http://{host}:{port} (embedded={app.config['EMBEDDED']})", flush=True)
    WSGIServer((host, port), app, log=None).serve_forever()


if __name__ == "__main__":
    serve()
