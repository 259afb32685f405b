"""RealtimeConsumer: the reference's consumer reduced to the benchmark's protocol subset.

connect (static bearer token) -> `connection`; subscribe_asset {symbols|symbol} -> group_add per symbol and
`subscribed`; group messages {"type": "asset.update", "data": ...} -> `asset_update`; ping -> pong.
"""

from django.conf import settings
from django.utils import timezone
from channels.generic.websocket import AsyncJsonWebsocketConsumer


def envelope(kind, data):
    return {"type": kind, "data": data, "timestamp": timezone.now().isoformat().replace("+00:00", "Z"),
            "connection_id": None}


def group_name(symbol):
    return f"asset_{symbol}"


class RealtimeConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        headers = dict(self.scope.get("headers") or [])
        if headers.get(b"authorization", b"").decode() != "Bearer " + settings.BENCH_STATIC_TOKEN:
            await self.close(code=4401)
            return
        self.asset_groups = set()
        await self.accept()
        await self.send_json(envelope("connection", {"status": "connected", "authenticated": True,
                                                     "connection_id": self.channel_name}))

    async def receive_json(self, content, **kwargs):
        kind = content.get("type")
        data = content.get("data") or {}
        if kind == "subscribe_asset":
            symbols = data.get("symbols") or [data.get("symbol")]
            for symbol in symbols:
                await self.channel_layer.group_add(group_name(symbol), self.channel_name)
                self.asset_groups.add(group_name(symbol))
            await self.send_json(envelope("subscribed", {"channel": "asset", "symbols": symbols}))
        elif kind == "ping":
            await self.send_json(envelope("pong", {}))

    async def asset_update(self, event):
        await self.send_json(envelope("asset_update", event["data"]))

    async def disconnect(self, code):
        for group in getattr(self, "asset_groups", ()):
            await self.channel_layer.group_discard(group, self.channel_name)
