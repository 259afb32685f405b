"""Login by form and JSON, logout, /auth/me, cookie flags."""

from __future__ import annotations

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.portfolios import add_user


def test_me_requires_login(client: FlaskClient) -> None:
    response = client.get("/auth/me")
    assert response.status_code == 401
    assert response.json == {"error": "authentication required"}


def test_json_login_and_me(client: FlaskClient) -> None:
    user = add_user()
    response = client.post("/auth/login", json={"username": "alice", "password": "s3cret"})
    assert response.status_code == 200
    assert response.json == {"user": {"id": user.id, "username": "alice"}}
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/auth/me").json["user"]["username"] == "alice"


def test_bad_password_is_401(client: FlaskClient) -> None:
    add_user()
    assert client.post("/auth/login", json={"username": "alice", "password": "nope"}).status_code == 401
    assert client.post("/auth/login", json={"username": "bob", "password": "x"}).status_code == 401
    assert client.post("/auth/login", json={"username": 5, "password": None}).status_code == 401


@pytest.mark.parametrize("body", ['{"username": "alice", "password": ', '["not", "an", "object"]', '"alice"', "null"])
def test_malformed_json_login_is_400(client: FlaskClient, body: str) -> None:
    add_user()
    response = client.post("/auth/login", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json == {"error": 'expected a JSON object {"username": ..., "password": ...}'}


def test_form_login_redirects_and_page_renders(client: FlaskClient) -> None:
    add_user()
    page = client.get("/auth/login")
    assert page.status_code == 200 and b'name="password"' in page.data
    bad = client.post("/auth/login", data={"username": "alice", "password": "wrong"})
    assert bad.status_code == 401 and b"Invalid username or password" in bad.data
    good = client.post("/auth/login?next=/", data={"username": "alice", "password": "s3cret"})
    assert good.status_code == 302 and good.headers["Location"] == "/"


def test_open_redirect_is_refused(client: FlaskClient) -> None:
    add_user()
    response = client.post("/auth/login?next=//evil.example/", data={"username": "alice", "password": "s3cret"})
    assert response.headers["Location"] == "/"


def test_logout_ends_session(client: FlaskClient) -> None:
    add_user()
    client.post("/auth/login", json={"username": "alice", "password": "s3cret"})
    assert client.post("/auth/logout", json={}).json == {"status": "logged out"}
    assert client.get("/auth/me").status_code == 401


def test_dashboard_redirects_browser_to_login(client: FlaskClient, app: Flask) -> None:
    response = client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_bearer_token_reaches_the_api_without_a_cookie(client: FlaskClient) -> None:
    from models import ApiToken, db

    user = add_user()
    token, plain = ApiToken.issue(user, "script")
    db.session.add(token)
    db.session.commit()

    def get(path: str, authorization: str) -> TestResponse:
        # The fixture's app context spans the test, so forget flask-login's per-request user first.
        g.pop("_login_user", None)
        return client.get(path, headers={"Authorization": authorization})

    assert get("/auth/me", f"Bearer {plain}").json["user"]["id"] == user.id
    assert get("/api/portfolios", f"Bearer {plain}").status_code == 200
    assert get("/auth/me", "Bearer pw_wrong").status_code == 401
    assert get("/auth/me", f"Basic {plain}").status_code == 401
    assert "Set-Cookie" not in client.get("/auth/me", headers={"Authorization": f"Bearer {plain}"}).headers
