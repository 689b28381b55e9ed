"""Observe mode against a real foreign DHCP server: dnsmasq (192.0.2.2) answers a
real PXE-like client (busybox udhcpc with the PXE vendor class and the broadcast
flag, as PXE firmware sets it) while our server listens on br0 in observe mode.
It must record dnsmasq with the offer it made and the client it answered, and a
capture on br0 must show not one datagram from our side on the DHCP ports."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from provisioner.config import load_settings
from provisioner.db import open_store
from provisioner.domain import DhcpServerSeen
from tests.support import dhcp, netns
from tests.support.pcap import udp_datagrams

pytestmark = pytest.mark.netns

MAC = "52:54:00:c0:02:41"
FOREIGN = "192.0.2.2"
PXE = ("-B", "-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000")


@pytest.fixture
def lab(tmp_path: Path) -> object:
    netns.require()
    netns.need_commands("busybox", "tcpdump", "dnsmasq")
    with netns.lab(tmp_path) as the_lab:
        yield the_lab


def start_dnsmasq(lab: netns.Lab) -> None:
    """dnsmasq as a site's DHCP server that also hands PXE clients a boot file."""
    site = lab.add_client("d0", f"{FOREIGN}/24")
    work = lab.workdir
    argv = [
        "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--user=root",
        "--interface=d0", "--bind-interfaces", "--no-ping", "--log-dhcp",
        f"--pid-file={work / 'dnsmasq.pid'}", f"--dhcp-leasefile={work / 'dnsmasq.leases'}",
        "--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,10m",
        f"--dhcp-boot=pxelinux.0,,{FOREIGN}",
    ]  # fmt: skip
    lab.start(argv, work / "dnsmasq.log", site)
    deadline = time.monotonic() + 10
    while "DHCP, IP range" not in (work / "dnsmasq.log").read_text(errors="replace"):
        assert time.monotonic() < deadline, (work / "dnsmasq.log").read_text()
        time.sleep(0.1)


def recorded(data_dir: Path) -> list[DhcpServerSeen]:
    store = open_store(load_settings({}, overrides={"data_dir": str(data_dir)}), upgrade=False)
    try:
        return store.list_dhcp_servers()
    finally:
        store.close()


def br0_mac(lab: netns.Lab) -> str:
    out = lab.server.run("cat", "/sys/class/net/br0/address", check=True)
    return out.stdout.strip()


def test_observe_mode_records_dnsmasq_and_its_offer_and_sends_nothing(lab: netns.Lab) -> None:
    dhcp.add_nodes(lab.workdir / "data", {})
    start_dnsmasq(lab)
    with dhcp.capture(lab, lab.server, "br0", "observe") as pcap:
        server = dhcp.start_server(lab, "observe")
        lab.wait_udp(68, proc=server)
        client = lab.add_client("c0")
        client.ip("link", "set", "c0", "address", MAC)
        lease = dhcp.udhcpc(client, lab.workdir, *PXE)
        assert lease["ip"].startswith("192.0.2.1"), dhcp.log_of(lab)
        assert lease["serverid"] == FOREIGN
        time.sleep(1.5)  # one housekeeping flush
        assert lab.stop(server) == 0, dhcp.log_of(lab)

    [seen] = recorded(lab.workdir / "data")
    assert (seen.server_id, seen.source, seen.boot_file) == (FOREIGN, FOREIGN, "pxelinux.0")
    assert seen.next_server == FOREIGN
    assert seen.options["54"] == bytes([192, 0, 2, 2]).hex()
    assert seen.options["1"] == "ffffff00"
    assert seen.answers_pxe
    assert seen.offers_boot
    assert {(c.mac, c.message, c.address) for c in seen.clients} == {(MAC, "ACK", lease["ip"])}
    assert seen.replies >= 2  # the OFFER and the ACK

    ours = br0_mac(lab)
    datagrams = udp_datagrams(pcap)
    assert any(d.src == FOREIGN and d.sport == 67 for d in datagrams), "capture saw dnsmasq"
    sent = [
        d
        for d in datagrams
        if (d.src == netns.SERVER_IP or d.src_mac == ours) and {d.sport, d.dport} & {67, 68}
    ]
    assert sent == []
    assert "another server heard: 192.0.2.2" in dhcp.log_of(lab)


def test_proxy_mode_warns_when_dnsmasq_offers_boot_files_and_full_mode_at_start(
    lab: netns.Lab,
) -> None:
    dhcp.add_nodes(lab.workdir / "data", {})  # the client is unknown: we stay silent
    start_dnsmasq(lab)
    server = dhcp.start_server(lab, "proxy")
    lab.wait_udp(68, proc=server)
    client = lab.add_client("c0")
    client.ip("link", "set", "c0", "address", MAC)
    assert dhcp.udhcpc(client, lab.workdir, *PXE)["serverid"] == FOREIGN
    time.sleep(1.5)  # one housekeeping flush
    assert lab.stop(server) == 0
    warned = [line for line in dhcp.log_of(lab).splitlines() if "offering boot files" in line]
    assert len(warned) == 1, dhcp.log_of(lab)
    assert "192.0.2.2" in warned[0]
    assert "WARNING" in warned[0]

    dhcp.start_server(lab, "full", "--pool", "192.0.2.200-192.0.2.210", name="full")
    log = dhcp.log_of(lab, "full")
    assert "another DHCP server (192.0.2.2, from 192.0.2.2) is offering boot files" in log


def test_observe_mode_records_a_server_whose_replies_it_cannot_hear(lab: netns.Lab) -> None:
    """A plain client without the broadcast flag: dnsmasq unicasts its replies
    (the bridge has learnt the client's MAC and never floods them to us); the
    client's broadcast REQUEST, which names dnsmasq, still records it."""
    dhcp.add_nodes(lab.workdir / "data", {})
    start_dnsmasq(lab)
    server = dhcp.start_server(lab, "observe")
    lab.wait_udp(68, proc=server)
    client = lab.add_client("c0")
    client.ip("link", "set", "c0", "address", MAC)
    lease = dhcp.udhcpc(client, lab.workdir)
    assert lease["serverid"] == FOREIGN
    time.sleep(1.5)
    assert lab.stop(server) == 0
    [seen] = recorded(lab.workdir / "data")
    assert seen.server_id == FOREIGN
    [only] = seen.clients
    assert (only.mac, only.message, only.address, only.pxe) == (MAC, "REQUEST", lease["ip"], False)
    assert seen.replies == 0
    assert not seen.answers_pxe


def test_observe_mode_hears_on_an_interface_without_an_address(lab: netns.Lab) -> None:
    """A monitoring port needs no address: the observer runs on a veth end with
    none (in its own namespace) and still records dnsmasq's broadcast offer."""
    dhcp.add_nodes(lab.workdir / "data", {})
    start_dnsmasq(lab)
    ear = lab.add_client("o0")
    log = lab.workdir / "ear.log"
    argv = [sys.executable, "-m", "provisioner.dhcp", "--dhcp", "observe", "--interface", "o0"]
    argv += ["--data-dir", str(lab.workdir / "data"), "--log-level", "DEBUG"]
    server = lab.start(argv, log, ear)
    deadline = time.monotonic() + 15
    while "DHCP observe on o0" not in log.read_text(errors="replace"):
        assert server.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    client = lab.add_client("c0")
    client.ip("link", "set", "c0", "address", MAC)
    assert dhcp.udhcpc(client, lab.workdir, *PXE)["serverid"] == FOREIGN
    time.sleep(1.5)
    assert lab.stop(server) == 0
    [seen] = recorded(lab.workdir / "data")
    assert (seen.server_id, seen.boot_file) == (FOREIGN, "pxelinux.0")
    assert seen.replies >= 1
