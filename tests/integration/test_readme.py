"""The README, followed as written: the shell blocks of its sections "Release images
and bundles" and "Describe a box" are read from README.md (so a change there is
tested) and run by ``sh -e`` against a real ``provisioner serve``, as a new user
would after ``scripts/run``: the CLI on the server's data directory, the curl lines
against the server. Every node they create must be bootable.

What the test provides is what the README assumes exists: the sample files it
names (a real squashfs made by mksquashfs, a real qcow2 made by qemu-img), the
repository (``tests/fixtures/...``) and ``.venv`` (symlinks in a scratch directory),
``$TOKEN`` (an admin token), and the boot environment ``scripts/run`` builds
(``DATA_DIR/boot/vmlinuz`` and ``initrd.img``; stand-ins here: building the real
one downloads Debian's kernel package).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner.bootnames import config_name
from tests.support.media import make_qcow2, make_squashfs
from tests.support.server import BIN, Server, curl, serve

pytestmark = pytest.mark.skipif(
    not all(shutil.which(p) for p in ("curl", "mksquashfs", "qemu-img")),
    reason="needs curl, mksquashfs, qemu-img",
)
REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
#: the sections followed, in the order the README has them
SECTIONS = ("Release images and bundles", "Describe a box")
#: where the README's curl lines expect the server
README_SERVER = "http://localhost:8080"


def readme_blocks(text: str, titles: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(section title, shell block)`` for each ```` ```sh ```` block of the
    ``## `` sections named ``titles``, in document order."""
    found = []
    for section in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        title, _, body = section.partition("\n")
        if title.strip() in titles:
            shell = re.findall(r"^```sh\n(.*?)^```", body, re.MULTILINE | re.DOTALL)
            found += [(title.strip(), block) for block in shell]
    return found


def test_the_readme_sections_are_found_with_their_shell_blocks() -> None:
    blocks = readme_blocks(README.read_text(encoding="utf-8"), SECTIONS)
    assert {title for title, _ in blocks} == set(SECTIONS)
    assert all("$P " in b or "curl " in b for _, b in blocks)


@dataclass
class ReadmeRun:
    server: Server
    workdir: Path
    env: dict[str, str]
    stdout: str
    stderr: str

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "provisioner"), *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def get(self, path: str, *, auth: bool = False) -> str:
        got = curl("-f", *(self.server.auth if auth else []), self.server.base + path)
        assert got.returncode == 0, got.stderr
        return got.stdout.decode()


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReadmeRun]:
    tmp = tmp_path_factory.mktemp("readme")
    work = tmp / "checkout"
    work.mkdir()
    (work / ".venv").symlink_to(BIN.parent)  # P=.venv/bin/provisioner, as written
    (work / "tests").symlink_to(REPO / "tests")  # tests/fixtures/syslinux/avbox1.cfg
    make_squashfs(work / "avbox-2.0.sqfs")
    make_qcow2(work / "v101.qcow2")
    data = tmp / "data"
    boot = data / "boot"  # what scripts/run's build-initrd leaves (stand-ins)
    boot.mkdir(parents=True)
    (boot / "vmlinuz").write_bytes(b"stand-in for the boot environment's kernel\n")
    (boot / "initrd.img").write_bytes(b"stand-in for the boot environment's initramfs\n")
    blocks = readme_blocks(README.read_text(encoding="utf-8"), SECTIONS)
    script = "\n".join(
        [
            "set -eu",
            # a refused request fails the run, as a failing command does
            'curl() { command curl -fsS --max-time 30 "$@"; }',
            *(block for _, block in blocks),
        ]
    )
    with serve(tmp, data_dir=data) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISIONER_")}
        env.update(PROVISIONER_DATA_DIR=str(data), TOKEN=server.token)
        ran = subprocess.run(
            ["sh", "-c", script.replace(README_SERVER, server.base)],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert ran.returncode == 0, f"the README's commands failed:\n{ran.stdout}\n{ran.stderr}"
        yield ReadmeRun(server, work, env, ran.stdout, ran.stderr)


def _nodes(run: ReadmeRun) -> list[dict[str, object]]:
    nodes: list[dict[str, object]] = json.loads(run.get("/api/v1/nodes", auth=True))
    return nodes


def test_the_readme_creates_bootable_nodes_that_install_a_release(readme_run: ReadmeRun) -> None:
    nodes = _nodes(readme_run)
    assert sorted(str(n["mac"]) for n in nodes) == ["52:54:00:c0:02:01", "52:54:00:c0:02:02"]
    for n in nodes:
        mac = str(n["mac"])
        pxelinux = readme_run.get(f"/boot/pxelinux.cfg/{config_name(mac)}")
        assert re.search(r"^  KERNEL \S+$", pxelinux, re.M), pxelinux
        assert re.search(r"^  APPEND .*\binitrd=\S+", pxelinux, re.M), pxelinux
        ipxe = readme_run.get(f"/boot/ipxe?mac={mac}")
        assert re.search(r"^initrd ", ipxe, re.M), ipxe
        manifest = json.loads(readme_run.get(f"/api/v1/nodes/{mac}/manifest", auth=True))
        assert manifest["release"] is not None, manifest
        assert manifest["action"] == "install"
        assert manifest["fetch"][0]["purpose"] == "release"


def test_readme_previews_name_the_running_server_not_a_placeholder(
    readme_run: ReadmeRun,
) -> None:
    assert "SERVER:8080" not in readme_run.stdout + readme_run.stderr
    assert f"server.{readme_run.server.base} " in readme_run.stdout  # node show --boot
    assert f'"url": "{readme_run.server.base}/media/' in readme_run.stdout  # node manifest


def test_node_show_boot_prints_exactly_what_the_server_serves(readme_run: ReadmeRun) -> None:
    for n in _nodes(readme_run):
        mac = str(n["mac"])
        shown = readme_run.cli("node", "show", mac, "--boot")
        assert shown.returncode == 0, shown.stderr
        _, pxelinux, ipxe = re.split(r"\n# (?:pxelinux\.cfg/\S+|iPXE script): as served at \S+\n",
                                     shown.stdout)  # fmt: skip
        assert pxelinux == readme_run.get(f"/boot/pxelinux.cfg/{config_name(mac)}")
        assert ipxe == readme_run.get(f"/boot/ipxe?mac={mac}")


def test_readme_nodes_pass_preflight_with_no_warning(readme_run: ReadmeRun) -> None:
    check = readme_run.cli("node", "check")
    assert (check.returncode, check.stdout) == (0, ""), check.stdout + check.stderr
    assert json.loads(readme_run.get("/api/v1/nodes?problems=1", auth=True)) == []
