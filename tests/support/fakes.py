"""Store fakes for handler tests (as matchbox's ``storage/testfakes``).

:class:`MemoryStore` is the whole :class:`provisioner.store.Store` in memory,
with the same rules as the SQL store (references checked, things in use not
deleted, unique hostnames and release contents), so a handler test needs no
database. :class:`BrokenStore` is a database that is down: every method raises
:class:`~provisioner.errors.StoreError`.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from ipaddress import IPv4Address
from typing import Any, NoReturn

from provisioner.domain import (
    BUNDLE_KINDS,
    Bundle,
    DhcpServerSeen,
    Event,
    Lease,
    Node,
    Profile,
    Release,
    Role,
    Token,
    parse_release_ref,
    utcnow,
)
from provisioner.errors import Conflict, NotFound, StoreError, ValidationError
from provisioner.store import BootRecords, BootStep, Change, Store
from tests.support.fake_accounts import MemoryAccounts


def _users(kind: str, keys: Sequence[str]) -> str:
    return f"{kind} {', '.join(sorted(keys))}"


class MemoryStore(MemoryAccounts):
    """The store in dictionaries; one lock makes every call atomic."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self._nodes: dict[str, Node] = {}
        self._profiles: dict[str, Profile] = {}
        self._releases: dict[str, Release] = {}  # by ref NAME:VERSION
        self._bundles: dict[str, Bundle] = {}
        self._events: list[Event] = []
        self._tokens: dict[int, Token] = {}
        self._leases: dict[IPv4Address, Lease] = {}
        self._dhcp_servers: dict[str, DhcpServerSeen] = {}
        self._ids = itertools.count(1)
        self._stamp = 0
        self._bindings: dict[str, tuple[str, datetime]] = {}  # ip -> (mac, seen)
        self._pending: list[tuple[str, BootStep]] = []  # (ip, step), oldest first
        self._milestones: set[tuple[str, str, str]] = set()  # (mac, kind, window)

    # -- references --------------------------------------------------------------------------
    def _check_refs(self, release: str | None, bundle: str | None) -> None:
        if release is not None:
            parse_release_ref(release, "release")
            if release not in self._releases:
                raise ValidationError("release", f"release {release!r} does not exist")
        if bundle is not None and bundle not in self._bundles:
            raise ValidationError("bundle", f"bundle {bundle!r} does not exist")

    def _refuse_if_used(self, what: str, used: Callable[[Node | Profile], bool]) -> None:
        nodes = [n.mac for n in self._nodes.values() if used(n)]
        profiles = [p.name for p in self._profiles.values() if used(p)]
        who = ([_users("node", nodes)] if nodes else []) + (
            [_users("profile", profiles)] if profiles else []
        )
        if who:
            raise Conflict(f"{what} is still used by {'; '.join(who)}")

    # -- nodes -------------------------------------------------------------------------------
    def get_node(self, mac: str) -> Node:
        node = self.find_node(mac)
        if node is None:
            raise NotFound("node", mac)
        return node

    def find_node(self, mac: str) -> Node | None:
        with self._lock:
            return self._nodes.get(mac)

    def find_node_by_token(self, token: str) -> Node | None:
        with self._lock:
            return next((n for n in self._nodes.values() if n.build_token == token), None)

    def list_nodes(self) -> list[Node]:
        with self._lock:
            return [self._nodes[mac] for mac in sorted(self._nodes)]

    def change_node(
        self, mac: str, change: Callable[[Node | None], Node], events: Sequence[Event] = ()
    ) -> tuple[Node, bool]:
        return self.change_nodes([(mac, change)], events)[0]

    def change_nodes(
        self,
        changes: Sequence[tuple[str, Callable[[Node | None], Node]]],
        events: Sequence[Event] = (),
    ) -> list[tuple[Node, bool]]:
        with self._lock:  # all or none: check every change before storing one
            staged: dict[str, Node] = {}
            results = []
            for mac, change in changes:
                old = staged.get(mac, self._nodes.get(mac))
                new = change(old)
                if new.mac != mac:
                    raise ValidationError("mac", "a node's MAC cannot change")
                self._check_refs(new.release, new.bundle)
                if new.profile is not None and new.profile not in self._profiles:
                    raise ValidationError("profile", f"profile {new.profile!r} does not exist")
                if new.hostname is not None:
                    other = next(
                        (
                            n.mac
                            for n in {**self._nodes, **staged}.values()
                            if n.hostname == new.hostname and n.mac != mac
                        ),
                        None,
                    )
                    if other is not None:
                        raise Conflict(f"hostname {new.hostname!r} is already used by node {other}")
                staged[mac] = new
                results.append((new, old is None))
            self._nodes.update(staged)
            for event in events:
                self._add_event(event)
            self._stamp += 1
            return results

    def delete_node(self, mac: str, events: Sequence[Event] = ()) -> None:
        with self._lock:
            if self._nodes.pop(mac, None) is None:
                raise NotFound("node", mac)
            self._events_and_stamp(events)

    # -- profiles ----------------------------------------------------------------------------
    def get_profile(self, name: str) -> Profile:
        with self._lock:
            if name not in self._profiles:
                raise NotFound("profile", name)
            return self._profiles[name]

    def list_profiles(self) -> list[Profile]:
        with self._lock:
            return [self._profiles[name] for name in sorted(self._profiles)]

    def change_profile(
        self,
        name: str,
        change: Callable[[Profile | None], Profile],
        events: Sequence[Event] = (),
    ) -> tuple[Profile, bool]:
        with self._lock:
            old = self._profiles.get(name)
            new = change(old)
            if new.name != name:
                raise ValidationError("name", "a profile's name cannot change")
            self._check_refs(new.release, new.bundle)
            self._profiles[name] = new
            self._events_and_stamp(events)
            return new, old is None

    def change_profiles(
        self,
        changes: Sequence[tuple[str, Callable[[Profile | None], Profile]]],
        events: Sequence[Event] = (),
    ) -> list[tuple[Profile, bool]]:
        with self._lock:  # all or none: check every change before storing one
            staged: dict[str, Profile] = {}
            results = []
            for name, change in changes:
                old = staged.get(name, self._profiles.get(name))
                new = change(old)
                if new.name != name:
                    raise ValidationError("name", "a profile's name cannot change")
                self._check_refs(new.release, new.bundle)
                staged[name] = new
                results.append((new, old is None))
            self._profiles.update(staged)
            self._events_and_stamp(events)
            return results

    def delete_profile(self, name: str, events: Sequence[Event] = ()) -> None:
        with self._lock:
            if name not in self._profiles:
                raise NotFound("profile", name)
            users = [n.mac for n in self._nodes.values() if n.profile == name]
            if users:
                raise Conflict(f"profile {name!r} is still used by {_users('node', users)}")
            del self._profiles[name]
            self._events_and_stamp(events)

    # -- releases ----------------------------------------------------------------------------
    def get_release(self, name: str, version: str) -> Release:
        with self._lock:
            ref = f"{name}:{version}"
            if ref not in self._releases:
                raise NotFound("release", ref)
            return self._releases[ref]

    def list_releases(self) -> list[Release]:
        with self._lock:
            return sorted(self._releases.values(), key=lambda r: r.name)  # then as added

    def add_release(self, release: Release, events: Sequence[Event] = ()) -> Release:
        with self._lock:
            if release.ref in self._releases:
                raise Conflict(f"release {release.ref!r} already exists")
            same = next((r for r in self._releases.values() if r.sha256 == release.sha256), None)
            if same is not None:
                raise Conflict(
                    f"release {release.ref!r} has the same content as release "
                    f"{same.ref} (sha256 {release.sha256})"
                )
            self._releases[release.ref] = release
            self._events_and_stamp(events)
            return release

    def delete_release(self, name: str, version: str, events: Sequence[Event] = ()) -> None:
        ref = f"{name}:{version}"
        with self._lock:
            if ref not in self._releases:
                raise NotFound("release", ref)
            self._refuse_if_used(f"release {ref!r}", lambda x: x.release == ref)
            del self._releases[ref]
            self._events_and_stamp(events)

    # -- bundles -----------------------------------------------------------------------------
    def get_bundle(self, name: str) -> Bundle:
        with self._lock:
            if name not in self._bundles:
                raise NotFound("bundle", name)
            return self._bundles[name]

    def list_bundles(self) -> list[Bundle]:
        with self._lock:
            return [self._bundles[name] for name in sorted(self._bundles)]

    def change_bundle(
        self,
        name: str,
        change: Callable[[Bundle | None], Bundle],
        events: Sequence[Event] = (),
    ) -> tuple[Bundle, bool]:
        with self._lock:
            old = self._bundles.get(name)
            new = change(old)
            if new.name != name:
                raise ValidationError("name", "a bundle's name cannot change")
            kinds = [f.kind for f in new.files]
            if len(set(kinds)) != len(kinds) or not set(kinds) <= set(BUNDLE_KINDS):
                raise ValidationError("files", "a bundle has at most one file of each kind")
            order = list(BUNDLE_KINDS)
            new = replace(new, files=tuple(sorted(new.files, key=lambda f: order.index(f.kind))))
            self._bundles[name] = new
            self._events_and_stamp(events)
            return new, old is None

    def delete_bundle(self, name: str, events: Sequence[Event] = ()) -> None:
        with self._lock:
            if name not in self._bundles:
                raise NotFound("bundle", name)
            self._refuse_if_used(f"bundle {name!r}", lambda x: x.bundle == name)
            del self._bundles[name]
            self._events_and_stamp(events)

    # -- events ------------------------------------------------------------------------------
    def _events_and_stamp(self, events: Sequence[Event]) -> None:
        for event in events:
            self._add_event(event)
        self._stamp += 1

    def _add_event(self, event: Event) -> Event:
        stored = replace(event, id=next(self._ids))
        self._events.append(stored)
        return stored

    def add_event(self, event: Event) -> Event:
        with self._lock:
            return self._add_event(event)

    def list_events(
        self,
        mac: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[Event]:
        with self._lock:
            found = [
                e
                for e in reversed(self._events)
                if (mac is None or e.mac == mac)
                and (before_id is None or (e.id is not None and e.id < before_id))
                and (after_id is None or (e.id is not None and e.id > after_id))
            ]
            return found[-limit:] if after_id is not None else found[:limit]

    # -- tokens ------------------------------------------------------------------------------
    def add_token(self, name: str, role: Role, secret_hash: str) -> Token:
        with self._lock:
            token = Token(next(self._ids), name, role, secret_hash, utcnow())
            self._tokens[token.id or 0] = token
            return token

    def find_token(self, secret_hash: str) -> Token | None:
        with self._lock:
            return next((t for t in self._tokens.values() if t.secret_hash == secret_hash), None)

    def list_tokens(self) -> list[Token]:
        with self._lock:
            return [self._tokens[i] for i in sorted(self._tokens)]

    def delete_token(self, token_id: int) -> None:
        with self._lock:
            if self._tokens.pop(token_id, None) is None:
                raise NotFound("token", str(token_id))

    # -- DHCP leases and change stamp --------------------------------------------------------
    def list_leases(self) -> list[Lease]:
        with self._lock:
            return list(self._leases.values())

    def save_leases(self, leases: Sequence[Lease], forget: Sequence[IPv4Address] = ()) -> None:
        with self._lock:
            for ip in forget:
                self._leases.pop(ip, None)
            for lease in leases:
                self._leases[lease.ip] = lease

    def list_dhcp_servers(self) -> list[DhcpServerSeen]:
        with self._lock:
            return [self._dhcp_servers[k] for k in sorted(self._dhcp_servers)]

    def change_dhcp_server(self, server_id: str, change: Change[DhcpServerSeen]) -> DhcpServerSeen:
        with self._lock:
            new = change(self._dhcp_servers.get(server_id))
            self._dhcp_servers[server_id] = new
            return new

    def nodes_stamp(self) -> str:
        with self._lock:
            return str(self._stamp)

    def load_boot(self) -> BootRecords:
        with self._lock:
            return BootRecords(
                stamp=str(self._stamp),
                nodes=tuple(self._nodes[mac] for mac in sorted(self._nodes)),
                profiles=tuple(self._profiles[n] for n in sorted(self._profiles)),
                releases=tuple(self._releases.values()),
                bundles=tuple(self._bundles[n] for n in sorted(self._bundles)),
            )

    # -- boot timeline -----------------------------------------------------------------------
    def bind_ip(
        self, ip: str, mac: str, at: datetime, *, stale: datetime, limit: int
    ) -> list[BootStep]:
        with self._lock:
            if ip not in self._bindings:
                self._bindings = {k: v for k, v in self._bindings.items() if v[1] >= stale}
            if ip in self._bindings or len(self._bindings) < limit:
                self._bindings[ip] = (mac, at)
            return self._take(ip)

    def ip_binding(self, ip: str, since: datetime) -> str | None:
        with self._lock:
            found = self._bindings.get(ip)
            return found[0] if found and found[1] >= since else None

    def add_pending(
        self, ip: str, step: BootStep, *, stale: datetime, per_ip: int, limit: int
    ) -> bool:
        with self._lock:
            self._pending = [(i, s) for i, s in self._pending if s.at >= stale]
            mine = sum(1 for i, _ in self._pending if i == ip)
            if mine >= per_ip or len(self._pending) >= limit:
                return False
            self._pending.append((ip, replace(step, detail=step.detail[:255])))
            return True

    def take_pending(self, ip: str) -> list[BootStep]:
        with self._lock:
            return self._take(ip)

    def _take(self, ip: str) -> list[BootStep]:  # holding the lock
        taken = [s for i, s in self._pending if i == ip]
        self._pending = [(i, s) for i, s in self._pending if i != ip]
        return sorted(taken, key=lambda s: s.at)

    def add_milestone(self, window: str, event: Event) -> bool:
        if event.mac is None:
            raise ValueError("a milestone belongs to a node")
        key = (event.mac, event.kind.removeprefix("boot."), window)
        with self._lock:
            if key in self._milestones:
                return False
            self._milestones.add(key)
            self._add_event(event)
            return True

    def close(self) -> None:
        pass


class BrokenStore(MemoryStore):
    """A store whose database is down: every method of the Store protocol raises
    :class:`StoreError` (the methods are set below, from the protocol itself)."""


#: the public methods of the Store protocol (what every store must implement)
STORE_METHODS = sorted(
    name for name, value in vars(Store).items() if callable(value) and not name.startswith("_")
)


def _broken(name: str) -> Callable[..., NoReturn]:
    def method(self: BrokenStore, *args: Any, **kwargs: Any) -> NoReturn:
        raise StoreError(f"database unavailable (BrokenStore.{name})")

    method.__name__ = name
    return method


for _name in STORE_METHODS:
    setattr(BrokenStore, _name, _broken(_name))
