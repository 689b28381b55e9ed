"""One place that builds the network daemons: settings in, DHCP, TFTP and DNS
servers out, sharing one store, one service and one boot timeline.

The daemons are libraries that take plain values (:class:`~tftp.server.TftpConfig`,
:class:`~provisioner.dns.server.DnsConfig`, :class:`~provisioner.dhcp.config.DhcpConfig`)
and a narrow interface to what they serve. This module translates the
:class:`~provisioner.config.Settings` into those values and wires in the
application: ``provisioner serve`` runs :func:`network_daemons` in its
network-boot process (:mod:`provisioner.netboot`); the ``python -m tftp`` /
``provisioner.dns`` / ``provisioner.dhcp`` runners build the same servers with
the same functions and :func:`run_standalone` them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from ipaddress import IPv4Address, IPv4Network

from provisioner import netio
from provisioner.bootlog import BootLog, Later
from provisioner.config import Settings
from provisioner.dhcp.backend import DhcpBackend
from provisioner.dhcp.config import MODES, DhcpConfig, parse_address, parse_pool
from provisioner.dhcp.leases import NodeNet, node_net
from provisioner.dhcp.observe import Sighting
from provisioner.dhcp.server import DhcpServer
from provisioner.dhcp.subnets import parse_subnets
from provisioner.dhcp.watch import merged
from provisioner.dns.records import RecordSource
from provisioner.dns.server import DnsConfig, DnsServer
from provisioner.domain import DhcpServerSeen, Lease, parse_host_port
from provisioner.errors import ConfigError, ValidationError
from provisioner.service import Service
from tftp import files, routes
from tftp.server import BootFiles, Observer, TftpConfig, TftpServer
from tftp.session import Retry

log = logging.getLogger("provisioner.daemons")


# -- TFTP ---------------------------------------------------------------------------------
def tftp_config(settings: Settings) -> TftpConfig:
    return TftpConfig(
        listen=settings.tftp or "0.0.0.0:69",
        max_sessions=settings.tftp_max_sessions,
        max_blksize=settings.tftp_max_blksize,
        server_ip=settings.server_ip,
        http_port=settings.http_host_port[1],
    )


def tftp_server(
    settings: Settings,
    boot_files: BootFiles | None,
    *,
    tree: routes.Tree | None = None,
    retry: Retry | None = None,
    bootlog: BootLog | None = None,
    later: Later | None = None,
) -> TftpServer:
    """The boot tree of ``settings`` (or ``tree``); ``boot_files`` answers for the
    generated ``pxelinux.cfg/`` files (None: they are missing)."""
    return TftpServer(
        tftp_config(settings),
        boot_files,
        tree=tree or files.build_tree(settings.data_dir, settings.loaders_dir),
        retry=retry,
        observer=tftp_observer(bootlog, later or _now) if bootlog else None,
        mac_for=bootlog.mac_for if bootlog else None,
    )


def tftp_observer(bootlog: BootLog, later: Callable[[Callable[[], None]], None]) -> Observer:
    kinds = {"loader": "loader", "config": "config", "file": "kernel"}

    def observe(kind: str, filename: str, ip: str, mac: str | None) -> None:
        later(lambda: bootlog.record(kinds[kind], mac=mac, ip=ip, detail=f"TFTP {filename}"))

    return observe


def _now(call: Callable[[], None]) -> None:
    call()


# -- DNS ------------------------------------------------------------------------------------
def dns_config(settings: Settings) -> DnsConfig:
    return DnsConfig(
        listen=settings.dns or "0.0.0.0:53",
        domain=settings.domain,
        ttl=settings.dns_ttl,
        upstream=settings.dns_upstream,
        ns_address=settings.server_ip or None,
    )


def dns_server(settings: Settings, records: RecordSource) -> DnsServer:
    return DnsServer(dns_config(settings), records)


def node_records(service: Service, *, leases: bool = False) -> list[tuple[str, str]]:
    """``(hostname, ip)`` of every node that has both: its ``ip.`` dot-option,
    else (with ``leases``) the address our full-mode DHCP leased it. Nodes and
    catalogue from the boot read model, leases from the store; a node whose boot
    spec is broken is skipped."""
    snap = service.view.snapshot()
    leased: dict[str, str] = {}
    if leases:
        now = time.time()
        leased = {lease.mac: str(lease.ip) for lease in service.store.list_leases()
                  if lease.expires > now}  # fmt: skip
    found = []
    for node in snap.nodes.values():
        if not node.hostname:
            continue
        try:
            ip = service.bootspec(node, snap.catalog, agent=False).cmdline.get("ip")
        except ValidationError:
            continue
        ip = ip or leased.get(node.mac)
        if ip:
            found.append((node.hostname, ip))
    return found


# -- DHCP -----------------------------------------------------------------------------------
def check_dhcp_enabled(settings: Settings) -> None:
    """The safety rule: DHCP answers nothing unless a mode AND an interface are named."""
    if settings.dhcp not in MODES:
        raise ConfigError(
            "dhcp", "DHCP is off: name a mode (--dhcp proxy|full|observe) to turn it on"
        )
    if not settings.interface:
        raise ConfigError(
            "interface", "DHCP needs the interface it may answer on (--interface), none is named"
        )


def dhcp_config(
    settings: Settings,
    interface_ip: IPv4Address | None = None,
    interface_netmask: IPv4Address | None = None,
) -> DhcpConfig:
    """Build the policy's view of the settings; raises ConfigError naming the setting."""
    check_dhcp_enabled(settings)
    if settings.server_ip:
        server_ip = parse_address(settings.server_ip, "server_ip")
    elif interface_ip is not None:
        server_ip = interface_ip
    elif settings.dhcp == "observe":
        server_ip = IPv4Address(0)  # it never sends: a listening port needs no address
    else:
        raise ConfigError(
            "server_ip", f"interface {settings.interface} has no IPv4 address; set server_ip"
        )
    netmask = (
        parse_address(settings.dhcp_netmask, "dhcp_netmask")
        if settings.dhcp_netmask
        else interface_netmask
    )
    if netmask is not None:
        try:
            IPv4Network(f"0.0.0.0/{netmask}")
        except ValueError:
            raise ConfigError("dhcp_netmask", f"{netmask} is not a netmask") from None
    if settings.dhcp_dns_servers:
        dns = tuple(
            parse_address(a, "dhcp_dns_servers") for a in settings.dhcp_dns_servers.split(",") if a
        )
    else:
        dns = (server_ip,) if settings.dns else ()
    if settings.dhcp_lease_time < 60:
        raise ConfigError("dhcp_lease_time", "must be at least 60 seconds")
    if settings.dhcp_subnets and settings.dhcp_pool:
        raise ConfigError("dhcp_pool", "with dhcp_subnets, give each subnet its own pools")
    base = DhcpConfig(
        mode=settings.dhcp,
        server_ip=server_ip,
        http_port=parse_host_port(settings.http, "http")[1],
        netmask=netmask,
        router=parse_address(settings.dhcp_router, "dhcp_router") if settings.dhcp_router else None,
        dns_servers=dns,
        domain=settings.domain if settings.dns and settings.domain else None,
        pool=parse_pool(settings.dhcp_pool),
        lease_time=settings.dhcp_lease_time,
        unknown_macs=settings.unknown_macs,
        bios_loader=settings.bios_loader,
        uefi_loader=settings.uefi_loader,
        ipxe_script=settings.ipxe_script,
        interface_ip=interface_ip,
    )
    if not settings.dhcp_subnets:
        return base
    return replace(base, subnets=parse_subnets(settings.dhcp_subnets, base))


class ServiceBackend:
    """:class:`~provisioner.dhcp.backend.DhcpBackend` over the service and its store."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def stamp(self) -> str:
        return self.service.store.nodes_stamp()

    def nodes(self) -> list[tuple[str, NodeNet]]:
        snap = self.service.view.snapshot()
        out = []
        for node in snap.nodes.values():
            try:
                spec = self.service.bootspec(node, snap.catalog, agent=False)
            except ValidationError as exc:
                log.warning("DHCP: node %s skipped: %s", node.mac, exc.message)
                continue
            out.append((node.mac, node_net(spec.cmdline, node.hostname)))
        return out

    def load_leases(self) -> list[Lease]:
        return self.service.store.list_leases()

    def save_leases(self, leases: Sequence[Lease], forget: Sequence[IPv4Address]) -> None:
        self.service.store.save_leases(leases, forget)

    def dhcp_servers(self) -> list[DhcpServerSeen]:
        return self.service.store.list_dhcp_servers()

    def record_dhcp_servers(self, sightings: Mapping[str, Sequence[Sighting]]) -> None:
        for server_id, seen in sightings.items():
            self.service.store.change_dhcp_server(server_id, partial(merged, sightings=list(seen)))


def dhcp_server(
    settings: Settings,
    backend: DhcpBackend,
    *,
    bootlog: BootLog | None = None,
    later: Later | None = None,
) -> DhcpServer:
    """Nothing is checked or bound until ``start()``: then ConfigError says why not
    (DHCP off, no interface named, no such interface, port in use)."""

    def configure() -> DhcpConfig:
        check_dhcp_enabled(settings)
        ip, mask = netio.interface_ipv4(settings.interface)
        return dhcp_config(settings, ip, mask)

    observer = None
    if bootlog is not None:
        log_, run = bootlog, later or _now

        def observer(mac: str, ip: str | None) -> None:
            run(lambda: log_.record("dhcp", mac=mac, ip=ip))

    return DhcpServer(settings.interface, configure, backend, observer=observer)


# -- all of them ------------------------------------------------------------------------------
async def network_daemons(settings: Settings) -> list[netio.Daemon]:
    """The enabled daemons, sharing one store, service and boot timeline (the
    network-boot process of ``provisioner serve``)."""
    from provisioner.db import open_store

    store = open_store(settings, upgrade=False)
    service = Service(store, settings)
    bootlog = BootLog(store, view=service.view)
    later = Later()
    daemons: list[netio.Daemon] = []
    with_leases = settings.dhcp == "full"
    if settings.dns:
        daemons.append(dns_server(settings, lambda: node_records(service, leases=with_leases)))
    if settings.tftp:
        daemons.append(tftp_server(settings, service, bootlog=bootlog, later=later))
    if settings.dhcp != "off":
        daemons.append(dhcp_server(settings, ServiceBackend(service), bootlog=bootlog, later=later))
    return daemons


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def until_signal(daemon: netio.Daemon) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await netio.run(daemon, stop)


def run_standalone(daemon: netio.Daemon) -> None:
    """Run one daemon until SIGINT/SIGTERM (the ``python -m`` runners)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(until_signal(daemon))
