"""The one store interface. Everything that keeps state goes through it.

Writes that depend on what is stored are *read-modify-write* calls: the store
reads the current value, calls ``change(current)`` and writes the result in one
transaction that no concurrent writer can interleave (SQLite ``BEGIN
IMMEDIATE``; PostgreSQL ``SELECT ... FOR UPDATE``). ``change`` receives ``None``
when the key does not exist yet, and may raise to abort without writing.

References are checked by the store inside that transaction: a node or profile
naming a profile, release or bundle that does not exist raises
:class:`~provisioner.errors.ValidationError` naming the field; deleting
something still in use raises :class:`~provisioner.errors.Conflict` saying who
uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Address
from typing import Protocol, TypeVar

from provisioner.domain import (
    Bundle,
    DhcpServerSeen,
    Event,
    Lease,
    LoginSession,
    Node,
    Profile,
    Release,
    Role,
    Token,
    User,
)

T = TypeVar("T")

#: A read-modify-write's function: the stored object (None when there is none
#: yet) -> what to store instead; it may raise to write nothing.
Change = Callable[[T | None], T]


@dataclass(frozen=True, slots=True)
class BootRecords:
    """Everything boot reads, in one read (:mod:`provisioner.bootview`). ``stamp``
    was read first: the rows are at least as new as it."""

    stamp: str
    nodes: tuple[Node, ...]
    profiles: tuple[Profile, ...]
    releases: tuple[Release, ...]
    bundles: tuple[Bundle, ...]


@dataclass(frozen=True, slots=True)
class BootStep:
    """A boot step seen from an IP whose MAC was not known yet (:mod:`provisioner.bootlog`)."""

    kind: str
    detail: str
    at: datetime


class Store(Protocol):
    # -- nodes ----------------------------------------------------------------
    def get_node(self, mac: str) -> Node:
        """Raises NotFound."""
        ...

    def find_node(self, mac: str) -> Node | None: ...

    def find_node_by_token(self, token: str) -> Node | None:
        """The node whose install window holds this build token."""
        ...

    def list_nodes(self) -> list[Node]: ...

    def change_node(
        self, mac: str, change: Change[Node], events: Sequence[Event] = ()
    ) -> tuple[Node, bool]:
        """Atomic read-modify-write; returns the stored node and whether it is new.
        ``events`` are recorded in the same transaction."""
        ...

    def change_nodes(
        self, changes: Sequence[tuple[str, Change[Node]]], events: Sequence[Event] = ()
    ) -> list[tuple[Node, bool]]:
        """:meth:`change_node` for many, in one transaction: all or none (a rack import)."""
        ...

    def delete_node(self, mac: str, events: Sequence[Event] = ()) -> None: ...

    # -- profiles ---------------------------------------------------------------
    def get_profile(self, name: str) -> Profile: ...

    def list_profiles(self) -> list[Profile]: ...

    def change_profile(
        self, name: str, change: Change[Profile], events: Sequence[Event] = ()
    ) -> tuple[Profile, bool]: ...

    def change_profiles(
        self, changes: Sequence[tuple[str, Change[Profile]]], events: Sequence[Event] = ()
    ) -> list[tuple[Profile, bool]]:
        """:meth:`change_profile` for many, in one transaction: all or none (an import)."""
        ...

    def delete_profile(self, name: str, events: Sequence[Event] = ()) -> None: ...

    # -- releases -----------------------------------------------------------------
    def get_release(self, name: str, version: str) -> Release: ...

    def list_releases(self) -> list[Release]: ...

    def add_release(self, release: Release, events: Sequence[Event] = ()) -> Release:
        """Raises Conflict when NAME:VERSION exists."""
        ...

    def delete_release(self, name: str, version: str, events: Sequence[Event] = ()) -> None: ...

    # -- bundles --------------------------------------------------------------------
    def get_bundle(self, name: str) -> Bundle: ...

    def list_bundles(self) -> list[Bundle]: ...

    def change_bundle(
        self, name: str, change: Change[Bundle], events: Sequence[Event] = ()
    ) -> tuple[Bundle, bool]: ...

    def delete_bundle(self, name: str, events: Sequence[Event] = ()) -> None: ...

    # -- events -----------------------------------------------------------------------
    def add_event(self, event: Event) -> Event: ...

    def list_events(
        self,
        mac: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[Event]:
        """Newest first: the ``limit`` newest (below ``before_id``), or with
        ``after_id`` the ``limit`` oldest above it (a follower's next page)."""
        ...

    # -- tokens -----------------------------------------------------------------------
    def add_token(self, name: str, role: Role, secret_hash: str) -> Token: ...

    def find_token(self, secret_hash: str) -> Token | None: ...

    def list_tokens(self) -> list[Token]: ...

    def delete_token(self, token_id: int) -> None: ...

    # -- DHCP leases and change stamp (network boot) ---------------------------------------
    def list_leases(self) -> list[Lease]: ...

    def save_leases(self, leases: Sequence[Lease], forget: Sequence[IPv4Address] = ()) -> None:
        """Insert or replace ``leases`` (by address) and delete ``forget``, in one
        transaction."""
        ...

    # -- other DHCP servers heard on the segment (provisioner.dhcp.observe) ------------------
    def list_dhcp_servers(self) -> list[DhcpServerSeen]:
        """By server id."""
        ...

    def change_dhcp_server(self, server_id: str, change: Change[DhcpServerSeen]) -> DhcpServerSeen:
        """Read-modify-write of one server's record (created when ``change(None)``
        returns one)."""
        ...

    def nodes_stamp(self) -> str:
        """A short string that changes whenever a node, profile, release or bundle
        is created, changed or deleted (a counter bumped in the writing
        transaction): lets a reader poll with one primary-key read before reloading."""
        ...

    def load_boot(self) -> BootRecords:
        """The stamp, then every node, profile, release and bundle: one session."""
        ...

    # -- boot timeline: state shared by every process (provisioner.bootlog) ---------------
    def bind_ip(
        self, ip: str, mac: str, at: datetime, *, stale: datetime, limit: int
    ) -> list[BootStep]:
        """Tie ``ip`` to ``mac`` and, in the same transaction, delete and return the
        steps waiting for ``ip`` (as :meth:`take_pending`). A new binding is
        refused while ``limit`` bindings newer than ``stale`` exist; older ones
        are dropped."""
        ...

    def ip_binding(self, ip: str, since: datetime) -> str | None:
        """The MAC tied to ``ip`` at or after ``since``."""
        ...

    def add_pending(
        self, ip: str, step: BootStep, *, stale: datetime, per_ip: int, limit: int
    ) -> bool:
        """Keep ``step`` until ``ip`` is bound; steps older than ``stale`` are
        dropped. False (and nothing kept) when ``ip`` already has ``per_ip``
        steps or all IPs together ``limit``."""
        ...

    def take_pending(self, ip: str) -> list[BootStep]:
        """Delete and return the steps waiting for ``ip``, oldest first (each
        goes to exactly one caller)."""
        ...

    def add_milestone(self, window: str, event: Event) -> bool:
        """Record ``event`` (a ``boot.<kind>`` of a node) unless that node already
        has one of its kind in ``window``: one transaction; True when written."""
        ...

    # -- web console accounts (provisioner.accounts) ----------------------------------------
    def add_user(self, user: User, events: Sequence[Event] = ()) -> User:
        """Raises Conflict when the name is taken."""
        ...

    def find_user(self, name: str) -> User | None: ...

    def list_users(self) -> list[User]:
        """By name."""
        ...

    def change_user(
        self, name: str, change: Callable[[User], User], events: Sequence[Event] = ()
    ) -> User:
        """Read-modify-write of role and password hash (NotFound). A new password
        or role ends every session of the user, in the same transaction."""
        ...

    def delete_user(self, name: str, events: Sequence[Event] = ()) -> None:
        """NotFound; ends the user's sessions."""
        ...

    def add_login(
        self,
        login: LoginSession,
        *,
        stale: datetime,
        per_user: int,
        events: Sequence[Event] = (),
    ) -> None:
        """Keep a new session of ``login.user`` (NotFound), in one transaction with:
        every session last seen before ``stale`` deleted, and the user's oldest
        ones past ``per_user`` - 1 (so the table stays bounded)."""
        ...

    def find_login(self, id_hash: str) -> tuple[LoginSession, User] | None:
        """The session and its user, in one read."""
        ...

    def touch_login(self, id_hash: str, seen_at: datetime) -> None: ...

    def delete_login(self, id_hash: str, events: Sequence[Event] = ()) -> None:
        """Gone already is fine (a second logout)."""
        ...

    def latest_events(self) -> dict[str, Event]:
        """The newest event of every node that has one, by MAC (one read: the rack view)."""
        ...

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None: ...
