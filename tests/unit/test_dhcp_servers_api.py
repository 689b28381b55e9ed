"""GET /api/v1/dhcp/servers: what observe mode recorded, readable with a viewer
token, with a warning for each server that competes with this server's mode."""

from __future__ import annotations

import dataclasses

from flask.testing import FlaskClient

from provisioner.config import Settings
from provisioner.db.sqlstore import SqlStore
from provisioner.domain import Role
from provisioner.service import Service
from provisioner.web import create_app
from tests.conftest import Api
from tests.support.observed import record_offer

SERVER = "192.0.2.2"


def test_a_viewer_reads_the_servers_heard_with_their_offer_and_clients(
    viewer: Api, store: SqlStore
) -> None:
    assert viewer.get("/api/v1/dhcp/servers").get_json() == {
        "mode": "off",
        "warnings": [],
        "servers": [],
    }
    record_offer(store)
    body = viewer.get("/api/v1/dhcp/servers").get_json()
    [server] = body["servers"]
    assert (server["server_id"], server["replies"], server["competes"]) == (SERVER, 1, False)
    assert server["offer"]["boot_file"] == "pxelinux.0"
    assert server["offer"]["options"]["54"] == "c0000202"
    assert server["clients"] == [
        {
            "mac": "52:54:00:c0:02:41",
            "message": "OFFER",
            "address": "192.0.2.120",
            "pxe": True,
            "at": "2026-12-02T18:00:00Z",
        }
    ]
    assert body["warnings"] == []


def test_in_proxy_mode_a_server_offering_boot_files_is_a_warning(
    settings: Settings, store: SqlStore
) -> None:
    app = create_app(dataclasses.replace(settings, dhcp="proxy", interface="br0"), store)
    app.testing = True
    _, secret = Service(store, settings).create_token("v", Role.VIEWER)
    record_offer(store)
    client: FlaskClient = app.test_client()
    body = client.get(
        "/api/v1/dhcp/servers", headers={"Authorization": f"Bearer {secret}"}
    ).get_json()
    assert body["servers"][0]["competes"] is True
    assert len(body["warnings"]) == 1
    assert "192.0.2.2" in body["warnings"][0]
    assert "offering boot files" in body["warnings"][0]


def test_the_route_needs_a_token(client: FlaskClient) -> None:
    assert client.get("/api/v1/dhcp/servers").status_code == 401
