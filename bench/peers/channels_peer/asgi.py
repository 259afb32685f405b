"""ASGI entry: `daphne -b 127.0.0.1 -p PORT bench.peers.channels_peer.asgi:application`."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.channels_peer.settings")

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402

django_asgi = get_asgi_application()

from bench.peers.channels_peer.consumers import RealtimeConsumer  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_asgi,
    "websocket": URLRouter([path("ws/realtime/", RealtimeConsumer.as_asgi())]),
})
