"""End-to-end installs of real QEMU VMs (TCG) against ``provisioner serve``.

Each test builds a private namespace (192.0.2.0/24), starts our server with
DHCP (full), TFTP, DNS and HTTP on its bridge, boots VMs with real firmware
(SeaBIOS + QEMU's iPXE ROM, OVMF) and real loaders from Debian's packages, and
then reads each VM's raw disk from outside: partition table, the A/B state
record, the slots' sha256, the files on the data partition.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from provisioner.domain import Action, Node, State
from tests.e2e.installer_lab import (
    SLOT_MIB,
    Artifacts,
    Follower,
    InstallerLab,
    installer_lab,
    sha256,
)
from tests.support import netns
from tests.support.vm import Vm

pytestmark = pytest.mark.vm


@pytest.fixture
def il(tmp_path: Path, artifacts: Artifacts) -> Iterator[InstallerLab]:
    with netns.lab(tmp_path) as lab, installer_lab(lab, artifacts, tmp_path) as the_lab:
        the_lab.catalogue()
        yield the_lab


def _assert_fresh_install(il: InstallerLab, vm_index: int, *, bundled: bool = True) -> None:
    vm = il.vms[vm_index]
    node = il.node_state(vm)
    assert (node.state, node.action, node.active_slot, node.slot_a) == (
        State.INSTALLED,
        Action.LOCAL,
        "A",
        "avbox:2.0",
    ), il.why(vm)
    parts = il.partitions(vm)
    assert list(parts) == ["prov-bios", "prov-esp", "prov-state", "prov-A", "prov-B", "prov-data"]
    assert parts["prov-A"].size == SLOT_MIB * 1024 * 1024
    state = il.disk_state(vm)
    assert state is not None
    assert state.active == "A"
    assert state.mac == vm.mac
    size = il.art.small.stat().st_size
    assert state.slots["A"].sha256 == sha256(il.art.small)
    assert il.slot_sha256(vm, "A", size) == sha256(il.art.small)
    assert "B" not in state.slots
    if not bundled:
        return
    # the bundled instance (copyiso/copydef/copyimg) is on the data partition
    assert il.data_file(vm, "/instances/tinycore.iso") == il.art.iso.read_bytes()
    assert il.data_file(vm, "/instances/101.con") == il.art.definition.read_bytes()
    assert il.data_file(vm, "/instances/v101.img") == il.art.disk_image.read_bytes()


def test_bios_pxelinux_fresh_install_with_a_bundled_instance(il: InstallerLab) -> None:
    """SeaBIOS + iPXE ROM -> pxelinux.0 (TFTP) -> pxelinux.cfg/01-<mac> -> kernel and
    initrd over TFTP -> the agent formats the blank disk and installs slot A."""
    vm = il.vm("bios")
    il.node(
        vm,
        "ip.192.0.2.50",
        "submask.255.255.255.0",
        "gw.192.0.2.1",
        "dns.192.0.2.1",
        hostname="avbox251",
    )
    il.start_server()
    il.boot([vm])
    _assert_fresh_install(il, 0)
    kinds = [e.kind for e in reversed(il.events(vm))]
    for step in (
        "boot.dhcp",
        "boot.loader",
        "boot.config",
        "boot.kernel",
        "agent.boot",
        "agent.image",
        "agent.verify",  # done is taken only after image ok, verify ok (lifecycle.NEEDS)
        "agent.files",
        "agent.done",
    ):
        assert step in kinds, il.why(vm)
    assert "agent.refused" not in kinds, il.why(vm)
    node = il.node_state(vm)
    assert set(node.phases) >= {"dhcp", "loader", "kernel", "agent", "image"}, node.phases
    assert node.install_seconds is not None


def test_uefi_syslinux_installs_a_node_with_only_a_release(il: InstallerLab) -> None:
    """OVMF's own PXE (virtio-net, no iPXE) -> efi64/syslinux.efi + ldlinux.e64 (TFTP)
    -> efi64/pxelinux.cfg/01-<mac> -> the boot environment's kernel and initrd (EFI
    handover) -> install. The node has a release and action install, nothing else:
    no profile, no options (DHCP network in the agent), no boot file names."""
    vm = il.vm("uefi")
    il.release_only(vm)
    il.start_server()
    il.boot([vm])
    _assert_fresh_install(il, 0, bundled=False)
    assert "efi64/syslinux.efi" in " ".join(e.message for e in il.events(vm)), il.why(vm)


def test_ipxe_script_install_over_http(il: InstallerLab) -> None:
    """SeaBIOS + iPXE ROM with ipxe_script on: DHCP hands iPXE its per-MAC script
    URL; kernel and initrd come over HTTP (/boot/files/...?mac=)."""
    vm = il.vm("bios")
    il.node(vm, "ip.192.0.2.51", "submask.255.255.255.0", "gw.192.0.2.1")
    il.start_server(ipxe_script=True)
    il.boot([vm])
    _assert_fresh_install(il, 0)
    messages = [e.message for e in il.events(vm)]
    assert "HTTP iPXE script" in messages, il.why(vm)
    assert "HTTP vmlinuz" in messages, il.why(vm)


def _assert_installed_with_active_slot(il: InstallerLab, vm: Vm, slot: str) -> Node:
    """The server and the disk's own state record agree: installed, booting local,
    ``slot`` active."""
    node = il.node_state(vm)
    assert (node.state, node.action, node.active_slot) == (State.INSTALLED, Action.LOCAL, slot), (
        il.why(vm)
    )
    state = il.disk_state(vm)
    assert state is not None
    assert state.active == slot
    return node


def test_second_install_updates_slot_b_keeps_data_and_rollback_returns_to_a(
    il: InstallerLab,
) -> None:
    vm = il.vm("bios")
    il.node(vm, "ip.192.0.2.52", "submask.255.255.255.0")
    il.start_server()
    il.boot([vm])
    _assert_fresh_install(il, 0)
    marker = b"the data partition is never touched by an update\n"
    il.write_data_file(vm, "/marker.txt", marker)

    il.cli("image", "add", str(il.art.big), "--name", "avbox", "--version", "2.1")
    il.cli("node", "set", vm.mac, "--release", "avbox:2.1", "--action", "install")
    il.boot([vm])
    node = _assert_installed_with_active_slot(il, vm, "B")
    assert (node.slot_a, node.slot_b) == ("avbox:2.0", "avbox:2.1")
    assert il.slot_sha256(vm, "B", il.art.big.stat().st_size) == sha256(il.art.big)
    assert il.slot_sha256(vm, "A", il.art.small.stat().st_size) == sha256(il.art.small)
    assert il.data_file(vm, "/marker.txt") == marker
    assert il.data_file(vm, "/instances/tinycore.iso") == il.art.iso.read_bytes()
    assert any(e.kind == "agent.image" and "(update)" in e.message for e in il.events(vm))

    il.cli("node", "set", vm.mac, "--action", "rollback")
    il.boot([vm])
    _assert_installed_with_active_slot(il, vm, "A")
    assert il.slot_sha256(vm, "B", il.art.big.stat().st_size) == sha256(il.art.big)
    assert il.data_file(vm, "/marker.txt") == marker


def test_power_cut_during_an_update_keeps_the_old_slot_and_the_next_boot_finishes(
    il: InstallerLab,
) -> None:
    vm = il.vm("bios")
    il.node(vm, "ip.192.0.2.53", "submask.255.255.255.0")
    il.start_server()
    il.boot([vm])
    _assert_fresh_install(il, 0)
    il.write_data_file(vm, "/marker.txt", b"keep me\n")
    il.cli("image", "add", str(il.art.big), "--name", "avbox", "--version", "2.1")
    il.cli("node", "set", vm.mac, "--release", "avbox:2.1", "--action", "install")

    vm.boot(360)
    il.wait_event(vm, lambda e: e.kind == "agent.image" and "% written" in e.message, 300)
    vm.kill()  # the plug, pulled while slot B is half written
    node = il.node_state(vm)
    assert node.action is Action.INSTALL  # nothing was reported: the install is still due
    state = il.disk_state(vm)
    assert state is not None
    assert (state.active, state.slots["A"].sha256) == ("A", sha256(il.art.small))
    assert il.slot_sha256(vm, "A", il.art.small.stat().st_size) == sha256(il.art.small)
    assert il.slot_sha256(vm, "B", il.art.big.stat().st_size) != sha256(il.art.big)
    assert il.data_file(vm, "/marker.txt") == b"keep me\n"

    il.boot([vm])
    node = il.node_state(vm)
    assert (node.state, node.active_slot, node.slot_b) == (State.INSTALLED, "B", "avbox:2.1"), (
        il.why(vm)
    )
    assert il.slot_sha256(vm, "B", il.art.big.stat().st_size) == sha256(il.art.big)
    assert il.data_file(vm, "/marker.txt") == b"keep me\n"


#: the milestones ``node events --follow`` shows, in the order a box reaches them
FOLLOWED = ("boot.dhcp", "boot.loader", "boot.kernel", "agent.boot", "agent.image", "agent.done")


def _assert_followed_as_it_happened(il: InstallerLab, vm: Vm, follower: Follower) -> None:
    """Each milestone's line came in order, with increasing times, and while the box
    installed: the gap between the first and the last line's arrival is the gap
    between the events (not one batch at the end)."""
    assert follower.wait(60) == 0, "\n".join(line for _, line in follower.lines) + il.why(vm)
    first: dict[str, tuple[int, float, datetime]] = {}
    for i, (arrived, line) in enumerate(follower.lines):
        day, clock, kind = line.split()[:3]
        if kind in FOLLOWED and kind not in first:
            first[kind] = (i, arrived, datetime.fromisoformat(f"{day}T{clock}"))
    shown = "\n".join(line for _, line in follower.lines)
    assert list(first) == list(FOLLOWED), shown
    assert [first[k][2] for k in FOLLOWED] == sorted(first[k][2] for k in FOLLOWED), shown
    took = (first["agent.done"][2] - first["boot.dhcp"][2]).total_seconds()
    streamed = first["agent.done"][1] - first["boot.dhcp"][1]
    assert took > 5, shown
    assert streamed > took - 3, (took, streamed, shown)


def test_a_node_with_only_a_release_installs_its_phases_stream_and_it_boots_locally(
    il: InstallerLab,
) -> None:
    """SeaBIOS + pxelinux, a node with a release and action install and nothing else;
    ``node events --follow`` shows the phases while it installs; after the install
    the served configuration boots the disk, and the VM really does."""
    vm = il.vm("bios")
    il.release_only(vm)
    il.start_server()
    follower = il.follow(vm)
    il.boot([vm])
    _assert_fresh_install(il, 0, bundled=False)
    _assert_followed_as_it_happened(il, vm, follower)
    served = il.lab.server.run(
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        "http://192.0.2.1:8080/boot/pxelinux.cfg/01-" + vm.mac.replace(":", "-"),
    )
    assert "DEFAULT local\n" in served.stdout
    assert "LOCALBOOT 0" in served.stdout
    assert "token." not in served.stdout
    ipxe = il.lab.server.run(
        "busybox", "wget", "-q", "-O", "-", f"http://192.0.2.1:8080/boot/ipxe?mac={vm.mac}"
    )
    assert ipxe.stdout.endswith("loader/local.efi ||\nexit\n")  # UEFI: GRUB; BIOS: exit
    # and the box really does: pxelinux reads that file and hands back to the BIOS,
    # which goes on to the disk and its own loader (GRUB: slot A); no agent runs
    vm.boot(120)
    deadline = time.monotonic() + 110
    while "provisioner: booting slot A" not in vm.console(200) and time.monotonic() < deadline:
        time.sleep(0.5)
    vm.kill()
    console = vm.console(200)
    assert "Booting from local disk..." in console
    assert "Booting from Hard Disk..." in console
    assert "provisioner: booting slot A" in console  # the disk's GRUB (test_diskboot.py)
    assert "provisioner: [" not in console  # the agent logs "provisioner: [uptime] ..."


def test_a_disk_that_is_not_ours_is_never_formatted_without_wipe(il: InstallerLab) -> None:
    vm = il.vm("bios")
    with vm.disk.open("r+b") as f:  # somebody else's partition table and data
        f.write(
            b"\x00" * 446
            + bytes([0x80, 0, 2, 0, 0x83, 0, 0, 0, 1, 0, 0, 0, 0, 0, 8, 0])
            + b"\x00" * 48
            + b"\x55\xaa"
        )
        f.seek(1024 * 1024)
        f.write(b"precious foreign data")
    il.node(vm, "ip.192.0.2.55", "submask.255.255.255.0")
    il.start_server()
    il.boot([vm])
    node = il.node_state(vm)
    assert (node.state, node.action) == (State.FAILED, Action.LOCAL), il.why(vm)
    failed = next(e for e in il.events(vm) if e.kind == "agent.disk")
    assert "not a provisioner install" in failed.message
    with vm.disk.open("rb") as f:
        f.seek(1024 * 1024)
        assert f.read(21) == b"precious foreign data"

    il.cli("node", "set", vm.mac, "--action", "wipe", "--yes")
    il.boot([vm])
    _assert_fresh_install(il, 0)


def test_eight_vms_at_once_in_full_dhcp_mode_all_install(il: InstallerLab) -> None:
    """Half static (ip. options), half DHCP in the agent; no VM lost or retried."""
    vms = [il.vm("bios") for _ in range(8)]
    for i, vm in enumerate(vms):
        opts = [f"ip.192.0.2.{60 + i}", "submask.255.255.255.0"] if i % 2 == 0 else []
        il.node(vm, *opts)
    il.start_server()
    il.boot(vms, timeout=600)
    for i, vm in enumerate(vms):
        _assert_fresh_install(il, i)
        # one boot, one agent run, no download retried (a PXE failure would have ended
        # the VM: -no-reboot, reboot-timeout=0)
        assert vm.boots == 1
        assert [e.kind for e in il.events(vm)].count("agent.boot") == 1, il.why(vm)
        assert "resuming" not in vm.console(400)


def test_rescue_boots_the_agent_into_a_shell_and_keeps_the_action(il: InstallerLab) -> None:
    vm = il.vm("bios")
    il.node(vm, "ip.192.0.2.56", "submask.255.255.255.0", action="rescue")
    il.start_server()
    vm.boot(300)
    il.wait_event(vm, lambda e: e.kind == "agent.rescue", 240)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "agent finished" not in vm.console():
        time.sleep(0.2)
    assert vm.running()  # a shell on the console, not a reboot
    vm.kill()
    node = il.node_state(vm)
    assert node.action is Action.RESCUE
    assert il.partitions_or_none(vm) is None  # nothing was written to the disk
