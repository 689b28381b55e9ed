"""Where the DNS records come from: one small interface, ``() -> [(host name, IPv4)]``.

Today the nodes of the store give their host name and the effective ``ip.``
dot-option of their boot spec; the DHCP leases can be chained in later::

    records = lambda: [*node_records(service), *leases.dns_records()]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from provisioner.errors import ValidationError
from provisioner.service import Service

RecordSource = Callable[[], Iterable[tuple[str, str]]]


def node_records(service: Service) -> list[tuple[str, str]]:
    """``(hostname, ip)`` of every node that has both. One store read for the
    catalogue, one for the nodes; a node whose boot spec is broken is skipped."""
    catalog = service.catalog()
    found = []
    for node in service.store.list_nodes():
        if not node.hostname:
            continue
        try:
            ip = service.bootspec(node, catalog).cmdline.get("ip")
        except ValidationError:
            continue
        if ip:
            found.append((node.hostname, ip))
    return found


def static_records(pairs: Iterable[str]) -> RecordSource:
    """``NAME=IP`` strings (the standalone daemon's ``--record``) as a source."""
    records = [tuple(p.split("=", 1)) for p in pairs if "=" in p]
    return lambda: [(name, ip) for name, ip in records]
