"""The one narrow interface between the DHCP daemon and the rest: what it reads
(the known nodes and their IP profiles, the leases at start-up) and what it
writes (leases). The daemon calls it from a worker thread, never per packet:
it polls :meth:`DhcpBackend.stamp` every few seconds and reloads
:meth:`DhcpBackend.nodes` only when the stamp changed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from ipaddress import IPv4Address
from typing import Protocol

from provisioner.dhcp.leases import Lease, NodeNet, node_net
from provisioner.errors import ValidationError
from provisioner.service import Service

log = logging.getLogger("provisioner.dhcp")


class DhcpBackend(Protocol):
    def stamp(self) -> str:
        """Cheap; changes whenever :meth:`nodes` would return something else."""
        ...

    def nodes(self) -> list[tuple[str, NodeNet]]:
        """Every known node (MAC) with its effective network profile."""
        ...

    def load_leases(self) -> list[Lease]: ...

    def save_leases(self, leases: Sequence[Lease], forget: Sequence[IPv4Address]) -> None: ...


class ServiceBackend:
    """:class:`DhcpBackend` over the application service and its store."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def stamp(self) -> str:
        return self.service.store.nodes_stamp()

    def nodes(self) -> list[tuple[str, NodeNet]]:
        snap = self.service.view.snapshot()
        out = []
        for node in snap.nodes.values():
            try:
                spec = self.service.bootspec(node, snap.catalog, agent=False)
            except ValidationError as exc:
                log.warning("DHCP: node %s skipped: %s", node.mac, exc.message)
                continue
            out.append((node.mac, node_net(spec.cmdline, node.hostname)))
        return out

    def load_leases(self) -> list[Lease]:
        return self.service.store.list_leases()

    def save_leases(self, leases: Sequence[Lease], forget: Sequence[IPv4Address]) -> None:
        self.service.store.save_leases(leases, forget)
