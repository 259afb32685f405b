"""The shipped nginx site in front of two gunicorn processes: login, WebSockets, the Origin check, /metrics."""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import urllib3

from app.realtime.cluster import ClusterState
from infra.bus import RedisBus
from protocol.channels import asset_channel
from tests.app.ws.client import Closed, WsClient
from tests.app.ws.conftest import PASSWORD, Seed, connected, publish_asset, subscribe_and_wait, wait_quiet
from tests.support.nginx import Nginx, start_nginx
from tests.support.processes import WebServer

pytestmark = pytest.mark.integration

MONITOR = "127.0.0.2"  # the only address allowed to read /metrics and /health; the tests connect from 127.0.0.1
TRUST_ONE_PROXY = {"PROXY_FIX_X_FOR": 1, "PROXY_FIX_X_PROTO": 1, "PROXY_FIX_X_HOST": 1}
NO_VERIFY = {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}


@pytest.fixture
def proxy(servers: Callable[..., WebServer], tmp_path: Path) -> Iterator[Nginx]:
    """Nginx (TLS on) in front of two web processes that trust exactly one proxy."""
    webs = [servers(**TRUST_ONE_PROXY), servers(**TRUST_ONE_PROXY)]
    nginx = start_nginx(tmp_path / "nginx", [int(str(web.extra["port"])) for web in webs], [MONITOR])
    yield nginx
    nginx.stop()


def login(base_url: str) -> str:
    """Log in through the proxy; the session cookie as a Cookie header."""
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    session = requests.Session()
    # CSRF covers the cookie login too (docs/security.md); over https flask-wtf also wants a same-origin Referer.
    token = session.get(base_url + "/auth/csrf", timeout=10, verify=False).json()["csrf_token"]
    session.headers.update({"X-CSRFToken": token, "Referer": base_url + "/"})
    response = session.post(base_url + "/auth/login", json={"username": "alice", "password": PASSWORD}, timeout=10,
                            verify=False)
    assert response.status_code == 200, response.text
    return "; ".join(f"{name}={value}" for name, value in session.cookies.items())


def get_from(address: str, port: int, path: str) -> int:
    """The status of a GET sent from a given local address."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(address, 0))
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def test_websockets_through_nginx_reach_both_processes(proxy: Nginx, seed: Seed, bus: RedisBus,
                                                       cluster: ClusterState,
                                                       clients: Callable[..., WsClient]) -> None:
    cookie = login(proxy.https_url)
    ws_url = proxy.https_url.replace("https://", "wss://") + "/ws/realtime/"
    sockets = [clients(ws_url, cookie=cookie, origin=proxy.https_url, sslopt=NO_VERIFY) for _ in range(2)]
    for client in sockets:
        assert connected(client)["user_id"] == seed.alice_id
        subscribe_and_wait(client, "AAPL")
    # least_conn: the second socket goes to the process without one.
    assert sorted(item["connections"] for item in wait_quiet(cluster, connections=2)) == [1, 1]
    publish_asset(bus, "AAPL", 6, "160.00")
    for client in sockets:
        update = client.expect_type("asset_update", channel=asset_channel("AAPL"), seq=6)
        assert update["data"]["price"] == 160.0


def test_origin_check_sees_the_clients_scheme(proxy: Nginx, seed: Seed, clients: Callable[..., WsClient]) -> None:
    """Nginx says X-Forwarded-Proto: https only on its TLS port; an https origin over plain http is refused."""
    cookie = login(proxy.http_url)
    plain = clients(proxy.http_url.replace("http://", "ws://") + "/ws/realtime/", cookie=cookie,
                    origin=proxy.https_url.replace(str(proxy.extra["tls_port"]), str(proxy.extra["http_port"])))
    with pytest.raises(Closed):
        plain.expect_type("connection")
    assert plain.close_code == 4403
    same_scheme = clients(proxy.http_url.replace("http://", "ws://") + "/ws/realtime/", cookie=cookie,
                          origin=proxy.http_url)
    assert connected(same_scheme)["user_id"] == seed.alice_id


def test_monitoring_only_from_allowed_addresses(proxy: Nginx, seed: Seed) -> None:
    port = int(str(proxy.extra["http_port"]))
    for path in ("/metrics", "/health", "/healthz"):
        assert get_from("127.0.0.1", port, path) == 403, path
    assert get_from(MONITOR, port, "/metrics") == 200
    assert get_from(MONITOR, port, "/healthz") == 200
    assert get_from("127.0.0.1", port, "/static/css/pricewire.css") == 200
