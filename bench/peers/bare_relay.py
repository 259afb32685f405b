"""The bare relay: gevent + simple-websocket, one Redis pub/sub listener, symbol -> set of sockets, direct send.

No per-user auth (one static token), no queues, no conflation, no limits, no snapshots, no logging: what
fan-out costs on this stack with nothing else. It speaks the benchmark's protocol subset (connection,
subscribe_asset -> subscribed, asset_update, ping -> pong). A slow reader blocks the listener: that is the
price of having no per-connection queue, and the slow-consumer scenario shows it.

Run: gunicorn -k gevent -w 1 --worker-connections 10000 bench.peers.bare_relay:app
Env: REDIS_URL, REDIS_KEY_PREFIX (same bus channels as Pricewire), BENCH_STATIC_TOKEN.
"""

import json
import os
from datetime import datetime, timezone

import gevent
import redis
from simple_websocket import ConnectionClosed, Server
from wsproto.events import TextMessage

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = os.environ.get("REDIS_KEY_PREFIX", "pricewire") + ":"
TOKEN = os.environ.get("BENCH_STATIC_TOKEN", "bench-static-token")
PATH = "/ws/realtime/"

subscribers = {}  # symbol -> set of Server
state = {"listener": None}


def now_iso():
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def envelope(kind, data):
    return json.dumps({"type": kind, "data": data, "timestamp": now_iso(), "connection_id": None},
                      separators=(",", ":"))


def send(ws, text):
    # sendall: simple-websocket's own send() uses sock.send, which may write part of a frame.
    ws.sock.sendall(ws.ws.send(TextMessage(data=text)))


def listen():
    """One pub/sub connection for the process; every message goes straight to every subscriber."""
    pubsub = redis.Redis.from_url(REDIS_URL).pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe(PREFIX + "asset:*")
    for message in pubsub.listen():
        if message["type"] != "pmessage":
            continue
        symbol = message["channel"].decode().rsplit(":", 1)[1]
        targets = subscribers.get(symbol)
        if not targets:
            continue
        text = envelope("asset_update", json.loads(message["data"])["data"])
        for ws in list(targets):
            try:
                send(ws, text)
            except Exception:
                targets.discard(ws)


def ensure_listener():
    if state["listener"] is None:
        state["listener"] = gevent.spawn(listen)


def handle(ws):
    mine = set()
    send(ws, envelope("connection", {"status": "connected", "authenticated": True}))
    try:
        while True:
            raw = ws.receive()
            if raw is None:
                break
            message = json.loads(raw)
            kind = message.get("type")
            data = message.get("data") or {}
            if kind == "subscribe_asset":
                symbols = data.get("symbols") or [data.get("symbol")]
                for symbol in symbols:
                    subscribers.setdefault(symbol, set()).add(ws)
                    mine.add(symbol)
                send(ws, envelope("subscribed", {"channel": "asset", "symbols": symbols}))
            elif kind == "ping":
                send(ws, envelope("pong", {}))
    except ConnectionClosed:
        pass
    finally:
        for symbol in mine:
            subscribers.get(symbol, set()).discard(ws)


def app(environ, start_response):
    if environ.get("PATH_INFO") != PATH:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    if environ.get("HTTP_UPGRADE", "").lower() != "websocket":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"bare relay"]
    if environ.get("HTTP_AUTHORIZATION") != "Bearer " + TOKEN:
        start_response("401 Unauthorized", [("Content-Type", "text/plain")])
        return [b"unauthorized"]
    ensure_listener()
    ws = Server.accept(environ)
    handle(ws)
    try:
        ws.close()
    except Exception:
        pass
    raise StopIteration()  # gunicorn: the socket was taken over (as flask-sock does)
