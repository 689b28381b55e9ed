"""Real DHCP clients against our server (python -m provisioner.dhcp) in private
network namespaces: busybox udhcpc and ISC dhclient, sending the PXE vendor class
and client architecture (option 93) the way firmware does.

Full mode: what the client binds (its hook's variables) is checked. Proxy mode:
the site's own server (busybox udhcpd) hands out the address; udhcpc and dhclient
cannot merge a proxyDHCP offer into their lease (PXE firmware does that), so the
proxy OFFER each client received is read from a capture in its namespace.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from provisioner.dhcp.options import MessageType, Opt, PxeVendorOptions
from tests.support import dhcp, netns

pytestmark = pytest.mark.netns

MAC = "52:54:00:c0:02:31"
LOADER = {0: "pxelinux.0", 7: "efi64/syslinux.efi", 9: "efi64/syslinux.efi"}
POOL = ("--pool", "192.0.2.100-192.0.2.150")


def vendor(arch: int) -> str:
    return f"PXEClient:Arch:{arch:05d}:UNDI:003016"


def pxe_udhcpc(arch: int) -> tuple[str, ...]:
    return ("-V", vendor(arch), "-x", f"0x5d:{arch:04x}")


@pytest.fixture
def lab(tmp_path: Path) -> object:
    netns.require()
    netns.need_commands("busybox", "dhclient", "tcpdump")
    with netns.lab(tmp_path) as the_lab:
        yield the_lab


def client(lab: netns.Lab, mac: str = MAC) -> netns.Netns:
    ns = lab.add_client("c0")
    ns.ip("link", "set", "c0", "address", mac)
    return ns


# -- full mode ------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", [0, 7, 9])
def test_udhcpc_gets_an_address_and_the_loader_for_its_architecture(
    lab: netns.Lab, arch: int
) -> None:
    dhcp.add_nodes(lab.workdir / "data", {MAC: {}})
    dhcp.start_server(lab, "full", *POOL)
    lease = dhcp.udhcpc(client(lab), lab.workdir, *pxe_udhcpc(arch))
    assert lease["ip"] == "192.0.2.100"
    assert (lease["boot_file"], lease["siaddr"], lease["serverid"]) == (
        LOADER[arch],
        netns.SERVER_IP,
        netns.SERVER_IP,
    )
    assert f"DHCP ACK {MAC} 192.0.2.100 file {LOADER[arch]}" in dhcp.log_of(lab)


@pytest.mark.parametrize("arch", [0, 7, 9])
def test_dhclient_gets_an_address_and_the_loader_for_its_architecture(
    lab: netns.Lab, arch: int
) -> None:
    dhcp.add_nodes(lab.workdir / "data", {MAC: {}})
    dhcp.start_server(lab, "full", *POOL)
    lease = dhcp.dhclient(lab, client(lab), vendor(arch), arch)
    assert lease["new_ip_address"] == "192.0.2.100"
    assert lease["new_filename"] == LOADER[arch]
    assert lease["new_bootfile_name"] == LOADER[arch]  # option 67: dhclient asked for it
    assert lease["new_next_server"] == netns.SERVER_IP


PROFILE = "auto ip.192.0.2.50 submask.255.255.255.0 gw.192.0.2.254 dns.192.0.2.53 lang.de"


def test_a_reservation_gives_udhcpc_the_ip_profile_of_its_node(lab: netns.Lab) -> None:
    dhcp.add_nodes(lab.workdir / "data", {MAC: {"options": PROFILE, "hostname": "box1"}})
    dhcp.start_server(lab, "full", *POOL, "--uefi-loader", "ipxe")
    lease = dhcp.udhcpc(client(lab), lab.workdir, *pxe_udhcpc(7), "-O", "hostname")
    assert (lease["ip"], lease["subnet"], lease["router"], lease["dns"]) == (
        "192.0.2.50",
        "255.255.255.0",
        "192.0.2.254",
        "192.0.2.53",
    )
    assert lease["hostname"] == "box1"
    assert lease["boot_file"] == "snponly.efi"


def test_a_reservation_gives_dhclient_the_ip_profile_of_its_node(lab: netns.Lab) -> None:
    dhcp.add_nodes(lab.workdir / "data", {MAC: {"options": PROFILE}})
    dhcp.start_server(lab, "full", *POOL)
    lease = dhcp.dhclient(lab, client(lab), vendor(0), 0)
    assert lease["new_ip_address"] == "192.0.2.50"
    assert lease["new_routers"] == "192.0.2.254"
    assert lease["new_domain_name_servers"] == "192.0.2.53"
    assert lease["new_filename"] == "pxelinux.0"


def test_an_ipxe_client_gets_its_per_mac_script_url(lab: netns.Lab) -> None:
    dhcp.add_nodes(lab.workdir / "data", {MAC: {}})
    dhcp.start_server(lab, "full", *POOL, "--http", "0.0.0.0:8080")
    ipxe = ("-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000", "-x", "0x4d:69505845")
    lease = dhcp.udhcpc(client(lab), lab.workdir, *ipxe)
    assert lease["boot_file"] == f"http://192.0.2.1:8080/boot/ipxe?mac={MAC}"


def test_a_uefi_http_boot_client_gets_a_url(lab: netns.Lab) -> None:
    dhcp.add_nodes(lab.workdir / "data", {MAC: {}})
    dhcp.start_server(lab, "full", *POOL)
    http = ("-V", "HTTPClient:Arch:00016:UNDI:003001", "-x", "0x5d:0010")
    lease = dhcp.udhcpc(client(lab), lab.workdir, *http)
    assert lease["boot_file"] == "http://192.0.2.1:8080/boot/files/ipxe.efi"


def test_an_unknown_pxe_client_gets_an_address_but_nothing_to_boot(lab: netns.Lab) -> None:
    dhcp.start_server(lab, "full", *POOL)  # unknown_macs = ignore
    lease = dhcp.udhcpc(client(lab), lab.workdir, *pxe_udhcpc(7))
    assert lease["ip"] == "192.0.2.100"
    assert "boot_file" not in lease


# -- proxy mode -------------------------------------------------------------------------------


def _proxy_offers(pcap: Path) -> list[object]:
    return [p for p in dhcp.replies_from(pcap) if p.message_type == MessageType.OFFER]


@pytest.mark.parametrize("arch", [0, 7, 9])
def test_proxy_mode_offers_udhcpc_its_loader_but_no_address(lab: netns.Lab, arch: int) -> None:
    dhcp.add_nodes(lab.workdir / "data", {MAC: {}})
    dhcp.start_server(lab, "proxy")
    dhcp.start_site_server(lab)
    ns = client(lab)
    with dhcp.capture(lab, ns, "c0", "c0") as pcap:
        dhcp.udhcpc(ns, lab.workdir, *pxe_udhcpc(arch), "-t", "1")
    [offer] = _proxy_offers(pcap)
    assert offer.yiaddr == IPv4Address(0)  # type: ignore[attr-defined]
    assert offer.file == LOADER[arch].encode()  # type: ignore[attr-defined]
    assert offer.siaddr == IPv4Address(netns.SERVER_IP)  # type: ignore[attr-defined]
    assert offer.options[Opt.VENDOR_CLASS] == b"PXEClient"  # type: ignore[attr-defined]
    has_43 = Opt.VENDOR_SPECIFIC in offer.options  # type: ignore[attr-defined]
    assert has_43 == (arch == 0)
    if has_43:
        pxe = PxeVendorOptions.decode(offer.options[Opt.VENDOR_SPECIFIC])  # type: ignore[attr-defined]
        assert pxe.discovery_control == 8


@pytest.mark.parametrize("arch", [0, 7, 9])
def test_proxy_mode_coexists_with_the_site_server_for_dhclient(lab: netns.Lab, arch: int) -> None:
    dhcp.add_nodes(lab.workdir / "data", {MAC: {}})
    dhcp.start_server(lab, "proxy")
    dhcp.start_site_server(lab)
    ns = client(lab)
    with dhcp.capture(lab, ns, "c0", "c0") as pcap:
        lease = dhcp.dhclient(lab, ns, vendor(arch), arch, require="subnet-mask")
    # the address comes from the site's server ...
    assert lease["new_dhcp_server_identifier"] == dhcp.SITE_SERVER
    assert IPv4Address(lease["new_ip_address"]) in range_of("192.0.2.160", "192.0.2.199")
    # ... the boot file from us, in an offer that hands out no address
    [offer] = _proxy_offers(pcap)
    assert (offer.yiaddr, offer.file) == (IPv4Address(0), LOADER[arch].encode())  # type: ignore[attr-defined]


def range_of(first: str, last: str) -> list[IPv4Address]:
    return [IPv4Address(n) for n in range(int(IPv4Address(first)), int(IPv4Address(last)) + 1)]


def test_proxy_mode_leaves_plain_clients_to_the_site_server(lab: netns.Lab) -> None:
    dhcp.add_nodes(lab.workdir / "data", {MAC: {}})
    dhcp.start_server(lab, "proxy")
    dhcp.start_site_server(lab)
    ns = client(lab)
    with dhcp.capture(lab, ns, "c0", "c0") as pcap:
        lease = dhcp.udhcpc(ns, lab.workdir)
    assert lease["serverid"] == dhcp.SITE_SERVER
    assert dhcp.replies_from(pcap) == []


def test_proxy_mode_ignores_unknown_macs_unless_the_menu_is_wanted(lab: netns.Lab) -> None:
    server = dhcp.start_server(lab, "proxy")
    ns = client(lab)
    with dhcp.capture(lab, ns, "c0", "ignored") as pcap:
        dhcp.udhcpc(ns, lab.workdir, *pxe_udhcpc(7), "-t", "1")
    assert dhcp.replies_from(pcap) == []
    assert "unknown MAC" in dhcp.log_of(lab)
    lab.stop(server)
    dhcp.start_server(lab, "proxy", "--unknown-macs", "menu", name="menu")
    with dhcp.capture(lab, ns, "c0", "menu") as pcap:
        dhcp.udhcpc(ns, lab.workdir, *pxe_udhcpc(7), "-t", "1")
    [offer] = _proxy_offers(pcap)
    assert offer.file == b"efi64/syslinux.efi"  # type: ignore[attr-defined]
