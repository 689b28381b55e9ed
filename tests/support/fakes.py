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
from ipaddress import IPv4Address
from typing import Any, NoReturn

from provisioner.domain import (
    BUNDLE_KINDS,
    Bundle,
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
from provisioner.store import Store


def _users(kind: str, keys: Sequence[str]) -> str:
    return f"{kind} {', '.join(sorted(keys))}"


class MemoryStore:
    """The store in dictionaries; one lock makes every call atomic."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._nodes: dict[str, Node] = {}
        self._profiles: dict[str, Profile] = {}
        self._releases: dict[str, Release] = {}  # by ref NAME:VERSION
        self._bundles: dict[str, Bundle] = {}
        self._events: list[Event] = []
        self._tokens: dict[int, Token] = {}
        self._leases: dict[IPv4Address, Lease] = {}
        self._ids = itertools.count(1)
        self._stamp = 0

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
        with self._lock:
            old = self._nodes.get(mac)
            new = change(old)
            if new.mac != mac:
                raise ValidationError("mac", "a node's MAC cannot change")
            self._check_refs(new.release, new.bundle)
            if new.profile is not None and new.profile not in self._profiles:
                raise ValidationError("profile", f"profile {new.profile!r} does not exist")
            if new.hostname is not None:
                other = next(
                    (n.mac for n in self._nodes.values() if n.hostname == new.hostname), mac
                )
                if other != mac:
                    raise Conflict(f"hostname {new.hostname!r} is already used by node {other}")
            self._nodes[mac] = new
            for event in events:
                self._add_event(event)
            self._stamp += 1
            return new, old is None

    def delete_node(self, mac: str) -> None:
        with self._lock:
            if self._nodes.pop(mac, None) is None:
                raise NotFound("node", mac)
            self._stamp += 1

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
        self, name: str, change: Callable[[Profile | None], Profile]
    ) -> tuple[Profile, bool]:
        with self._lock:
            old = self._profiles.get(name)
            new = change(old)
            if new.name != name:
                raise ValidationError("name", "a profile's name cannot change")
            self._check_refs(new.release, new.bundle)
            self._profiles[name] = new
            self._stamp += 1
            return new, old is None

    def delete_profile(self, name: str) -> None:
        with self._lock:
            if name not in self._profiles:
                raise NotFound("profile", name)
            users = [n.mac for n in self._nodes.values() if n.profile == name]
            if users:
                raise Conflict(f"profile {name!r} is still used by {_users('node', users)}")
            del self._profiles[name]
            self._stamp += 1

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

    def add_release(self, release: Release) -> Release:
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
            return release

    def delete_release(self, name: str, version: str) -> None:
        ref = f"{name}:{version}"
        with self._lock:
            if ref not in self._releases:
                raise NotFound("release", ref)
            self._refuse_if_used(f"release {ref!r}", lambda x: x.release == ref)
            del self._releases[ref]

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
        self, name: str, change: Callable[[Bundle | None], Bundle]
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
            return new, old is None

    def delete_bundle(self, name: str) -> None:
        with self._lock:
            if name not in self._bundles:
                raise NotFound("bundle", name)
            self._refuse_if_used(f"bundle {name!r}", lambda x: x.bundle == name)
            del self._bundles[name]

    # -- events ------------------------------------------------------------------------------
    def _add_event(self, event: Event) -> Event:
        stored = replace(event, id=next(self._ids))
        self._events.append(stored)
        return stored

    def add_event(self, event: Event) -> Event:
        with self._lock:
            return self._add_event(event)

    def list_events(
        self, mac: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> list[Event]:
        with self._lock:
            found = [
                e
                for e in reversed(self._events)
                if (mac is None or e.mac == mac)
                and (before_id is None or (e.id is not None and e.id < before_id))
            ]
            return found[:limit]

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

    def nodes_stamp(self) -> str:
        with self._lock:
            return f"{len(self._nodes)};{len(self._profiles)};{self._stamp}"

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
