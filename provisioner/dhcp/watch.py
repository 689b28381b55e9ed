"""The daemon's ear for other DHCP servers: every reply heard on port 68 and
every client request heard on 67 goes through :class:`Watch`, which keeps the
sightings until the housekeeping hands them to the backend, and warns (once per
server) when one competes with this server's mode
(:func:`provisioner.dhcp.observe.conflicts`). Only ever touched from the event
loop; nothing here sends a packet.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import reduce
from ipaddress import IPv4Address

from provisioner.dhcp.observe import (
    MAX_SERVERS,
    NetbootXids,
    Sighting,
    chosen,
    conflicts,
    merge,
    sighting,
    warning,
)
from provisioner.dhcp.options import Opt
from provisioner.dhcp.packet import Packet
from provisioner.domain import DhcpServerSeen

log = logging.getLogger("provisioner.dhcp")

#: sightings kept between two flushes; more are counted, not kept
MAX_PENDING = 256


class Watch:
    def __init__(self, mode: str, own: Iterable[str], known: Iterable[DhcpServerSeen]) -> None:
        self.mode = mode
        self.own = frozenset(own)
        self._own_ids = frozenset(IPv4Address(a).packed for a in self.own)
        self.netboot = NetbootXids()
        self.servers = {s.server_id: s for s in known}
        self.pending: list[Sighting] = []
        self.missed = 0
        self._warned: set[str] = set()
        self._full_logged = False

    def warn_known(self) -> None:
        """At start-up: the recorded servers that compete with this mode."""
        for server in self.servers.values():
            self._warn(server)

    def request(self, packet: Packet, now: float) -> None:
        self.netboot.heard(packet)
        named = packet.options.get(Opt.SERVER_ID)
        if named is not None and named not in self._own_ids:  # cheap: every request passes
            self._record(chosen(packet, self.netboot, datetime.fromtimestamp(now, UTC)))

    def reply(self, packet: Packet, source: str, now: float) -> None:
        self._record(sighting(packet, source, self.netboot, datetime.fromtimestamp(now, UTC)))

    def _record(self, seen: Sighting | None) -> None:
        if seen is None or seen.server_id in self.own or seen.source in self.own:
            return
        old = self.servers.get(seen.server_id)
        if old is None and len(self.servers) >= MAX_SERVERS:
            if not self._full_logged:
                log.warning("DHCP: %d other servers recorded; ignoring new ones", MAX_SERVERS)
                self._full_logged = True
            return
        server = merge(old, seen)
        self.servers[seen.server_id] = server
        if old is None:
            how = "chosen by a client" if seen.message == "REQUEST" else f"from {seen.source}"
            log.info("DHCP: another server heard: %s (%s)", seen.server_id, how)
        self._warn(server)
        if len(self.pending) < MAX_PENDING:
            self.pending.append(seen)
        else:
            self.missed += 1

    def _warn(self, server: DhcpServerSeen) -> None:
        if server.server_id not in self._warned and conflicts(server, self.mode):
            self._warned.add(server.server_id)
            log.warning("DHCP: %s", warning(server))

    def take(self) -> dict[str, list[Sighting]]:
        """The pending sightings by server id (and forget them)."""
        taken: dict[str, list[Sighting]] = {}
        for seen in self.pending:
            taken.setdefault(seen.server_id, []).append(seen)
        self.pending = []
        if self.missed:
            log.info("DHCP: %d replies of other servers not recorded (too many)", self.missed)
            self.missed = 0
        return taken


def merged(old: DhcpServerSeen | None, sightings: list[Sighting]) -> DhcpServerSeen:
    """``old`` after each of ``sightings``, in order (the store's read-modify-write)."""
    first = merge(old, sightings[0])
    return reduce(merge, sightings[1:], first)
