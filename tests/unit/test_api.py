"""REST API /api/v1 and the open boot endpoints, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.web.boot import OPEN_ENDPOINTS
from provisioner.web.console.blueprint import is_console
from tests.conftest import FIXTURES, Api

MAC = "52:54:00:c0:02:0a"
PAPER = (
    "keyboard.de_CH lang.de auto ip.192.168.2.251 submask.255.255.255.0 gw.192.168.2.251 "
    "dns.192.168.2.251"
)


def _error(resp: Any) -> dict[str, str]:
    body: dict[str, dict[str, str]] = resp.get_json()
    return body["error"]


# -- auth ----------------------------------------------------------------
def test_every_route_except_the_boot_endpoints_needs_a_token(
    app: Flask, client: FlaskClient
) -> None:
    """Walks Flask's route map: a new route is closed unless listed in OPEN_ENDPOINTS.
    The web console's routes are closed by its login instead (test_console_auth.py)."""
    seen_open = set()
    for rule in app.url_map.iter_rules():
        if is_console(rule.endpoint):
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", "1").replace(f"<int:{arg}>", "1")
            path = path.replace(f"<path:{arg}>", "x")
        for method in sorted(rule.methods or ()):
            resp = client.open(path, method=method)
            if rule.endpoint in OPEN_ENDPOINTS and method in OPEN_ENDPOINTS[rule.endpoint]:
                seen_open.add(rule.endpoint)
                assert resp.status_code != 401
                continue
            assert resp.status_code == 401, f"{method} {rule.rule} is open"
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert seen_open == set(OPEN_ENDPOINTS)
    assert all(m <= {"GET", "HEAD", "OPTIONS"} for m in OPEN_ENDPOINTS.values())


def test_the_root_url_is_a_page_naming_the_api_and_the_docs(client: FlaskClient) -> None:
    resp = client.get("/")
    assert (resp.status_code, resp.mimetype) == (200, "text/html")
    page = resp.get_data(as_text=True)
    assert '<a href="/api/v1/openapi.json">' in page
    assert '<a href="/api/v1/nodes">' in page
    assert "docs/api.md" in page
    assert "Authorization: Bearer" in page
    assert client.head("/").status_code == 200


def test_bad_tokens_are_refused(client: FlaskClient) -> None:
    for header in ("Bearer", "Bearer nope", "Basic dXNlcjpwYXNz", "prov_x"):
        resp = client.get("/api/v1/nodes", headers={"Authorization": header})
        assert resp.status_code == 401


def test_viewers_read_but_only_admins_write(viewer: Api, admin: Api, release: str) -> None:
    assert viewer.get("/api/v1/nodes").status_code == 200
    resp = viewer.put(f"/api/v1/nodes/{MAC}", json={"release": release})
    assert resp.status_code == 403
    assert "admin" in _error(resp)["message"]
    assert admin.put(f"/api/v1/nodes/{MAC}", json={"release": release}).status_code == 201


def test_revoked_tokens_stop_working(admin: Api, client: FlaskClient) -> None:
    resp = admin.post("/api/v1/tokens", json={"name": "temp", "role": "viewer"})
    assert resp.status_code == 201
    body = resp.get_json()
    temp = Api(client, body["token"])
    assert temp.get("/api/v1/nodes").status_code == 200
    assert "token" not in admin.get("/api/v1/tokens").get_json()[0]
    assert admin.delete(f"/api/v1/tokens/{body['id']}").status_code == 204
    assert temp.get("/api/v1/nodes").status_code == 401


# -- nodes ----------------------------------------------------------------
def test_put_node_accepts_any_mac_spelling_and_options_as_a_string(
    admin: Api, release: str
) -> None:
    resp = admin.put(
        "/api/v1/nodes/52-54-00-C0-02-0A",
        json={"hostname": "avbox251", "options": PAPER, "release": release},
    )
    assert resp.status_code == 201
    node = resp.get_json()
    assert node["mac"] == MAC
    assert node["options"] == PAPER
    assert node["options_object"]["ip"] == "192.168.2.251"
    assert node["options_object"]["auto"] is True
    assert node["cmdline"] == PAPER
    assert (node["action"], node["state"]) == ("install", "new")
    assert admin.get("/api/v1/nodes/525400c0020a").get_json()["hostname"] == "avbox251"


def test_options_as_an_object_give_the_same_node(admin: Api, release: str) -> None:
    obj = {
        "keyboard": "de_CH",
        "lang": "de",
        "auto": True,
        "ip": "192.168.2.251",
        "submask": "255.255.255.0",
        "gw": "192.168.2.251",
        "dns": "192.168.2.251",
    }
    node = admin.put(f"/api/v1/nodes/{MAC}", json={"options": obj, "release": release}).get_json()
    assert node["options"] == PAPER


def test_node_inherits_its_profile_and_overrides_key_by_key(admin: Api, release: str) -> None:
    admin.put(
        "/api/v1/profiles/avbox1",
        json={"options": "initrd=initrd.img quiet " + PAPER, "release": release},
    )
    node = admin.put(
        f"/api/v1/nodes/{MAC}", json={"profile": "avbox1", "options": "ip.192.168.2.99"}
    ).get_json()
    assert node["options"] == "ip.192.168.2.99"
    assert node["cmdline"] == ("initrd=initrd.img quiet " + PAPER).replace(
        "ip.192.168.2.251", "ip.192.168.2.99"
    )


def test_patch_changes_only_given_fields_and_put_resets_the_rest(admin: Api, release: str) -> None:
    admin.put(f"/api/v1/nodes/{MAC}", json={"hostname": "a", "options": "auto", "release": release})
    node = admin.patch(f"/api/v1/nodes/{MAC}", json={"action": "local"}).get_json()
    assert (node["hostname"], node["options"], node["action"]) == ("a", "auto", "local")
    node = admin.put(f"/api/v1/nodes/{MAC}", json={"hostname": "b", "release": release}).get_json()
    assert (node["hostname"], node["options"], node["action"]) == ("b", "", "install")


def test_a_node_from_get_can_be_put_back_unchanged(admin: Api, release: str) -> None:
    node = admin.put(f"/api/v1/nodes/{MAC}", json={"options": PAPER, "release": release}).get_json()
    again = admin.put(f"/api/v1/nodes/{MAC}", json=node)
    assert again.status_code == 200
    assert again.get_json()["options"] == PAPER


def test_patch_of_a_missing_node_is_404_and_delete_works(admin: Api, release: str) -> None:
    assert admin.patch(f"/api/v1/nodes/{MAC}", json={}).status_code == 404
    admin.put(f"/api/v1/nodes/{MAC}", json={"release": release})
    assert admin.delete(f"/api/v1/nodes/{MAC}").status_code == 204
    assert admin.get(f"/api/v1/nodes/{MAC}").status_code == 404


@pytest.mark.parametrize(
    ("mac", "body", "field"),
    [
        ("nonsense", {}, "mac"),
        (MAC, {"options": "lang.de auto\nAPPEND x"}, "options"),
        (MAC, {"options": "ip.1.2.3.4 ;reboot"}, "options"),
        (MAC, {"options": "x.${y}"}, "options"),
        (MAC, {"options": "x.a&&b"}, "options"),
        (MAC, {"options": {"keyboard": "de CH"}}, "options.keyboard"),
        (MAC, {"options": {"lang": "de\nAPPEND x"}}, "options.lang"),
        (MAC, {"options": "ip.999.1.1.1"}, "options.ip"),
        (MAC, {"options": "x." + "a" * 2100}, "options"),
        (MAC, {"options": {"ip": "1.2.3"}}, "options.ip"),
        (MAC, {"options": 5}, "options"),
        (MAC, {"hostname": "bad_name"}, "hostname"),
        (MAC, {"hostname": 3}, "hostname"),
        (MAC, {"action": "explode"}, "action"),
        (MAC, {"release": "noversion"}, "release"),
        (MAC, {"release": "avbox:9"}, "release"),
        (MAC, {"profile": "missing"}, "profile"),
        (MAC, {"bundle": "missing"}, "bundle"),
        (MAC, {"colour": "blue"}, "colour"),
        (MAC, {"state": "installed"}, "state"),
        (MAC, {"mac": "52:54:00:00:00:01"}, "mac"),
    ],
)
def test_bad_node_input_is_a_4xx_naming_the_field(
    admin: Api, mac: str, body: dict[str, Any], field: str
) -> None:
    resp = admin.put(f"/api/v1/nodes/{mac}", json=body)
    assert 400 <= resp.status_code < 500, resp.get_data(as_text=True)
    assert _error(resp)["field"] == field
    assert admin.get("/api/v1/nodes").get_json() == []


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b'"text"', "text/plain"),
    ],
)
def test_malformed_bodies_are_4xx(admin: Api, data: bytes, content_type: str) -> None:
    resp = admin.put(f"/api/v1/nodes/{MAC}", data=data, content_type=content_type)
    assert resp.status_code == 422
    assert _error(resp)["field"] == "body"


def test_duplicate_hostname_is_a_conflict(admin: Api, release: str) -> None:
    admin.put(f"/api/v1/nodes/{MAC}", json={"hostname": "box", "release": release})
    resp = admin.put(
        "/api/v1/nodes/52:54:00:c0:02:0b", json={"hostname": "box", "release": release}
    )
    assert resp.status_code == 409


def test_node_boot_shows_exactly_what_the_box_gets(
    admin: Api, client: FlaskClient, release: str
) -> None:
    admin.put(f"/api/v1/nodes/{MAC}", json={"options": PAPER, "release": release})
    boot = admin.get(f"/api/v1/nodes/{MAC}/boot").get_json()
    assert boot["pxelinux_path"] == "pxelinux.cfg/01-52-54-00-c0-02-0a"
    served = client.get("/boot/pxelinux.cfg/01-52-54-00-c0-02-0a")
    assert served.status_code == 200
    assert served.get_data(as_text=True) == boot["pxelinux"]
    # the paper's words, unchanged, then what the installer agent needs
    assert re.search(
        rf"\n  APPEND {re.escape(PAPER)} server\.http://localhost token\.\S+ action\.install\n",
        boot["pxelinux"],
    )
    ipxe = client.get(f"/boot/ipxe?mac={MAC.upper()}")
    assert ipxe.get_data(as_text=True) == boot["ipxe"]


def test_node_events_record_changes(admin: Api, release: str) -> None:
    admin.put(f"/api/v1/nodes/{MAC}", json={"hostname": "a", "release": release})
    admin.patch(f"/api/v1/nodes/{MAC}", json={"action": "local"})
    events = admin.get(f"/api/v1/nodes/{MAC}/events").get_json()
    assert [e["kind"] for e in events] == ["node.updated", "node.created"]
    assert events[0]["data"] == {"action": "local"}
    assert admin.get("/api/v1/events?limit=0").status_code == 422


def test_node_events_after_an_id_are_what_came_since(admin: Api) -> None:
    """The cursor ``node events --follow`` polls with."""
    admin.put(f"/api/v1/nodes/{MAC}", json={"hostname": "a", "action": "local"})
    (first,) = admin.get(f"/api/v1/nodes/{MAC}/events").get_json()
    assert admin.get(f"/api/v1/nodes/{MAC}/events?after={first['id']}").get_json() == []
    admin.patch(f"/api/v1/nodes/{MAC}", json={"hostname": "b"})
    since = admin.get(f"/api/v1/nodes/{MAC}/events?after={first['id']}").get_json()
    assert [e["kind"] for e in since] == ["node.updated"]
    bad = admin.get(f"/api/v1/nodes/{MAC}/events?after=x")
    assert bad.status_code == 422
    assert bad.get_json()["error"]["field"] == "after"


# -- boot endpoints ----------------------------------------------------------------
def test_boot_endpoints_serve_menu_and_404_for_what_is_not_ours(
    client: FlaskClient, admin: Api
) -> None:
    admin.put("/api/v1/profiles/linux", json={"options": "initrd=initrd.img quiet"})
    menu = client.get("/boot/pxelinux.cfg/default")
    assert menu.status_code == 200
    assert "LABEL linux\n" in menu.get_data(as_text=True)
    assert client.get("/boot/pxelinux.cfg/01-52-54-00-00-00-99").status_code == 404
    assert client.get("/boot/pxelinux.cfg/C000025A").status_code == 404
    assert client.get("/boot/pxelinux.cfg/..%2f..%2fetc%2fpasswd").status_code == 404
    assert client.get("/boot/ipxe?mac=52:54:00:00:00:99").status_code == 404
    resp = client.get("/boot/ipxe?mac=bogus")
    assert resp.status_code == 422
    assert _error(resp)["field"] == "mac"
    assert client.get("/boot/ipxe").status_code == 422
    assert client.post("/boot/ipxe?mac=52:54:00:00:00:99").status_code == 405


# -- profiles, import, bundles, images -------------------------------------------------------------
def test_import_syslinux_through_the_api_is_idempotent(admin: Api) -> None:
    text = (FIXTURES / "syslinux" / "avbox2.cfg").read_bytes()
    first = admin.post("/api/v1/import/syslinux", data=text)
    assert first.status_code == 200
    assert first.get_json()["created"] == ["linux", "debug", "avbox2"]
    again = admin.post("/api/v1/import/syslinux", data=text).get_json()
    assert again["unchanged"] == ["linux", "debug", "avbox2"]
    changed = text.replace(b"lang.de", b"lang.fr")
    resp = admin.post("/api/v1/import/syslinux", data=changed)
    assert resp.status_code == 409
    assert resp.get_json()["refused"] == ["avbox2"]
    assert admin.post("/api/v1/import/syslinux?replace=1", data=changed).status_code == 200
    assert "lang.fr" in admin.get("/api/v1/profiles/avbox2").get_json()["options"]


def test_import_of_the_wrapped_file_reports_the_lines(admin: Api) -> None:
    text = (FIXTURES / "syslinux" / "avbox1-wrapped.cfg").read_bytes()
    resp = admin.post("/api/v1/import/syslinux", data=text)
    assert resp.status_code == 422
    assert [p["line"] for p in resp.get_json()["problems"]] == [18, 19]
    assert admin.get("/api/v1/profiles").get_json() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kernel": "../../etc/shadow"}, "kernel"),
        ({"ipappend": 9}, "ipappend"),
        ({"ipappend": True}, "ipappend"),
        ({"initrd": "a img"}, "initrd"),
        ({"description": "two\nlines"}, "description"),
        ({"name": "other"}, "name"),
        ({"options": "auto\nx"}, "options"),
    ],
)
def test_bad_profile_input_names_the_field(admin: Api, body: dict[str, Any], field: str) -> None:
    resp = admin.put("/api/v1/profiles/p", json=body)
    assert resp.status_code == 422
    assert _error(resp)["field"] == field


def test_profile_names_are_validated_and_in_use_profiles_cannot_go(
    admin: Api, release: str
) -> None:
    assert admin.put("/api/v1/profiles/bad name", json={}).status_code == 422
    admin.put("/api/v1/profiles/p", json={"release": release})
    admin.put(f"/api/v1/nodes/{MAC}", json={"profile": "p"})
    resp = admin.delete("/api/v1/profiles/p")
    assert resp.status_code == 409
    assert MAC in _error(resp)["message"]


def test_profile_change_that_would_overflow_a_nodes_command_line_is_refused(
    admin: Api, release: str
) -> None:
    admin.put("/api/v1/profiles/p", json={"release": release})
    admin.put(f"/api/v1/nodes/{MAC}", json={"profile": "p", "options": "x." + "a" * 1500})
    resp = admin.patch("/api/v1/profiles/p", json={"options": "y." + "b" * 600})
    assert resp.status_code == 422
    assert MAC in _error(resp)["message"]


def test_bundles_put_their_copy_options_on_the_node(admin: Api, release: str) -> None:
    resp = admin.put(
        "/api/v1/bundles/tinycore",
        json={"iso": "tinycore.iso", "definition": "101.con", "image": "v101.img"},
    )
    assert resp.status_code == 201
    assert resp.get_json()["options"] == "copyiso.tinycore.iso copydef.101.con copyimg.v101.img"
    node = admin.put(
        f"/api/v1/nodes/{MAC}", json={"options": "auto", "bundle": "tinycore", "release": release}
    )
    assert node.get_json()["cmdline"] == (
        "auto copyiso.tinycore.iso copydef.101.con copyimg.v101.img"
    )
    assert admin.put("/api/v1/bundles/x", json={"iso": "../x.iso"}).status_code == 422
    assert admin.put("/api/v1/bundles/x", json={}).status_code == 422
    long = admin.put("/api/v1/bundles/y", json={"image": "a-very-long-name.qcow2"}).get_json()
    assert "not an 8.3 name" in long["warnings"][0]


def test_images_are_listed_and_bad_refs_are_refused(admin: Api, service: Any) -> None:
    from provisioner.domain import Release

    service.store.add_release(Release("avbox", "2.0", "a.squashfs", 10, "0" * 64))
    assert [i["ref"] for i in admin.get("/api/v1/images").get_json()] == ["avbox:2.0"]
    assert admin.get("/api/v1/images/avbox:2.0").get_json()["size"] == 10
    assert admin.get("/api/v1/images/avbox").status_code == 422
    admin.put(f"/api/v1/nodes/{MAC}", json={"release": "avbox:2.0"})
    assert admin.delete("/api/v1/images/avbox:2.0").status_code == 409


# -- OpenAPI ----------------------------------------------------------------
def test_openapi_document_lists_every_route(app: Flask, admin: Api) -> None:
    doc = admin.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    documented = {
        (path, m.upper()) for path, item in doc["paths"].items() for m in item if m != "parameters"
    }
    routed = set()
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for arg in rule.arguments:
            for form in (f"<int:{arg}>", f"<path:{arg}>", f"<{arg}>"):
                path = path.replace(form, f"{{{arg}}}")
        if not is_console(rule.endpoint):  # pages, not the API
            routed |= {(path, m) for m in (rule.methods or ()) - {"HEAD", "OPTIONS"}}
    assert routed == documented


# -- fuzz: never a 500 ----------------------------------------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
_fields = st.sampled_from(
    [
        "hostname",
        "profile",
        "options",
        "release",
        "bundle",
        "action",
        "state",
        "mac",
        "cmdline",
        "x",
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.dictionaries(_fields, _json, max_size=4), path=st.text(max_size=20))
def test_random_input_never_causes_a_500(admin: Api, body: dict[str, Any], path: str) -> None:
    for method in ("PUT", "PATCH"):
        resp = admin.request(
            method, f"/api/v1/nodes/{MAC}", data=json.dumps(body), content_type="application/json"
        )
        assert resp.status_code < 500, resp.get_data(as_text=True)
        resp = admin.request(
            method, "/api/v1/profiles/p", data=json.dumps(body), content_type="application/json"
        )
        assert resp.status_code < 500, resp.get_data(as_text=True)
    from urllib.parse import quote

    assert admin.get(f"/api/v1/nodes/{quote(path, safe='')}").status_code < 500
