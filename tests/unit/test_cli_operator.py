"""What an operator reads: ``node events [--follow]``, ``node show``'s install status,
list tables, the wipe confirmation, the actions explained in ``--help``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from werkzeug.serving import make_server

from provisioner.cli import main
from provisioner.config import Settings
from provisioner.domain import Lease, Release, Role
from provisioner.installer import Installer
from provisioner.service import Service

MAC = "52:54:00:c0:02:01"
Run = Callable[..., Result]


@pytest.fixture
def run(settings: Settings, db_url: str) -> Run:
    env = {"PROVISIONER_DATA_DIR": str(settings.data_dir), "PROVISIONER_DATABASE_URL": db_url}

    def invoke(*args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)

    return invoke


@pytest.fixture(autouse=True)
def _releases(service: Service) -> None:
    for version in ("2.0", "2.1"):
        service.store.add_release(
            Release("avbox", version, f"avbox-{version}.squashfs", 4096, version[-1] * 64)
        )


def _report(service: Service, **form: str) -> None:
    Installer(service).report(service.get_node(MAC).build_token or "", form)


def _install(service: Service, *, fail: bool = False, **done: str) -> None:
    """One agent run as the agent reports it: boot, image written and verified, then
    done (or a failure)."""
    service.save_node(MAC, {"release": "avbox:2.0", "action": "install", "hostname": "avbox251"})
    _report(service, step="boot", status="running", message="agent up")
    if fail:
        _report(service, step="disk", status="failed", message="not a provisioner install")
        return
    _report(service, step="image", status="running", message="writing slot A (fresh)")
    _report(service, step="image", status="ok", message="written")
    _report(service, step="verify", status="ok", message="sha256 checked")
    _report(service, step="done", status="ok", message="installed", mode="fresh", active="A",
            slot_a="avbox:2.0 abc 4096 1700000000", **done)  # fmt: skip


# -- node events ----------------------------------------------------------------------------
def test_node_events_prints_the_timeline_newest_last(run: Run, service: Service) -> None:
    _install(service)
    lines = run("node", "events", MAC).output.splitlines()
    kinds = [line.split()[2] for line in lines]
    assert kinds == [
        "node.created", "agent.boot", "agent.image", "agent.image", "agent.verify", "agent.done"
    ]  # fmt: skip
    assert lines[-1].endswith("  agent.done      installed")
    as_json = [json.loads(x) for x in run("node", "events", MAC, "--json").output.splitlines()]
    assert [e["kind"] for e in as_json] == kinds
    assert run("node", "events", MAC, "--limit", "1").output.split()[2] == "agent.done"


def test_a_failed_step_is_marked_in_the_timeline(run: Run, service: Service) -> None:
    _install(service, fail=True)
    last = run("node", "events", MAC).output.splitlines()[-1]
    assert "agent.disk" in last
    assert last.endswith("not a provisioner install [failed]")


def test_node_events_of_an_unknown_node_is_an_error(run: Run) -> None:
    result = run("node", "events", MAC)
    assert result.exit_code == 1
    assert "node" in result.output
    assert "not found" in result.output.lower()


def _follow(run: Run, *args: str) -> tuple[threading.Thread, dict[str, Result]]:
    out: dict[str, Result] = {}
    thread = threading.Thread(
        target=lambda: out.update(result=run("node", "events", MAC, "--follow", *args))
    )
    thread.start()
    return thread, out


def test_follow_prints_events_as_they_come_and_ends_with_the_install_window(
    run: Run, service: Service
) -> None:
    service.save_node(MAC, {"release": "avbox:2.0", "action": "install"})
    thread, out = _follow(run, "--until-done", "--interval", "0.05", "--timeout", "30")
    time.sleep(0.3)
    assert thread.is_alive()  # the window is open: it waits for more
    _report(service, step="boot", status="running", message="agent up")
    _report(service, step="image", status="ok", message="written")
    _report(service, step="verify", status="ok", message="sha256 checked")
    _report(service, step="done", status="ok", message="installed", mode="fresh", active="A")
    thread.join(30)
    assert not thread.is_alive()
    result = out["result"]
    assert result.exit_code == 0
    assert [line.split()[2] for line in result.output.splitlines()] == [
        "node.created",
        "agent.boot",
        "agent.image",
        "agent.verify",
        "agent.done",
    ]


def test_follow_until_done_exits_1_when_the_install_failed(run: Run, service: Service) -> None:
    service.save_node(MAC, {"release": "avbox:2.0", "action": "install"})
    thread, out = _follow(run, "--until-done", "--interval", "0.05", "--timeout", "30")
    _report(service, step="disk", status="failed", message="no disk")
    thread.join(30)
    assert out["result"].exit_code == 1
    assert out["result"].output.splitlines()[-1].endswith("no disk [failed]")


def test_follow_stops_at_its_timeout(run: Run, service: Service) -> None:
    service.save_node(MAC, {"action": "local"})
    started = time.monotonic()
    assert run("node", "events", MAC, "-f", "--timeout", "0.3", "--interval", "0.1").exit_code == 0
    waited = run("node", "events", MAC, "-f", "--until-done", "--timeout", "0.3")
    assert waited.exit_code == 0  # no window open: nothing to wait for
    service.save_node(MAC, {"release": "avbox:2.0", "action": "install"})
    late = run("node", "events", MAC, "-f", "--until-done", "--timeout", "0.3", "--interval", "0.1")
    assert late.exit_code == 124
    assert "still installing" in late.output
    assert time.monotonic() - started < 10


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    """The API on a real socket (127.0.0.1, a free port)."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(10)


def test_node_events_over_http_read_the_same_timeline(
    run: Run, service: Service, server: str, tmp_path: Path
) -> None:
    _install(service)
    _, secret = service.create_token("ops", Role.VIEWER)
    token_file = tmp_path / "token"
    token_file.write_text(secret + "\n")
    local = run("node", "events", MAC).output
    remote = run("node", "events", MAC, "--server", server, "--token-file", str(token_file))
    assert remote.exit_code == 0
    assert remote.output == local
    followed = run("node", "events", MAC, "-f", "--until-done", "--server", server,
                   "--token", secret, "--timeout", "10")  # fmt: skip
    assert followed.exit_code == 0
    assert followed.output == local
    refused = run("node", "events", MAC, "--server", server, "--token", "prov_wrong")
    assert refused.exit_code == 1
    assert "401" in refused.output


# -- node show ------------------------------------------------------------------------------
def _fields(output: str) -> dict[str, str]:
    return {k: v.strip() for k, _, v in (line.partition(":") for line in output.splitlines())}


def test_node_show_of_a_failed_install_says_why_and_at_which_step(
    run: Run, service: Service
) -> None:
    _install(service, fail=True)
    shown = _fields(run("node", "show", MAC).output)
    assert shown["state"] == "failed"
    assert shown["last error"].startswith("disk: not a provisioner install (")
    assert shown["window"] == "-"  # the final report closed it
    assert shown["action"] == "local"


def test_node_show_of_an_install_has_slots_timings_and_no_window(
    run: Run, service: Service
) -> None:
    _install(service)
    shown = _fields(run("node", "show", MAC).output)
    assert shown["state"] == "installed"
    assert shown["last error"] == "-"
    assert (shown["slot A"], shown["slot B"]) == ("avbox:2.0 (active)", "-")
    assert shown["installed"].endswith("s")
    assert " UTC in " in shown["installed"]
    assert shown["phases"].startswith("agent ")
    assert shown["window"] == "-"
    service.save_node(MAC, {"action": "install"}, partial=True)  # an update: a window again
    again = _fields(run("node", "show", MAC).output)
    assert again["window"].startswith("open until ")
    assert again["window"].endswith("m left)")


def test_node_show_of_a_running_box_says_what_it_runs_and_its_first_boot(
    run: Run, service: Service
) -> None:
    """The installed system's report (provisioner.firstboot): state, release, slot,
    addresses, the firstboot phase; revoking its credential is one command."""
    _install(service, credential="7e" * 32)  # as the agent registers it
    report = {"mac": MAC, "slot": "A", "release": "avbox:2.0", "addresses": "192.0.2.51/24"}
    Installer(service).boot_report("7e" * 32, report)
    shown = _fields(run("node", "show", MAC).output)
    assert shown["state"] == "running"
    assert shown["running"].startswith("avbox:2.0 from slot A on 192.0.2.51/24 (reported ")
    assert "firstboot " in shown["phases"]
    result = run("node", "revoke-credential", MAC)
    assert result.output == f"node {MAC}: report credential revoked\n"
    assert service.get_node(MAC).credential_hash is None


def test_a_node_with_only_a_release_shows_a_boot_of_the_installer(run: Run) -> None:
    """README: no profile, no options, no boot file names; the box gets kernel AND initrd."""
    assert run("node", "set", MAC, "--release", "avbox:2.0", "--action", "install").exit_code == 0
    boot = run("node", "show", MAC, "--boot").output
    assert (
        "\n  KERNEL vmlinuz\n  INITRD initrd.img\n  APPEND server.http://SERVER:8080 token." in boot
    )
    assert "\ninitrd --name initrd.img http://SERVER:8080/boot/files/initrd.img?mac=" in boot


# -- lists ----------------------------------------------------------------------------------
def test_lists_have_headers_and_nodes_show_release_and_effective_ip(
    run: Run, service: Service
) -> None:
    run("profile", "set", "rack", "--options", "ip.192.0.2.50", "--release", "avbox:2.0")
    run("node", "set", MAC, "--profile", "rack", "--hostname", "avbox251")
    run("node", "set", "52:54:00:c0:02:02", "--release", "avbox:2.1")
    run("node", "set", "52:54:00:c0:02:03", "--action", "local")
    lease = Lease(IPv4Address("192.0.2.120"), "52:54:00:c0:02:02", time.time() + 600)
    service.store.save_leases([lease])
    rows = [line.split(None, 6) for line in run("node", "list").output.splitlines()]
    assert rows[0] == ["MAC", "HOSTNAME", "PROFILE", "RELEASE", "IP", "ACTION", "STATE"]
    assert rows[1] == [MAC, "avbox251", "rack", "avbox:2.0", "192.0.2.50", "install", "new"]
    line2 = run("node", "list").output.splitlines()[2]
    assert "avbox:2.1" in line2
    assert "192.0.2.120 (lease)" in line2
    assert run("node", "list").output.splitlines()[3].split()[4] == "dhcp"
    assert json.loads(run("node", "list", "--json").output)[0]["mac"] == MAC
    profiles = run("profile", "list").output.splitlines()
    assert profiles[0].split() == ["NAME", "KERNEL", "INITRD", "RELEASE", "BUNDLE", "OPTIONS"]
    assert profiles[1].split() == ["rack", "vmlinuz", "-", "avbox:2.0", "-", "ip.192.0.2.50"]
    run("bundle", "set", "tc", "--iso", "tinycore.iso")
    bundles = run("bundle", "list").output.splitlines()
    assert bundles[0].split() == ["NAME", "ISO", "DEFINITION", "IMAGE"]
    assert bundles[1].split() == ["tc", "tinycore.iso", "(not", "uploaded)", "-", "-"]


# -- wipe and the actions -------------------------------------------------------------------
def test_wipe_asks_for_the_host_name_and_changes_nothing_without_it(
    run: Run, service: Service
) -> None:
    run("node", "set", MAC, "--hostname", "avbox251", "--release", "avbox:2.0", "--action", "local")
    refused = run("node", "set", MAC, "--action", "wipe", stdin="avbox252\n")
    assert refused.exit_code == 1
    assert "not confirmed" in refused.output
    assert service.get_node(MAC).action.value == "local"
    assert run("node", "set", MAC, "--action", "wipe", stdin="\n").exit_code == 1
    confirmed = run("node", "set", MAC, "--action", "wipe", stdin="avbox251\n")
    assert confirmed.exit_code == 0
    assert "erases the whole disk of avbox251" in confirmed.output
    assert service.get_node(MAC).action.value == "wipe"


def test_wipe_of_a_node_without_a_host_name_asks_for_its_mac_and_yes_skips_it(
    run: Run, service: Service
) -> None:
    run("node", "set", MAC, "--release", "avbox:2.0", "--action", "local")
    assert run("node", "set", MAC, "--action", "wipe", stdin="52-54-00-C0-02-01\n").exit_code == 0
    run("node", "set", MAC, "--action", "local")
    assert run("node", "set", MAC, "--action", "wipe", "--yes", stdin="").exit_code == 0
    assert service.get_node(MAC).action.value == "wipe"


def test_node_set_help_explains_every_action(run: Run) -> None:
    text = " ".join(run("node", "set", "--help").output.split())
    for action in ("install", "local", "rollback", "rescue", "wipe"):
        assert f" {action} " in text
    assert "data partition included" in text
    assert "--yes Do not ask before --action wipe." in text
