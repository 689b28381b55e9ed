"""A hostile upstream DNS server for the forwarding tests (run in a namespace).

``python -m tests.support.dns_upstream HOST PORT`` answers every A query with
203.0.113.7, but first sends two forged replies: one from another port with
the right ID, one from the right port with a wrong ID (both say 203.0.113.66).
A forwarder that matches replies on address, port and ID returns 203.0.113.7.
Names starting with ``silent.`` get no answer at all.
"""

from __future__ import annotations

import socket
import sys
import time

from dnslib import RR, A, DNSRecord

REAL, FORGED = "203.0.113.7", "203.0.113.66"


def _answer(query: DNSRecord, ip: str, ident: int) -> bytes:
    reply = query.reply()
    reply.header.id = ident
    reply.add_answer(RR(query.q.qname, rdata=A(ip), ttl=30))
    return bytes(reply.pack())


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind((host, 0))
    deadline = time.monotonic() + 600  # never outlive a test run
    sock.settimeout(1.0)
    while time.monotonic() < deadline:
        try:
            data, client = sock.recvfrom(4096)
        except TimeoutError:
            continue
        query = DNSRecord.parse(data)
        if str(query.q.qname).startswith("silent."):
            continue
        other.sendto(_answer(query, FORGED, query.header.id), client)  # wrong port
        sock.sendto(_answer(query, FORGED, query.header.id ^ 0x5A5A), client)  # wrong ID
        time.sleep(0.05)
        sock.sendto(_answer(query, REAL, query.header.id), client)


if __name__ == "__main__":
    main()
