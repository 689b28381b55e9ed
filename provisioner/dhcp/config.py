"""What the DHCP policy needs to know, as one frozen :class:`DhcpConfig` with the
wire forms computed once, and the parsers of its values (ConfigError names the
setting). Pure; :func:`provisioner.daemons.dhcp_config` fills it in from the
settings at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from provisioner.bootnames import base_url
from provisioner.dhcp.leases import Scope
from provisioner.dhcp.options import Opt, network_options, u32
from provisioner.errors import ConfigError

#: the modes that bind sockets (``observe`` binds but never sends)
MODES = ("proxy", "full", "observe")

#: an inclusive address range (first, last)
Range = tuple[IPv4Address, IPv4Address]


@dataclass(frozen=True, slots=True)
class Subnet:
    """One configured subnet (``[[dhcp_subnets]]``): the clients it serves are
    those whose relay (``giaddr``, or the RFC 3527 link selection) or receiving
    interface is in ``network``; ``cfg`` is the whole configuration they get
    (pools, router, DNS, domain, lease time, boot options), ``reservations``
    MAC -> address."""

    network: IPv4Network
    cfg: DhcpConfig
    pools: tuple[Range, ...] = ()
    reservations: tuple[tuple[str, IPv4Address], ...] = ()
    #: ``network`` and ``pools`` as the lease table takes them
    scope: Scope = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ranges = tuple((int(a), int(b)) for a, b in self.pools)
        object.__setattr__(self, "scope", Scope(self.network, ranges))


@dataclass(frozen=True, slots=True)
class DhcpConfig:
    mode: str
    server_ip: IPv4Address
    http_port: int
    netmask: IPv4Address | None = None
    router: IPv4Address | None = None
    dns_servers: tuple[IPv4Address, ...] = ()
    #: DNS domain offered (option 15) when this server's DNS is on
    domain: str | None = None
    #: inclusive (first, last); None: reservations only
    pool: tuple[IPv4Address, IPv4Address] | None = None
    lease_time: int = 3600
    unknown_macs: str = "ignore"
    bios_loader: str = "pxelinux"
    uefi_loader: str = "syslinux"
    ipxe_script: bool = True
    #: seconds an offered address stays set aside for the client it was offered to
    offer_hold: int = 60
    #: boot server clients are sent to (siaddr, TFTP, HTTP); None: ``server_ip``
    next_server: IPv4Address | None = None
    #: the receiving interface's address: which subnet direct clients are on
    interface_ip: IPv4Address | None = None
    #: configured subnets; empty: one implicit subnet made of the fields above,
    #: taking relays from any ``giaddr`` (the single-pool configuration)
    subnets: tuple[Subnet, ...] = ()
    # -- wire forms, computed once (the policy copies them into every reply) --
    server_id: bytes = field(init=False, repr=False, compare=False)
    lease_options: dict[int, bytes] = field(init=False, repr=False, compare=False)
    network_options: dict[int, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "server_id", self.server_ip.packed)
        t = self.lease_time
        lease = {Opt.LEASE_TIME: u32(t), Opt.RENEWAL_TIME: u32(t // 2)}
        lease[Opt.REBINDING_TIME] = u32(t * 7 // 8)
        object.__setattr__(self, "lease_options", lease)
        net = network_options(self.netmask, self.router, self.dns_servers)
        object.__setattr__(self, "network_options", net)

    @property
    def boot_server(self) -> IPv4Address:
        return self.next_server or self.server_ip

    @property
    def http_base(self) -> str:
        return base_url(str(self.boot_server), self.http_port)

    @property
    def full(self) -> bool:
        return self.mode == "full"


def parse_address(value: str, name: str) -> IPv4Address:
    try:
        return IPv4Address(value.strip())
    except ValueError:
        raise ConfigError(name, f"{value!r} is not an IPv4 address") from None


def parse_pool(value: str, name: str = "dhcp_pool") -> Range | None:
    """``"START-END"`` (inclusive) or "" for none."""
    if not value.strip():
        return None
    first, sep, last = value.partition("-")
    if not sep:
        raise ConfigError(name, f"{value!r} is not START-END")
    start, end = parse_address(first, name), parse_address(last, name)
    if end < start:
        raise ConfigError(name, f"{value!r} ends before it starts")
    return start, end
