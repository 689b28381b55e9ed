"""The console accounts of :class:`tests.support.fakes.MemoryStore` (users, login
sessions, the rack's latest events), with the SQL store's rules."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from provisioner.domain import Event, LoginSession, User
from provisioner.errors import Conflict, NotFound


class MemoryAccounts:
    """Mixed into MemoryStore, which provides the lock, the ids and the events."""

    _lock: threading.RLock
    _events: list[Event]

    def _add_event(self, event: Event) -> Event:
        raise NotImplementedError

    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._logins: dict[str, LoginSession] = {}  # by id_hash
        self._user_ids = 0

    def _user(self, name: str) -> User:
        user = self._users.get(name)
        if user is None:
            raise NotFound("user", name)
        return user

    def _end_logins(self, name: str) -> None:
        logins = self._logins
        for key in [k for k, v in logins.items() if v.user == name]:
            del logins[key]

    def add_user(self, user: User, events: Sequence[Event] = ()) -> User:
        with self._lock:
            if user.name in self._users:
                raise Conflict(f"user {user.name} exists")
            self._user_ids += 1
            self._users[user.name] = stored = replace(user, id=self._user_ids)
            for e in events:
                self._add_event(e)
            return stored

    def find_user(self, name: str) -> User | None:
        with self._lock:
            return self._users.get(name)

    def list_users(self) -> list[User]:
        with self._lock:
            return sorted(self._users.values(), key=lambda u: u.name)

    def change_user(
        self, name: str, change: Callable[[User], User], events: Sequence[Event] = ()
    ) -> User:
        with self._lock:
            old = self._user(name)
            new = change(old)
            self._users[name] = replace(old, role=new.role, password_hash=new.password_hash)
            if (new.role, new.password_hash) != (old.role, old.password_hash):
                self._end_logins(name)
            for e in events:
                self._add_event(e)
            return self._users[name]

    def delete_user(self, name: str, events: Sequence[Event] = ()) -> None:
        with self._lock:
            self._user(name)
            self._end_logins(name)
            del self._users[name]
            for e in events:
                self._add_event(e)

    def add_login(
        self,
        login: LoginSession,
        *,
        stale: datetime,
        per_user: int,
        events: Sequence[Event] = (),
    ) -> None:
        with self._lock:
            self._user(login.user)
            logins = self._logins
            for key in [k for k, v in logins.items() if v.seen_at < stale]:
                del logins[key]
            mine = sorted(
                (v for v in logins.values() if v.user == login.user),
                key=lambda v: v.seen_at,
                reverse=True,
            )
            for old in mine[max(per_user - 1, 0) :]:
                del logins[old.id_hash]
            logins[login.id_hash] = login
            for e in events:
                self._add_event(e)

    def find_login(self, id_hash: str) -> tuple[LoginSession, User] | None:
        with self._lock:
            login = self._logins.get(id_hash)
            return None if login is None else (login, self._user(login.user))

    def touch_login(self, id_hash: str, seen_at: datetime) -> None:
        with self._lock:
            logins = self._logins
            if id_hash in logins:
                logins[id_hash] = replace(logins[id_hash], seen_at=seen_at)

    def delete_login(self, id_hash: str, events: Sequence[Event] = ()) -> None:
        with self._lock:
            self._logins.pop(id_hash, None)
            for e in events:
                self._add_event(e)

    def latest_events(self) -> dict[str, Event]:
        with self._lock:
            return {e.mac: e for e in self._events if e.mac is not None}
