"""The web app under attack (issue 16): redirects, ids out of range, and the defences of later items."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

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
