"""Several subnets through a real relay (ISC dhcrelay), in network namespaces:
one direct subnet on br0 and two behind the relay, each client getting an
address and boot options from its own subnet; a relay link of no configured
subnet gets nothing and is logged once however often its clients ask.

Topology (192.0.2.0/24 only)::

    server br0 192.0.2.1/26 ── c0 (direct client)
                            └─ rl 192.0.2.2/26 (relay namespace, dhcrelay)
                                 ├─ g-c1 192.0.2.65/26  ── c1
                                 ├─ g-c2 192.0.2.129/26 ── c2
                                 └─ g-c3 192.0.2.193/26 ── c3 (no subnet configured)
"""

from __future__ import annotations

from ipaddress import IPv4Interface
from pathlib import Path

import pytest

from tests.support import dhcp, netns

pytestmark = pytest.mark.netns

PXE = ("-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007")
SETTINGS = """
unknown_macs = "menu"

[[dhcp_subnets]]
subnet = "192.0.2.0/26"
pools = ["192.0.2.10-192.0.2.20"]
router = "192.0.2.1"

[[dhcp_subnets]]
subnet = "192.0.2.64/26"
pools = ["192.0.2.80-192.0.2.90"]
router = "192.0.2.65"
next_server = "192.0.2.60"

[[dhcp_subnets]]
subnet = "192.0.2.128/26"
pools = ["192.0.2.140-192.0.2.150"]
router = "192.0.2.129"
uefi_loader = "ipxe"
"""
LINKS = {"c1": "192.0.2.65/26", "c2": "192.0.2.129/26", "c3": "192.0.2.193/26"}


@pytest.fixture
def lab(tmp_path: Path) -> object:
    netns.require()
    netns.need_commands("busybox", "dhcrelay")
    with netns.lab(tmp_path) as the_lab:
        yield the_lab


def relayed_network(lab: netns.Lab) -> dict[str, netns.Netns]:
    """The topology above; the relay is started, the server is not."""
    lab.server.ip("addr", "del", f"{netns.SERVER_IP}/{netns.PREFIX}", "dev", "br0")
    lab.server.ip("addr", "add", f"{netns.SERVER_IP}/26", "dev", "br0")
    relay = lab.add_client("rl", "192.0.2.2/26")
    clients = {"c0": lab.add_client("c0")}
    for name, address in LINKS.items():
        clients[name] = lab.add_behind(relay, name, address)
        lab.server.ip("route", "add", str(IPv4Interface(address).network), "via", "192.0.2.2")
    for i, (name, ns) in enumerate(clients.items()):
        ns.ip("link", "set", name, "address", f"52:54:00:c0:03:{i:02x}")
    argv = ["dhcrelay", "-4", "-d", "-pf", str(lab.workdir / "dhcrelay.pid"), "-iu", "rl"]
    argv += [arg for name in LINKS for arg in ("-id", f"g-{name}")]
    lab.start([*argv, netns.SERVER_IP], lab.workdir / "dhcrelay.log", relay)
    return clients


def in_range(ip: str, first: int, last: int) -> bool:
    return ip.startswith("192.0.2.") and first <= int(ip.rsplit(".", 1)[1]) <= last


def test_each_subnet_gets_its_own_addresses_and_boot_options_and_a_stray_relay_nothing(
    lab: netns.Lab,
) -> None:
    clients = relayed_network(lab)
    settings = lab.workdir / "provisioner.toml"
    settings.write_text(SETTINGS)
    dhcp.start_server(lab, "full", "--config", str(settings))

    direct = dhcp.udhcpc(clients["c0"], lab.workdir, *PXE)
    assert in_range(direct.get("ip", ""), 10, 20), direct
    assert (direct["router"], direct["siaddr"]) == ("192.0.2.1", "192.0.2.1")
    assert direct["subnet"] == "255.255.255.192"

    first = dhcp.udhcpc(clients["c1"], lab.workdir, *PXE)
    assert in_range(first.get("ip", ""), 80, 90), (first, dhcp.log_of(lab))
    assert (first["router"], first["siaddr"]) == ("192.0.2.65", "192.0.2.60")
    assert first["boot_file"] == direct["boot_file"]

    second = dhcp.udhcpc(clients["c2"], lab.workdir, *PXE)
    assert in_range(second.get("ip", ""), 140, 150), second
    assert (second["router"], second["siaddr"]) == ("192.0.2.129", "192.0.2.1")
    assert second["boot_file"] == "snponly.efi"  # this subnet boots UEFI clients into iPXE
    assert direct["boot_file"] != "snponly.efi"

    assert dhcp.udhcpc(clients["c3"], lab.workdir, *PXE) == {}
    log = dhcp.log_of(lab)
    stray = [line for line in log.splitlines() if "relay 192.0.2.193" in line]
    assert len(stray) >= 3, log  # udhcpc asked three times, the relay passed each on
    assert sum("WARNING" in line for line in stray) == 1, stray
    assert "ACK" not in " ".join(line for line in log.splitlines() if "192.0.2.193" in line)


def test_perfdhcp_relayed_with_link_selection_is_served_from_the_selected_subnet(
    lab: netns.Lab,
) -> None:
    """300 new clients through a relay at 192.0.2.2 (in the direct subnet) whose
    option 82 names the link 198.18.0.1 (RFC 3527): every ACK comes from the
    198.18.0.0/22 subnet's pool, none is lost. 198.18.0.0/15 only ever appears
    inside DHCP payloads (as in benchmarks/dhcp)."""
    netns.need_commands("perfdhcp")
    settings = lab.workdir / "provisioner.toml"
    settings.write_text(
        SETTINGS + '[[dhcp_subnets]]\nsubnet = "198.18.0.0/22"\n'
        'pools = ["198.18.0.10-198.18.3.250"]\nrouter = "198.18.0.1"\n'
    )
    dhcp.start_server(lab, "full", "--config", str(settings), "--log-level", "INFO")
    relay = lab.add_client("r0", "192.0.2.2/24")
    link = "-o", "82,0504c6120001"  # sub-option 5, 4 bytes: 198.18.0.1
    result = relay.run(
        "perfdhcp", "-4", "-g", "single", "-l", "192.0.2.2", "-L", "67", "-r", "100", "-p", "3",
        "-d", "1", "-W", "1000000", "-R", "100000000", *link, "192.0.2.1",
        timeout=60,
    )  # fmt: skip
    out = result.stdout + result.stderr
    block = out.split("***Statistics for: REQUEST-ACK***", 1)[1]
    sent = int(block.split("sent packets: ", 1)[1].split()[0])
    assert sent >= 250, out
    assert int(block.split("received packets: ", 1)[1].split()[0]) == sent, out
    acks = [line for line in dhcp.log_of(lab).splitlines() if " DHCP ACK " in line]
    assert len(acks) == sent
    assert all(line.split(" DHCP ACK ")[1].split()[1].startswith("198.18.") for line in acks)
