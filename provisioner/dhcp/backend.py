"""The one narrow interface between the DHCP daemon and the rest: what it reads
(the known nodes and their IP profiles, the leases at start-up) and what it
writes (leases); :class:`provisioner.daemons.ServiceBackend` implements it over
the application. The daemon calls it from a worker thread, never per packet: it
polls :meth:`DhcpBackend.stamp` every few seconds and reloads
:meth:`DhcpBackend.nodes` only when the stamp changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address
from typing import Protocol

from provisioner.dhcp.leases import NodeNet
from provisioner.domain import Lease


class DhcpBackend(Protocol):
    def stamp(self) -> str:
        """Cheap; changes whenever :meth:`nodes` would return something else."""
        ...

    def nodes(self) -> list[tuple[str, NodeNet]]:
        """Every known node (MAC) with its effective network profile."""
        ...

    def load_leases(self) -> list[Lease]: ...

    def save_leases(self, leases: Sequence[Lease], forget: Sequence[IPv4Address]) -> None: ...
