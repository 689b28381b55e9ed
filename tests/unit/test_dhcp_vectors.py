"""What real clients send, decoded: bytes captured from busybox udhcpc, ISC dhclient,
QEMU's iPXE ROM (SeaBIOS + efi-e1000.rom) and OVMF's own PXE stack (virtio-net,
no ROM) by tests/vectors/dhcp/capture.py, fed through the codec and the policy."""

from __future__ import annotations

import json
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from provisioner.dhcp.config import DhcpConfig
from provisioner.dhcp.leases import LeaseTable, NodeNet, Snapshot
from provisioner.dhcp.options import MessageType, Opt
from provisioner.dhcp.packet import parse
from provisioner.dhcp.policy import State
from tests.support.dhcp import handle

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "dhcp"
INDEX = json.loads((VECTORS / "vectors.json").read_text())
SERVER = IPv4Address("192.0.2.1")
SCRIPT = "http://192.0.2.1:8080/boot/ipxe?mac=52:54:00:c0:02:10"

#: client -> (architecture, vendor class prefix, iPXE?, boot file in proxy mode)
EXPECTED = {
    "udhcpc-plain": (None, "udhcp 1.35.0", False, None),
    "udhcpc-pxe-arch7": (7, "PXEClient:Arch:00007", False, "efi64/syslinux.efi"),
    "dhclient-pxe-arch0": (0, "PXEClient:Arch:00000", False, "pxelinux.0"),
    "ipxe-rom-bios": (0, "PXEClient:Arch:00000:UNDI:002001", True, SCRIPT),
    "ovmf-pxe-full": (7, "PXEClient:Arch:00007:UNDI:003000", False, "efi64/syslinux.efi"),
    "ovmf-pxe-proxy": (7, "PXEClient:Arch:00007:UNDI:003000", False, "efi64/syslinux.efi"),
}


def test_every_client_is_covered_by_a_captured_discover_and_request() -> None:
    kinds = {(v["client"], v["type"]) for v in INDEX}
    for client in EXPECTED:
        assert {(client, "DISCOVER"), (client, "REQUEST")} <= kinds
    assert {v["file"] for v in INDEX} == {p.name for p in VECTORS.glob("*.bin")}


@pytest.mark.parametrize("vector", INDEX, ids=lambda v: v["file"])
def test_captured_packets_decode_to_what_the_client_is(vector: dict[str, str]) -> None:
    packet = parse((VECTORS / vector["file"]).read_bytes())
    arch, vendor, ipxe, _ = EXPECTED[vector["client"]]
    kind = packet.message_type
    assert kind is not None
    assert kind.name == vector["type"]
    assert packet.op == 1
    assert len(packet.mac) == 17
    assert packet.vendor_class.startswith(vendor)
    assert packet.client_archs[:1] == (() if arch is None else (arch,))
    assert packet.is_ipxe == ipxe
    if vector["client"].startswith(("ovmf", "ipxe")):
        assert packet.client_uuid is not None
        assert len(packet.client_uuid) == 17
        assert len(packet.options[Opt.CLIENT_NDI]) == 3
    if ipxe:
        assert packet.user_class == b"iPXE"
        assert 19 in packet.ipxe_options  # iPXE announces its HTTP feature


def _state(mode: str) -> State:
    cfg = DhcpConfig(
        mode=mode,
        server_ip=SERVER,
        http_port=8080,
        pool=(IPv4Address("192.0.2.100"), IPv4Address("192.0.2.150")),
        unknown_macs="menu",
    )
    return State(cfg, Snapshot.build([("52:54:00:c0:02:10", NodeNet())]), LeaseTable(cfg.pool))


@pytest.mark.parametrize("mode", ["proxy", "full"])
@pytest.mark.parametrize("client", sorted(EXPECTED))
def test_captured_discovers_get_the_boot_file_their_firmware_needs(mode: str, client: str) -> None:
    discover = parse((VECTORS / f"{client}-0-DISCOVER.bin").read_bytes())
    result = handle(discover, 67, ("0.0.0.0", 68), _state(mode), 0.0)
    expected = EXPECTED[client][3]
    if expected is None:
        if mode == "proxy":
            assert result.reply is None
        else:
            assert result.reply is not None
            assert result.reply.packet.file == b""
        return
    assert result.reply is not None
    offer = parse(result.reply.pack())
    assert offer.message_type == MessageType.OFFER
    assert offer.file == expected.encode()
    assert offer.siaddr == SERVER
    assert (offer.yiaddr == IPv4Address(0)) == (mode == "proxy")


def test_ovmfs_boot_server_request_on_port_4011_is_answered_with_its_loader() -> None:
    request = parse((VECTORS / "ovmf-pxe-proxy-2-REQUEST.bin").read_bytes())
    assert request.ciaddr == IPv4Address("192.0.2.160")  # it has its address by now
    result = handle(request, 4011, ("192.0.2.160", 4011), _state("proxy"), 0.0)
    assert result.reply is not None
    assert result.reply.to == ("192.0.2.160", 4011)
    ack = parse(result.reply.pack())
    assert ack.message_type == MessageType.ACK
    assert ack.file == b"efi64/syslinux.efi"
    assert ack.options[Opt.BOOTFILE_NAME] == b"efi64/syslinux.efi"  # OVMF asks for 67
