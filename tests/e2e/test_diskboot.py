"""Installed boxes boot themselves: QEMU VMs (TCG) install tiny releases over the
network from ``provisioner serve`` (tests/e2e/installer_lab.py), then boot from
their own disk with network boot out of the boot order -- GRUB from Debian's
packages, the A/B slot choice in its environment block, the release's own kernel
with the initramfs ``image add`` built for it -- and the installed system reports
to the server. Every disk is read from outside afterwards.

One BIOS box walks the whole life of a node, sharing its boots: install 1.0 and
come up running it with the node's settings; update to 2.0 (the data survives);
roll back while running (no PXE); a broken 2.1 falls back by itself; a power cut
right after the slot switch still boots a release. A UEFI box installs and comes
up running from its disk.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from media.grubenv import parse as parse_env
from provisioner.domain import Action, State
from tests.e2e.installer_lab import (
    KERNEL_ARGS,
    Artifacts,
    InstallerLab,
    installer_lab,
)
from tests.support import netns
from tests.support.tinyrelease import build_tiny_release
from tests.support.vm import Vm

pytestmark = pytest.mark.vm

HOST = "rack1-node7"
SETTINGS = ("ip.192.0.2.60", "submask.255.255.255.0", "keyboard.de_CH", "lang.de")


@pytest.fixture(scope="module")
def tiny(artifacts: Artifacts) -> dict[str, Path]:
    cache = artifacts.boot.parent / "cache"  # the boot environment's: its kernel .deb
    return {
        v: build_tiny_release(artifacts.boot.parent / f"tiny-{v}.squashfs", v,
                              broken=v == "2.1", cache=cache)
        for v in ("1.0", "2.0", "2.1")
    }  # fmt: skip


@pytest.fixture
def il(tmp_path: Path, artifacts: Artifacts, tiny: dict[str, Path]) -> Iterator[InstallerLab]:
    with netns.lab(tmp_path) as lab, installer_lab(lab, artifacts, tmp_path) as the_lab:
        for version, image in tiny.items():
            the_lab.cli("image", "add", str(image), "--name", "tiny", "--version", version)
        the_lab.env["PROVISIONER_REPORT_INTERVAL"] = "5"
        yield the_lab


def _install(il: InstallerLab, vm: Vm, version: str, *options: str) -> None:
    """PXE: the agent installs ``tiny:<version>`` and reboots (which ends QEMU)."""
    args = ["node", "set", vm.mac, "--release", f"tiny:{version}", "--action", "install"]
    if options:
        args += ["--options", " ".join(options)]
    il.cli(*args)
    il.boot([vm], timeout=300)
    node = il.node_state(vm)
    assert (node.state, node.action) == (State.INSTALLED, Action.LOCAL), il.why(vm)


def _running(il: InstallerLab, vm: Vm, version: str, slot: str, timeout: float = 240) -> None:
    """Wait until the server shows the node running ``tiny:<version>`` from ``slot``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node = il.node_state(vm)
        if node.state is State.RUNNING and node.running.get("release") == f"tiny:{version}" \
                and node.running.get("slot") == slot:  # fmt: skip
            return
        assert vm.running(), il.why(vm)
        time.sleep(0.5)
    raise AssertionError(f"not running tiny:{version} from {slot}" + il.why(vm))


def _env(il: InstallerLab, vm: Vm) -> dict[str, str]:
    """The loader's environment block, read from the disk (media/grubenv.py)."""
    esp = il.partitions(vm)["prov-esp"]
    offset = il.loader_env_offset()
    with vm.disk.open("rb") as f:
        f.seek(esp.offset + offset)
        return parse_env(f.read(1024))


def _kinds(il: InstallerLab, vm: Vm) -> list[str]:
    return [e.kind for e in reversed(il.events(vm))]


def test_a_bios_box_lives_from_its_disk_install_update_rollback_fallback_power_cut(
    il: InstallerLab,
) -> None:
    vm = il.vm("bios")
    il.cli("node", "set", vm.mac, "--hostname", HOST, "--release", "tiny:1.0", "--options",
           " ".join((KERNEL_ARGS, *SETTINGS)))  # fmt: skip
    il.start_server()

    # 1. install 1.0, then boot the disk: GRUB -> slot A -> running with the settings
    _install(il, vm, "1.0")
    parts = il.partitions(vm)
    assert list(parts) == ["prov-bios", "prov-esp", "prov-state", "prov-A", "prov-B", "prov-data"]
    assert _env(il, vm)["ORDER"].split()[0] == "A"
    assert il.data_file(vm, "/provisioner/root/etc/hostname") == f"{HOST}\n".encode()
    keyboard = il.data_file(vm, "/provisioner/root/etc/default/keyboard").decode()
    assert 'XKBLAYOUT="ch"' in keyboard
    assert 'XKBVARIANT="de"' in keyboard
    assert il.data_file(vm, "/provisioner/root/etc/default/locale") == b"LANG=de_DE.UTF-8\n"
    # (written while the agent's clean unmount is the last thing on the data partition:
    # debugfs does not replay a journal the running system leaves behind)
    il.write_data_file(vm, "/marker", b"keep me\n")
    # the network still first, as the install left it: pxelinux gets `local`
    # (LOCALBOOT 0) and SeaBIOS goes on to the disk
    vm.boot(900, then_disk=True)
    _running(il, vm, "1.0", "A")
    console = vm.console(400)
    assert console.index("Booting from local disk") < console.index("GRUB loading"), console
    assert "provisioner: booting slot A" in console, console
    assert f"{HOST} login:" in console, console
    assert il.node_state(vm).running["addresses"] == "192.0.2.60/24"
    ping = il.lab.server.run("busybox", "ping", "-c", "1", "-W", "5", "192.0.2.60")
    assert ping.returncode == 0, ping.stdout
    assert _env(il, vm)["A_LEFT"] == _env(il, vm)["TRIES"]  # the boot was marked good
    node = il.node_state(vm)
    assert "firstboot" in node.phases
    vm.kill()

    # 2. update to 2.0: slot B, running, the data kept
    _install(il, vm, "2.0")
    vm.boot(900, from_disk=True)
    _running(il, vm, "2.0", "B")
    assert il.data_file(vm, "/marker") == b"keep me\n"

    # 3. rollback on the running box: the report is answered "switch", no PXE
    il.cli("node", "set", vm.mac, "--action", "rollback")
    _running(il, vm, "1.0", "A", timeout=300)
    node = il.node_state(vm)
    assert (node.action, node.active_slot) == (Action.LOCAL, "A")
    assert "node.rolledback" in _kinds(il, vm)
    vm.kill()

    # 4. a broken 2.1 (its init fails) goes to slot B; the loader tries it TRIES
    # times, then falls back to 1.0 in slot A by itself; the server records it
    _install(il, vm, "2.1")
    assert il.node_state(vm).active_slot == "B"
    vm.boot(1200, from_disk=True)
    _running(il, vm, "1.0", "A", timeout=900)
    console = vm.console(2000)
    assert console.count("TINY-RELEASE 2.1 broken") == int(_env(il, vm)["TRIES"]), console
    fell = [e for e in il.events(vm) if e.kind == "node.fellback"]
    assert [e.message for e in fell] == ["fell back from tiny:2.1 to tiny:1.0 (slot A)"]
    assert _env(il, vm)["B_OK"] == "0"

    # 5. power cut right after the slot switch: the box still boots a release
    il.cli("node", "set", vm.mac, "--action", "rollback")  # back to slot B: broken 2.1
    deadline = time.monotonic() + 120
    while "slot B activated" not in vm.console(4000) and time.monotonic() < deadline:
        time.sleep(0.2)
    vm.kill()
    assert "switch: slot B activated" in vm.console(4000), il.why(vm)
    vm.boot(1200, from_disk=True)
    _running(il, vm, "1.0", "A", timeout=900)  # 2.1 cannot come up: 1.0 it is


def test_a_uefi_box_installs_and_comes_up_running_from_its_disk(il: InstallerLab) -> None:
    vm = il.vm("uefi", mem_mib=512)  # GRUB's EFI image runs out of memory in 256 MiB
    il.cli("node", "set", vm.mac, "--hostname", "uefi-node", "--release", "tiny:1.0",
           "--options",
           " ".join((KERNEL_ARGS, "ip.192.0.2.61", "submask.255.255.255.0")))  # fmt: skip
    il.start_server()
    _install(il, vm, "1.0")
    # network first, as the install left it: the served `local` hands back to OVMF,
    # whose boot manager goes on to the disk (UEFI-safe)
    vm.boot(900, then_disk=True)
    _running(il, vm, "1.0", "A", timeout=600)
    console = vm.console(400)
    # HTTP boot -> iPXE -> its script -> GRUB's local.efi, which chainloaded the disk
    assert "GET /boot/files/loader/local.efi" in il.server_log(tail=100_000), il.why(vm)
    assert "uefi-node login:" in console
    assert re.search(r"192\.0\.2\.61/24", il.node_state(vm).running["addresses"])
