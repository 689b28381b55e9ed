"""Nothing silent: the CLI says which store it creates, previews show the bytes a
box is served and name the server when it is known, bundle uploads say what they
replaced."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask.testing import FlaskClient

from provisioner import serverstate
from provisioner.cli import main
from provisioner.config import load_settings
from provisioner.db.sqlstore import SqlStore
from provisioner.domain import Release
from tests.conftest import FIXTURES, Api, Run
from tests.support.media import make_qcow2, make_squashfs, needs_mksquashfs, needs_qemu_img

MAC = "52:54:00:c0:02:01"
AVBOX1 = str(FIXTURES / "syslinux" / "avbox1.cfg")
#: the two '# ...' lines of 'node show --boot' above the pxelinux file and the iPXE script
HEADERS = re.compile(r"\n# (?:pxelinux\.cfg/01-[0-9a-f-]+|iPXE script): as served at \S+\n")


def _bare_run(data_dir: Path) -> Run:
    """The CLI with only a data directory: its default SQLite database."""

    def invoke(*args: str) -> Result:
        env = {"PROVISIONER_DATA_DIR": str(data_dir), "PROVISIONER_DATABASE_URL": None}
        return CliRunner().invoke(main, list(args), env=env)

    return invoke


@pytest.fixture
def release(store: SqlStore) -> str:
    """A release row (no file): a node that installs needs one."""
    store.add_release(Release("base", "1.0", "base-1.0.squashfs", 4096, "b" * 64))
    return "base:1.0"


def _node(run: Run, release: str) -> None:
    """Node MAC installs profile avbox1 and ``release``."""
    assert run("import-syslinux", AVBOX1).exit_code == 0
    assert run("node", "set", MAC, "--profile", "avbox1", "--release", release).exit_code == 0


# -- the store it uses ---------------------------------------------------------------------
@pytest.mark.parametrize("first", [("node", "list"), ("db", "upgrade"), ("token", "list")])
def test_a_command_that_creates_a_new_store_names_the_data_dir_and_database(
    tmp_path: Path, first: tuple[str, ...]
) -> None:
    data = tmp_path / "forgotten"
    run = _bare_run(data)
    created = run(*first)
    assert created.exit_code == 0, created.output
    assert f"created a new, empty database: sqlite:///{data}/provisioner.db" in created.stderr
    assert f"data directory (new): {data}\n" in created.stderr
    assert "PROVISIONER_DATA_DIR" in created.stderr
    again = run(*first)
    assert (again.exit_code, again.stderr) == (0, "")  # only when it creates one


def test_db_current_on_a_missing_database_says_so_and_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "forgotten"
    result = _bare_run(data)("db", "current")
    assert result.exit_code == 0, result.output
    assert f"current (no database: sqlite:///{data}/provisioner.db does not exist)" in (
        result.stdout
    )
    assert f"data directory: {data}" in result.stderr
    assert not data.exists()


def test_building_the_boot_environment_in_a_new_data_dir_says_so(tmp_path: Path) -> None:
    env = {"PROVISIONER_DATA_DIR": str(tmp_path / "new"), "PATH": str(tmp_path)}  # no apt-cache
    result = CliRunner().invoke(main, ["media", "build-initrd"], env=env)
    assert f"data directory (new): {tmp_path / 'new'}" in result.stderr


# -- previews ------------------------------------------------------------------------------
def test_boot_previews_are_byte_for_byte_what_the_http_boot_endpoints_serve(
    run: Run, client: FlaskClient, admin: Api, release: str
) -> None:
    """``node show --boot`` and ``GET /api/v1/nodes/<mac>/boot`` alike."""
    _node(run, release)
    more = ("--options", "lang.de auto ip.192.168.2.252", "--release", release)
    assert run("node", "set", "52-54-00-C0-02-02", *more).exit_code == 0
    for mac in (MAC, "52:54:00:c0:02:02"):
        shown = run("node", "show", mac, "--boot", "--server", "http://localhost")
        assert shown.exit_code == 0, shown.output
        assert shown.stderr == ""  # the server is named: no placeholder note
        _, pxelinux, ipxe = HEADERS.split(shown.stdout)
        pxelinux_name = "01-" + mac.replace(":", "-")
        served = client.get(f"/boot/pxelinux.cfg/{pxelinux_name}").get_data(as_text=True)
        assert pxelinux == served
        assert "server.http://localhost " in served
        assert ipxe == client.get(f"/boot/ipxe?mac={mac}").get_data(as_text=True)
        api = admin.get(f"/api/v1/nodes/{mac}/boot").get_json()
        assert (api["pxelinux"], api["ipxe"]) == (pxelinux, ipxe)


def test_previews_name_the_running_server_from_its_state_file(
    run: Run, data_dir: Path, release: str
) -> None:
    _node(run, release)
    settings = load_settings({}, overrides={"data_dir": str(data_dir), "http": "192.0.2.7:8081"})
    data_dir.mkdir(exist_ok=True)  # 'serve' needs it (PostgreSQL leaves it uncreated)
    path = serverstate.write(settings)  # as 'provisioner serve' does, with our live PID
    assert json.loads(path.read_text())["url"] == "http://192.0.2.7:8081"
    shown = run("node", "show", MAC, "--boot")
    assert "server.http://192.0.2.7:8081 " in shown.stdout
    assert "kernel http://192.0.2.7:8081/boot/files/vmlinuz" in shown.stdout
    assert "SERVER" not in shown.output
    serverstate.remove(settings)
    assert not path.exists()


def test_a_state_file_of_a_stopped_server_is_ignored_and_the_placeholder_explained(
    run: Run, data_dir: Path, release: str
) -> None:
    _node(run, release)
    gone = subprocess.Popen(["true"])
    gone.wait()
    state = {"pid": gone.pid, "url": "http://192.0.2.7:8081", "http": "192.0.2.7:8081"}
    data_dir.mkdir(exist_ok=True)
    (data_dir / serverstate.STATE_FILE).write_text(json.dumps(state))
    shown = run("node", "show", MAC, "--boot")
    assert "server.http://SERVER:8080 " in shown.stdout
    assert "note: SERVER stands for this server's address" in shown.stderr
    with_ip = run("node", "show", MAC, "--boot", PROVISIONER_SERVER_IP="192.0.2.9")
    assert "server.http://192.0.2.9:8080 " in with_ip.stdout
    assert with_ip.stderr == ""


def test_a_server_that_listens_on_a_wildcard_address_names_no_url(tmp_path: Path) -> None:
    wildcard = load_settings({}, overrides={"data_dir": str(tmp_path), "http": "0.0.0.0:8080"})
    assert serverstate.advertised_url(wildcard) is None
    assert serverstate.advertised_url(wildcard.replace(server_ip="192.0.2.1")) == (
        "http://192.0.2.1:8080"
    )
    assert serverstate.preview_url(wildcard) == ("http://SERVER:8080", False)


def test_a_bad_server_url_is_refused_naming_the_option(run: Run, release: str) -> None:
    _node(run, release)
    result = run("node", "show", MAC, "--boot", "--server", "192.0.2.1")
    assert result.exit_code == 2
    assert "error: --server: '192.0.2.1' is not an http(s) URL" in result.output


@needs_mksquashfs
def test_the_manifest_uses_the_known_server_url_and_notes_the_placeholder_otherwise(
    run: Run, tmp_path: Path
) -> None:
    image = make_squashfs(tmp_path / "avbox.sqfs")
    assert run("image", "add", str(image), "--name", "avbox", "--version", "2.0").exit_code == 0
    assert run("node", "set", MAC, "--release", "avbox:2.0").exit_code == 0
    known = run("node", "manifest", MAC, "--server", "http://192.0.2.1:8080")
    assert json.loads(known.stdout)["fetch"][0]["url"].startswith("http://192.0.2.1:8080/media/")
    assert known.stderr == ""
    unknown = run("node", "manifest", MAC)
    assert json.loads(unknown.stdout)["fetch"][0]["url"].startswith("http://SERVER:8080/media/")
    assert "note: SERVER stands for" in unknown.stderr
    listed = run("image", "list", PROVISIONER_SERVER_IP="192.0.2.3")
    assert "http://192.0.2.3:8080/media/images/avbox/2.0/" in listed.stdout
    assert listed.stderr == ""


# -- bundle uploads ------------------------------------------------------------------------
@needs_qemu_img
def test_bundle_upload_says_what_it_replaced_and_raw_needs_the_flag(
    run: Run, tmp_path: Path
) -> None:
    first = run("bundle", "upload", "tinycore", "image", str(make_qcow2(tmp_path / "v101.img")))
    assert first.exit_code == 0, first.output
    assert "bundle tinycore: image v101.img uploaded (qcow2)" in first.stdout
    assert "replaced" not in first.output
    other = make_qcow2(tmp_path / "v101b.qcow2", size="2M")
    second = run("bundle", "upload", "tinycore", "image", str(other))
    assert second.exit_code == 0, second.output
    assert "bundle tinycore: replaced its image v101.img (" in second.stdout
    raw = tmp_path / "disk.img"
    raw.write_bytes(os.urandom(65536).replace(b"QFI", b"xxx").replace(b"CD001", b"xxxxx"))
    refused = run("bundle", "upload", "plain", "image", str(raw))
    assert refused.exit_code == 2
    assert "error: image: 'disk.img' is not a recognised disk image" in refused.output
    assert "--raw" in refused.output
    accepted = run("bundle", "upload", "plain", "image", str(raw), "--raw")
    assert accepted.exit_code == 0, accepted.output
    assert "image disk.img uploaded (raw)" in accepted.stdout
