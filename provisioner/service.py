"""Application operations shared by the API, the CLI and the boot endpoints.

Thin: validation lives in :mod:`provisioner.fields`, formats in their own
modules, state in the :class:`~provisioner.store.Store`. This module strings
them together and records events.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import hmac
import os
import secrets
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial as bind
from typing import Any, Generic, TypeVar

from provisioner import preflight
from provisioner.bootnames import cmdline_initrd, mac_from_config_name, server_url
from provisioner.bootparams import Options
from provisioner.bootspec import BootSpec, build_bootspec, check_cmdline, effective_bundle_name
from provisioner.bootview import BootSnapshot, BootView, Catalog
from provisioner.config import Settings
from provisioner.domain import (
    AGENT_ACTIONS,
    TOKEN_ROLES,
    Action,
    Bundle,
    Event,
    Node,
    Profile,
    Role,
    Token,
    hash_secret,
    normalize_mac,
    utcnow,
    validate_name,
)
from provisioner.errors import NotFound, ProvisionerError, ValidationError
from provisioner.fields import bundle_from_fields, node_from_fields, profile_from_fields
from provisioner.importer import ImportFindings, plan_import
from provisioner.lifecycle import agent_words, with_window
from provisioner.manifest import Manifest, build_manifest
from provisioner.rackcsv import RackRow, RowProblem
from provisioner.store import Change, Store
from pxelinux.render import MenuEntry, ipxe_menu, ipxe_script, pxelinux_config, pxelinux_menu
from tftp.files import resolve
from tftp.routes import File, Tree

T = TypeVar("T")
TOKEN_PREFIX = "prov_"  # noqa: S105 - a prefix, not a secret


def new_build_token() -> str:
    """A fresh install window's token (lifecycle.with_window is handed this)."""
    return secrets.token_urlsafe(24)


@dataclass
class ImportReport(ImportFindings):
    """The file's findings, and what became of each label."""

    created: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.refused


@dataclass(frozen=True)
class Saved(Generic[T]):
    """A stored node or profile, whether it is new, and what preflight warns of."""

    value: T
    created: bool
    problems: tuple[preflight.Problem, ...] = ()


class Service:
    def __init__(self, store: Store, settings: Settings, *, boot_ttl: float = 0.0) -> None:
        self.store = store
        self.settings = settings
        #: the boot read model (provisioner.bootview); ``boot_ttl``: seconds a
        #: snapshot is used without checking the store's change stamp
        self.view = BootView(store, boot_ttl)
        #: who the events this service records name (:meth:`acting`); None: nobody
        self.actor: str | None = None

    def acting(self, actor: str | None) -> Service:
        """This service (same store and read model) recording ``actor`` in its
        events: the web console's user. The one way an event names its author."""
        other = copy.copy(self)
        other.actor = actor
        return other

    # -- boot specs -----------------------------------------------------------------
    def catalog(self) -> Catalog:
        return self.view.snapshot().catalog

    @property
    def server_url(self) -> str | None:
        """Base URL of this server as booting boxes reach it, when configured."""
        return self.server_url_for()

    def server_url_for(self, *, host_url: str = "", local_ip: str = "") -> str | None:
        """The base URL a box is told, by :func:`provisioner.bootnames.server_url`'s
        rule: the configured server IP, else where the request reached us."""
        port = self.settings.http_host_port[1]
        return server_url(self.settings.server_ip, port, host_url=host_url, local_ip=local_ip)

    def bootspec(
        self,
        node: Node,
        catalog: Catalog | None = None,
        server_url: str | None = None,
        *,
        agent: bool = True,
    ) -> BootSpec:
        """What ``node`` boots. An agent boot (install, wipe, rollback, rescue)
        also carries ``server.<url> token.<build token> action.<action>``
        (``agent=False`` leaves them out: the node's own effective options)."""
        cat = catalog or self.catalog()
        profile = cat.profiles.get(node.profile) if node.profile else None
        bundle_name = effective_bundle_name(node, profile)
        bundle = cat.bundles.get(bundle_name) if bundle_name else None
        words = None
        if agent:
            now = utcnow()
            if node.action in AGENT_ACTIONS and not node.window_open(now):
                # the install window expired: the agent could not report, and would
                # reboot into itself forever; the box boots its disk until the action
                # is set again (which opens a new window)
                node = replace(node, action=Action.LOCAL)
            words = agent_words(node, server_url or self.server_url, now)
        return build_bootspec(node, profile, bundle, words)

    def menu_entries(self, catalog: Catalog | None = None) -> list[MenuEntry]:
        cat = catalog or self.catalog()
        entries = []
        for p in cat.profiles.values():
            bundle = cat.bundles.get(p.bundle) if p.bundle else None
            cmdline = p.options.merged(bundle.options()) if bundle else p.options
            entries.append(
                MenuEntry(
                    label=p.name,
                    kernel=p.kernel,
                    cmdline=cmdline,
                    initrd=p.initrd or cmdline_initrd(cmdline),
                    initrd_in_cmdline=bool(cmdline.kernel_values("initrd")),
                    ipappend=p.ipappend,
                )
            )
        return entries

    def pxelinux_file(self, name: str, server_url: str | None = None) -> str | None:
        """Text of ``pxelinux.cfg/<name>``, or None where pxelinux should go on
        down its fallback chain."""
        snap = self.view.snapshot()
        if name == "default":
            return pxelinux_menu(
                self.menu_entries(snap.catalog),
                self.settings.menu_default,
                self.settings.menu_timeout,
            )
        mac = mac_from_config_name(name)
        if mac is None:
            return None  # UUID and hex-IP names: we key boxes by MAC only
        node = snap.node(mac)
        if node is None:
            return None
        return self.node_pxelinux(node, snap.catalog, server_url)

    def node_pxelinux(self, node: Node, catalog: Catalog, server_url: str | None) -> str:
        """The pxelinux file of ``node`` (stored or not: the console's preview)."""
        return pxelinux_config(self.bootspec(node, catalog, server_url))

    def node_ipxe(self, node: Node, catalog: Catalog, base_url: str, server_url: str | None) -> str:
        """The iPXE script of ``node`` (stored or not: the console's preview)."""
        return ipxe_script(self.bootspec(node, catalog, server_url), base_url)

    def ipxe_file(self, mac: str, base_url: str, server_url: str | None = None) -> str | None:
        snap = self.view.snapshot()
        node = snap.node(mac)
        if node is not None:
            return self.node_ipxe(node, snap.catalog, base_url, server_url)
        if self.settings.unknown_macs == "menu":
            return ipxe_menu(
                self.menu_entries(snap.catalog),
                base_url,
                self.settings.menu_default,
                self.settings.menu_timeout,
            )
        return None

    def manifest(self, mac_text: str, base_url: str) -> Manifest:
        """The node's manifest (:mod:`provisioner.manifest`) from the boot read model;
        ``base_url`` ends in ``/media/``. An unknown MAC is :class:`NotFound`."""
        mac = normalize_mac(mac_text)
        snap = self.view.snapshot()
        node = snap.node(mac)
        if node is None:
            raise NotFound("node", mac)
        found = snap.effective(node)
        return build_manifest(node, found.profile, found.release, found.bundle, base_url)

    # -- nodes ------------------------------------------------------------------------
    def save_node(
        self,
        mac_text: str,
        data: Mapping[str, Any],
        *,
        partial: bool = False,
        must_exist: bool = False,
        unset: Collection[str] = (),
    ) -> Saved[Node]:
        """PUT (``partial=False``) or PATCH of a node; ``must_exist`` refuses to
        create. Checked by :mod:`provisioner.preflight`: an error
        refuses the change (:class:`~provisioner.errors.PreflightError`), warnings
        come back with the node. ``unset``: keys the caller removed from the
        node's options (a key the profile still gives is warned of)."""
        mac = normalize_mac(mac_text)
        snap = self.view.snapshot()
        events: list[Event] = []  # filled by change(), written in its transaction
        found: list[preflight.Problem] = []
        change = self._node_change(
            mac,
            data,
            partial=partial,
            snap=snap,
            world=self.world(snap),
            events=events,
            found=found,
            unset=unset,
        )
        write = bind(self.store.change_node, mac, events=events)
        node, created = self._write("node", mac, must_exist, write, change)
        return Saved(node, created, tuple(found))

    def _node_change(
        self,
        mac: str,
        data: Mapping[str, Any],
        *,
        partial: bool,
        snap: BootSnapshot,
        world: preflight.World,
        events: list[Event],
        found: list[preflight.Problem],
        unset: Collection[str] = (),
        slot: int = 0,
    ) -> Change[Node]:
        """The checked change of one node (:meth:`save_node`): it puts its event
        at ``events[slot]`` (written in the change's transaction) and the
        warnings in ``found``."""
        fields = sorted(k for k in data if k != "mac")

        def change(current: Node | None) -> Node:
            new, problems = self.node_candidate(
                mac, data, current, partial=partial, catalog=snap.catalog, world=world
            )
            removed = {w.key for w in current.options} if current else set()
            removed -= {w.key for w in new.options}
            found[:] = [*problems, *preflight.removed_problems(new, removed, world, asked=unset)]
            what = "updated" if current else "created"
            events[slot : slot + 1] = [
                Event(
                    actor=self.actor,
                    kind=f"node.{what}",
                    message=f"node {what}: {', '.join(fields) or '-'}",
                    mac=mac,
                    data={k: _jsonable(data[k]) for k in fields},
                )
            ]
            return new

        return change

    def import_nodes(
        self,
        rows: Sequence[RackRow],
        *,
        dry_run: bool = False,
        warnings: list[RowProblem] | None = None,
    ) -> list[RowProblem]:
        """A rack import (:mod:`provisioner.rackcsv`): each row a PATCH of its node,
        checked as :meth:`save_node` checks one, against the rack as it will be
        (two rows may not share an IP or a host name). All or none: any problem
        (its row and field named) stores nothing; else one transaction.
        ``warnings`` receives what preflight warns of (stored all the same)."""
        snap = self.view.snapshot()
        problems = _duplicates(rows)
        staged: dict[str, Node] = {}
        for r in rows:
            try:
                staged[r.mac] = node_from_fields(
                    r.mac, r.data, staged.get(r.mac) or snap.node(r.mac), partial=True
                )
            except ProvisionerError as exc:
                problems.append(_row_problem(r.row, exc))
        if problems:
            return problems
        world = self.world(snap)
        world = preflight.World.of(
            {**snap.nodes, **staged}.values(),
            world.profiles,
            world.bundles,
            world.releases,
            dhcp_subnets=world.dhcp_subnets,
            boot_file=world.boot_file,
        )
        events: list[Event] = []
        changes: list[tuple[str, Change[Node]]] = []
        hostnames = {n.hostname: n.mac for n in world.nodes.values() if n.hostname}
        for i, r in enumerate(rows):  # each change fills events[i] (checked in row order)
            found: list[preflight.Problem] = []
            change = self._node_change(
                r.mac,
                r.data,
                partial=True,
                snap=snap,
                world=world,
                events=events,
                found=found,
                slot=i,
            )
            changes.append((r.mac, change))
            try:
                unknown = _unknown(staged[r.mac], world, hostnames.get(str(staged[r.mac].hostname)))
                if unknown is not None:
                    raise unknown
                change(snap.node(r.mac))
            except ProvisionerError as exc:
                problems.append(_row_problem(r.row, exc))
            if warnings is not None:
                warnings += [RowProblem(r.row, p.field, p.message) for p in found]
        if problems or dry_run or not rows:
            return problems
        try:
            self.store.change_nodes(changes, events)
        finally:
            self.view.invalidate()
        return []

    def node_candidate(
        self,
        mac: str,
        data: Mapping[str, Any],
        current: Node | None,
        *,
        partial: bool,
        catalog: Catalog,
        world: preflight.World,
        new_token: Callable[[], str] = new_build_token,
    ) -> tuple[Node, list[preflight.Problem]]:
        """What :meth:`save_node` would store for ``data`` over ``current``, and
        preflight's problems; raises as it would (a bad field, a refusing preflight).
        Stores nothing: the console's preview asks it too (``new_token``: the token
        a new install window would get)."""
        new = with_window(
            node_from_fields(mac, data, current, partial=partial),
            utcnow(),
            timedelta(hours=self.settings.install_window_hours),
            new_token,
        )
        self.bootspec(new, catalog)  # the merged command line must be valid and fit
        problems = preflight.check_node(new, world)
        refused = preflight.refusal(problems)
        if refused is not None:
            raise refused
        return new, problems

    def get_node(self, mac_text: str) -> Node:
        return self.store.get_node(normalize_mac(mac_text))

    def delete_node(self, mac_text: str) -> None:
        mac = normalize_mac(mac_text)
        self.store.delete_node(
            mac, [Event(actor=self.actor, kind="node.deleted", message="node deleted", mac=mac)]
        )
        self.view.invalidate()

    def revoke_credential(self, mac_text: str) -> Node:
        """Forget the installed system's credential: its reports are refused until
        the node's next install registers a new one."""
        mac = normalize_mac(mac_text)

        def change(current: Node | None) -> Node:
            if current is None:
                raise NotFound("node", mac)
            return replace(current, credential_hash=None, updated_at=utcnow())

        event = Event(
            actor=self.actor,
            kind="node.credential.revoked",
            message="report credential revoked",
            mac=mac,
        )
        node, _ = self.store.change_node(mac, change, [event])
        return node

    # -- profiles ------------------------------------------------------------------------
    def save_profile(
        self,
        name: str,
        data: Mapping[str, Any],
        *,
        partial: bool = False,
        must_exist: bool = False,
    ) -> Saved[Profile]:
        """:meth:`save_node` for a profile, checked by :mod:`provisioner.preflight`: refused
        when the profile has an error or would give a node using it a new one."""
        name = validate_name(name, "name")
        world = self.world()
        found: list[preflight.Problem] = []

        def change(current: Profile | None) -> Profile:
            new = profile_from_fields(name, data, current, partial=partial)
            check_cmdline(new.options)
            self._check_users_fit(new)
            found[:] = preflight.check_profile(new, world)
            refused = preflight.refusal(found)
            for node, problem in preflight.new_errors(new, world):
                refused = refused or preflight.refusal([problem], f"node {node.mac} would get: ")
            if refused is not None:
                raise refused
            return new

        saved = Event(
            actor=self.actor,
            kind="profile.saved",
            message=f"profile {name} saved",
            data={"name": name},
        )
        write = bind(self.store.change_profile, name, events=[saved])
        profile, created = self._write("profile", name, must_exist, write, change)
        return Saved(profile, created, tuple(found))

    def _write(
        self,
        kind: str,
        key: str,
        must_exist: bool,
        write: Callable[[Change[T]], tuple[T, bool]],
        change: Change[T],
    ) -> tuple[T, bool]:
        """``write(change)``, a store's read-modify-write; with ``must_exist`` a
        ``kind`` ``key`` that is not stored is NotFound. Whatever happens, the
        read model is stale after it."""

        def changed(current: T | None) -> T:
            if current is None and must_exist:
                raise NotFound(kind, key)
            return change(current)

        try:
            return write(changed)
        finally:
            self.view.invalidate()

    def _check_users_fit(self, profile: Profile) -> None:
        snap = self.view.snapshot()
        cat = snap.catalog.with_profile(profile)
        for node in snap.nodes.values():
            if node.profile == profile.name:
                try:
                    self.bootspec(node, cat, agent=False)
                except ValidationError as exc:
                    raise ValidationError(
                        "options", f"node {node.mac} would get a bad command line: {exc.detail}"
                    ) from None

    def delete_profile(self, name: str) -> None:
        """Refused (Conflict, naming them) while nodes use the profile."""
        deleted = Event(
            actor=self.actor,
            kind="profile.deleted",
            message=f"profile {name} deleted",
            data={"name": name},
        )
        self.store.delete_profile(name, [deleted])
        self.view.invalidate()

    # -- bundles (release images and bundle files: provisioner.media_library) --------------
    def put_bundle(
        self,
        name: str,
        data: Mapping[str, Any],
        *,
        partial: bool = False,
        must_exist: bool = False,
    ) -> tuple[Bundle, bool]:
        name = validate_name(name, "name")

        def change(current: Bundle | None) -> Bundle:
            return bundle_from_fields(name, data, current, partial=partial)

        saved = Event(
            actor=self.actor,
            kind="bundle.saved",
            message=f"bundle {name} saved",
            data={"name": name},
        )
        write = bind(self.store.change_bundle, name, events=[saved])
        return self._write("bundle", name, must_exist, write, change)

    # -- preflight (provisioner.preflight, docs/preflight.md) -------------------------------
    def world(self, snap: BootSnapshot | None = None) -> preflight.World:
        """What the preflight check knows: the read model's snapshot, the DHCP
        subnet from the settings and the boot tree on disk."""
        snap = snap or self.view.snapshot()
        s = self.settings
        anchor = s.server_ip or s.dhcp_pool.partition("-")[0].strip()
        return preflight.World.of(
            snap.nodes.values(),
            snap.catalog.profiles,
            snap.catalog.bundles,
            snap.releases,
            dhcp_subnets=preflight.dhcp_subnet(s.dhcp, s.dhcp_netmask, anchor),
            boot_file=self.boot_file,
        )

    def boot_file(self, name: str) -> bool:
        """Whether TFTP and ``/boot/files/`` would serve ``name`` from the boot tree."""
        tree = Tree(boot_root=os.path.realpath(self.settings.data_dir / "boot"))
        return isinstance(resolve(tree, name), File)

    def node_problems(self, mac_text: str) -> list[preflight.Problem]:
        """The stored node's problems, errors first (NotFound for an unknown MAC)."""
        mac = normalize_mac(mac_text)
        world = self.world()
        node = world.nodes.get(mac)
        if node is None:
            raise NotFound("node", mac)
        return preflight.check_node(node, world)

    def rack_problems(
        self, macs: Collection[str] | None = None
    ) -> dict[str, list[preflight.Problem]]:
        """Every node (or those of ``macs``) that has a problem, by MAC: one
        snapshot, the IP map built once."""
        world = self.world()
        chosen = None if macs is None else [normalize_mac(m) for m in macs]
        for mac in chosen or ():
            if mac not in world.nodes:
                raise NotFound("node", mac)
        return preflight.rack(world, chosen)

    # -- tokens -----------------------------------------------------------------------------
    def create_token(self, name: str, role: Role) -> tuple[Token, str]:
        validate_name(name, "name")
        if role not in TOKEN_ROLES:
            allowed = ", ".join(r.value for r in TOKEN_ROLES)
            raise ValidationError("role", f"a token's role is one of: {allowed}")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = self.store.add_token(name, role, hash_secret(secret))
        self.store.add_event(
            Event(
                actor=self.actor,
                kind="token.created",
                message=f"API token {name} ({role.value}) created",
                data={"id": str(token.id), "name": name},
            )
        )
        return token, secret

    def revoke_token(self, token_id: int) -> None:
        self.store.delete_token(token_id)
        self.store.add_event(
            Event(
                actor=self.actor,
                kind="token.revoked",
                message=f"API token {token_id} revoked",
                data={"id": str(token_id)},
            )
        )

    def authenticate(self, secret: str) -> Token | None:
        digest = hash_secret(secret)
        token = self.store.find_token(digest)
        if token is None or not hmac.compare_digest(token.secret_hash, digest):
            return None
        return token

    # -- import -------------------------------------------------------------------------------
    def import_syslinux(
        self,
        text: str,
        *,
        replace: bool = False,
        join_wrapped: bool = False,
        dry_run: bool = False,
    ) -> ImportReport:
        """All or nothing: any problem in the file imports no label."""
        with _gc_paused():
            return self._import_syslinux(text, replace, join_wrapped, dry_run)

    def _import_syslinux(
        self, text: str, replace: bool, join_wrapped: bool, dry_run: bool
    ) -> ImportReport:
        plan = plan_import(text, join_wrapped=join_wrapped)
        report = ImportReport(problems=plan.problems, warnings=plan.warnings, skipped=plan.skipped)
        if not plan.ok:
            return report
        existing = {p.name: p for p in self.store.list_profiles()}
        world = self.world()
        for profile in plan.profiles:
            old = existing.get(profile.name)
            kept = (  # what the file cannot say stays as stored
                Profile(**{**_profile_dict(profile), "release": old.release, "bundle": old.bundle})
                if old
                else profile
            )
            if old is None:
                report.created.append(profile.name)
            elif old.same_content(kept):
                report.unchanged.append(profile.name)
            elif replace:
                report.replaced.append(profile.name)
            else:
                report.refused.append(profile.name)
            report.warnings += [
                f"profile {profile.name}: {p}"
                for p in preflight.check_profile(kept, world, imported=True)
            ]
        if report.refused or dry_run:
            return report
        changing = {*report.created, *report.replaced}
        todo = [p for p in plan.profiles if p.name in changing]
        imported = Event(
            actor=self.actor,
            kind="profile.imported",
            message=f"imported {', '.join(sorted(p.name for p in todo))}",
        )
        try:  # one transaction: 100k labels are one commit, not 100k
            if todo:
                self.store.change_profiles([(p.name, _importing(p)) for p in todo], [imported])
        finally:
            self.view.invalidate()
        return report


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """An import makes some 30 objects per label and no cycles, yet Python's cyclic
    GC scans them all again and again as they pile up: a third of the time of a
    100k-label import. Paused for the import (process-wide: a server worker's other
    threads collect their cycles a few seconds later; nested or concurrent imports
    leave it to the first to switch it back on)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _profile_dict(p: Profile) -> dict[str, Any]:
    return {f: getattr(p, f) for f in Profile.__dataclass_fields__}


def _importing(profile: Profile) -> Change[Profile]:
    """Keep what the file cannot say (release, bundle, creation time)."""

    def change(current: Profile | None) -> Profile:
        if current is None:
            return profile
        data = _profile_dict(profile)
        data.update(release=current.release, bundle=current.bundle, created_at=current.created_at)
        return Profile(**data)

    return change


def _duplicates(rows: Sequence[RackRow]) -> list[RowProblem]:
    """Rows naming a MAC or host name an earlier row named."""
    seen: dict[tuple[str, str], int] = {}
    found = []
    for r in rows:
        for key in (("mac", r.mac), ("hostname", str(r.data.get("hostname") or ""))):
            if key[1] and key in seen:
                found.append(RowProblem(r.row, key[0], f"{key[1]} is on row {seen[key]} too"))
            seen.setdefault(key, r.row)
    return found


def _unknown(
    node: Node, world: preflight.World, hostname_owner: str | None
) -> ValidationError | None:
    """What the store would refuse: a profile, bundle or release it lacks, a
    host name another node has."""
    if hostname_owner not in (None, node.mac):
        return ValidationError("hostname", f"{node.hostname!r} is node {hostname_owner}'s")
    for name, value, known in (
        ("profile", node.profile, world.profiles),
        ("bundle", node.bundle, world.bundles),
        ("release", node.release, world.releases),
    ):
        if value is not None and value not in known:
            return ValidationError(name, f"{name} {value!r} does not exist")
    return None


def _row_problem(row: int, exc: ProvisionerError) -> RowProblem:
    field = exc.field if isinstance(exc, ValidationError) else "-"
    message = exc.detail if isinstance(exc, ValidationError) else exc.message
    return RowProblem(row, field or "-", message)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Options):
        return value.render()
    return value
