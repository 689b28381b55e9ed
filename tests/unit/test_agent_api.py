"""The installer agent's side of the server: install windows, build tokens, reports,
the node lifecycle (on SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from provisioner.domain import Event, Release, utcnow
from provisioner.errors import ValidationError
from provisioner.lifecycle import AgentReport, parse_report, phase_timings
from provisioner.service import Service
from tests.conftest import Api
from tests.support.agent import build_token, post_report

MAC = "52:54:00:c0:02:0a"
SHA = "ab" * 32


def _token(client: FlaskClient) -> str:
    return build_token(client, MAC)


_post = post_report


@pytest.fixture
def installing(admin: Api, service: Service) -> None:
    service.store.add_release(Release("avbox", "2.0", "avbox-2.0.squashfs", 1234, SHA))
    admin.put(f"/api/v1/nodes/{MAC}", json={"release": "avbox:2.0", "options": "slotsize.64"})


def test_an_install_boot_carries_server_token_and_action(
    client: FlaskClient, installing: None
) -> None:
    text = client.get("/boot/pxelinux.cfg/01-52-54-00-c0-02-0a").get_data(as_text=True)
    assert re.search(
        r"APPEND slotsize\.64 server\.http://localhost token\.[\w-]{32} "
        r"action\.install\n",
        text,
    )


def test_the_token_opens_the_manifest_for_that_node_only(
    client: FlaskClient, installing: None
) -> None:
    token = _token(client)
    resp = client.get("/agent/manifest", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == (
        f"MAC={MAC}\nACTION=install\nSLOT_MIB=64\nRELEASE=avbox:2.0\n"
        "IMAGE_URL=http://localhost/media/images/avbox/2.0/avbox-2.0.squashfs\n"
        f"IMAGE_SIZE=1234\nIMAGE_SHA256={SHA}\nFILES=0\nTRIES=3\n"
    )
    for bad in ("", "Bearer", "Bearer nope", f"Basic {token}"):
        assert client.get("/agent/manifest", headers={"Authorization": bad}).status_code == 401


def test_an_api_token_does_not_open_the_agent_routes(
    client: FlaskClient, admin: Api, installing: None
) -> None:
    assert admin.get("/agent/manifest").status_code == 401


def test_a_successful_install_closes_the_window_and_boots_local_next(
    client: FlaskClient, admin: Api, installing: None
) -> None:
    token = _token(client)
    assert _post(client, token, step="boot", status="running", message="up").status_code == 200
    assert admin.get(f"/api/v1/nodes/{MAC}").get_json()["state"] == "installing"
    _post(client, token, step="image", status="running", message="writing")
    assert _post(client, token, step="image", status="ok", bytes="1234").status_code == 200
    assert _post(client, token, step="verify", status="ok").status_code == 200
    assert admin.get(f"/api/v1/nodes/{MAC}").get_json()["state"] == "installing"
    done = _post(
        client,
        token,
        step="done",
        status="ok",
        message="installed",
        result="ok",
        mode="fresh",
        active="A",
        slot_a=f"avbox:2.0 {SHA} 1234 1795718202",
        image_done="10.0",
        done="12.5",
    )
    assert done.status_code == 200
    node = admin.get(f"/api/v1/nodes/{MAC}").get_json()
    assert (node["state"], node["action"], node["active_slot"], node["slot_a"]) == (
        "installed",
        "local",
        "A",
        "avbox:2.0",
    )
    assert node["installed_at"] is not None
    assert set(node["phases"]) <= {"dhcp", "loader", "kernel", "agent", "image", "files"}
    # the token is worthless now, and the box boots its disk
    assert _post(client, token, step="boot", status="running").status_code == 401
    text = client.get("/boot/pxelinux.cfg/01-52-54-00-c0-02-0a").get_data(as_text=True)
    assert "LOCALBOOT 0" in text
    assert "token." not in text
    kinds = [e["kind"] for e in admin.get(f"/api/v1/nodes/{MAC}/events").get_json()]
    assert kinds[:5] == ["agent.done", "agent.verify", "agent.image", "agent.image", "agent.boot"]


def _node_state(admin: Api) -> tuple[str, str, str | None]:
    node = admin.get(f"/api/v1/nodes/{MAC}").get_json()
    return node["state"], node["action"], node["active_slot"]


@pytest.mark.parametrize(
    "before",
    [
        [],  # done at once, with nothing but the token from the boot file
        [("image", "running")],  # writing, not yet written
        [("image", "ok")],  # written, never verified
        [("image", "ok"), ("boot", "running")],  # written before the agent booted again
    ],
)
def test_an_out_of_order_done_is_refused_recorded_and_leaves_the_node_as_it_was(
    client: FlaskClient, admin: Api, installing: None, before: list[tuple[str, str]]
) -> None:
    token = _token(client)
    _post(client, token, step="boot", status="running")
    for step, status in before:
        assert _post(client, token, step=step, status=status).status_code == 200
    was = _node_state(admin)
    resp = _post(client, token, step="done", status="ok", result="ok", mode="fresh", active="A")
    assert resp.status_code == 409
    error = resp.get_json()["error"]
    assert (error["code"], error["field"]) == ("out_of_order", "step")
    assert "done ok before" in error["message"]
    assert _node_state(admin) == was == ("installing", "install", None)
    last = admin.get(f"/api/v1/nodes/{MAC}/events").get_json()[0]
    assert (last["kind"], last["data"]) == ("agent.refused", {"step": "done", "reported": "ok"})
    # the window is still open: the real agent's reports in order still finish the install
    for step in ("image", "verify", "done"):
        assert _post(client, token, step=step, status="ok").status_code == 200
    assert _node_state(admin)[:2] == ("installed", "local")


def test_a_verify_before_the_image_was_written_is_refused(
    client: FlaskClient, admin: Api, installing: None
) -> None:
    token = _token(client)
    resp = _post(client, token, step="verify", status="ok")
    assert resp.status_code == 409
    assert "verify ok before image ok" in resp.get_json()["error"]["message"]


def test_a_failure_may_be_reported_at_any_step(
    client: FlaskClient, admin: Api, installing: None
) -> None:
    token = _token(client)
    assert _post(client, token, step="done", status="failed", result="failed").status_code == 200
    assert _node_state(admin)[:2] == ("failed", "local")


def test_a_rollback_is_done_without_an_image(
    client: FlaskClient, admin: Api, service: Service, installing: None
) -> None:
    # two installs reported (preflight refuses a rollback with no other slot)
    service.store.change_node(
        MAC, lambda n: replace(n, slot_a="avbox:1.0", slot_b="avbox:2.0", active_slot="A")
    )
    assert admin.patch(f"/api/v1/nodes/{MAC}", json={"action": "rollback"}).status_code == 200
    token = _token(client)
    assert _post(client, token, step="done", status="ok", active="B").status_code == 200
    assert _node_state(admin) == ("installed", "local", "B")


def test_a_failed_install_is_recorded_with_its_step_and_falls_back_to_local(
    client: FlaskClient, admin: Api, installing: None
) -> None:
    token = _token(client)
    _post(
        client, token, step="verify", status="failed", message="slot B bad sha256", result="failed"
    )
    node = admin.get(f"/api/v1/nodes/{MAC}").get_json()
    assert (node["state"], node["action"]) == ("failed", "local")
    last = admin.get(f"/api/v1/nodes/{MAC}/events").get_json()[0]
    assert (last["kind"], last["message"]) == ("agent.verify", "slot B bad sha256")


def test_setting_the_action_again_opens_a_new_window(
    client: FlaskClient, admin: Api, service: Service, installing: None
) -> None:
    first = _token(client)
    admin.patch(f"/api/v1/nodes/{MAC}", json={"action": "local"})
    assert _post(client, first, step="boot", status="running").status_code == 401
    # two installs reported (preflight refuses a rollback with no other slot)
    service.store.change_node(
        MAC, lambda n: replace(n, slot_a="avbox:1.0", slot_b="avbox:2.0", active_slot="B")
    )
    assert admin.patch(f"/api/v1/nodes/{MAC}", json={"action": "rollback"}).status_code == 200
    second = _token(client)
    assert second != first
    assert "action.rollback" in client.get("/boot/pxelinux.cfg/01-52-54-00-c0-02-0a").get_data(
        as_text=True
    )


def test_an_expired_window_refuses_the_token(
    client: FlaskClient, service: Service, installing: None
) -> None:
    token = _token(client)
    service.store.change_node(
        MAC,
        lambda n: (
            n
            and n.__class__(
                **{  # type: ignore[misc]
                    **{f: getattr(n, f) for f in n.__dataclass_fields__},
                    "window_expires": utcnow() - timedelta(seconds=1),
                }
            )
        ),
    )
    assert _post(client, token, step="boot", status="running").status_code == 401
    assert "token." not in client.get("/boot/pxelinux.cfg/01-52-54-00-c0-02-0a").get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"step": "explode", "status": "ok"}, "step"),
        ({"step": "boot", "status": "maybe"}, "status"),
        ({"step": "boot", "status": "ok", "message": "a\nb"}, "message"),
        ({"step": "done", "status": "ok", "active": "C"}, "active"),
        ({"step": "image", "status": "running", "bytes": "-1"}, "bytes"),
    ],
)
def test_bad_reports_are_4xx_naming_the_field(
    client: FlaskClient, installing: None, form: dict[str, str], field: str
) -> None:
    resp = _post(client, _token(client), **form)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["field"] == field


def test_rescue_keeps_its_window_after_the_shell_starts(
    client: FlaskClient, admin: Api, installing: None
) -> None:
    admin.patch(f"/api/v1/nodes/{MAC}", json={"action": "rescue"})
    token = _token(client)
    _post(client, token, step="rescue", status="ok", message="shell", result="ok")
    assert admin.get(f"/api/v1/nodes/{MAC}").get_json()["action"] == "rescue"
    assert _post(client, token, step="boot", status="running").status_code == 200


# -- pure parts ----------------------------------------------------------------------------
def test_phase_timings_follow_the_milestones_in_order() -> None:
    t0 = utcnow()
    events = [
        Event(kind=k, message="", time=t0 + timedelta(seconds=s))
        for k, s in [
            ("boot.dhcp", 0),
            ("boot.loader", 2),
            ("boot.kernel", 5),
            ("agent.boot", 9),
            ("agent.image", 10),
            ("agent.image", 11),
        ]
    ]
    phases = phase_timings(
        events, t0 + timedelta(seconds=30), {"image_done": "100.0", "done": "104.0"}
    )
    assert phases == {
        "dhcp": 2.0,
        "loader": 3.0,
        "kernel": 4.0,
        "agent": 1.0,
        "image": 16.0,
        "files": 4.0,
    }


def test_parse_report_keeps_only_known_fields() -> None:
    rep = parse_report(
        {"step": "image", "status": "running", "message": "50%", "bytes": "10", "evil": "x"}
    )
    assert rep == AgentReport("image", "running", "50%", {"bytes": "10"})
    with pytest.raises(ValidationError):
        parse_report({"step": "image", "status": "running", "slot_a": "x;rm -rf"})
