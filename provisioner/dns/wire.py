"""DNS messages with dnslib: ``get_reply(bytes) -> bytes``, the middle layer.

No I/O (dnslib imports ``socket`` for ``inet_pton``, so this module is not in
the purity list, but it opens nothing). :func:`get_reply` never raises: a
message dnslib cannot parse gets FORMERR if its header survived, else it is
dropped; responses, non-QUERY opcodes and odd question counts never reach
the resolver. Names outside our zones become a :class:`Forward` (when the
server may forward for this client) or REFUSED: never an open resolver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dnslib import (
    EDNS0,
    NS,
    OPCODE,
    PTR,
    QTYPE,
    RCODE,
    RR,
    SOA,
    A,
    DNSError,
    DNSHeader,
    DNSRecord,
)

from provisioner.dns.zone import Record, Snapshot, lookup, normalize
from provisioner.errors import CodecError

UDP_PLAIN = 512
CLASS_IN, CLASS_ANY = 1, 255
UDP_EDNS = 1232  # the DNS flag day 2020 size: no IP fragmentation


@dataclass(frozen=True, slots=True)
class Forward:
    """Ask the upstream server: ``data`` is the client's query, unchanged."""

    data: bytes
    id: int
    qname: str
    qtype: int
    qclass: int


def _header_only(data: bytes, rcode: int) -> bytes | None:
    """An answer built from the header alone (for messages dnslib cannot parse)."""
    if len(data) < 12 or data[2] & 0x80:  # too short, or a response: drop
        return None
    opcode, rd = (data[2] >> 3) & 0x0F, data[2] & 0x01
    return data[:2] + bytes([0x80 | opcode << 3 | rd, rcode]) + bytes(8)


class DnsWireError(CodecError):
    """A DNS message that cannot be decoded; ``offset`` is where dnslib gave up."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__("dns", message, offset)


_OFFSET = re.compile(r"\[offset=(\d+)\]")


def decode(data: bytes) -> DNSRecord:
    """One DNS message; raises :class:`DnsWireError` only.

    dnslib writes the offset into the text of its ``DNSError`` (the innermost
    ``[offset=N]`` is the most precise one)."""
    try:
        return DNSRecord.parse(data)
    except DNSError as exc:
        found = _OFFSET.findall(str(exc))
        raise DnsWireError(str(exc), int(found[-1]) if found else None) from None
    except Exception as exc:  # dnslib is not ours: whatever else it raises means "malformed"
        raise DnsWireError(f"{type(exc).__name__}: {exc}") from None


def _parse(data: bytes) -> DNSRecord | None:
    try:
        return decode(data)
    except DnsWireError:  # the caller answers FORMERR or drops the message
        return None


def _rdata(kind: str, value: object) -> object:
    if kind == "A":
        return A(str(value))
    if kind == "PTR":
        return PTR(str(value) + ".")
    if kind == "NS":
        return NS(str(value) + ".")
    assert isinstance(value, tuple)
    mname, rname, *times = value
    return SOA(f"{mname}.", f"{rname}.", tuple(times))


def _rr(record: Record, ttl: int, qname: str) -> RR:
    name, kind, value = record
    owner = qname if normalize(qname) == name else name + "."  # keep the client's spelling
    return RR(owner, getattr(QTYPE, kind), rdata=_rdata(kind, value), ttl=ttl)


def _reply(query: DNSRecord, rcode: int, aa: bool, ra: bool) -> DNSRecord:
    header = DNSHeader(id=query.header.id, qr=1, aa=int(aa), ra=int(ra), rd=query.header.rd)
    header.opcode = query.header.opcode
    header.rcode = rcode
    return DNSRecord(header, questions=list(query.questions))


def _pack(record: DNSRecord) -> bytes:
    return bytes(record.pack())  # dnslib gives a bytearray


def get_reply(
    data: bytes, snap: Snapshot, *, can_forward: bool = False, tcp: bool = False
) -> bytes | Forward | None:
    """The reply to one message (bytes), a :class:`Forward`, or None (drop)."""
    query = _parse(data)
    if query is None:
        return _header_only(data, RCODE.FORMERR)
    if query.header.qr:
        return None  # a response sent to us: never answer (no loops, no reflection)
    if query.header.opcode != OPCODE.QUERY:
        return _pack(_reply(query, RCODE.NOTIMP, False, can_forward))
    if len(query.questions) != 1:
        return _pack(_reply(query, RCODE.FORMERR, False, can_forward))
    edns = any(rr.rtype == QTYPE.OPT for rr in query.ar)
    q = query.questions[0]
    qname, qtype = str(q.qname), QTYPE.get(q.qtype, str(q.qtype))
    answer = lookup(snap, qname, qtype) if q.qclass in (CLASS_IN, CLASS_ANY) else None
    if answer is None:
        if can_forward:
            return Forward(data, query.header.id, normalize(qname), q.qtype, q.qclass)
        reply = _reply(query, RCODE.REFUSED, False, False)
    elif qtype in ("AXFR", "IXFR"):
        reply = _reply(query, RCODE.REFUSED, True, can_forward)
    else:
        reply = _reply(query, getattr(RCODE, answer.rcode), True, can_forward)
        for record in answer.answers:
            reply.add_answer(_rr(record, snap.ttl, qname))
        for record in answer.authority:
            reply.add_auth(_rr(record, snap.ttl, qname))
        for record in answer.additional:
            reply.add_ar(_rr(record, snap.ttl, qname))
    if edns:
        reply.add_ar(EDNS0(udp_len=UDP_EDNS))
    packed = _pack(reply)
    limit = 65535 if tcp else (UDP_EDNS if edns else UDP_PLAIN)
    if len(packed) > limit:
        packed = _pack(reply.truncate())
    return packed


def check_upstream(data: bytes, forward: Forward, sent_id: int) -> bytes | None:
    """The upstream's reply with the client's ID restored, or None when it does not
    answer what we asked (wrong ID, not a response, another question: a spoof)."""
    reply = _parse(data)
    if reply is None or not reply.header.qr or reply.header.id != sent_id:
        return None
    if len(reply.questions) != 1:
        return None
    q = reply.questions[0]
    if (normalize(str(q.qname)), q.qtype, q.qclass) != (
        forward.qname,
        forward.qtype,
        forward.qclass,
    ):
        return None
    return forward.id.to_bytes(2, "big") + data[2:]


def servfail(forward: Forward) -> bytes:
    """What the client gets when the upstream does not answer in time."""
    query = _parse(forward.data)
    assert query is not None  # it parsed once already
    return _pack(_reply(query, RCODE.SERVFAIL, False, True))
