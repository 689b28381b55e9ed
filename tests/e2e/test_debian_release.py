"""A real Debian release boots from its slot: bookworm minbase with Debian's kernel,
systemd and udev, built from Debian packages by mmdebstrap
(tests/support/debianrelease.py, cached between runs), is added through the CLI,
installed over the network on a BIOS VM and on a UEFI VM, and each then boots from
its own disk with network boot out of the boot order: systemd's serial getty shows
the node's host name, systemd-networkd put the static address on the interface, the
keyboard and locale files hold the mapped values and the server shows the node
running the release from slot A.

Each phase's duration is printed (``pytest -s``): TCG is slow and the figures are
in docs/installer.md.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.domain import Action, State
from tests.e2e.installer_lab import KERNEL_ARGS, Artifacts, InstallerLab, installer_lab
from tests.support import netns
from tests.support.debianrelease import build_debian_release
from tests.support.slotdisk import data_file

pytestmark = pytest.mark.vm

RELEASE = "debian:12"
SLOT_MIB = 192  # the image is ~80 MB: a little over the lab's tiny-release slot
DISK_MIB = 768


@pytest.fixture(scope="module")
def debian(artifacts: Artifacts) -> Path:
    return build_debian_release(artifacts.boot.parent / "debian.squashfs")


@pytest.fixture
def il(tmp_path: Path, artifacts: Artifacts, debian: Path) -> Iterator[InstallerLab]:
    with netns.lab(tmp_path) as lab, installer_lab(lab, artifacts, tmp_path) as the_lab:
        name, version = RELEASE.split(":")
        the_lab.cli("image", "add", str(debian), "--name", name, "--version", version)
        the_lab.env["PROVISIONER_REPORT_INTERVAL"] = "5"
        yield the_lab


def _running(il: InstallerLab, mac: str, timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node = il.store.get_node(mac)
        if node.state is State.RUNNING and node.running.get("release") == RELEASE:
            return node.running
        time.sleep(1)
    raise AssertionError(f"{mac} not running {RELEASE} after {timeout}s")


@pytest.mark.parametrize(
    ("firmware", "ip", "mem_mib"),
    [("bios", "192.0.2.62", 512), ("uefi", "192.0.2.63", 512)],
)
def test_a_debian_release_installs_and_boots_from_its_disk_with_the_nodes_settings(
    il: InstallerLab, firmware: str, ip: str, mem_mib: int
) -> None:
    host = f"deb-{firmware}"
    vm = il.vm(firmware, disk_mib=DISK_MIB, mem_mib=mem_mib)
    options = (KERNEL_ARGS, f"ip.{ip}", "submask.255.255.255.0", "keyboard.de_CH", "lang.de",
               f"slotsize.{SLOT_MIB}")  # fmt: skip
    il.cli("node", "set", vm.mac, "--hostname", host, "--release", RELEASE,
           "--action", "install", "--options", " ".join(options))  # fmt: skip
    il.start_server()

    t0 = time.monotonic()
    il.boot([vm], timeout=900)
    installed = time.monotonic() - t0
    node = il.node_state(vm)
    assert (node.state, node.action) == (State.INSTALLED, Action.LOCAL), il.why(vm)
    keyboard = il.data_file(vm, "/provisioner/root/etc/default/keyboard").decode()
    assert 'XKBLAYOUT="ch"' in keyboard
    assert 'XKBVARIANT="de"' in keyboard
    assert il.data_file(vm, "/provisioner/root/etc/default/locale") == b"LANG=de_DE.UTF-8\n"

    t1 = time.monotonic()
    vm.boot(1500, from_disk=True)
    try:
        running = _running(il, vm.mac, timeout=1200)
    except AssertionError as e:
        raise AssertionError(str(e) + il.why(vm)) from None
    up = time.monotonic() - t1
    assert running["slot"] == "A"
    assert running["addresses"] == f"{ip}/24", il.why(vm)
    ping = il.lab.server.run("busybox", "ping", "-c", "1", "-W", "5", ip)
    assert ping.returncode == 0, ping.stdout
    deadline = time.monotonic() + 300
    while f"{host} login:" not in vm.console(400) and time.monotonic() < deadline:
        time.sleep(1)
    assert f"{host} login:" in vm.console(400), il.why(vm)
    print(f"\n{firmware}: install {installed:.0f}s, power-on to running {up:.0f}s, "
          f"to login prompt {time.monotonic() - t1:.0f}s")  # fmt: skip
    vm.kill()
    # one machine-id per node, on the data partition, is the one systemd runs with
    # (read after replaying the journal on a copy: the box was switched off)
    node_id = data_file(vm.disk, "/provisioner/machine-id")
    assert node_id is not None
    assert re.fullmatch(rb"[0-9a-f]{32}\n", node_id), node_id
    assert data_file(vm.disk, "/provisioner/overlay/A/upper/etc/machine-id") == node_id
