"""DHCP policy: one request in, one reply (or nothing) out. Pure functions: the
lease table is only asked questions; what to change in it comes back in the
:class:`Result` (``change``), which the daemon applies (``LeaseTable.apply``).

``proxy`` mode (proxyDHCP, PXE 2.1): answers only network-boot clients, never
hands out an address (``yiaddr`` stays 0.0.0.0), so the site's own DHCP server
keeps doing that. Like dnsmasq's ``--dhcp-range=...,proxy``:

* DISCOVER on port 67 -> OFFER with ``siaddr``/``sname`` = this server, the
  boot file, option 60 ``PXEClient``, the client's option 97 echoed; BIOS
  clients also get option 43 with PXE_DISCOVERY_CONTROL = 8 ("just boot the
  file in this offer"). UEFI clients get no option 43: OVMF/EDK2 then treats
  the offer as "BINL" and asks again on port 4011, which is the path the lab
  proved with OVMF;
* REQUEST/INFORM on port 4011 (PXE boot server discovery, in both modes) ->
  ACK with the same boot information, echoing a PXE boot item (43.71).

``full`` mode: a DHCP server with a pool and the nodes' reservations
(:mod:`.leases`). Boot information goes into OFFER and ACK as plain
``siaddr``/``file`` (option 66/67 too when asked for), without option 60
``PXEClient`` -- so UEFI firmware boots the file at once instead of asking a
boot server -- except for iPXE (which otherwise waits a second for proxyDHCP
offers) and ``HTTPClient``, which UEFI HTTP boot needs to see.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from ipaddress import IPv4Address

from provisioner.dhcp.boot import PXE_CLIENT, BootFile, boot_file
from provisioner.dhcp.config import DhcpConfig
from provisioner.dhcp.leases import (
    Bind,
    Change,
    Decline,
    ForgetOffer,
    LeaseTable,
    NodeNet,
    Release,
    Scope,
    Snapshot,
)
from provisioner.dhcp.options import (
    DISCOVERY_USE_BOOTFILE,
    MessageType,
    Opt,
    PxeVendorOptions,
    network_options,
)
from provisioner.dhcp.packet import BOOTREPLY, BOOTREQUEST, ZERO, Packet
from provisioner.dhcp.subnets import link_address, select
from provisioner.domain import Lease

DISCOVER = MessageType.DISCOVER
OFFER = MessageType.OFFER
REQUEST = MessageType.REQUEST
ACK = MessageType.ACK
_TYPE_BYTES = {m: bytes((m,)) for m in MessageType}

SERVER_PORT = 67
CLIENT_PORT = 68
PXE_PORT = 4011
BROADCAST = "255.255.255.255"
#: 576-byte datagrams minus IP and UDP headers: what every client must take
DEFAULT_MAX_SIZE = 576 - 28


@dataclass(frozen=True, slots=True)
class Reply:
    packet: Packet
    #: (address, port) to send to
    to: tuple[str, int]

    def pack(self) -> bytes:
        return self.packet.pack()


@dataclass(frozen=True, slots=True)
class Result:
    """What to send (if anything) and, when nothing, why (for the debug log)."""

    reply: Reply | None = None
    why: str = ""
    #: the why is worth a warning (e.g. the pool is exhausted)
    warn: bool = False
    #: what to change in the lease table (the daemon applies it)
    change: Change | None = None
    #: warn about this at most once a minute per this key (e.g. the relay's address)
    once_per: str | None = None

    @property
    def durable(self) -> bool:
        """The reply grants a lease: send it only once ``change`` is committed."""
        return isinstance(self.change, Bind)

    @property
    def writes(self) -> bool:
        """``change`` is something the store keeps (a lease bound or dropped)."""
        return isinstance(self.change, Bind | Release | Decline)


@dataclass(frozen=True, slots=True)
class State:
    """Everything besides the request that a decision depends on."""

    cfg: DhcpConfig
    snap: Snapshot
    table: LeaseTable
    #: the client's subnet, when subnets are configured (set by :func:`decide`)
    scope: Scope | None = None


def decide(req: Packet, port: int, source: tuple[str, int], state: State, now: float) -> Result:
    """The whole policy: ``req`` arrived on ``port`` from ``source`` at ``now``.
    Changes nothing: the lease change, if any, is ``Result.change``."""
    if req.op != BOOTREQUEST:
        return Result(why="not a request")
    kind = req.message_type
    mac = req.mac
    if kind is None or not mac:
        return Result(why="no DHCP message type or not Ethernet")
    if state.cfg.subnets:
        subnet = select(req, state.cfg)
        if subnet is None:
            return _no_subnet(req)
        state = State(subnet.cfg, state.snap, state.table, subnet.scope)
    cfg = state.cfg
    known = mac in state.snap.nodes
    boot = boot_file(req, cfg, known)
    if port == PXE_PORT:
        if kind not in (REQUEST, MessageType.INFORM):
            return Result(why=f"no {kind.name} on the boot server port")
        if boot is None:
            return Result(why=_no_boot_reason(known, cfg))
        return _reply(req, ACK, cfg, boot, proxy=True, source=source, port=port)
    if not cfg.full:
        if kind != DISCOVER:
            return Result(why=f"proxy mode answers no {kind.name} on port {port}")
        if boot is None:
            return Result(why=_no_boot_reason(known, cfg))
        return _reply(req, OFFER, cfg, boot, proxy=True, source=source, port=port)
    return _Exchange(req, port, source, state, now, boot).run(kind)


def _no_subnet(req: Packet) -> Result:
    if req.giaddr != ZERO:
        link = link_address(req)
        why = f"relay {req.giaddr} (link {link}) is in no configured subnet: ignored"
        return Result(why=why, warn=True, once_per=str(req.giaddr))
    why = "the receiving interface (or the client's ciaddr) is in no configured subnet"
    return Result(why=why, warn=True, once_per="direct")


def _no_boot_reason(known: bool, cfg: DhcpConfig) -> str:
    if not known and cfg.unknown_macs != "menu":
        return "unknown MAC (unknown_macs = ignore) or not a network-boot client"
    return "not a network-boot client we have a loader for"


@dataclass(frozen=True, slots=True)
class _Exchange:
    """One request in full mode."""

    req: Packet
    port: int
    source: tuple[str, int]
    state: State
    now: float
    boot: BootFile | None

    def run(self, kind: MessageType) -> Result:
        req, cfg, table = self.req, self.state.cfg, self.state.table
        mac = req.mac
        if kind == DISCOVER:
            wanted = req.requested_ip
            wanted_ip = int(wanted) if wanted else None
            hold = table.choose(
                mac, self.state.snap, wanted_ip, self.now, cfg.offer_hold, scope=self.state.scope
            )
            if hold is None:
                return Result(why=f"no free address for {mac}", warn=True)
            return replace(self.reply(OFFER, IPv4Address(hold.ip)), change=hold)
        if kind == REQUEST:
            return self.request()
        if kind == MessageType.DECLINE:
            if req.server_id != cfg.server_ip or req.requested_ip is None:
                return Result(why="DECLINE for another server")
            if table.ours(int(req.requested_ip), self.state.snap):
                return Result(
                    why=f"{mac} declined {req.requested_ip}: set aside",
                    warn=True,
                    change=Decline(int(req.requested_ip), mac, self.now + cfg.lease_time),
                )
            # the table keeps declines only for addresses it hands out: a client
            # cannot make it remember arbitrary ones
            return Result(why=f"{mac} declined {req.requested_ip}, not an address of ours")
        if kind == MessageType.RELEASE:
            return Result(why=f"{mac} released {req.ciaddr}", change=Release(int(req.ciaddr), mac))
        if kind == MessageType.INFORM:
            return self.reply(ACK, ZERO)
        return Result(why=f"{kind.name} is not for a server")

    def reply(self, kind: MessageType, ip: IPv4Address, lease: bool = False) -> Result:
        return _reply(
            self.req,
            kind,
            self.state.cfg,
            self.boot,
            ip=ip,
            net=self.state.snap.nodes.get(self.req.mac),
            source=self.source,
            port=self.port,
            lease=lease,
        )

    def request(self) -> Result:
        req, cfg, snap, table, now = (
            self.req,
            self.state.cfg,
            self.state.snap,
            self.state.table,
            self.now,
        )
        mac = req.mac
        server_id = req.server_id
        if server_id is not None and server_id != cfg.server_ip:
            return Result(why=f"{mac} chose server {server_id}", change=ForgetOffer(mac))
        wanted = req.requested_ip or (req.ciaddr if req.ciaddr != ZERO else None)
        if wanted is None:
            return Result(why="REQUEST names no address")
        ip = int(wanted)
        scope = self.state.scope
        if scope is not None and ip not in scope:
            return _nak(req, cfg, f"{wanted} is not on {mac}'s subnet {scope.network}")
        if not table.assignable(ip, mac, snap, now):
            if server_id is not None or table.ours(ip, snap):
                return _nak(req, cfg, f"{wanted} is not available to {mac}")
            return Result(why=f"{wanted} is not ours")
        reserved = snap.reservation(mac)
        if reserved is not None and scope is not None and reserved not in scope:
            reserved = None
        if (
            server_id is None
            and reserved is not None
            and reserved != ip
            and table.assignable(reserved, mac, snap, now)
        ):
            return _nak(req, cfg, f"{mac} has reservation {IPv4Address(reserved)}")
        lease = Lease(wanted, mac, now + cfg.lease_time, _safe_hostname(req.hostname))
        return replace(self.reply(ACK, wanted, lease=True), change=Bind(lease))


def _safe_hostname(name: str | None) -> str | None:
    """What a client calls itself goes into the lease table: printable ASCII only,
    at most 253 characters (RFC 3396 lets a hostile client send kilobytes)."""
    if not name:
        return None
    clean = "".join(ch for ch in name[:253] if " " < ch < "\x7f")
    return clean or None


def _nak(req: Packet, cfg: DhcpConfig, why: str) -> Result:
    packet = _answer(
        req, {Opt.MESSAGE_TYPE: _TYPE_BYTES[MessageType.NAK], Opt.SERVER_ID: cfg.server_id}
    )
    to = (str(req.giaddr), SERVER_PORT) if req.giaddr != ZERO else (BROADCAST, CLIENT_PORT)
    return Result(Reply(packet, to), why=why)


def _reply(
    req: Packet,
    kind: MessageType,
    cfg: DhcpConfig,
    boot: BootFile | None,
    *,
    source: tuple[str, int],
    port: int,
    proxy: bool = False,
    ip: IPv4Address = ZERO,
    net: NodeNet | None = None,
    lease: bool = False,
) -> Result:
    opts: dict[int, bytes] = {Opt.MESSAGE_TYPE: _TYPE_BYTES[kind], Opt.SERVER_ID: cfg.server_id}
    asked = req.param_request_list
    if not proxy:
        if kind == OFFER or lease:
            opts.update(cfg.lease_options)
        _network_options(opts, cfg, net, asked)
    sname = file = b""
    siaddr = ZERO
    if boot is not None:
        siaddr = cfg.boot_server
        name = boot.name.encode()
        if len(name) <= 127:
            file = name
        if proxy:
            sname = str(cfg.boot_server).encode()
        if proxy or boot.vendor_class != PXE_CLIENT or boot.kind == "ipxe":
            # iPXE waits ~1 s for proxyDHCP offers unless the offer says PXEClient
            opts[Opt.VENDOR_CLASS] = boot.vendor_class.encode()
        if proxy and boot.bios:
            item = req.pxe_options.boot_item if req.pxe_options else None
            pxe = PxeVendorOptions(discovery_control=DISCOVERY_USE_BOOTFILE, boot_item=item)
            opts[Opt.VENDOR_SPECIFIC] = pxe.encode()
        uuid = req.client_uuid
        if uuid is not None and len(uuid) == 17:
            opts[Opt.CLIENT_UUID] = uuid
        if Opt.TFTP_SERVER_NAME in asked:
            opts[Opt.TFTP_SERVER_NAME] = str(cfg.boot_server).encode()
        if Opt.BOOTFILE_NAME in asked or not file:
            opts[Opt.BOOTFILE_NAME] = name
    relay = req.options.get(Opt.RELAY_AGENT_INFO)
    if relay is not None and req.giaddr != ZERO:
        opts[Opt.RELAY_AGENT_INFO] = relay  # RFC 3046: echoed, last
    packet = _answer(
        req,
        opts,
        ciaddr=req.ciaddr if kind == ACK else ZERO,
        yiaddr=ip,
        siaddr=siaddr,
        sname=sname,
        file=file,
    )
    return Result(Reply(packet, destination(req, packet, source, port)))


def _answer(
    req: Packet,
    options: dict[int, bytes],
    *,
    ciaddr: IPv4Address = ZERO,
    yiaddr: IPv4Address = ZERO,
    siaddr: IPv4Address = ZERO,
    sname: bytes = b"",
    file: bytes = b"",
) -> Packet:
    """A reply to ``req``: its xid, hardware address, flags and relay kept."""
    return Packet(
        op=BOOTREPLY,
        xid=req.xid,
        chaddr=req.chaddr,
        htype=req.htype,
        flags=req.flags,
        ciaddr=ciaddr,
        yiaddr=yiaddr,
        siaddr=siaddr,
        giaddr=req.giaddr,
        sname=sname,
        file=file,
        options=options,
    )


def _network_options(
    opts: dict[int, bytes], cfg: DhcpConfig, net: NodeNet | None, asked: bytes
) -> None:
    """Netmask, router and DNS: the node's own (``submask.``, ``gw.``, ``dns.``)
    where it has them, else the settings'."""
    opts.update(cfg.network_options)
    if net is not None:
        opts.update(network_options(net.netmask, net.router, net.dns))
        if net.hostname and Opt.HOSTNAME in asked:
            opts[Opt.HOSTNAME] = net.hostname.split(".")[0].encode()
    if cfg.domain and Opt.DOMAIN_NAME in asked:
        opts[Opt.DOMAIN_NAME] = cfg.domain.encode()


def destination(req: Packet, reply: Packet, source: tuple[str, int], port: int) -> tuple[str, int]:
    """Where a reply goes (RFC 2131 4.1). A client without an address gets a
    broadcast even when it did not ask for one: unicasting to an address it
    does not have yet would need an ARP entry forged first, and every client
    here (udhcpc, dhclient, iPXE, EDK2) takes broadcasts."""
    if req.giaddr != ZERO:
        return str(req.giaddr), SERVER_PORT
    if port == PXE_PORT:
        host, sport = source
        return (host, sport) if host != "0.0.0.0" else (BROADCAST, sport)  # noqa: S104
    if req.ciaddr != ZERO:
        return str(req.ciaddr), CLIENT_PORT
    return BROADCAST, CLIENT_PORT


# -- log lines -------------------------------------------------------------------------------


def describe_request(req: Packet) -> str:
    """``DHCP DISCOVER 52:54:00:c0:02:01 arch 7 PXEClient``."""
    kind = req.message_type
    words = ["DHCP", kind.name if kind else "?", req.mac or req.chaddr.hex()]
    if req.client_archs:
        words += ["arch", str(req.client_archs[0])]
    if req.is_ipxe:
        words.append("iPXE")
    elif req.vendor_class:
        words.append(req.vendor_class.split(":")[0][:32])
    if req.giaddr != ZERO:
        words += ["via", str(req.giaddr)]
    return " ".join(words)


def describe_reply(reply: Reply) -> str:
    """``DHCP OFFER 52:54:00:c0:02:01 192.0.2.50 file efi64/syslinux.efi``."""
    p = reply.packet
    kind = p.message_type
    words = ["DHCP", kind.name if kind else "?", p.mac or p.chaddr.hex()]
    if p.yiaddr != ZERO:
        words.append(str(p.yiaddr))
    name = p.file or p.options.get(Opt.BOOTFILE_NAME, b"")
    if name:
        words += ["file", name.decode("ascii", "replace")]
    words += ["to", f"{reply.to[0]}:{reply.to[1]}"]
    return " ".join(words)
