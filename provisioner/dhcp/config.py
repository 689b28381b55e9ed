"""What the DHCP policy needs from the settings, checked once at start-up.
Pure: :class:`~provisioner.config.Settings` (plus the interface's address when
the settings leave it open) in, a frozen :class:`DhcpConfig` out, or a
:class:`~provisioner.errors.ConfigError` naming the setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from provisioner.bootnames import base_url
from provisioner.config import Settings, parse_host_port
from provisioner.dhcp.options import Opt, addresses, u32
from provisioner.errors import ConfigError

MODES = ("proxy", "full")


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
        net: dict[int, bytes] = {}
        if self.netmask is not None:
            net[Opt.SUBNET_MASK] = self.netmask.packed
        if self.router is not None:
            net[Opt.ROUTER] = self.router.packed
        if self.dns_servers:
            net[Opt.DNS_SERVERS] = addresses(self.dns_servers)
        object.__setattr__(self, "network_options", net)

    @property
    def http_base(self) -> str:
        return base_url(str(self.server_ip), self.http_port)

    @property
    def full(self) -> bool:
        return self.mode == "full"


def check_enabled(settings: Settings) -> None:
    """The safety rule: DHCP answers nothing unless a mode AND an interface are named."""
    if settings.dhcp not in MODES:
        raise ConfigError("dhcp", "DHCP is off: name a mode (--dhcp proxy|full) to turn it on")
    if not settings.interface:
        raise ConfigError(
            "interface", "DHCP needs the interface it may answer on (--interface), none is named"
        )


def _address(value: str, name: str) -> IPv4Address:
    try:
        return IPv4Address(value.strip())
    except ValueError:
        raise ConfigError(name, f"{value!r} is not an IPv4 address") from None


def parse_pool(value: str) -> tuple[IPv4Address, IPv4Address] | None:
    """``"START-END"`` (inclusive) or "" for none."""
    if not value.strip():
        return None
    first, sep, last = value.partition("-")
    if not sep:
        raise ConfigError("dhcp_pool", f"{value!r} is not START-END")
    start, end = _address(first, "dhcp_pool"), _address(last, "dhcp_pool")
    if end < start:
        raise ConfigError("dhcp_pool", f"{value!r} ends before it starts")
    return start, end


def dhcp_config(
    settings: Settings,
    interface_ip: IPv4Address | None = None,
    interface_netmask: IPv4Address | None = None,
) -> DhcpConfig:
    """Build the policy's view of the settings; raises ConfigError naming the setting."""
    check_enabled(settings)
    if settings.server_ip:
        server_ip = _address(settings.server_ip, "server_ip")
    elif interface_ip is not None:
        server_ip = interface_ip
    else:
        raise ConfigError(
            "server_ip", f"interface {settings.interface} has no IPv4 address; set server_ip"
        )
    netmask = (
        _address(settings.dhcp_netmask, "dhcp_netmask")
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
            _address(a, "dhcp_dns_servers") for a in settings.dhcp_dns_servers.split(",") if a
        )
    else:
        dns = (server_ip,) if settings.dns else ()
    if settings.dhcp_lease_time < 60:
        raise ConfigError("dhcp_lease_time", "must be at least 60 seconds")
    return DhcpConfig(
        mode=settings.dhcp,
        server_ip=server_ip,
        http_port=parse_host_port(settings.http, "http")[1],
        netmask=netmask,
        router=_address(settings.dhcp_router, "dhcp_router") if settings.dhcp_router else None,
        dns_servers=dns,
        domain=settings.domain if settings.dns and settings.domain else None,
        pool=parse_pool(settings.dhcp_pool),
        lease_time=settings.dhcp_lease_time,
        unknown_macs=settings.unknown_macs,
        bios_loader=settings.bios_loader,
        uefi_loader=settings.uefi_loader,
        ipxe_script=settings.ipxe_script,
    )
