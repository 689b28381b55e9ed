"""Handlers against the store fakes (tests/support/fakes.py), with no database:
a broken store gives the JSON 503 on every open boot endpoint and on the API
(never a 500, never a traceback); a memory store serves boot and API as the SQL
store does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from provisioner.config import Settings, load_settings
from provisioner.domain import Role
from provisioner.errors import StoreError
from provisioner.service import Service
from provisioner.store import Store
from provisioner.web import create_app
from tests.conftest import Api
from tests.support.fakes import STORE_METHODS, BrokenStore, MemoryStore
from tests.support.release import RELEASE, add_release

MAC = "52:54:00:c0:02:0a"
CFG = "01-52-54-00-c0-02-0a"


@pytest.fixture
def bare_settings(tmp_path: Path) -> Settings:
    """Settings whose database is never opened: the app gets a fake store."""
    return load_settings({}, overrides={"data_dir": str(tmp_path / "data")})


def _app(settings: Settings, store: Store) -> Flask:
    app = create_app(settings, store)
    app.testing = True
    return app


def test_the_fakes_are_stores() -> None:
    memory: Store = MemoryStore()  # mypy checks these (scripts/test, make typecheck)
    broken: Store = BrokenStore()
    assert memory.list_nodes() == []
    assert broken is not memory


@pytest.mark.parametrize("method", STORE_METHODS)
def test_every_method_of_the_broken_store_raises_store_error(method: str) -> None:
    with pytest.raises(StoreError):
        getattr(BrokenStore(), method)()


# -- a broken store: 503 with the JSON error, never a 500 -------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        f"/boot/pxelinux.cfg/{CFG}",
        "/boot/pxelinux.cfg/default",
        f"/boot/ipxe?mac={MAC}",
        f"/boot/files/pxelinux.cfg/{CFG}",
    ],
)
def test_open_boot_endpoints_answer_503_when_the_store_is_broken(
    bare_settings: Settings, path: str
) -> None:
    client = _app(bare_settings, BrokenStore()).test_client()
    resp = client.get(path)
    assert resp.status_code == 503
    assert resp.get_json()["error"]["code"] == "store_unavailable"
    assert b"Traceback" not in resp.data


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/nodes", None),
        ("GET", f"/api/v1/nodes/{MAC}", None),
        ("PUT", f"/api/v1/nodes/{MAC}", {"options": "auto"}),
        ("GET", "/api/v1/profiles", None),
        ("GET", "/api/v1/images", None),
        ("GET", "/api/v1/events", None),
    ],
)
def test_the_api_answers_503_when_the_store_is_broken(
    bare_settings: Settings, method: str, path: str, body: dict[str, Any] | None
) -> None:
    client = _app(bare_settings, BrokenStore()).test_client()
    resp = client.open(path, method=method, json=body, headers={"Authorization": "Bearer x"})
    assert resp.status_code == 503
    error = resp.get_json()["error"]
    assert error["code"] == "store_unavailable"
    assert "database unavailable" in error["message"]
    assert b"Traceback" not in resp.data


# -- a memory store: boot and API with no database --------------------------------------------
@pytest.fixture
def memory_app(bare_settings: Settings) -> Flask:
    return _app(bare_settings, MemoryStore())


@pytest.fixture
def memory_admin(memory_app: Flask) -> Api:
    service: Service = memory_app.extensions["provisioner"].service
    _, secret = service.create_token("test-admin", Role.ADMIN)
    # the release installing nodes name (preflight refuses install without one)
    add_release(service.store)
    return Api(memory_app.test_client(), secret)


def test_a_node_put_over_the_api_boots_over_http(memory_app: Flask, memory_admin: Api) -> None:
    resp = memory_admin.put(
        f"/api/v1/nodes/{MAC}", json={"options": "auto ip.192.0.2.50", "release": RELEASE}
    )
    assert resp.status_code == 201
    client: FlaskClient = memory_app.test_client()
    service: Service = memory_app.extensions["provisioner"].service
    cfg = client.get(f"/boot/pxelinux.cfg/{CFG}")
    assert cfg.status_code == 200
    assert cfg.get_data(as_text=True) == service.pxelinux_file(CFG, "http://localhost")
    assert "ip.192.0.2.50" in cfg.get_data(as_text=True)
    ipxe = client.get(f"/boot/ipxe?mac={MAC}")
    assert ipxe.status_code == 200
    assert ipxe.get_data(as_text=True).startswith("#!ipxe")
    assert [n["mac"] for n in memory_admin.get("/api/v1/nodes").get_json()] == [MAC]


def test_the_memory_store_pages_events_after_an_id_as_the_sql_store_does(
    memory_admin: Api,
) -> None:
    for hostname in ("a", "b", "c"):
        memory_admin.put(f"/api/v1/nodes/{MAC}", json={"hostname": hostname, "action": "local"})
    ids = [e["id"] for e in memory_admin.get(f"/api/v1/nodes/{MAC}/events").get_json()]
    since = memory_admin.get(f"/api/v1/nodes/{MAC}/events?after={ids[-1]}&limit=1").get_json()
    assert [e["id"] for e in since] == [ids[1]]  # the oldest page above the cursor


def test_unknown_boxes_and_bad_input_keep_their_4xx(memory_app: Flask, memory_admin: Api) -> None:
    client = memory_app.test_client()
    assert client.get("/boot/ipxe?mac=52:54:00:c0:02:99").status_code == 404
    assert client.get("/boot/ipxe?mac=nonsense").status_code == 422
    assert client.get("/boot/ipxe").status_code == 422
    assert memory_admin.get("/api/v1/nodes/52:54:00:c0:02:99").status_code == 404
    resp = memory_admin.put(f"/api/v1/nodes/{MAC}", json={"profile": "nope"})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["field"] == "profile"
    assert client.get("/api/v1/nodes").status_code == 401


def test_a_profile_in_use_cannot_be_deleted(memory_admin: Api) -> None:
    profile = {"options": "auto", "release": RELEASE}
    assert memory_admin.put("/api/v1/profiles/p", json=profile).status_code == 201
    memory_admin.put(f"/api/v1/nodes/{MAC}", json={"profile": "p"})
    resp = memory_admin.delete("/api/v1/profiles/p")
    assert resp.status_code == 409
    assert MAC in resp.get_json()["error"]["message"]
