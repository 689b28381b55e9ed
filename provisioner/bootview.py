"""The boot read model: one typed snapshot of what booting boxes need.

Every boot answer -- a pxelinux file or iPXE script over HTTP or TFTP, a DHCP
reservation, a DNS record, the installer's manifest -- is a pure function of
the nodes, profiles, releases and bundles. :class:`BootView` keeps them as one
immutable :class:`BootSnapshot` and reloads it (one session, see
:meth:`~provisioner.store.Store.load_boot`) only when the store's change stamp
moved: in the steady state a request costs one primary-key read of the stamp,
or none while the snapshot is younger than ``ttl``. The stamp is bumped in the
same transaction as every write to those four tables, by any process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from provisioner.bootspec import effective_bundle_name, effective_release
from provisioner.domain import Bundle, Node, Profile, Release
from provisioner.store import BootRecords, Store


@dataclass(frozen=True)
class Catalog:
    """Profiles and bundles by name: what a node's boot spec is merged from."""

    profiles: Mapping[str, Profile]
    bundles: Mapping[str, Bundle]

    def with_profile(self, profile: Profile) -> Catalog:
        """This catalogue as it would be with ``profile`` saved."""
        return Catalog({**self.profiles, profile.name: profile}, self.bundles)


@dataclass(frozen=True)
class Effective:
    """What one node installs: its profile, and its own or its profile's release and bundle."""

    node: Node
    profile: Profile | None
    release: Release | None
    bundle: Bundle | None


@dataclass(frozen=True)
class BootSnapshot:
    stamp: str
    nodes: Mapping[str, Node]  # by MAC
    catalog: Catalog
    releases: Mapping[str, Release]  # by NAME:VERSION

    @classmethod
    def of(cls, records: BootRecords) -> BootSnapshot:
        return cls(
            stamp=records.stamp,
            nodes=MappingProxyType({n.mac: n for n in records.nodes}),
            catalog=Catalog(
                MappingProxyType({p.name: p for p in records.profiles}),
                MappingProxyType({b.name: b for b in records.bundles}),
            ),
            releases=MappingProxyType({r.ref: r for r in records.releases}),
        )

    def node(self, mac: str) -> Node | None:
        return self.nodes.get(mac)

    def effective(self, node: Node) -> Effective:
        """``node``'s profile, release and bundle as this snapshot has them (a
        reference the snapshot lacks is None, as for a node without one)."""
        profile = self.catalog.profiles.get(node.profile) if node.profile else None
        ref = effective_release(node, profile)
        release = self.releases.get(ref) if ref else None
        bundle_name = effective_bundle_name(node, profile)
        bundle = self.catalog.bundles.get(bundle_name) if bundle_name else None
        return Effective(node, profile, release, bundle)


class BootView:
    """Thread-safe; one per process (the :class:`~provisioner.service.Service` owns it)."""

    def __init__(
        self, store: Store, ttl: float = 0.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: BootSnapshot | None = None
        self._checked = 0.0

    def snapshot(self, max_age: float | None = None) -> BootSnapshot:
        """The current snapshot: the stamp checked (unless checked within
        ``max_age``, by default ``ttl``), everything reloaded when it moved."""
        ttl = self._ttl if max_age is None else max_age
        with self._lock:
            now = self._clock()
            snap = self._snapshot
            if snap is not None and ttl > 0 and now - self._checked < ttl:
                return snap
            if snap is None or self._store.nodes_stamp() != snap.stamp:
                snap = self._snapshot = BootSnapshot.of(self._store.load_boot())
            self._checked = now
            return snap

    def invalidate(self) -> None:
        """This process wrote: check the stamp on the next read, whatever the ttl."""
        with self._lock:
            self._checked = float("-inf")
