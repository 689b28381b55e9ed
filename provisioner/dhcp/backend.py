"""The one narrow interface between the DHCP daemon and the rest: what it reads
(the known nodes and their IP profiles, the leases at start-up) and what it
writes (leases, the other DHCP servers heard);
:class:`provisioner.daemons.ServiceBackend` implements it over the application.
The daemon calls it from a worker thread, never per packet: it
polls :meth:`DhcpBackend.stamp` every few seconds and reloads
:meth:`DhcpBackend.nodes` only when the stamp changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address
from typing import Protocol

from provisioner.dhcp.leases import NodeNet
from provisioner.dhcp.observe import Sighting
from provisioner.domain import DhcpServerSeen, Lease


class DhcpBackend(Protocol):
    def stamp(self) -> str:
        """Cheap; changes whenever :meth:`nodes` would return something else."""
        ...

    def nodes(self) -> list[tuple[str, NodeNet]]:
        """Every known node (MAC) with its effective network profile."""
        ...

    def load_leases(self) -> list[Lease]: ...

    def save_leases(self, leases: Sequence[Lease], forget: Sequence[IPv4Address]) -> None: ...

    def dhcp_servers(self) -> list[DhcpServerSeen]:
        """The other DHCP servers recorded so far."""
        ...

    def record_dhcp_servers(self, sightings: Mapping[str, Sequence[Sighting]]) -> None:
        """Merge the sightings (by server id, oldest first) into the records."""
        ...
