"""The installed system's reports (``POST /node/report``): the per-node credential
its install registered, ``running``, fallback, rollback on a running box, revocation,
``unconfirmed`` (on SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from provisioner.domain import Release, utcnow
from provisioner.service import Service
from tests.conftest import Api
from tests.support.agent import build_token, post_report

MAC = "52:54:00:c0:02:0b"
SHA = "cd" * 32
CRED = "5e" * 32


def _token(client: FlaskClient) -> str:
    return build_token(client, MAC)


def _agent(client: FlaskClient, token: str, **form: str) -> Any:
    resp = post_report(client, token, **form)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp


def _install(client: FlaskClient, slot: str, release: str, credential: str = CRED) -> None:
    """What the agent reports for one install into ``slot``."""
    token = _token(client)
    _agent(client, token, step="boot", status="running", message="up")
    _agent(client, token, step="image", status="ok", slot=slot)
    _agent(client, token, step="verify", status="ok", slot=slot)
    _agent(client, token, step="done", status="ok", mode="fresh", active=slot,
           **{f"slot_{slot.lower()}": f"{release} {SHA} 1 2"}, credential=credential)  # fmt: skip


def _report(client: FlaskClient, secret: str = CRED, **form: str) -> Any:
    data = {"mac": MAC, "slot": "A", "release": "avbox:1.0", "kernel": "6.1.0-27-amd64",
            "addresses": "192.0.2.50/24", "uptime": "12.5", **form}  # fmt: skip
    return client.post("/node/report", data=data, headers={"Authorization": f"Bearer {secret}"})


def _node(admin: Api) -> dict[str, Any]:
    data: dict[str, Any] = admin.get(f"/api/v1/nodes/{MAC}").get_json()
    return data


def _kinds(admin: Api) -> list[str]:
    """The node's event kinds, oldest first (the API lists newest first)."""
    return [e["kind"] for e in reversed(admin.get(f"/api/v1/nodes/{MAC}/events").get_json())]


@pytest.fixture
def installed(client: FlaskClient, admin: Api, service: Service) -> None:
    for version, sha in (("1.0", SHA), ("2.0", "ef" * 32)):
        service.store.add_release(Release("avbox", version, f"avbox-{version}.squashfs", 1, sha))
    admin.put(f"/api/v1/nodes/{MAC}", json={"release": "avbox:1.0"})
    _install(client, "A", "avbox:1.0")


def test_the_first_report_makes_the_node_running_with_release_slot_and_addresses(
    client: FlaskClient, admin: Api, installed: None
) -> None:
    assert _node(admin)["state"] == "installed"
    assert _node(admin)["credential"] is True
    resp = _report(client)
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == "ACTION=none\nINTERVAL=60\n"
    node = _node(admin)
    assert node["state"] == "running"
    assert node["running"]["release"] == "avbox:1.0"
    assert node["running"]["slot"] == "A"
    assert node["running"]["addresses"] == "192.0.2.50/24"
    assert node["running"]["kernel"] == "6.1.0-27-amd64"
    assert "firstboot" in node["phases"]
    assert _kinds(admin)[-1] == "node.running"


def test_the_credential_never_reaches_the_timeline(admin: Api, installed: None) -> None:
    events = admin.get(f"/api/v1/nodes/{MAC}/events").get_json()
    assert CRED not in str(events)
    assert all("credential" not in e["data"] for e in events)


def test_a_heartbeat_that_changes_nothing_records_nothing(
    client: FlaskClient, admin: Api, installed: None
) -> None:
    _report(client)
    before = _kinds(admin)
    assert _report(client, uptime="72.5").status_code == 200
    assert _kinds(admin) == before


def test_a_new_boot_is_recorded_once(client: FlaskClient, admin: Api, installed: None) -> None:
    _report(client, uptime="500")
    _report(client, uptime="3.0")  # uptime went back: the box rebooted
    assert _kinds(admin).count("node.running") == 2


def test_a_wrong_or_missing_credential_is_refused_and_recorded(
    client: FlaskClient, admin: Api, installed: None
) -> None:
    assert _report(client, secret="00" * 32).status_code == 401
    assert client.post("/node/report", data={"mac": MAC}).status_code == 401
    assert _node(admin)["state"] == "installed"
    assert _kinds(admin)[-1] == "report.refused"


def test_another_nodes_credential_is_refused(
    client: FlaskClient, admin: Api, service: Service, installed: None
) -> None:
    other = "52:54:00:c0:02:0c"
    admin.put(f"/api/v1/nodes/{other}", json={"release": "avbox:1.0"})
    resp = _report(client, secret=CRED, mac=other)
    assert resp.status_code == 401
    assert admin.get(f"/api/v1/nodes/{other}").get_json()["state"] == "new"


def test_a_forged_slot_or_release_is_refused_with_the_field_named(
    client: FlaskClient, admin: Api, installed: None
) -> None:
    resp = _report(client, release="avbox:2.0")
    assert resp.status_code == 409
    assert resp.get_json()["error"]["field"] == "release"
    assert _report(client, slot="B").status_code == 409  # slot B holds nothing
    assert _node(admin)["state"] == "installed"
    assert _kinds(admin)[-2:] == ["report.refused", "report.refused"]


@pytest.mark.parametrize(
    ("form", "field"),
    [({"slot": "C"}, "slot"), ({"mac": "nope"}, "mac"), ({"uptime": "x"}, "uptime"),
     ({"addresses": "1.2.3.4\nX"}, "addresses"), ({"release": ""}, "release")],
)  # fmt: skip
def test_malformed_reports_name_the_field(
    client: FlaskClient, installed: None, form: dict[str, str], field: str
) -> None:
    resp = _report(client, **form)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["field"] == field


def test_a_report_from_the_other_slot_is_a_fallback(
    client: FlaskClient, admin: Api, installed: None
) -> None:
    _report(client)
    admin.patch(f"/api/v1/nodes/{MAC}", json={"release": "avbox:2.0", "action": "install"})
    _install(client, "B", "avbox:2.0")
    assert _node(admin)["active_slot"] == "B"
    resp = _report(client, slot="A", release="avbox:1.0", uptime="4")
    assert resp.status_code == 200
    node = _node(admin)
    assert (node["state"], node["active_slot"]) == ("running", "A")
    events = admin.get(f"/api/v1/nodes/{MAC}/events").get_json()
    fell = [e for e in events if e["kind"] == "node.fellback"]
    assert [e["message"] for e in fell] == ["fell back from avbox:2.0 to avbox:1.0 (slot A)"]


def test_rollback_on_a_running_box_is_answered_switch_then_completes(
    client: FlaskClient, admin: Api, installed: None
) -> None:
    admin.patch(f"/api/v1/nodes/{MAC}", json={"release": "avbox:2.0", "action": "install"})
    _install(client, "B", "avbox:2.0")
    _report(client, slot="B", release="avbox:2.0")
    admin.patch(f"/api/v1/nodes/{MAC}", json={"action": "rollback"})
    resp = _report(client, slot="B", release="avbox:2.0", uptime="90")
    assert resp.get_data(as_text=True).startswith("ACTION=switch\n")
    assert _report(client, slot="A", release="avbox:1.0", uptime="5").status_code == 200
    node = _node(admin)
    assert (node["action"], node["active_slot"], node["state"]) == ("local", "A", "running")
    assert node["install_window_expires"] is None
    assert "node.rolledback" in _kinds(admin)
    assert "node.fellback" not in _kinds(admin)
    assert (
        _report(client, slot="A", release="avbox:1.0", uptime="9")
        .get_data(as_text=True)
        .startswith("ACTION=none\n")
    )


def test_a_revoked_credential_is_refused(client: FlaskClient, admin: Api, installed: None) -> None:
    resp = admin.delete(f"/api/v1/nodes/{MAC}/credential")
    assert resp.status_code == 200
    assert resp.get_json()["credential"] is False
    assert _report(client).status_code == 401
    assert "node.credential.revoked" in _kinds(admin)


def test_an_installed_box_that_never_reports_shows_unconfirmed(
    admin: Api, service: Service, installed: None
) -> None:
    late = utcnow() - timedelta(minutes=16)
    service.store.change_node(MAC, lambda n: replace(n, installed_at=late) if n else n)  # type: ignore[arg-type,return-value]
    assert _node(admin)["state"] == "unconfirmed"
    assert admin.get("/api/v1/nodes").get_json()[0]["state"] == "unconfirmed"


def test_a_rollback_whose_slot_does_not_come_up_fails_once_and_is_not_retried(
    client: FlaskClient, admin: Api, installed: None
) -> None:
    admin.patch(f"/api/v1/nodes/{MAC}", json={"release": "avbox:2.0", "action": "install"})
    _install(client, "B", "avbox:2.0")
    _report(client, slot="B", release="avbox:2.0", uptime="50")
    admin.patch(f"/api/v1/nodes/{MAC}", json={"action": "rollback"})
    assert (
        _report(client, slot="B", release="avbox:2.0", uptime="60")
        .get_data(as_text=True)
        .startswith("ACTION=switch\n")
    )
    # slot A used up its tries: the loader brought the box back to B
    resp = _report(client, slot="B", release="avbox:2.0", uptime="3")
    assert resp.get_data(as_text=True).startswith("ACTION=none\n")
    node = _node(admin)
    assert (node["action"], node["active_slot"]) == ("local", "B")
    assert "node.rollback.failed" in _kinds(admin)
