"""What the DHCP daemon reads and writes through the store (SQLite and PostgreSQL):
leases, the change stamp, and the backend's view of the nodes; and the public
DhcpServer entry refusing to start without a mode and an interface."""

from __future__ import annotations

import asyncio
import time
from ipaddress import IPv4Address

import pytest

from provisioner import netio
from provisioner.config import Settings
from provisioner.daemons import ServiceBackend, dhcp_server
from provisioner.db.sqlstore import SqlStore
from provisioner.dhcp.leases import NodeNet
from provisioner.domain import Lease
from provisioner.errors import ConfigError
from provisioner.service import Service

MAC = "52:54:00:c0:02:61"
OTHER = "52:54:00:c0:02:62"


def lease(ip: str, mac: str, expires: float = 1_800_000_000.0) -> Lease:
    return Lease(IPv4Address(ip), mac, expires, None)


def test_leases_are_saved_replaced_and_forgotten(store: SqlStore) -> None:
    assert store.list_leases() == []
    store.save_leases([lease("192.0.2.100", MAC), lease("192.0.2.101", OTHER)])
    store.save_leases([lease("192.0.2.100", OTHER, 1_800_000_600.5)], [IPv4Address("192.0.2.101")])
    [only] = store.list_leases()
    assert (only.ip, only.mac, only.expires) == (IPv4Address("192.0.2.100"), OTHER, 1_800_000_600.5)


def test_many_leases_go_in_one_call(store: SqlStore) -> None:
    base = int(IPv4Address("198.18.0.10"))
    many = [
        lease(str(IPv4Address(base + n)), f"52:54:00:00:{n >> 8:02x}:{n & 255:02x}")
        for n in range(3000)
    ]
    store.save_leases(many)
    store.save_leases([], [x.ip for x in many[:1500]])
    assert len(store.list_leases()) == 1500


def test_the_nodes_stamp_changes_with_nodes_and_profiles(service: Service, release: str) -> None:
    stamps = [service.store.nodes_stamp()]
    service.save_node(MAC, {"options": "ip.192.0.2.50", "release": release})
    stamps.append(service.store.nodes_stamp())
    service.save_profile("avbox1", {"kernel": "vmlinuz", "options": "gw.192.0.2.1"})
    stamps.append(service.store.nodes_stamp())
    time.sleep(0.01)
    service.save_node(MAC, {"options": "ip.192.0.2.51"}, partial=True)
    stamps.append(service.store.nodes_stamp())
    service.delete_node(MAC)
    stamps.append(service.store.nodes_stamp())
    assert len(set(stamps)) == len(stamps)
    assert service.store.nodes_stamp() == stamps[-1]  # stable while nothing changes


def test_the_backend_gives_each_node_its_effective_ip_profile(
    service: Service, release: str
) -> None:
    service.save_profile(
        "avbox1",
        {
            "kernel": "vmlinuz",
            "options": "auto gw.192.0.2.1 submask.255.255.255.0",
            "release": release,
        },
    )
    service.save_node(MAC, {"profile": "avbox1", "options": "ip.192.0.2.50", "hostname": "box1"})
    service.save_node(OTHER, {"options": "lang.de", "release": release})
    backend = ServiceBackend(service)
    assert dict(backend.nodes()) == {
        MAC: NodeNet(
            IPv4Address("192.0.2.50"),
            IPv4Address("255.255.255.0"),
            IPv4Address("192.0.2.1"),
            (),
            "box1",
        ),
        OTHER: NodeNet(),
    }
    backend.save_leases([lease("192.0.2.50", MAC)], [])
    assert [x.mac for x in backend.load_leases()] == [MAC]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({}, "DHCP is off"),
        ({"dhcp": "proxy"}, "needs the interface"),
        ({"interface": "br0"}, "DHCP is off"),
        ({"dhcp": "full", "interface": "nope-if0"}, "no interface named"),
        ({"dhcp": "full", "interface": "x/y"}, "not an interface name"),
    ],
)
def test_the_server_refuses_to_start_unless_told_and_able(
    service: Service, settings: Settings, changes: dict[str, str], message: str
) -> None:
    server = dhcp_server(settings.replace(**changes), ServiceBackend(service))
    with pytest.raises(ConfigError, match=message):
        asyncio.run(server.start())
    with pytest.raises(ConfigError, match=message):
        asyncio.run(
            netio.run(
                dhcp_server(settings.replace(**changes), ServiceBackend(service)), asyncio.Event()
            )
        )
