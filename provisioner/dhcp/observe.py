"""Other DHCP servers on the segment, as heard: what a reply says about its
server (:func:`sighting`) and the bounded record kept of each one
(:func:`merge`). Pure; :mod:`provisioner.dhcp.watch` feeds it from the daemon.

A reply is recognised by ``op`` 2 and message type OFFER/ACK/NAK; its server is
option 54 (else the source address). A client's REQUEST naming a server (option
54) counts too (:func:`chosen`): it proves that server offered to the client,
even when its OFFER was unicast and never reached this interface.

Whether the client was a network-boot client comes from its own request, when
that was heard (:class:`NetbootXids` remembers the transaction ids of netboot
requests), or from the reply itself (option 60 ``PXEClient``/``HTTPClient``, a
boot file, option 43).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from ipaddress import IPv4Address

from provisioner.dhcp.boot import netboot_class
from provisioner.dhcp.options import MessageType, Opt, text
from provisioner.dhcp.packet import ZERO, Packet
from provisioner.domain import DhcpServerSeen, SeenClient

#: clients kept per server (newest first)
MAX_CLIENTS = 16
#: servers kept at most; a new one past this is not recorded
MAX_SERVERS = 64
#: netboot request transaction ids remembered
MAX_XIDS = 1024
_REPLIES = {MessageType.OFFER: "OFFER", MessageType.ACK: "ACK", MessageType.NAK: "NAK"}


@dataclass(frozen=True, slots=True)
class Sighting:
    """One reply of another server, as heard."""

    server_id: str
    source: str
    message: str
    client: SeenClient
    options: dict[str, str]
    boot_file: str
    next_server: str
    offers_boot: bool


class NetbootXids:
    """The transaction ids of the network-boot requests heard lately (bounded)."""

    def __init__(self, limit: int = MAX_XIDS) -> None:
        self.limit = limit
        self._xids: OrderedDict[int, None] = OrderedDict()

    def heard(self, request: Packet) -> None:
        if request.op == 1 and netboot_class(request) is not None:
            self._xids[request.xid] = None
            self._xids.move_to_end(request.xid)
            while len(self._xids) > self.limit:
                self._xids.popitem(last=False)

    def __contains__(self, xid: object) -> bool:
        return xid in self._xids


def offers_boot(reply: Packet) -> bool:
    vendor = text(reply.options.get(Opt.VENDOR_CLASS, b""))
    return (
        bool(reply.file.strip(b"\0"))
        or Opt.BOOTFILE_NAME in reply.options
        or Opt.VENDOR_SPECIFIC in reply.options
        or vendor.startswith(("PXEClient", "HTTPClient"))
    )


def sighting(reply: Packet, source: str, netboot: NetbootXids, at: datetime) -> Sighting | None:
    """What ``reply`` (heard from ``source``) says about its server; None when it is
    no server's reply."""
    message = _REPLIES.get(reply.message_type) if reply.message_type else None
    if reply.op != 2 or message is None:
        return None
    server_id = str(reply.server_id or source)
    boot = message != "NAK" and offers_boot(reply)
    address = None if reply.yiaddr == ZERO else str(reply.yiaddr)
    client = SeenClient(reply.mac, message, address, reply.xid in netboot or boot, at)
    kept = message != "NAK"
    return Sighting(
        server_id=server_id,
        source=source,
        message=message,
        client=client,
        options={str(k): v.hex() for k, v in sorted(reply.options.items())} if kept else {},
        boot_file=text(reply.file) if kept else "",
        next_server="" if reply.siaddr == ZERO else str(reply.siaddr),
        offers_boot=boot,
    )


def chosen(request: Packet, netboot: NetbootXids, at: datetime) -> Sighting | None:
    """A client's REQUEST that names the server it chose (option 54), or None."""
    server = request.server_id
    if request.op != 1 or request.message_type != MessageType.REQUEST or server is None:
        return None
    asked = request.requested_ip
    pxe = request.xid in netboot or netboot_class(request) is not None
    client = SeenClient(request.mac, "REQUEST", None if asked is None else str(asked), pxe, at)
    return Sighting(str(server), str(server), "REQUEST", client, {}, "", "", False)


def merge(old: DhcpServerSeen | None, seen: Sighting) -> DhcpServerSeen:
    """The record of ``seen``'s server after it: counts, the last offer's options
    (a NAK keeps the previous ones), the client first in a list of at most
    :data:`MAX_CLIENTS` (one entry per client MAC). A client's REQUEST adds the
    client only (it is no reply of the server's)."""
    at = seen.client.at
    if old is None:
        old = DhcpServerSeen(
            server_id=seen.server_id,
            source=seen.source,
            first_seen=at,
            last_seen=at,
            replies=0,
            options={},
            boot_file="",
            next_server="",
            answers_pxe=False,
            offers_boot=False,
        )
    others = tuple(c for c in old.clients if c.mac != seen.client.mac)
    reply = seen.message != "REQUEST"
    new = replace(
        old,
        source=seen.source if reply or not old.replies else old.source,
        last_seen=max(old.last_seen, at),
        replies=old.replies + reply,
        answers_pxe=old.answers_pxe or seen.client.pxe,
        offers_boot=old.offers_boot or seen.offers_boot,
        clients=(seen.client, *others)[:MAX_CLIENTS],
    )
    if seen.message in ("NAK", "REQUEST"):
        return new
    return replace(
        new, options=seen.options, boot_file=seen.boot_file, next_server=seen.next_server
    )


def conflicts(server: DhcpServerSeen, mode: str) -> bool:
    """Whether ``server`` competes with ours in ``mode``: in proxy mode a server
    that offers network-boot clients a boot file; in full mode any server that
    answers them."""
    if mode == "proxy":
        return server.answers_pxe and server.offers_boot
    if mode == "full":
        return server.answers_pxe
    return False


def warning(server: DhcpServerSeen) -> str:
    what = "offering boot files to" if server.offers_boot else "answering"
    return (
        f"another DHCP server ({server.server_id}, from {server.source}) is {what} "
        f"network-boot clients (last seen {server.last_seen:%Y-%m-%d %H:%M:%S} UTC)"
    )


_ADDRESS_OPTIONS = {Opt.SUBNET_MASK, Opt.ROUTER, Opt.DNS_SERVERS, 28, Opt.SERVER_ID}
_SECONDS_OPTIONS = {Opt.LEASE_TIME, Opt.RENEWAL_TIME, Opt.REBINDING_TIME}
_TEXT_OPTIONS = {Opt.HOSTNAME, Opt.DOMAIN_NAME, Opt.VENDOR_CLASS}
_TEXT_OPTIONS |= {Opt.TFTP_SERVER_NAME, Opt.BOOTFILE_NAME}
_MESSAGE_NAMES = {int(m): m.name for m in MessageType}


def readable(code: str, value: str) -> str:
    """A recorded option (code, hex) as a person reads it: addresses, seconds,
    text, the message type; anything else stays hex."""
    try:
        number, raw = int(code), bytes.fromhex(value)
    except ValueError:
        return value
    if number in _ADDRESS_OPTIONS and raw and len(raw) % 4 == 0:
        return ", ".join(str(IPv4Address(raw[i : i + 4])) for i in range(0, len(raw), 4))
    if number in _SECONDS_OPTIONS and len(raw) == 4:
        return f"{int.from_bytes(raw, 'big')} s"
    if number in _TEXT_OPTIONS and raw.isascii() and raw.decode("ascii").isprintable():
        return raw.decode("ascii")
    if number == Opt.MESSAGE_TYPE and len(raw) == 1 and raw[0] in _MESSAGE_NAMES:
        return _MESSAGE_NAMES[raw[0]]
    return value
