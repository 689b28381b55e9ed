#!/usr/bin/env python3
"""CEILING PROBE -- NOT A DHCP SERVER.

A minimal asyncio UDP responder used only to measure how many DHCPv4
request/response pairs a single Python event loop can turn around on this
machine.  It does no lease management, no option parsing beyond finding
option 53 (message type), no validation.  Every DISCOVER gets the same
fixed OFFER (yiaddr 198.18.0.10), every REQUEST the same fixed ACK; only
xid, flags, giaddr and chaddr are copied from the request.  The reply goes
to giaddr:67 when the request was relayed (perfdhcp's relay mode), else to
the source address:port.

Its number is an upper bound for any pure-asyncio DHCP server on this host:
a real server (lease DB, option handling, persistence) can only be slower.

usage: ceiling_probe.py BIND_ADDR [PORT]
"""

import asyncio
import signal
import socket
import struct
import sys

SERVER_ID = b"\xc0\x00\x02\x01"  # 192.0.2.1 (option 54)
YIADDR = socket.inet_aton("198.18.0.10")  # fixed, RFC 2544 range
MAGIC = b"\x63\x82\x53\x63"


def _opts(msgtype: int) -> bytes:
    return (
        bytes([53, 1, msgtype])
        + bytes([54, 4])
        + SERVER_ID
        + bytes([51, 4])
        + struct.pack("!I", 3600)
        + bytes([1, 4])
        + b"\xff\xfe\x00\x00"  # /15 netmask
        + b"\xff"
    )


OFFER_OPTS = _opts(2)
ACK_OPTS = _opts(5)
ZERO_SNAME_FILE = bytes(64 + 128)


def msg_type(pkt: bytes) -> int:
    """Return option 53 value, or 0. Walks options only until it finds 53."""
    i, n = 240, len(pkt)
    while i < n:
        code = pkt[i]
        if code == 0:
            i += 1
            continue
        if code == 255 or i + 1 >= n:
            return 0
        ln = pkt[i + 1]
        if code == 53 and ln >= 1 and i + 2 < n:
            return pkt[i + 2]
        i += 2 + ln
    return 0


class Probe(asyncio.DatagramProtocol):
    def __init__(self):
        self.tr = None
        self.n = 0

    def connection_made(self, transport):
        self.tr = transport

    def datagram_received(self, pkt, addr):
        if len(pkt) < 240 or pkt[0] != 1 or pkt[236:240] != MAGIC:
            return
        t = msg_type(pkt)
        if t == 1:
            opts = OFFER_OPTS
        elif t == 3:
            opts = ACK_OPTS
        else:
            return
        # op=2 htype hlen hops | xid | secs=0 flags | ciaddr=0 | yiaddr | siaddr=0 | giaddr | chaddr
        reply = (
            b"\x02"
            + pkt[1:4]
            + pkt[4:8]
            + b"\x00\x00"
            + pkt[10:12]
            + b"\x00\x00\x00\x00"
            + YIADDR
            + b"\x00\x00\x00\x00"
            + pkt[24:28]
            + pkt[28:44]
            + ZERO_SNAME_FILE
            + MAGIC
            + opts
        )
        giaddr = pkt[24:28]
        dest = (socket.inet_ntoa(giaddr), 67) if giaddr != b"\x00\x00\x00\x00" else addr
        self.tr.sendto(reply, dest)
        self.n += 1


async def main():
    bind = sys.argv[1] if len(sys.argv) > 1 else "0.0.0.0"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 67
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # default socket buffers on purpose: same as kea/dnsmasq get
    sock.bind((bind, port))
    tr, proto = await loop.create_datagram_endpoint(Probe, sock=sock)
    stop = asyncio.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    print(f"ceiling-probe listening on {bind}:{port}", flush=True)
    await stop.wait()
    tr.close()
    print(f"ceiling-probe replied {proto.n}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
