"""The web app under attack (issue 16): redirects, ids out of range, and the defences of later items."""

from __future__ import annotations

import pytest
from flask import Flask, g
from flask.testing import FlaskClient

from models import db
from tests.support.portfolios import add_user


@pytest.mark.parametrize("next_param", ["/%09/evil.example", "/%5Cevil.example", "/%0a/evil.example",
                                        "%2F%2Fevil.example", "https://evil.example"])
def test_login_never_redirects_off_site(client: FlaskClient, next_param: str) -> None:
    add_user()
    response = client.post(f"/auth/login?next={next_param}", data={"username": "alice", "password": "s3cret"})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_login_page_does_not_carry_a_foreign_next_into_its_form(client: FlaskClient) -> None:
    page = client.get("/auth/login?next=/%09/evil.example")
    assert b"evil.example" not in page.data
    kept = client.get("/auth/login?next=/%3Fportfolio%3D2")
    assert b"next=/?portfolio%3D2" in kept.data or b"next=/%3Fportfolio%3D2" in kept.data


def test_newline_in_next_is_not_a_500(client: FlaskClient) -> None:
    add_user()
    response = client.post("/auth/login?next=/%0d%0aSet-Cookie:x=1", data={"username": "alice", "password": "s3cret"})
    assert response.status_code == 302 and "\n" not in response.headers["Location"]
    assert "x=1" not in response.headers.get("Set-Cookie", "").split(";")[0]


def test_portfolio_id_out_of_range_is_404_not_500(client: FlaskClient) -> None:
    add_user()
    client.post("/auth/login", json={"username": "alice", "password": "s3cret"})
    assert client.get("/api/portfolios/99999999999999999999").status_code == 404
    assert client.get("/api/portfolios/2147483648/history").status_code == 404


def test_a_cookie_saved_before_logout_is_dead_after_it(client: FlaskClient) -> None:
    add_user()
    client.post("/auth/login", json={"username": "alice", "password": "s3cret"})
    saved = client.get_cookie("session")
    assert saved is not None
    assert client.post("/auth/logout", json={}).status_code == 200
    client.set_cookie("session", saved.value)  # an attacker's copy of the cookie
    g.pop("_login_user", None)  # the test client shares the fixture's app context (and Flask-Login's cache in g)
    assert client.get("/auth/me").status_code == 401


def test_logging_in_again_after_logout_works(client: FlaskClient) -> None:
    add_user()
    client.post("/auth/login", json={"username": "alice", "password": "s3cret"})
    client.post("/auth/logout", json={})
    client.post("/auth/login", json={"username": "alice", "password": "s3cret"})
    assert client.get("/auth/me").status_code == 200


def test_a_password_change_ends_every_session(client: FlaskClient, app: Flask) -> None:
    user = add_user()
    client.post("/auth/login", json={"username": "alice", "password": "s3cret"})
    user.set_password("new one")
    db.session.commit()
    g.pop("_login_user", None)  # the test client shares the fixture's app context (and Flask-Login's cache in g)
    assert client.get("/auth/me").status_code == 401


def test_a_cookie_without_a_session_version_is_refused(client: FlaskClient, app: Flask) -> None:
    user = add_user()
    with client.session_transaction() as session:  # a cookie from before session versions (or forged)
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
    assert client.get("/auth/me").status_code == 401
