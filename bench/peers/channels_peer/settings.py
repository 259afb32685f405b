"""Django settings of the Channels peer: only what a WebSocket relay needs, CHANNEL_LAYERS as the reference."""

import os

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels"]
ASGI_APPLICATION = "bench.peers.channels_peer.asgi.application"
USE_TZ = True
DATABASES = {}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

# As the reference's settings: channels_redis, capacity 1500, expiry 60 (its default URL is db 3).
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [os.environ.get("PEER_REDIS_URL", "redis://127.0.0.1:6379/3")],
            "capacity": 1500,
            "expiry": 60,
        },
    },
}

# Every peer accepts one static bearer token (the benchmark measures relaying, not authentication).
BENCH_STATIC_TOKEN = os.environ.get("BENCH_STATIC_TOKEN", "bench-static-token")
