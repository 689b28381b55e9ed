"""The authoritative data: a snapshot of (host name, address) pairs, and lookups in it.

Pure: no dnslib, no sockets. :func:`build_snapshot` turns records from any
source (the store's nodes today, DHCP leases later) into a :class:`Snapshot`;
:func:`lookup` answers one question from it, or says the name is not ours
(``None``: forward it or refuse it).

We are authoritative for ``settings.domain`` and for the ``in-addr.arpa`` /24
zones that hold an address of ours. Names are compared in lower case, without
the trailing dot.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: (name, type, value); value is an address (A), a name (PTR, NS) or SOA fields.
Record = tuple[str, str, object]

SOA_TIMERS = (3600, 600, 86400)  # refresh, retry, expire


@dataclass(frozen=True, slots=True)
class Answer:
    rcode: str  # NOERROR or NXDOMAIN
    answers: tuple[Record, ...] = ()
    authority: tuple[Record, ...] = ()
    additional: tuple[Record, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    domain: str
    ttl: int
    serial: int = 1
    names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # fqdn -> addresses
    ptrs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # reverse name -> fqdns
    reverse_zones: frozenset[str] = frozenset()
    ns_address: str | None = None

    @property
    def ns_name(self) -> str:
        return f"ns.{self.domain}"


def normalize(name: str) -> str:
    return name.rstrip(".").lower()


def fqdn(hostname: str, domain: str) -> str:
    """``avbox251`` -> ``avbox251.lan``; a name already in the domain stays as it is."""
    name = normalize(hostname)
    return name if name == domain or name.endswith("." + domain) else f"{name}.{domain}"


def reverse_name(address: str) -> str:
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa"


def _ipv4(text: str) -> str | None:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        return None


def build_snapshot(
    domain: str,
    ttl: int,
    records: Iterable[tuple[str, str]],
    ns_address: str | None = None,
    serial: int = 1,
) -> Snapshot:
    """Records with an empty name or an address that is not IPv4 are skipped."""
    dom = normalize(domain)
    names: dict[str, set[str]] = {}
    for hostname, address in records:
        ip = _ipv4(address)
        if ip is None or not normalize(hostname):
            continue
        names.setdefault(fqdn(hostname, dom), set()).add(ip)
    ns_ip = _ipv4(ns_address) if ns_address else None
    if ns_ip is not None and f"ns.{dom}" not in names:
        names[f"ns.{dom}"] = {ns_ip}
    ptrs: dict[str, set[str]] = {}
    for name, ips in names.items():
        for ip in ips:
            ptrs.setdefault(reverse_name(ip), set()).add(name)
    return Snapshot(
        domain=dom,
        ttl=ttl,
        serial=serial,
        names={n: tuple(sorted(ips)) for n, ips in names.items()},
        ptrs={r: tuple(sorted(ns)) for r, ns in ptrs.items()},
        reverse_zones=frozenset(r.split(".", 1)[1] for r in ptrs),
        ns_address=ns_ip,
    )


def _zone_of(snap: Snapshot, name: str) -> str | None:
    if name == snap.domain or name.endswith("." + snap.domain):
        return snap.domain
    if name.endswith(".in-addr.arpa"):
        for zone in snap.reverse_zones:
            if name == zone or name.endswith("." + zone):
                return zone
    return None


def _soa(snap: Snapshot, zone: str) -> Record:
    fields = (snap.ns_name, f"hostmaster.{snap.domain}", snap.serial, *SOA_TIMERS, snap.ttl)
    return (zone, "SOA", fields)


def _glue(snap: Snapshot) -> tuple[Record, ...]:
    return tuple((snap.ns_name, "A", ip) for ip in snap.names.get(snap.ns_name, ()))


def lookup(snap: Snapshot, qname: str, qtype: str) -> Answer | None:
    """Answer ``qname``/``qtype`` (``A``, ``PTR``, ``ANY``, ...) or None if not ours."""
    name = normalize(qname)
    zone = _zone_of(snap, name)
    if zone is None:
        return None
    found: list[Record] = []
    if name == zone:
        found.append(_soa(snap, zone))
        found.append((zone, "NS", snap.ns_name))
    found.extend((name, "A", ip) for ip in snap.names.get(name, ()))
    found.extend((name, "PTR", host) for host in snap.ptrs.get(name, ()))
    exists = bool(found) or any(n.endswith("." + name) for n in (*snap.names, *snap.ptrs))
    if not exists:
        return Answer("NXDOMAIN", authority=(_soa(snap, zone),))
    wanted = tuple(r for r in found if qtype in ("ANY", r[1]))
    if not wanted:  # the name exists, not with this type: NODATA
        return Answer("NOERROR", authority=(_soa(snap, zone),))
    if qtype == "NS":
        return Answer("NOERROR", wanted, additional=_glue(snap))
    return Answer("NOERROR", wanted)
