"""The SQL implementation of :class:`provisioner.store.Store` (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from ipaddress import IPv4Address
from typing import Any, TypeVar, cast

from sqlalchemy import Select, Table, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from provisioner.bootnames import join_initrd, split_initrd
from provisioner.db.accounts import AccountsSql
from provisioner.db.dhcpseen import DhcpServersSql
from provisioner.db.engine import make_engines
from provisioner.db.mapping import assign, columns, from_row
from provisioner.db.models import (
    BootBindingRow,
    BootMilestoneRow,
    BootPendingRow,
    BundleFileRow,
    BundleRow,
    EventRow,
    LeaseRow,
    NodeRow,
    ProfileRow,
    ReleaseRow,
    StampRow,
    TokenRow,
)
from provisioner.domain import (
    BUNDLE_KINDS,
    Action,
    Bundle,
    BundleFile,
    Event,
    Lease,
    Node,
    Profile,
    Release,
    Role,
    State,
    Token,
    parse_release_ref,
    utcnow,
)
from provisioner.errors import Conflict, NotFound, StoreError, ValidationError
from provisioner.store import BootRecords, BootStep, Change

T = TypeVar("T")
_Row = TypeVar("_Row", NodeRow, ProfileRow, BundleRow)
_Sel = TypeVar("_Sel", bound=Select[Any])
_Obj = TypeVar("_Obj", Node, Profile)


def _users(kind: str, keys: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return f"{kind} {shown}{more}"


class SqlStore(AccountsSql, DhcpServersSql):
    """Store over SQLAlchemy. Thread-safe: one session per call."""

    def __init__(self, url: str, busy_timeout: float = 15.0) -> None:
        self._reader, self._writer = make_engines(url, busy_timeout)
        self.url = self._reader.url
        self._for_update = self._reader.dialect.name == "postgresql"

    # -- plumbing ------------------------------------------------------------
    @contextmanager
    def _session(self, write: bool) -> Iterator[Session]:
        engine = self._writer if write else self._reader
        try:
            with Session(engine, expire_on_commit=False) as session, session.begin():
                yield session
        except (OperationalError, ProgrammingError) as exc:
            text = str(exc.orig)
            if "no such table" in text or ("does not exist" in text and "relation" in text):
                raise StoreError(
                    "the database has no schema yet: run 'provisioner db upgrade'"
                ) from exc
            if "locked" in text:
                raise StoreError("the database stayed locked past the busy timeout") from exc
            raise StoreError(f"database unavailable: {text.strip().splitlines()[0]}") from exc

    def _locked(self, stmt: _Sel) -> _Sel:
        return stmt.with_for_update() if self._for_update else stmt

    def _rmw(self, fn: Callable[[Session], T], what: str) -> T:
        """Run a read-modify-write; one retry when a concurrent insert won the race."""
        for attempt in (1, 2):
            try:
                with self._session(write=True) as s:
                    return fn(s)
            except IntegrityError as exc:
                if attempt == 2:
                    raise Conflict(f"{what} changed concurrently; try again") from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._reader.dispose()

    def _changed(self, s: Session, events: Sequence[Event] = ()) -> None:
        """End of a write to nodes, profiles, releases or bundles: its events, and
        the boot stamp bumped, in the writing transaction (last: the stamp row's
        lock is held only until the commit)."""
        for e in events:
            s.add(self._event_row(e))
        s.execute(update(StampRow).where(StampRow.name == "boot").values(value=StampRow.value + 1))

    # -- references ------------------------------------------------------------
    def _release_id(self, s: Session, ref: str | None, field: str) -> int | None:
        if ref is None:
            return None
        name, version = parse_release_ref(ref, field)
        rid = s.scalar(
            select(ReleaseRow.id).where(ReleaseRow.name == name, ReleaseRow.version == version)
        )
        if rid is None:
            raise ValidationError(field, f"release {ref!r} does not exist")
        return rid

    def _release_refs(self, s: Session) -> dict[int, str]:
        return {r.id: f"{r.name}:{r.version}" for r in s.scalars(select(ReleaseRow))}

    @staticmethod
    def _refuse_if_used(s: Session, what: str, node_cond: Any, profile_cond: Any) -> None:
        nodes = list(s.scalars(select(NodeRow.mac).where(node_cond)))
        profiles = list(s.scalars(select(ProfileRow.name).where(profile_cond)))
        if nodes or profiles:
            who = [_users("node", nodes)] if nodes else []
            who += [_users("profile", profiles)] if profiles else []
            raise Conflict(f"{what} is still used by {'; '.join(who)}")

    def _read_change(
        self,
        s: Session,
        row_type: type[_Row],
        key: str,
        to_domain: Callable[[_Row, dict[int, str]], _Obj],
        change: Change[_Obj],
    ) -> tuple[_Row | None, dict[int, str], _Obj]:
        """The row under lock (None when there is none), the release refs, and
        what ``change`` makes of the row's object."""
        row = s.get(row_type, key, with_for_update=True if self._for_update else None)
        refs = self._release_refs(s)
        return row, refs, change(None if row is None else to_domain(row, refs))

    @staticmethod
    def _added(s: Session, row: _Row) -> _Row:
        s.add(row)
        return row

    @staticmethod
    def _require(s: Session, row_type: type[_Row], key: str | None, field: str, kind: str) -> None:
        if key is not None and s.get(row_type, key) is None:
            raise ValidationError(field, f"{kind} {key!r} does not exist")

    # -- nodes ------------------------------------------------------------
    @staticmethod
    def _node(row: NodeRow, refs: dict[int, str]) -> Node:
        return from_row(
            Node,
            row,
            profile=row.profile_name,
            release=refs[row.release_id] if row.release_id is not None else None,
            bundle=row.bundle_name,
            action=Action(row.action),
            state=State(row.state),
            phases={str(k): float(v) for k, v in (row.phases or {}).items()},
            running={str(k): str(v) for k, v in (row.running or {}).items()},
        )

    @staticmethod
    def _node_columns(new: Node, release_id: int | None) -> dict[str, Any]:
        """What a change writes to a node's row (not its key, not its creation time)."""
        same = columns(new, "mac", "created_at", "profile", "release", "bundle")
        return same | {
            "profile_name": new.profile,
            "release_id": release_id,
            "bundle_name": new.bundle,
            "action": new.action.value,
            "state": new.state.value,
            "phases": dict(new.phases) or None,
            "running": dict(new.running) or None,
        }

    def find_node_by_token(self, token: str) -> Node | None:
        with self._session(write=False) as s:
            row = s.scalar(select(NodeRow).where(NodeRow.build_token == token))
            return None if row is None else self._node(row, self._release_refs(s))

    def find_node(self, mac: str) -> Node | None:
        with self._session(write=False) as s:
            row = s.get(NodeRow, mac)
            return None if row is None else self._node(row, self._release_refs(s))

    def get_node(self, mac: str) -> Node:
        node = self.find_node(mac)
        if node is None:
            raise NotFound("node", mac)
        return node

    def list_nodes(self) -> list[Node]:
        with self._session(write=False) as s:
            refs = self._release_refs(s)
            return [self._node(r, refs) for r in s.scalars(select(NodeRow).order_by(NodeRow.mac))]

    def change_node(
        self, mac: str, change: Change[Node], events: Sequence[Event] = ()
    ) -> tuple[Node, bool]:
        def run(s: Session) -> tuple[Node, bool]:
            done = self._change_node(s, mac, change)
            self._changed(s, events)
            return done

        return self._rmw(run, f"node {mac}")

    def change_nodes(
        self, changes: Sequence[tuple[str, Change[Node]]], events: Sequence[Event] = ()
    ) -> list[tuple[Node, bool]]:
        """:meth:`change_node` for many, in one transaction: all or none (a rack
        import). A constant number of reads however many nodes (the rows under
        lock, the names they may refer to, the host names), one flush."""

        def run(s: Session) -> list[tuple[Node, bool]]:
            macs = list(dict.fromkeys(mac for mac, _ in changes))
            rows: dict[str, NodeRow] = {}
            for part in range(0, len(macs), 500):  # bound the statement's parameters
                chosen = select(NodeRow).where(NodeRow.mac.in_(macs[part : part + 500]))
                rows.update((r.mac, r) for r in s.scalars(self._locked(chosen)))
            refs = self._release_refs(s)
            release_ids = {ref: i for i, ref in refs.items()}
            profiles = set(s.scalars(select(ProfileRow.name)))
            bundles = set(s.scalars(select(BundleRow.name)))
            named = select(NodeRow.hostname, NodeRow.mac).where(NodeRow.hostname.is_not(None))
            owners = {str(host): str(mac) for host, mac in s.execute(named)}
            results: list[tuple[Node, bool]] = []
            for mac, change in changes:
                row = rows.get(mac)
                new = change(None if row is None else self._node(row, refs))
                if new.mac != mac:
                    raise ValidationError("mac", "a node's MAC cannot change")
                for field, name, known in (
                    ("release", new.release, release_ids),
                    ("profile", new.profile, profiles),
                    ("bundle", new.bundle, bundles),
                ):
                    if name is not None and name not in known:
                        raise ValidationError(field, f"{field} {name!r} does not exist")
                if new.hostname is not None and owners.get(new.hostname, mac) != mac:
                    other = owners[new.hostname]
                    raise Conflict(f"hostname {new.hostname!r} is already used by node {other}")
                if row is not None and row.hostname is not None:
                    owners.pop(row.hostname, None)
                if new.hostname is not None:
                    owners[new.hostname] = mac
                created = row is None
                if row is None:
                    row = rows[mac] = self._added(s, NodeRow(mac=mac, created_at=new.created_at))
                release_id = release_ids.get(new.release) if new.release else None
                assign(row, self._node_columns(new, release_id))
                results.append((new, created))
            s.flush()
            self._changed(s, events)
            return results

        return self._rmw(run, f"{len(changes)} nodes")

    def _change_node(self, s: Session, mac: str, change: Change[Node]) -> tuple[Node, bool]:
        row, refs, new = self._read_change(s, NodeRow, mac, self._node, change)
        if new.mac != mac:
            raise ValidationError("mac", "a node's MAC cannot change")
        release_id = self._release_id(s, new.release, "release")
        self._require(s, ProfileRow, new.profile, "profile", "profile")
        self._require(s, BundleRow, new.bundle, "bundle", "bundle")
        if new.hostname is not None:
            other = s.scalar(
                select(NodeRow.mac).where(NodeRow.hostname == new.hostname, NodeRow.mac != mac)
            )
            if other is not None:
                raise Conflict(f"hostname {new.hostname!r} is already used by node {other}")
        created = row is None
        row = row or self._added(s, NodeRow(mac=mac, created_at=new.created_at))
        assign(row, self._node_columns(new, release_id))
        s.flush()
        return self._node(row, refs), created

    def delete_node(self, mac: str, events: Sequence[Event] = ()) -> None:
        with self._session(write=True) as s:
            if s.execute(delete(NodeRow).where(NodeRow.mac == mac)).rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound("node", mac)
            self._changed(s, events)

    # -- profiles ------------------------------------------------------------
    @staticmethod
    def _profile(row: ProfileRow, refs: dict[int, str]) -> Profile:
        return from_row(
            Profile,
            row,
            initrd=split_initrd(row.initrd),
            release=refs[row.release_id] if row.release_id is not None else None,
            bundle=row.bundle_name,
        )

    @staticmethod
    def _profile_columns(new: Profile, release_id: int | None) -> dict[str, Any]:
        """What a change writes to a profile's row (not its key, not its creation time)."""
        same = columns(new, "name", "created_at", "initrd", "release", "bundle")
        return same | {
            "initrd": join_initrd(new.initrd),
            "release_id": release_id,
            "bundle_name": new.bundle,
        }

    def get_profile(self, name: str) -> Profile:
        with self._session(write=False) as s:
            row = s.get(ProfileRow, name)
            if row is None:
                raise NotFound("profile", name)
            return self._profile(row, self._release_refs(s))

    def list_profiles(self) -> list[Profile]:
        with self._session(write=False) as s:
            refs = self._release_refs(s)
            rows = s.scalars(select(ProfileRow).order_by(ProfileRow.name))
            return [self._profile(r, refs) for r in rows]

    def change_profile(
        self, name: str, change: Change[Profile], events: Sequence[Event] = ()
    ) -> tuple[Profile, bool]:
        def run(s: Session) -> tuple[Profile, bool]:
            result = self._change_profile(s, name, change)
            self._changed(s, events)
            return result

        return self._rmw(run, f"profile {name}")

    def change_profiles(
        self, changes: Sequence[tuple[str, Change[Profile]]], events: Sequence[Event] = ()
    ) -> list[tuple[Profile, bool]]:
        """One transaction, and a constant number of statements however many
        profiles (an import of 100k labels): the table read once under lock,
        new rows inserted in one executemany."""

        def run(s: Session) -> list[tuple[Profile, bool]]:
            rows = {r.name: r for r in s.scalars(self._locked(select(ProfileRow)))}
            refs = self._release_refs(s)
            release_ids = {ref: i for i, ref in refs.items()}
            bundles = set(s.scalars(select(BundleRow.name)))
            results: list[tuple[Profile, bool]] = []
            inserts: dict[str, dict[str, Any]] = {}
            for name, change in changes:
                row = rows.get(name)
                new = change(None if row is None else self._profile(row, refs))
                if new.name != name:
                    raise ValidationError("name", "a profile's name cannot change")
                if new.release is not None and new.release not in release_ids:
                    raise ValidationError("release", f"release {new.release!r} does not exist")
                if new.bundle is not None and new.bundle not in bundles:
                    raise ValidationError("bundle", f"bundle {new.bundle!r} does not exist")
                release_id = release_ids.get(new.release) if new.release else None
                values = self._profile_columns(new, release_id)
                if row is None:
                    inserts[name] = {"name": name, "created_at": new.created_at, **values}
                else:
                    assign(row, values)
                results.append((new, row is None))
            if inserts:  # Core, not the ORM's bulk insert: a third of the time
                s.execute(insert(cast(Table, ProfileRow.__table__)), list(inserts.values()))
            s.flush()
            self._changed(s, events)
            return results

        return self._rmw(run, f"{len(changes)} profiles")

    def _change_profile(
        self, s: Session, name: str, change: Change[Profile]
    ) -> tuple[Profile, bool]:
        row, refs, new = self._read_change(s, ProfileRow, name, self._profile, change)
        if new.name != name:
            raise ValidationError("name", "a profile's name cannot change")
        release_id = self._release_id(s, new.release, "release")
        self._require(s, BundleRow, new.bundle, "bundle", "bundle")
        created = row is None
        row = row or self._added(s, ProfileRow(name=name, created_at=new.created_at))
        assign(row, self._profile_columns(new, release_id))
        s.flush()
        return self._profile(row, refs), created

    def delete_profile(self, name: str, events: Sequence[Event] = ()) -> None:
        with self._session(write=True) as s:
            row = s.scalar(self._locked(select(ProfileRow).where(ProfileRow.name == name)))
            if row is None:
                raise NotFound("profile", name)
            users = list(s.scalars(select(NodeRow.mac).where(NodeRow.profile_name == name)))
            if users:
                raise Conflict(f"profile {name!r} is still used by {_users('node', users)}")
            s.delete(row)
            self._changed(s, events)

    # -- releases ------------------------------------------------------------
    @staticmethod
    def _release(row: ReleaseRow) -> Release:
        return from_row(Release, row)

    def get_release(self, name: str, version: str) -> Release:
        with self._session(write=False) as s:
            row = s.scalar(
                select(ReleaseRow).where(ReleaseRow.name == name, ReleaseRow.version == version)
            )
            if row is None:
                raise NotFound("release", f"{name}:{version}")
            return self._release(row)

    def list_releases(self) -> list[Release]:
        with self._session(write=False) as s:
            rows = s.scalars(select(ReleaseRow).order_by(ReleaseRow.name, ReleaseRow.id))
            return [self._release(r) for r in rows]

    def add_release(self, release: Release, events: Sequence[Event] = ()) -> Release:
        def run(s: Session) -> Release:
            exists = s.scalar(
                select(func.count())
                .select_from(ReleaseRow)
                .where(ReleaseRow.name == release.name, ReleaseRow.version == release.version)
            )
            if exists:
                raise Conflict(f"release {release.ref!r} already exists")
            same = s.scalar(select(ReleaseRow).where(ReleaseRow.sha256 == release.sha256))
            if same is not None:
                raise Conflict(
                    f"release {release.ref!r} has the same content as release "
                    f"{same.name}:{same.version} (sha256 {release.sha256})"
                )
            s.add(ReleaseRow(**columns(release)))
            self._changed(s, events)
            return release

        return self._rmw(run, f"release {release.ref}")

    def delete_release(self, name: str, version: str, events: Sequence[Event] = ()) -> None:
        ref = f"{name}:{version}"
        with self._session(write=True) as s:
            row = s.scalar(
                self._locked(
                    select(ReleaseRow).where(ReleaseRow.name == name, ReleaseRow.version == version)
                )
            )
            if row is None:
                raise NotFound("release", ref)
            self._refuse_if_used(
                s,
                f"release {ref!r}",
                NodeRow.release_id == row.id,
                ProfileRow.release_id == row.id,
            )
            s.delete(row)
            self._changed(s, events)

    # -- bundles ------------------------------------------------------------
    @staticmethod
    def _bundle(row: BundleRow, files: Sequence[BundleFileRow] = ()) -> Bundle:
        order = list(BUNDLE_KINDS)
        ordered = sorted(files, key=lambda f: order.index(f.kind))
        return from_row(Bundle, row, files=tuple(from_row(BundleFile, f) for f in ordered))

    @staticmethod
    def _bundle_files(s: Session, name: str | None = None) -> dict[str, list[BundleFileRow]]:
        stmt = select(BundleFileRow)
        if name is not None:
            stmt = stmt.where(BundleFileRow.bundle_name == name)
        files: dict[str, list[BundleFileRow]] = {}
        for f in s.scalars(stmt):
            files.setdefault(f.bundle_name, []).append(f)
        return files

    def get_bundle(self, name: str) -> Bundle:
        with self._session(write=False) as s:
            row = s.get(BundleRow, name)
            if row is None:
                raise NotFound("bundle", name)
            return self._bundle(row, self._bundle_files(s, name).get(name, []))

    def list_bundles(self) -> list[Bundle]:
        with self._session(write=False) as s:
            files = self._bundle_files(s)
            rows = s.scalars(select(BundleRow).order_by(BundleRow.name))
            return [self._bundle(r, files.get(r.name, [])) for r in rows]

    def change_bundle(
        self, name: str, change: Change[Bundle], events: Sequence[Event] = ()
    ) -> tuple[Bundle, bool]:
        def run(s: Session) -> tuple[Bundle, bool]:
            row = s.scalar(self._locked(select(BundleRow).where(BundleRow.name == name)))
            files = self._bundle_files(s, name).get(name, [])
            new = change(None if row is None else self._bundle(row, files))
            if new.name != name:
                raise ValidationError("name", "a bundle's name cannot change")
            created = row is None
            if row is None:
                row = BundleRow(name=name, created_at=new.created_at)
                s.add(row)
            assign(row, columns(new, "name", "created_at", "files"))
            s.flush()
            new_files = self._sync_bundle_files(s, name, files, new.files)
            self._changed(s, events)
            return self._bundle(row, new_files), created

        return self._rmw(run, f"bundle {name}")

    @staticmethod
    def _sync_bundle_files(
        s: Session, name: str, rows: list[BundleFileRow], files: tuple[BundleFile, ...]
    ) -> list[BundleFileRow]:
        """Make the bundle's file rows equal ``files`` (one per kind)."""
        by_kind = {r.kind: r for r in rows}
        wanted = {f.kind: f for f in files}
        if len(wanted) != len(files) or not set(wanted) <= set(BUNDLE_KINDS):
            raise ValidationError("files", "a bundle has at most one file of each kind")
        for kind, r in by_kind.items():
            if kind not in wanted:
                s.delete(r)
        result = []
        for kind, f in wanted.items():
            r = by_kind.get(kind) or BundleFileRow(bundle_name=name)
            assign(r, columns(f))
            s.add(r)
            result.append(r)
        s.flush()
        return result

    def delete_bundle(self, name: str, events: Sequence[Event] = ()) -> None:
        with self._session(write=True) as s:
            row = s.scalar(self._locked(select(BundleRow).where(BundleRow.name == name)))
            if row is None:
                raise NotFound("bundle", name)
            self._refuse_if_used(
                s, f"bundle {name!r}", NodeRow.bundle_name == name, ProfileRow.bundle_name == name
            )
            s.execute(delete(BundleFileRow).where(BundleFileRow.bundle_name == name))
            s.delete(row)
            self._changed(s, events)

    # -- events ------------------------------------------------------------
    @staticmethod
    def _event_row(e: Event) -> EventRow:
        return EventRow(**columns(e, "id", "data"), data=dict(e.data))

    @staticmethod
    def _event(row: EventRow) -> Event:
        return from_row(Event, row, data=dict(row.data or {}))

    def add_event(self, event: Event) -> Event:
        with self._session(write=True) as s:
            row = self._event_row(event)
            s.add(row)
            s.flush()
            return self._event(row)

    def list_events(
        self,
        mac: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[Event]:
        order = EventRow.id.asc() if after_id is not None else EventRow.id.desc()
        stmt = select(EventRow).order_by(order).limit(limit)
        if mac is not None:
            stmt = stmt.where(EventRow.mac == mac)
        if before_id is not None:
            stmt = stmt.where(EventRow.id < before_id)
        if after_id is not None:
            stmt = stmt.where(EventRow.id > after_id)
        with self._session(write=False) as s:
            found = [self._event(r) for r in s.scalars(stmt)]
        return found[::-1] if after_id is not None else found

    # -- tokens ------------------------------------------------------------
    @staticmethod
    def _token(row: TokenRow) -> Token:
        return from_row(Token, row, role=Role(row.role))

    def add_token(self, name: str, role: Role, secret_hash: str) -> Token:
        with self._session(write=True) as s:
            row = TokenRow(name=name, role=role.value, secret_hash=secret_hash, created_at=utcnow())
            s.add(row)
            s.flush()
            return self._token(row)

    def find_token(self, secret_hash: str) -> Token | None:
        with self._session(write=False) as s:
            row = s.scalar(select(TokenRow).where(TokenRow.secret_hash == secret_hash))
            return None if row is None else self._token(row)

    def list_tokens(self) -> list[Token]:
        with self._session(write=False) as s:
            return [self._token(r) for r in s.scalars(select(TokenRow).order_by(TokenRow.id))]

    def delete_token(self, token_id: int) -> None:
        with self._session(write=True) as s:
            if s.execute(delete(TokenRow).where(TokenRow.id == token_id)).rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound("token", str(token_id))

    # -- DHCP leases and change stamp (network boot) ----------------------------------------
    # Kept apart from the sections above so that parallel work merges without conflicts.
    def list_leases(self) -> list[Lease]:
        with self._session(write=False) as s:
            return [
                Lease(IPv4Address(r.ip), r.mac, r.expires_at.timestamp(), r.hostname)
                for r in s.scalars(select(LeaseRow))
            ]

    def save_leases(self, leases: Sequence[Lease], forget: Sequence[IPv4Address] = ()) -> None:
        rows = [
            {
                "ip": str(lease.ip),
                "mac": lease.mac,
                "expires_at": datetime.fromtimestamp(lease.expires, UTC),
                "hostname": lease.hostname,
            }
            for lease in leases
        ]
        dialect = postgresql if self._for_update else sqlite
        with self._session(write=True) as s:
            if forget:
                gone = [str(ip) for ip in forget]
                for k in range(0, len(gone), 500):
                    s.execute(delete(LeaseRow).where(LeaseRow.ip.in_(gone[k : k + 500])))
            if rows:
                stmt = dialect.insert(LeaseRow.__table__)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[LeaseRow.ip],
                    set_={
                        "mac": stmt.excluded.mac,
                        "expires_at": stmt.excluded.expires_at,
                        "hostname": stmt.excluded.hostname,
                    },
                )
                s.execute(stmt, rows)

    @staticmethod
    def _stamp(s: Session) -> str:
        return str(s.scalar(select(StampRow.value).where(StampRow.name == "boot")))

    def nodes_stamp(self) -> str:
        with self._session(write=False) as s:
            return self._stamp(s)

    def load_boot(self) -> BootRecords:
        def by_name(row: Any, key: Any = None) -> Any:
            return select(row).order_by(row.name if key is None else key)

        with self._session(write=False) as s:
            stamp = self._stamp(s)
            releases = list(s.scalars(select(ReleaseRow).order_by(ReleaseRow.name, ReleaseRow.id)))
            refs = {r.id: f"{r.name}:{r.version}" for r in releases}
            files = self._bundle_files(s)
            return BootRecords(
                stamp=stamp,
                nodes=tuple(self._node(r, refs) for r in s.scalars(by_name(NodeRow, NodeRow.mac))),
                profiles=tuple(self._profile(r, refs) for r in s.scalars(by_name(ProfileRow))),
                releases=tuple(self._release(r) for r in releases),
                bundles=tuple(
                    self._bundle(r, files.get(r.name, [])) for r in s.scalars(by_name(BundleRow))
                ),
            )

    # -- boot timeline (provisioner.bootlog) -------------------------------------------------
    def _insert(self) -> Any:
        return (postgresql if self._for_update else sqlite).insert

    @staticmethod
    def _take(s: Session, ip: str) -> list[BootStep]:
        rows = s.execute(
            delete(BootPendingRow)
            .where(BootPendingRow.ip == ip)
            .returning(BootPendingRow.kind, BootPendingRow.detail, BootPendingRow.at)
        ).all()
        return sorted((BootStep(k, d, at) for k, d, at in rows), key=lambda p: p.at)

    def bind_ip(
        self, ip: str, mac: str, at: datetime, *, stale: datetime, limit: int
    ) -> list[BootStep]:
        with self._session(write=True) as s:
            found = s.execute(
                update(BootBindingRow).where(BootBindingRow.ip == ip).values(mac=mac, seen_at=at)
            )
            if found.rowcount == 0:  # type: ignore[attr-defined]
                s.execute(delete(BootBindingRow).where(BootBindingRow.seen_at < stale))
                if (s.scalar(select(func.count()).select_from(BootBindingRow)) or 0) < limit:
                    s.add(BootBindingRow(ip=ip, mac=mac, seen_at=at))
            return self._take(s, ip)

    def ip_binding(self, ip: str, since: datetime) -> str | None:
        with self._session(write=False) as s:
            return s.scalar(
                select(BootBindingRow.mac).where(
                    BootBindingRow.ip == ip, BootBindingRow.seen_at >= since
                )
            )

    def add_pending(
        self, ip: str, step: BootStep, *, stale: datetime, per_ip: int, limit: int
    ) -> bool:
        with self._session(write=True) as s:
            s.execute(delete(BootPendingRow).where(BootPendingRow.at < stale))
            count = select(func.count()).select_from(BootPendingRow)
            if (s.scalar(count.where(BootPendingRow.ip == ip)) or 0) >= per_ip or (
                s.scalar(count) or 0
            ) >= limit:
                return False
            s.add(BootPendingRow(ip=ip, kind=step.kind, detail=step.detail[:255], at=step.at))
            return True

    def take_pending(self, ip: str) -> list[BootStep]:
        with self._session(write=True) as s:
            return self._take(s, ip)

    def add_milestone(self, window: str, event: Event) -> bool:
        if event.mac is None:
            raise ValueError("a milestone belongs to a node")
        kind = event.kind.removeprefix("boot.")
        with self._session(write=True) as s:
            stmt = self._insert()(BootMilestoneRow.__table__).values(
                mac=event.mac, kind=kind, window=window
            )
            written = s.execute(stmt.on_conflict_do_nothing().returning(BootMilestoneRow.mac))
            if written.first() is None:  # that node has this kind in this window
                return False
            s.add(self._event_row(event))
            return True
