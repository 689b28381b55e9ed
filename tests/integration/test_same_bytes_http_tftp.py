"""A box gets the same bytes whichever way it asks: every generated boot file of a
real ``provisioner serve`` (HTTP + TFTP on 127.0.0.1), fetched over TFTP by curl
and over both HTTP routes, with and without ``--server-ip``."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from provisioner.bootnames import config_name
from tests.support.media import make_squashfs
from tests.support.server import BIN, curl, serve, server_env

pytestmark = pytest.mark.skipif(
    not (shutil.which("curl") and shutil.which("mksquashfs")), reason="needs curl, mksquashfs"
)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
INSTALL = "52:54:00:c0:02:41"  # agent action install with a release: server. token. words
LOCAL = "52:54:00:c0:02:42"  # plain local boot
PROFILE = "52:54:00:c0:02:43"  # a profile's kernel, initrd and APPEND


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> None:
    got = subprocess.run(
        [str(BIN / "provisioner"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert got.returncode == 0, got.stderr


def _nodes(tmp_path: Path, env: dict[str, str]) -> None:
    image = make_squashfs(tmp_path / "avbox-2.0.sqfs")
    _cli(env, "image", "add", str(image), "--name", "avbox", "--version", "2.0")
    _cli(env, "import-syslinux", str(FIXTURES / "syslinux" / "avbox1.cfg"))  # the menu
    _cli(env, "node", "set", INSTALL, "--release", "avbox:2.0", "--action", "install",
         "--options", "keyboard.de_CH lang.de auto ip.192.0.2.41")  # fmt: skip
    _cli(env, "node", "set", LOCAL, "--action", "local")
    _cli(env, "node", "set", PROFILE, "--profile", "avbox1", "--action", "install",
         "--release", "avbox:2.0")  # fmt: skip


@pytest.mark.parametrize("server_ip", ["192.0.2.1", ""], ids=["server-ip", "no-server-ip"])
def test_every_generated_file_has_the_same_bytes_over_tftp_and_http(
    tmp_path: Path, server_ip: str
) -> None:
    data = tmp_path / "data"
    tftp = _free_udp_port()
    settings = {"tftp": f"127.0.0.1:{tftp}", "server_ip": server_ip}
    _nodes(tmp_path, server_env(data, 0, **settings))
    with serve(tmp_path, data_dir=data, log_level="INFO", **settings) as server:
        port = int(server.base.rsplit(":", 1)[1])
        configs = [config_name(mac) for mac in (INSTALL, LOCAL, PROFILE)] + ["default"]
        seen: dict[str, bytes] = {}
        for config in configs:
            ways = {
                f"{tree}pxelinux.cfg/{config} over {how}": url
                for tree in ("", "efi64/")
                for how, url in (
                    ("TFTP", f"tftp://127.0.0.1:{tftp}/{tree}pxelinux.cfg/{config}"),
                    ("HTTP", f"{server.base}/boot/files/{tree}pxelinux.cfg/{config}"),
                )
            }
            ways[f"/boot/pxelinux.cfg/{config} over HTTP"] = (
                f"{server.base}/boot/pxelinux.cfg/{config}"
            )
            got = {}
            for way, url in ways.items():
                out = curl("--fail", url)
                assert out.returncode == 0, (way, out.stderr)
                got[way] = out.stdout
            first = next(iter(got.values()))
            assert first, config
            assert all(body == first for body in got.values()), {
                way: len(body) for way, body in got.items()
            }
            seen[config] = first
        expected = f"http://{server_ip or '127.0.0.1'}:{port}"
        install = seen[config_name(INSTALL)].decode()
        assert f" server.{expected} token." in install
        assert " action.install" in install
        assert "LOCALBOOT 0" in seen[config_name(LOCAL)].decode()
        assert "LABEL avbox1" in seen["default"].decode()
        assert f" server.{expected} token." in seen[config_name(PROFILE)].decode()
    log = server.log.read_text()
    if server_ip:
        assert f"boot files name this server as http://{server_ip}:{port}" in log
    else:
        assert "this server's base URL is not known at start-up" in log
