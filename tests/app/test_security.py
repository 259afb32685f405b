"""The web app under attack (issue 16): redirects, ids out of range, and the defences of later items."""

from __future__ import annotations

import re

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from app.api import RowIdConverter
from models import db
from protocol.client import MAX_ID
from tests.app.api_helpers import login
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


# ---- CSRF, headers, body size (item 9) ------------------------------------------------------------

def plain_client(app: Flask) -> FlaskClient:
    """A client that sends no CSRF token: a cross-site form or script."""
    return FlaskClient(app, app.response_class, use_cookies=True)


def test_changes_on_a_cookie_session_need_the_csrf_token(app: Flask, client: FlaskClient) -> None:
    add_user()
    client.post("/auth/login", json={"username": "alice", "password": "s3cret"})
    cookie = client.get_cookie("session")
    assert cookie is not None
    forged = plain_client(app)
    forged.set_cookie("session", cookie.value)
    g.pop("_login_user", None)
    refused = forged.post("/auth/logout", data={})  # a cross-site form POST
    assert refused.status_code == 400
    assert forged.post("/api/watchlist", json={"symbol": "AAPL"}).status_code == 400
    g.pop("_login_user", None)
    assert client.get("/auth/me").status_code == 200  # still logged in
    token = client.get("/auth/csrf").json["csrf_token"]
    assert forged.post("/auth/logout", headers={"X-CSRFToken": token}, json={}).status_code == 200


def test_login_form_needs_the_token_too(app: Flask) -> None:
    add_user()
    forged = plain_client(app)
    assert forged.post("/auth/login", data={"username": "alice", "password": "s3cret"}).status_code == 400
    page = forged.get("/auth/login")
    assert b'name="csrf_token"' in page.data and b'name="csrf-token"' in page.data


def test_bearer_token_calls_need_no_csrf_token(app: Flask) -> None:
    from models import ApiToken

    user = add_user()
    token, plain = ApiToken.issue(user, "script")
    db.session.add(token)
    db.session.commit()
    response = plain_client(app).post("/api/watchlist", json={"symbol": "AAPL"},
                                      headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code in (200, 201), response.json


def test_security_headers_and_csp(client: FlaskClient) -> None:
    headers = client.get("/auth/login").headers
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in headers  # plain HTTP without SESSION_COOKIE_SECURE


def test_a_large_body_is_refused_before_it_is_read(client: FlaskClient) -> None:
    big = b"username=alice&password=" + b"x" * (2 << 20)
    response = client.post("/auth/login", data=big, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413


# ---- login throttling and password checks (item 4) ------------------------------------------------

def test_failed_logins_of_one_account_are_throttled(client: FlaskClient) -> None:
    add_user()
    for _ in range(10):
        assert client.post("/auth/login", json={"username": "alice", "password": "wrong"}).status_code == 401
    throttled = client.post("/auth/login", json={"username": "alice", "password": "s3cret"})
    assert throttled.status_code == 429 and "Retry-After" in throttled.headers
    assert client.post("/auth/login", json={"username": "ALICE ", "password": "s3cret"}).status_code == 429
    add_user("bob")
    assert client.post("/auth/login", json={"username": "bob", "password": "s3cret"}).status_code == 200


def test_login_attempts_from_one_address_are_throttled() -> None:
    from tests.conftest import make_app

    application = make_app({"DATABASE_URL": "sqlite://", "LOGIN_RATE_LIMIT_PER_ADDRESS": "3 per minute"})
    with application.app_context():
        db.create_all()
        client = application.test_client()
        codes = [client.post("/auth/login", json={"username": f"user{n}", "password": "x"}).status_code
                 for n in range(4)]
        assert codes == [401, 401, 401, 429]
        db.session.remove()


def test_an_unknown_user_costs_the_same_hash_check(monkeypatch: pytest.MonkeyPatch, client: FlaskClient) -> None:
    from app import passwords

    checked: list[str] = []
    real = passwords.check_password_hash
    monkeypatch.setattr(passwords, "check_password_hash", lambda stored, pw: checked.append(stored) or real(stored, pw))
    add_user()
    client.post("/auth/login", json={"username": "nobody", "password": "x"})
    client.post("/auth/login", json={"username": "alice", "password": "x"})
    assert len(checked) == 2 and checked[0] == passwords.dummy_hash()
    assert checked[0].split("$")[0] == checked[1].split("$")[0]  # same method and cost as a real hash


def test_hashing_runs_in_the_threadpool_under_gevent(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from app import passwords

    threads: list[int] = []
    real = passwords.check_password_hash
    monkeypatch.setattr(passwords.gevent.monkey, "is_module_patched", lambda name: True)  # as in a gevent worker
    monkeypatch.setattr(passwords, "check_password_hash",
                        lambda stored, pw: threads.append(threading.get_ident()) or real(stored, pw))
    assert passwords.verify_password(None, "x") is False
    assert threads and threads[0] != threading.get_ident()  # not the event loop's thread


@given(st.integers(min_value=-10, max_value=10 * MAX_ID))
def test_row_id_pattern_matches_exactly_the_32_bit_ids(number: int) -> None:
    assert bool(re.fullmatch(RowIdConverter.regex, str(number))) == (1 <= number <= MAX_ID)


def test_out_of_range_id_is_404_beside_other_methods(client: FlaskClient) -> None:
    login(client)
    assert client.patch("/api/portfolios/99999999999999999999", json={"name": "x"}).status_code == 404
