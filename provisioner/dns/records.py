"""Where the DNS records come from: one small interface, ``() -> [(host name, IPv4)]``.

The nodes of the store give their host name and the effective ``ip.``
dot-option of their boot spec, or the address the full-mode DHCP server leased.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from provisioner.errors import ValidationError
from provisioner.service import Service

RecordSource = Callable[[], Iterable[tuple[str, str]]]


def node_records(service: Service, *, leases: bool = False) -> list[tuple[str, str]]:
    """``(hostname, ip)`` of every node that has both: its ``ip.`` dot-option,
    else (with ``leases``) the address our full-mode DHCP leased it. Nodes and
    catalogue from the boot read model, leases from the store; a node whose boot
    spec is broken is skipped."""
    snap = service.view.snapshot()
    leased: dict[str, str] = {}
    if leases:
        now = time.time()
        leased = {lease.mac: str(lease.ip) for lease in service.store.list_leases()
                  if lease.expires > now}  # fmt: skip
    found = []
    for node in snap.nodes.values():
        if not node.hostname:
            continue
        try:
            ip = service.bootspec(node, snap.catalog, agent=False).cmdline.get("ip")
        except ValidationError:
            continue
        ip = ip or leased.get(node.mac)
        if ip:
            found.append((node.hostname, ip))
    return found


def static_records(pairs: Iterable[str]) -> RecordSource:
    """``NAME=IP`` strings (the standalone daemon's ``--record``) as a source."""
    records = [tuple(p.split("=", 1)) for p in pairs if "=" in p]
    return lambda: [(name, ip) for name, ip in records]
