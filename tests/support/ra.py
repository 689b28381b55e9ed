"""Send an empty IPv6 Router Advertisement on one interface every second.

iPXE (Debian's build: QEMU's NIC ROMs, snponly.efi) waits ~13 s for IPv6
autoconfiguration before booting; an RA with M=0, O=0, router lifetime 0 and no
prefix ends that wait at once and configures nothing. Link-local multicast
(ff02::1) on the given interface only -- run it inside a test's own namespace:
``ip netns exec NS python -m tests.support.ra --iface br0``.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import struct
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--iface", default="br0")
    ap.add_argument("--interval", type=float, default=1.0)
    args = ap.parse_args()
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, args.iface.encode())
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)  # RFC 4861
    ifindex = socket.if_nametoindex(args.iface)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
    # type 134, code 0, checksum (kernel), hop limit 64, flags 0, lifetimes 0, no options
    ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 0, 0, 0)
    while True:
        with contextlib.suppress(OSError):  # no link-local address yet
            s.sendto(ra, ("ff02::1", 0, 0, ifindex))
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
