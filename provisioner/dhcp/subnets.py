"""Several subnets, as Kea and ISC dhcpd serve them: which subnet a request is
for, the settings' ``[[dhcp_subnets]]`` tables turned into :class:`Subnet` values
(ConfigError names the field: ``dhcp_subnets[1].router``), and the lease table
and snapshot covering all of them. Pure: plain values in and out.

A request is for the subnet holding, first found of: the RFC 3527 link
selection (option 82 sub-option 5) of a relayed request, its ``giaddr``, its
``ciaddr`` (a client renewing), the receiving interface's address. A relayed
request for no configured subnet gets nothing (and :class:`OncePer` keeps its
log line to one per relay per minute).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network

from provisioner.dhcp.config import DhcpConfig, Range, Subnet, parse_address, parse_pool
from provisioner.dhcp.leases import LeaseTable, NodeNet, Snapshot
from provisioner.dhcp.options import DhcpPacketError, Opt, decode_suboptions
from provisioner.dhcp.packet import ZERO, Packet
from provisioner.domain import Lease, normalize_mac
from provisioner.errors import ConfigError, ValidationError

#: option 82 sub-option: the link the client is on (RFC 3527)
LINK_SELECTION = 5
KEYS = frozenset((
    "subnet", "pools", "router", "dns_servers", "domain", "lease_time", "next_server",
    "bios_loader", "uefi_loader", "reservations",
))  # fmt: skip
Inside = Callable[[str, IPv4Address], IPv4Address]
LOADERS = {"bios_loader": ("pxelinux", "ipxe"), "uefi_loader": ("syslinux", "ipxe")}


# -- which subnet ------------------------------------------------------------------------------
def link_address(req: Packet) -> IPv4Address:
    """The address naming the client's link (ZERO: the receiving interface)."""
    if req.giaddr != ZERO:
        relay = req.options.get(Opt.RELAY_AGENT_INFO)
        if relay:
            try:
                link = decode_suboptions(relay, "option 82").get(LINK_SELECTION)
            except DhcpPacketError:
                link = None
            if link is not None and len(link) == 4:
                return IPv4Address(link)
        return req.giaddr
    return req.ciaddr


def select(req: Packet, cfg: DhcpConfig) -> Subnet | None:
    """The configured subnet ``req`` is for, or None (nothing to give it)."""
    where = link_address(req)
    if where == ZERO:
        where = cfg.interface_ip or cfg.server_ip
    for subnet in cfg.subnets:
        if where in subnet.network:
            return subnet
    return None


class OncePer:
    """``allow(key, now)`` is true at most once per ``period`` seconds per key.
    Remembers at most ``limit`` keys: when that many are fresh, new keys are
    refused (and counted in ``suppressed``) until some age out."""

    def __init__(self, period: float = 60.0, limit: int = 1024) -> None:
        self.period, self.limit = period, limit
        self.suppressed = 0
        self._seen: dict[str, float] = {}
        self._pruned = float("-inf")

    def allow(self, key: str, now: float) -> bool:
        last = self._seen.get(key)
        if last is not None and now - last < self.period:
            return False
        if last is None and len(self._seen) >= self.limit:
            if now - self._pruned >= self.period / 4:
                self._pruned = now
                self._seen = {k: t for k, t in self._seen.items() if now - t < self.period}
            if len(self._seen) >= self.limit:
                self.suppressed += 1
                return False
        self._seen[key] = now
        return True

    def __len__(self) -> int:
        return len(self._seen)


# -- the lease table and the reservations over all subnets --------------------------------------
def not_reservable(cfg: DhcpConfig) -> list[IPv4Address]:
    """The server's and the routers' addresses: never handed out."""
    routers = [cfg.router] + [s.cfg.router for s in cfg.subnets]
    return [cfg.server_ip] + [a for a in routers if a is not None]


def lease_table(cfg: DhcpConfig, leases: Iterable[Lease]) -> LeaseTable:
    pools = [p for s in cfg.subnets for p in s.pools]
    return LeaseTable(cfg.pool, leases, not_reservable(cfg), pools=pools)


def snapshot(cfg: DhcpConfig, nodes: Iterable[tuple[str, NodeNet]]) -> Snapshot:
    fixed = [r for s in cfg.subnets for r in s.reservations]
    return Snapshot.build(nodes, not_reservable(cfg), fixed)


def describe_pools(cfg: DhcpConfig) -> str:
    """For the start-up line: ``, pool A-B`` or ``, subnets N1 (A-B), N2 (...)``."""
    if not cfg.subnets:
        return f", pool {cfg.pool[0]}-{cfg.pool[1]}" if cfg.pool else ""
    parts = (f"{s.network} ({' '.join(f'{a}-{b}' for a, b in s.pools)})" for s in cfg.subnets)
    return ", subnets " + ", ".join(parts)


def subnet_view(subnet: Subnet) -> dict[str, object]:
    """JSON for the API: what this subnet's clients get, inherited values included."""
    cfg = subnet.cfg
    return {
        "subnet": str(subnet.network),
        "pools": [f"{a}-{b}" for a, b in subnet.pools],
        "router": str(cfg.router) if cfg.router else None,
        "dns_servers": [str(a) for a in cfg.dns_servers],
        "domain": cfg.domain,
        "lease_time": cfg.lease_time,
        "next_server": str(cfg.boot_server),
        "bios_loader": cfg.bios_loader,
        "uefi_loader": cfg.uefi_loader,
        "reservations": {mac: str(ip) for mac, ip in subnet.reservations},
    }


# -- from the settings -------------------------------------------------------------------------
def parse_subnets(raw: Sequence[Mapping[str, object]], base: DhcpConfig) -> tuple[Subnet, ...]:
    """``[[dhcp_subnets]]`` tables -> subnets, each inheriting ``base``'s DNS,
    domain, lease time and boot options unless it sets its own."""
    subnets = tuple(_subnet(table, base, f"dhcp_subnets[{i}]") for i, table in enumerate(raw))
    _no_overlaps(subnets)
    return subnets


def _subnet(table: Mapping[str, object], base: DhcpConfig, where: str) -> Subnet:
    if not isinstance(table, Mapping):
        raise ConfigError(where, "must be a table")
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}", f"unknown key; known: {', '.join(sorted(KEYS))}")
    if "subnet" not in table:
        raise ConfigError(f"{where}.subnet", "missing (e.g. subnet = '192.0.2.64/26')")
    try:
        network = IPv4Network(str(table["subnet"]))
    except ValueError as exc:
        raise ConfigError(f"{where}.subnet", str(exc)) from None

    def address(key: str) -> IPv4Address | None:
        value = table.get(key)
        return None if value in (None, "") else parse_address(str(value), f"{where}.{key}")

    def inside(key: str, ip: IPv4Address) -> IPv4Address:
        if ip not in network or ip in (network.network_address, network.broadcast_address):
            raise ConfigError(f"{where}.{key}", f"{ip} is not a host address of {network}")
        return ip

    router = address("router")
    if router is not None:
        inside("router", router)
    texts = _strings(table.get("pools"), f"{where}.pools")
    pools = tuple(_pool(text, f"{where}.pools", inside) for text in texts)
    reservations = _reservations(table.get("reservations"), f"{where}.reservations", inside)
    for mac, ip in reservations:
        if ip == router:
            raise ConfigError(f"{where}.reservations.{mac}", f"{ip} is the subnet's router")
    dns = _strings(table.get("dns_servers"), f"{where}.dns_servers")
    lease_time = table.get("lease_time", base.lease_time)
    if not isinstance(lease_time, int) or isinstance(lease_time, bool) or lease_time < 60:
        raise ConfigError(f"{where}.lease_time", "must be a whole number of seconds, at least 60")
    bios, uefi = (_loader(table, key, str(getattr(base, key)), where) for key in LOADERS)
    domain = table.get("domain", base.domain)
    cfg = replace(
        base,
        netmask=network.netmask,
        router=router,
        dns_servers=(
            tuple(parse_address(a, f"{where}.dns_servers") for a in dns)
            if dns
            else base.dns_servers
        ),
        domain=str(domain) if domain else None,
        pool=None,
        lease_time=lease_time,
        next_server=address("next_server") or base.next_server,
        subnets=(),
        bios_loader=bios,
        uefi_loader=uefi,
    )
    return Subnet(network, cfg, pools, reservations)


def _loader(table: Mapping[str, object], key: str, default: str, where: str) -> str:
    value = str(table.get(key, default))
    if value not in LOADERS[key]:
        raise ConfigError(f"{where}.{key}", f"{value!r} is not one of {', '.join(LOADERS[key])}")
    return value


def _strings(value: object, where: str) -> list[str]:
    """A list of strings, or one string of comma-separated ones."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ConfigError(where, f"{value!r} is not a list")
    return [str(item).strip() for item in items if str(item).strip()]


def _pool(text: str, where: str, inside: Inside) -> Range:
    pool = parse_pool(text, where)
    assert pool is not None  # _strings dropped the empty ones
    return inside("pools", pool[0]), inside("pools", pool[1])


def _reservations(value: object, where: str, inside: Inside) -> tuple[tuple[str, IPv4Address], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ConfigError(where, "must be a table of MAC = address")
    out = []
    for mac, ip in value.items():
        try:
            norm = normalize_mac(mac)
        except ValidationError as exc:
            raise ConfigError(f"{where}.{mac}", exc.message) from None
        out.append((norm, inside(f"reservations.{mac}", parse_address(str(ip), f"{where}.{mac}"))))
    return tuple(out)


def _no_overlaps(subnets: Sequence[Subnet]) -> None:
    """Subnets, pools and reservations (a MAC or an address reserved twice)."""
    pools: list[tuple[Range, str]] = []
    macs: dict[str, int] = {}
    addresses: dict[IPv4Address, str] = {}
    for i, subnet in enumerate(subnets):
        for mac, ip in subnet.reservations:
            where = f"dhcp_subnets[{i}].reservations.{mac}"
            if mac in macs:
                raise ConfigError(where, f"{mac} is already reserved in dhcp_subnets[{macs[mac]}]")
            if ip in addresses:
                raise ConfigError(where, f"{ip} is already reserved for {addresses[ip]}")
            macs[mac], addresses[ip] = i, mac
    for i, subnet in enumerate(subnets):
        for j, other in enumerate(subnets[:i]):
            if subnet.network.overlaps(other.network):
                raise ConfigError(
                    f"dhcp_subnets[{i}].subnet", f"{subnet.network} overlaps dhcp_subnets[{j}]"
                )
        pools += [(pool, f"dhcp_subnets[{i}].pools") for pool in subnet.pools]
    pools.sort()
    for (a, _), (b, where) in itertools.pairwise(pools):
        if b[0] <= a[1]:
            raise ConfigError(where, f"{b[0]}-{b[1]} overlaps {a[0]}-{a[1]}")
