"""Real firmware against our DHCP server: QEMU (TCG) VMs network-booting from a
tap in the lab. Proof that a boot worked as far as DHCP decides it: OVMF's own
PXE stack asks our TFTP address for the loader we named (seen on the wire; no
TFTP server is needed for that), and QEMU's iPXE ROM fetches its per-MAC script
from our HTTP address (a stand-in HTTP server logs the request)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.support import dhcp, netns
from tests.support.pcap import udp_datagrams
from tests.support.vm import Vm, require_qemu

pytestmark = [pytest.mark.netns, pytest.mark.vm]

VM_MAC = "52:54:00:c0:02:51"
POOL = ("--pool", "192.0.2.100-192.0.2.150")


@pytest.fixture
def lab(tmp_path: Path) -> object:
    netns.require()
    netns.need_commands("busybox", "tcpdump")
    with netns.lab(tmp_path) as the_lab:
        yield the_lab


def boot(lab: netns.Lab, firmware: str, done: Callable[[], bool]) -> None:
    """firmware: bios (SeaBIOS + QEMU's iPXE ROM, an iPXE client of arch 0) or uefi
    (OVMF's own PXE on virtio-net, no iPXE: arch 7)."""
    require_qemu()
    vm = Vm(lab, 0x51, firmware=firmware, disk_mib=16)
    assert vm.mac == VM_MAC
    vm.boot(150)
    deadline = time.monotonic() + 140
    while not done():
        if (time.monotonic() > deadline or not vm.running()) and not done():
            logs = {
                p.name: p.read_text(errors="replace")[-1500:] for p in lab.workdir.glob("*.log")
            }
            pytest.fail(f"VM did not get there.\nserial:\n{vm.console()}\nlogs: {logs}")
        time.sleep(0.5)
    vm.kill()


def tftp_requests(pcap: Path) -> list[tuple[str, bytes]]:
    """(client address, file name) of every TFTP read request on the wire."""
    out = []
    for d in udp_datagrams(pcap):
        if d.dport == 69 and d.payload[:2] == b"\x00\x01":
            out.append((d.src, d.payload[2:].split(b"\x00", 1)[0]))
    return out


def start_capture(lab: netns.Lab) -> Path:
    pcap = lab.workdir / "br0.pcap"
    log = lab.workdir / "tcpdump.log"
    lab.start(["tcpdump", "-i", "br0", "--immediate-mode", "-U", "-n", "-w", str(pcap), "udp"], log)
    deadline = time.monotonic() + 10
    while "listening on" not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return pcap


def test_ovmf_pxe_in_proxy_mode_asks_our_tftp_for_syslinux_efi(lab: netns.Lab) -> None:
    dhcp.add_nodes(lab.workdir / "data", {VM_MAC: {}})
    pcap = start_capture(lab)
    dhcp.start_server(lab, "proxy")
    dhcp.start_site_server(lab)
    boot(lab, "uefi", lambda: bool(tftp_requests(pcap)))
    [(address, name)] = tftp_requests(pcap)[:1]
    assert name == b"efi64/syslinux.efi"
    assert address.startswith("192.0.2.1")  # udhcpd leases .160-.199
    assert address != netns.SERVER_IP
    log = dhcp.log_of(lab)
    assert f"DHCP OFFER {VM_MAC} file efi64/syslinux.efi" in log
    assert f"DHCP ACK {VM_MAC} file efi64/syslinux.efi to {address}:4011" in log  # BINL


def test_ovmf_pxe_in_full_mode_boots_from_its_reserved_address(lab: netns.Lab) -> None:
    dhcp.add_nodes(lab.workdir / "data", {VM_MAC: {"options": "auto ip.192.0.2.50"}})
    pcap = start_capture(lab)
    dhcp.start_server(lab, "full", *POOL, "--uefi-loader", "ipxe")
    boot(lab, "uefi", lambda: bool(tftp_requests(pcap)))
    assert tftp_requests(pcap)[0] == ("192.0.2.50", b"snponly.efi")


@pytest.mark.parametrize("mode", ["full", "proxy"])
def test_the_ipxe_rom_fetches_its_per_mac_script_not_another_loader(
    lab: netns.Lab, mode: str
) -> None:
    dhcp.add_nodes(lab.workdir / "data", {VM_MAC: {}})
    web = lab.workdir / "http.log"
    argv = [sys.executable, "-m", "http.server", "8080", "--bind", netns.SERVER_IP]
    lab.start([*argv, "--directory", str(lab.workdir)], web)
    lab.wait_tcp(8080)
    dhcp.start_server(lab, mode, *(POOL if mode == "full" else ()))
    if mode == "proxy":
        dhcp.start_site_server(lab)
    want = f"GET /boot/ipxe?mac={VM_MAC} "  # iPXE sends the colons as %3A
    boot(lab, "bios", lambda: want in unquote(web.read_text(errors="replace")))
    assert "pxelinux.0" not in dhcp.log_of(lab)
