"""The web console's fences, on the Flask test client: login required, roles,
CSRF, the session cookie's flags, logout ending the session (MemoryStore)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from provisioner.accounts import Accounts
from provisioner.config import Settings
from provisioner.domain import Role
from provisioner.web import create_app
from provisioner.web.console.blueprint import is_console
from tests.support.fakes import BrokenStore, MemoryStore

PUBLIC = {"console.login", "console.static"}
PASSWORD = "a-long-password"


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    store = MemoryStore()
    settings = Settings(data_dir=tmp_path)
    accounts = Accounts(store, settings)
    for name, role in (("ada", Role.ADMIN), ("otto", Role.OPERATOR), ("vera", Role.VIEWER)):
        accounts.add_user(name, role, PASSWORD)
    return create_app(settings, store)


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def _form_token(client: FlaskClient) -> str:
    """The CSRF token of the client's session (from the login or the rack page)."""
    return _token(client.get("/ui/login", follow_redirects=True).get_data(as_text=True))


def _login(client: FlaskClient, name: str) -> str:
    """Log in; returns the CSRF token of the new session."""
    token = _form_token(client)
    resp = client.post("/ui/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    return _token(client.get("/ui/").get_data(as_text=True))


def test_every_console_page_needs_a_login_but_the_login_page(app: Flask) -> None:
    client = app.test_client()
    seen = set()
    for rule in app.url_map.iter_rules():
        if not is_console(rule.endpoint) or rule.endpoint in PUBLIC:
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = re.sub(rf"<(\w+:)?{arg}>", "x", path)
        for method in sorted((rule.methods or set()) - {"OPTIONS"}):
            resp = client.open(path, method=method)
            assert resp.status_code in (302, 303), (method, path, resp.status_code)
            assert resp.headers["Location"].startswith("/ui/login"), (method, path)
            seen.add(rule.endpoint)
    assert "console.rack" in seen


def test_the_session_cookie_is_httponly_samesite_and_new_at_each_login(app: Flask) -> None:
    client = app.test_client()
    _login(client, "vera")
    first = client.get_cookie("provisioner_console", path="/ui")
    assert first is not None
    assert first.http_only
    assert first.same_site == "Lax"
    assert not first.secure  # plain HTTP here; https or console_https: Secure
    _login(client, "vera")
    second = client.get_cookie("provisioner_console", path="/ui")
    assert second is not None
    assert second.value != first.value


def test_over_https_the_cookie_is_secure(app: Flask) -> None:
    client = app.test_client()
    token = _token(client.get("/ui/login", base_url="https://localhost").get_data(as_text=True))
    resp = client.post(
        "/ui/login",
        base_url="https://localhost",
        data={"name": "vera", "password": PASSWORD, "csrf_token": token},
    )
    assert "Secure" in resp.headers["Set-Cookie"]


def test_a_post_without_the_csrf_token_is_refused(app: Flask) -> None:
    client = app.test_client()
    _login(client, "ada")
    resp = client.post("/ui/logout")
    assert resp.status_code == 400
    assert "CSRF" in resp.get_data(as_text=True)
    assert client.get("/ui/").status_code == 200  # still logged in: nothing happened


def test_logging_in_needs_the_csrf_token_too(app: Flask) -> None:
    resp = app.test_client().post("/ui/login", data={"name": "ada", "password": PASSWORD})
    assert resp.status_code == 400


def test_logout_ends_the_session_on_the_server(app: Flask) -> None:
    client = app.test_client()
    token = _login(client, "otto")
    cookie = client.get_cookie("provisioner_console", path="/ui")
    assert cookie is not None
    assert client.post("/ui/logout", data={"csrf_token": token}).status_code == 303
    replay = app.test_client()
    replay.set_cookie("provisioner_console", cookie.value, path="/ui")
    assert replay.get("/ui/").status_code == 302  # the old cookie logs nobody in


def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_pair_out(
    app: Flask,
) -> None:
    client = app.test_client()
    token = _token(client.get("/ui/login").get_data(as_text=True))
    statuses = [
        client.post(
            "/ui/login", data={"name": "vera", "password": "wrong-one", "csrf_token": token}
        ).status_code
        for _ in range(6)
    ]
    assert statuses == [401] * 5 + [429]
    right = {"name": "vera", "password": PASSWORD, "csrf_token": token}
    assert client.post("/ui/login", data=right).status_code == 429  # locked, even when right
    other = {"name": "ada", "password": PASSWORD, "csrf_token": token}
    assert client.post("/ui/login", data=other).status_code == 303  # another user is not


def test_after_login_only_paths_of_the_console_are_followed(app: Flask) -> None:
    for evil in ("https://evil.example/", "//evil.example/ui/", "/api/v1/nodes", "/ui\\@evil"):
        client = app.test_client()
        data = {"name": "vera", "password": PASSWORD, "csrf_token": _form_token(client)}
        resp = client.post("/ui/login", query_string={"next": evil}, data=data)
        assert resp.headers["Location"] == "/ui/", evil
    client = app.test_client()
    data = {"name": "vera", "password": PASSWORD, "csrf_token": _form_token(client)}
    resp = client.post("/ui/login", query_string={"next": "/ui/?view=grid"}, data=data)
    assert resp.headers["Location"] == "/ui/?view=grid"


def test_with_the_database_down_the_console_answers_a_503_page(tmp_path: Path) -> None:
    client = create_app(Settings(data_dir=tmp_path), BrokenStore()).test_client()
    assert client.get("/ui/").status_code == 302  # no session: nothing asked of the store
    token = _form_token(client)
    resp = client.post("/ui/login", data={"name": "ada", "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 503
    assert resp.mimetype == "text/html"
    assert "database unavailable" in resp.get_data(as_text=True)


def test_behind_a_tls_proxy_console_https_makes_the_cookie_secure(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, console_https=True), MemoryStore())
    resp = app.test_client().get("/ui/login")  # plain HTTP from the proxy
    assert "Secure" in resp.headers["Set-Cookie"]
