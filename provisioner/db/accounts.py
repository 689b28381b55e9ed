"""The SQL store's console accounts: users and their login sessions (a part of
:class:`provisioner.db.sqlstore.SqlStore`, kept apart to keep that module short)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from provisioner.db.mapping import from_row
from provisioner.db.models import EventRow, LoginSessionRow, UserRow
from provisioner.domain import Event, LoginSession, Role, User
from provisioner.errors import Conflict, NotFound


def _user(row: UserRow) -> User:
    return from_row(User, row, role=Role(row.role))


class AccountsSql:
    """Users and login sessions; mixed into SqlStore."""

    if TYPE_CHECKING:  # provided by SqlStore

        def _session(self, write: bool) -> AbstractContextManager[Session]: ...

        @staticmethod
        def _event_row(e: Event) -> EventRow: ...

    def _add_events(self, s: Session, events: Sequence[Event]) -> None:
        for e in events:
            s.add(self._event_row(e))

    @staticmethod
    def _user_row(s: Session, name: str) -> UserRow:
        row = s.scalar(select(UserRow).where(UserRow.name == name))
        if row is None:
            raise NotFound("user", name)
        return row

    def add_user(self, user: User, events: Sequence[Event] = ()) -> User:
        with self._session(write=True) as s:
            if s.scalar(select(UserRow.id).where(UserRow.name == user.name)) is not None:
                raise Conflict(f"user {user.name} exists")
            row = UserRow(
                name=user.name,
                role=user.role.value,
                password_hash=user.password_hash,
                created_at=user.created_at,
            )
            s.add(row)
            self._add_events(s, events)
            s.flush()
            return _user(row)

    def find_user(self, name: str) -> User | None:
        with self._session(write=False) as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            return None if row is None else _user(row)

    def list_users(self) -> list[User]:
        with self._session(write=False) as s:
            return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.name))]

    def change_user(
        self, name: str, change: Callable[[User], User], events: Sequence[Event] = ()
    ) -> User:
        with self._session(write=True) as s:
            row = self._user_row(s, name)
            old = _user(row)
            new = change(old)
            row.role, row.password_hash = new.role.value, new.password_hash
            if (new.role, new.password_hash) != (old.role, old.password_hash):
                s.execute(delete(LoginSessionRow).where(LoginSessionRow.user_id == row.id))
            self._add_events(s, events)
            return new

    def delete_user(self, name: str, events: Sequence[Event] = ()) -> None:
        with self._session(write=True) as s:
            row = self._user_row(s, name)
            s.execute(delete(LoginSessionRow).where(LoginSessionRow.user_id == row.id))
            s.delete(row)
            self._add_events(s, events)

    # -- login sessions ----------------------------------------------------------------------
    def add_login(
        self,
        login: LoginSession,
        *,
        stale: datetime,
        per_user: int,
        events: Sequence[Event] = (),
    ) -> None:
        with self._session(write=True) as s:
            user = self._user_row(s, login.user)
            s.execute(delete(LoginSessionRow).where(LoginSessionRow.seen_at < stale))
            keep = select(LoginSessionRow.id_hash).where(LoginSessionRow.user_id == user.id)
            old = s.scalars(
                keep.order_by(LoginSessionRow.seen_at.desc()).offset(max(per_user - 1, 0))
            ).all()
            if old:
                s.execute(delete(LoginSessionRow).where(LoginSessionRow.id_hash.in_(old)))
            s.add(
                LoginSessionRow(
                    id_hash=login.id_hash,
                    user_id=user.id,
                    address=login.address,
                    created_at=login.created_at,
                    seen_at=login.seen_at,
                )
            )
            self._add_events(s, events)

    def find_login(self, id_hash: str) -> tuple[LoginSession, User] | None:
        stmt = (
            select(LoginSessionRow, UserRow)
            .join(UserRow, UserRow.id == LoginSessionRow.user_id)
            .where(LoginSessionRow.id_hash == id_hash)
        )
        with self._session(write=False) as s:
            found = s.execute(stmt).first()
            if found is None:
                return None
            row, user = found
            login = LoginSession(row.id_hash, user.name, row.address, row.created_at, row.seen_at)
            return login, _user(user)

    def touch_login(self, id_hash: str, seen_at: datetime) -> None:
        with self._session(write=True) as s:
            s.execute(
                update(LoginSessionRow)
                .where(LoginSessionRow.id_hash == id_hash)
                .values(seen_at=seen_at)
            )

    def delete_login(self, id_hash: str, events: Sequence[Event] = ()) -> None:
        with self._session(write=True) as s:
            s.execute(delete(LoginSessionRow).where(LoginSessionRow.id_hash == id_hash))
            self._add_events(s, events)

    def latest_events(self) -> dict[str, Event]:
        newest = select(func.max(EventRow.id)).where(EventRow.mac.is_not(None))
        stmt = select(EventRow).where(EventRow.id.in_(newest.group_by(EventRow.mac)))
        with self._session(write=False) as s:
            rows = s.scalars(stmt).all()
            return {r.mac: from_row(Event, r, data=dict(r.data or {})) for r in rows if r.mac}
