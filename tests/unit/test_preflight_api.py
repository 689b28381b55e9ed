"""The preflight check through its surfaces, on SQLite and PostgreSQL: ``PUT``/``PATCH``
answers, ``GET /api/v1/nodes?problems=1``, ``provisioner node set`` and
``provisioner node check``. One case per row of the table in docs/preflight.md,
through the API and through the CLI, error or warning as the table says."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask

from provisioner.cli import main
from provisioner.db.sqlstore import SqlStore
from provisioner.domain import Action, Node, Role
from provisioner.service import Service
from provisioner.web import create_app
from tests.conftest import FIXTURES, Api
from tests.support.release import RELEASE

MAC, OTHER = "52:54:00:c0:02:0a", "52:54:00:c0:02:0b"
GW = "ip.192.0.2.50 submask.255.255.255.0 gw.192.0.2.1"

Setup = Callable[[Service], object]


@dataclass(frozen=True)
class Case:
    """``body`` is the API's node; ``args`` the same as ``node set`` flags."""

    severity: str
    code: str
    field: str
    body: dict[str, Any]
    args: tuple[str, ...]
    setup: Setup = field(default=lambda svc: None)
    status: int = 422  # for an error


def _other_at_50(svc: Service) -> None:
    svc.save_node(OTHER, {"options": "ip.192.0.2.50", "release": RELEASE})


def _imported(svc: Service) -> None:
    svc.import_syslinux((FIXTURES / "syslinux" / "avbox1.cfg").read_text())


def _kernel_elsewhere(svc: Service) -> None:
    svc.save_profile("p", {"kernel": "avbox/vmlinuz", "release": RELEASE})


CASES = {
    "install-without-release": Case(
        "error", "install-without-release", "release", {"options": "auto"}, ("--options", "auto")
    ),
    "wipe-without-release": Case(
        "error",
        "install-without-release",
        "release",
        {"action": "wipe"},
        ("--action", "wipe", "--yes"),
    ),
    "imported-profile-without-release": Case(
        "error",
        "install-without-release",
        "release",
        {"profile": "avbox1"},
        ("--profile", "avbox1"),
        _imported,
    ),
    "rollback-without-slot": Case(
        "error",
        "rollback-without-slot",
        "action",
        {"release": RELEASE, "action": "rollback"},
        ("--release", RELEASE, "--action", "rollback"),
    ),
    "duplicate-ip": Case(
        "error",
        "duplicate-ip",
        "options.ip",
        {"release": RELEASE, "options": "ip.192.0.2.50"},
        ("--release", RELEASE, "--options", "ip.192.0.2.50"),
        _other_at_50,
        status=409,
    ),
    "gateway-outside-subnet": Case(
        "error",
        "gateway-outside-subnet",
        "options.gw",
        {"release": RELEASE, "options": "ip.192.0.2.50 gw.198.51.100.1"},
        ("--release", RELEASE, "--options", "ip.192.0.2.50 gw.198.51.100.1"),
    ),
    "copy-without-bundle": Case(
        "warning",
        "copy-without-bundle",
        "options.copyiso",
        {"release": RELEASE, "options": "copyiso.tc.iso"},
        ("--release", RELEASE, "--options", "copyiso.tc.iso"),
    ),
    "boot-file-missing": Case(
        "warning", "boot-file-missing", "profile", {"profile": "p"}, ("--profile", "p"),
        _kernel_elsewhere,
    ),
}  # fmt: skip


@pytest.fixture
def run(tmp_path: Path, db_url: str) -> Callable[..., Result]:
    env = {"PROVISIONER_DATA_DIR": str(tmp_path / "data"), "PROVISIONER_DATABASE_URL": db_url}

    def invoke(*args: str, **more: str) -> Result:
        return CliRunner().invoke(main, list(args), env={**env, **more}, catch_exceptions=False)

    return invoke


def _codes(problems: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    return [(p["severity"], p["code"], p["field"]) for p in problems]


@pytest.mark.parametrize("name", list(CASES))
def test_each_case_through_the_api(name: str, admin: Api, service: Service, release: str) -> None:
    case = CASES[name]
    case.setup(service)
    resp = admin.put(f"/api/v1/nodes/{MAC}", json=case.body)
    body = resp.get_json()
    expected = (case.severity, case.code, case.field)
    if case.severity == "error":
        assert resp.status_code == case.status, body
        assert (body["error"]["code"], body["error"]["field"]) == ("preflight", case.field)
        assert expected in _codes(body["problems"])
        assert admin.get(f"/api/v1/nodes/{MAC}").status_code == 404  # refused: nothing stored
    else:
        assert resp.status_code == 201, body
        assert expected in _codes(body["problems"])
        assert expected in _codes(admin.get(f"/api/v1/nodes/{MAC}").get_json()["problems"])


@pytest.mark.parametrize("name", list(CASES))
def test_each_case_through_the_cli(
    name: str, run: Callable[..., Result], service: Service, release: str
) -> None:
    case = CASES[name]
    case.setup(service)
    result = run("node", "set", MAC, *case.args)
    line = f"{case.severity}: {case.field}: "
    if case.severity == "error":
        assert result.exit_code == 2, result.output
        assert f"error: {case.field}: " in result.stderr  # the first error, then the rest
        assert service.store.find_node(MAC) is None
    else:
        assert result.exit_code == 0, result.output
        assert line in result.stderr
        assert f"node {MAC} created" in result.stdout


def test_node_show_says_what_the_check_finds(
    run: Callable[..., Result], service: Service, release: str
) -> None:
    """The README's complaint: ``node show`` said ``warnings: -`` for a box that
    could not boot as configured."""
    service.save_node(MAC, {"options": "ip.192.0.2.50 copyiso.x.iso", "release": RELEASE})
    out = run("node", "show", MAC).stdout
    assert "problems:    0 error(s), 1 warning(s)" in out
    assert "\n  warning: options.copyiso: " in out
    service.save_node(OTHER, {"options": "ip.192.0.2.51", "release": RELEASE})
    assert "problems:    -" in run("node", "show", OTHER).stdout


def test_an_ip_outside_the_dhcp_subnet_is_a_warning_through_the_api_and_the_cli(
    settings: Any, store: SqlStore, run: Callable[..., Result], release: str
) -> None:
    dhcp = {"dhcp": "full", "dhcp_netmask": "255.255.255.0", "server_ip": "192.0.2.1"}
    app: Flask = create_app(settings.replace(**dhcp), store)
    _, secret = app.extensions["provisioner"].service.create_token("t", Role.ADMIN)
    admin = Api(app.test_client(), secret)
    body = {"release": release, "options": "ip.198.51.100.7"}
    resp = admin.put(f"/api/v1/nodes/{MAC}", json=body)
    assert resp.status_code == 201
    assert _codes(resp.get_json()["problems"]) == [("warning", "ip-outside-dhcp", "options.ip")]
    env = {f"PROVISIONER_{k.upper()}": v for k, v in dhcp.items()}
    result = run("node", "set", OTHER, "--release", release, "--options", "ip.198.51.100.8", **env)
    assert result.exit_code == 0
    assert "warning: options.ip: ip.198.51.100.8 is outside the subnet" in result.stderr
    # without full DHCP the server serves no subnet: nothing to say
    assert "warning" not in run("node", "set", OTHER, "--hostname", "b").stderr


def test_removing_a_key_the_profile_gives_says_so_through_the_api_and_the_cli(
    admin: Api, service: Service, run: Callable[..., Result], release: str
) -> None:
    service.save_profile("p", {"options": GW, "release": release})
    service.save_node(MAC, {"profile": "p", "options": "gw.192.0.2.9"})
    resp = admin.patch(f"/api/v1/nodes/{MAC}", json={"options": ""})
    assert resp.status_code == 200
    [problem] = [p for p in resp.get_json()["problems"] if p["code"] == "unset-from-profile"]
    assert problem["field"] == "options.gw"
    assert "profile p gives gw.192.0.2.1" in problem["message"]
    result = run("node", "set", MAC, "--unset", "gw")  # the node has no gw of its own now
    assert result.exit_code == 0
    assert "warning: options.gw: the node has no gw of its own now" in result.stderr
    assert "warning: options.lang: the node has no lang to remove" in (
        run("node", "set", MAC, "--unset", "lang").stderr
    )


def test_get_nodes_with_problems_lists_the_whole_rack_at_once(
    admin: Api, store: SqlStore, release: str
) -> None:
    # stored past the check (as before preflight existed): install without release,
    # and two boxes with one address
    store.change_node(MAC, lambda _: Node(mac=MAC))
    for mac in (OTHER, "52:54:00:c0:02:0c"):
        admin.put(f"/api/v1/nodes/{mac}", json={"release": release, "action": "local"})
    store.change_node(OTHER, lambda n: replace(n, options=n.options.parse("ip.192.0.2.9")))  # type: ignore[union-attr]
    store.change_node(MAC, lambda n: replace(n, options=n.options.parse("ip.192.0.2.9")))  # type: ignore[union-attr]
    listed = admin.get("/api/v1/nodes?problems=1").get_json()
    assert [n["mac"] for n in listed] == [MAC, OTHER]
    assert _codes(listed[0]["problems"]) == [
        ("error", "install-without-release", "release"),
        ("error", "duplicate-ip", "options.ip"),
    ]
    everyone = admin.get("/api/v1/nodes").get_json()
    assert [len(n["problems"]) for n in everyone] == [2, 1, 0]
    assert admin.get(f"/api/v1/nodes/{OTHER}").get_json()["problems"][0]["code"] == "duplicate-ip"
    # a change that fixes the error is accepted
    fixed = admin.patch(f"/api/v1/nodes/{MAC}", json={"release": release, "options": ""})
    assert fixed.status_code == 200
    assert fixed.get_json()["problems"] == []
    assert admin.get("/api/v1/nodes?problems=1").get_json() == []


def test_node_check_lists_every_node_with_a_problem_and_fails_on_an_error(
    run: Callable[..., Result], store: SqlStore, service: Service, release: str
) -> None:
    assert run("node", "check").exit_code == 0
    service.save_node(OTHER, {"release": release, "options": "copyiso.tc.iso"})  # a warning
    warned = run("node", "check")
    assert warned.exit_code == 0
    assert f"{OTHER}\n  warning: options.copyiso: copyiso.tc.iso names a file" in warned.stdout
    assert "1 node(s) checked: 1 with problems, 0 error(s), 1 warning(s)" in warned.stderr
    store.change_node(MAC, lambda _: Node(mac=MAC, action=Action.ROLLBACK))  # stored unchecked
    failed = run("node", "check")
    assert failed.exit_code == 1
    assert f"{MAC}\n  error: action: rollback boots the other system slot" in failed.stdout
    assert "2 node(s) checked: 2 with problems, 1 error(s), 1 warning(s)" in failed.stderr
    assert run("node", "check", OTHER).exit_code == 0
    as_json = run("node", "check", "--json", MAC)
    assert as_json.exit_code == 1
    assert '"code": "rollback-without-slot"' in as_json.stdout
    missing = run("node", "check", "52:54:00:c0:02:99")
    assert (missing.exit_code, "not found" in missing.stderr) == (1, True)


def test_a_profile_answer_carries_its_problems_and_a_change_that_breaks_a_node_is_refused(
    admin: Api, release: str
) -> None:
    resp = admin.put("/api/v1/profiles/p", json={"kernel": "avbox/vmlinuz", "release": release})
    assert resp.status_code == 201
    assert _codes(resp.get_json()["problems"]) == [("warning", "boot-file-missing", "kernel")]
    assert admin.put(f"/api/v1/nodes/{MAC}", json={"profile": "p"}).status_code == 201
    refused = admin.patch("/api/v1/profiles/p", json={"release": None})
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert (error["field"], f"node {MAC} would get" in error["message"]) == ("release", True)
    bad_gw = admin.patch(
        "/api/v1/profiles/p", json={"options": GW.replace("192.0.2.1", "10.9.9.9")}
    )
    assert (bad_gw.status_code, bad_gw.get_json()["error"]["field"]) == (422, "options.gw")


def test_an_import_warns_of_profiles_without_a_release(admin: Api) -> None:
    text = (FIXTURES / "syslinux" / "avbox2.cfg").read_bytes()
    warnings = admin.post("/api/v1/import/syslinux", data=text).get_json()["warnings"]
    assert any(
        w.startswith("profile avbox2: release: profile avbox2 was imported") for w in warnings
    )
    # the paper's copyiso/copydef/copyimg words, and no bundle holds them
    assert any(w.startswith("profile avbox2: options.copyiso: ") for w in warnings)
