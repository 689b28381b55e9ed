"""A foreign DHCP server's record as observe mode would make it from what it
heard (the real pure functions on real packets), for the API and page tests."""

from __future__ import annotations

from datetime import UTC, datetime
from ipaddress import IPv4Address

from provisioner.dhcp.observe import NetbootXids, merge, sighting
from provisioner.dhcp.options import MessageType, Opt
from provisioner.dhcp.packet import Packet, parse
from provisioner.store import Store

AT = datetime(2026, 12, 2, 18, tzinfo=UTC)


def record_offer(
    store: Store,
    server: str = "192.0.2.2",
    client: str = "52:54:00:c0:02:41",
    boot_file: bytes = b"pxelinux.0",
) -> None:
    """``server`` OFFERs 192.0.2.120 (and ``boot_file``) to a PXE client."""
    mac = bytes.fromhex(client.replace(":", ""))
    xids = NetbootXids()
    ask = {Opt.MESSAGE_TYPE: bytes([MessageType.DISCOVER]), Opt.VENDOR_CLASS: b"PXEClient"}
    xids.heard(parse(Packet(op=1, xid=9, chaddr=mac, options=ask).pack()))
    opts = {Opt.MESSAGE_TYPE: bytes([MessageType.OFFER]), Opt.SERVER_ID: IPv4Address(server).packed}
    offer = Packet(
        op=2, xid=9, chaddr=mac, yiaddr=IPv4Address("192.0.2.120"), file=boot_file, options=opts
    )
    seen = sighting(parse(offer.pack()), server, xids, AT)
    assert seen is not None
    store.change_dhcp_server(server, lambda old: merge(old, seen))
