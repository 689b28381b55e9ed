"""Web console accounts: users (name, role, scrypt password hash) and their
login sessions, shared by the ``provisioner user`` commands and the console.

A session id is 32 random bytes that only the browser's cookie holds; the store
keeps its SHA-256, the user and when it was last seen. A session ends at logout
(its row is deleted: the old cookie is refused from then on), after
``console_idle_minutes`` without a request, with a new password or role of its
user, and with the user. Every change is an event naming who made it.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from provisioner.config import Settings
from provisioner.domain import (
    Event,
    LoginSession,
    Role,
    User,
    hash_secret,
    utcnow,
    validate_username,
)
from provisioner.errors import Conflict, TooManyAttempts, Unauthorized
from provisioner.passwords import DUMMY_HASH, hash_password, verify_password
from provisioner.store import Store

log = logging.getLogger(__name__)

#: a session's last-seen time is written at most this often (not on every request)
TOUCH_EVERY = timedelta(seconds=60)
#: sessions one user may hold at once (browsers, laptops); the oldest goes first
SESSIONS_PER_USER = 16


class LoginLimit:
    """Failed logins per (address, user name): after ``attempts`` failures
    within ``window`` seconds, more tries are refused until the oldest failure
    is ``window`` old. Bounded: at most ``keys`` pairs, the least recently failed
    forgotten first. Per process (each HTTP worker counts its own)."""

    def __init__(
        self,
        attempts: int = 5,
        window: float = 300.0,
        keys: int = 4096,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.attempts, self.window, self.keys, self.clock = attempts, window, keys, clock
        self._failures: OrderedDict[tuple[str, str], list[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str]) -> list[datetime]:
        since = self.clock() - timedelta(seconds=self.window)
        kept = [t for t in self._failures.get(key, []) if t > since]
        if kept:
            self._failures[key] = kept
        else:
            self._failures.pop(key, None)
        return kept

    @staticmethod
    def _key(address: str, name: str) -> tuple[str, str]:
        return address[:64], name[:64]  # what a client typed: bounded in size too

    def check(self, address: str, name: str) -> None:
        """Raises TooManyAttempts while the pair is locked out."""
        with self._lock:
            recent = self._recent(self._key(address, name))
        if len(recent) >= self.attempts:
            wait = self.window - (self.clock() - recent[0]).total_seconds()
            raise TooManyAttempts(f"too many failed logins; try again in {max(1, int(wait))} s")

    def failed(self, address: str, name: str) -> None:
        key = self._key(address, name)
        with self._lock:
            recent = self._recent(key)
            self._failures[key] = [*recent[-(self.attempts - 1) :], self.clock()]
            self._failures.move_to_end(key)
            while len(self._failures) > self.keys:
                self._failures.popitem(last=False)

    def succeeded(self, address: str, name: str) -> None:
        with self._lock:
            self._failures.pop(self._key(address, name), None)

    def __len__(self) -> int:
        return len(self._failures)


@dataclass(frozen=True)
class Login:
    """A new session: ``session_id`` goes into the cookie, nowhere else."""

    session_id: str
    user: User


class Accounts:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        limit: LoginLimit | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store, self.clock = store, clock
        self.idle = timedelta(minutes=settings.console_idle_minutes)
        self.limit = limit or LoginLimit(clock=clock)

    def _event(self, kind: str, message: str, actor: str | None, **data: str) -> Event:
        return Event(kind=kind, message=message, data=data, actor=actor, time=self.clock())

    # -- users -----------------------------------------------------------------------------
    def add_user(self, name: str, role: Role, password: str, actor: str | None = None) -> User:
        user = User(validate_username(name), role, hash_password(password), created_at=self.clock())
        event = self._event("user.added", f"user {name} added ({role.value})", actor, name=name)
        return self.store.add_user(user, [event])

    def _keep_an_admin(self, name: str, role: Role | None) -> None:
        """Refuse to leave the console without an admin (``role``: the new one,
        None: the user goes)."""
        admins = [u.name for u in self.store.list_users() if u.role is Role.ADMIN]
        if admins == [name] and role is not Role.ADMIN:
            raise Conflict(f"{name} is the last admin; make another admin first")

    def remove_user(self, name: str, actor: str | None = None) -> None:
        self._keep_an_admin(name, None)
        event = self._event("user.removed", f"user {name} removed", actor, name=name)
        self.store.delete_user(name, [event])

    def set_password(self, name: str, password: str, actor: str | None = None) -> User:
        """Also ends the user's sessions (the store does, in the same transaction)."""
        new_hash = hash_password(password)
        event = self._event("user.password", f"password of user {name} changed", actor, name=name)
        return self.store.change_user(name, lambda u: replace(u, password_hash=new_hash), [event])

    def set_role(self, name: str, role: Role, actor: str | None = None) -> User:
        self._keep_an_admin(name, role)
        event = self._event(
            "user.role", f"user {name} is now {role.value}", actor, name=name, role=role.value
        )
        return self.store.change_user(name, lambda u: replace(u, role=role), [event])

    # -- sessions ----------------------------------------------------------------------------
    def login(self, name: str, password: str, address: str) -> Login:
        """A new session (a new id every time: a login never reuses one), or
        Unauthorized; TooManyAttempts while the address+name pair is locked out."""
        self.limit.check(address, name)
        user = self.store.find_user(name)
        ok = verify_password(password, user.password_hash if user else DUMMY_HASH)
        if user is None or not ok:
            self.limit.failed(address, name)
            log.warning("console: failed login for %r from %s", name[:64], address)
            raise Unauthorized("wrong user name or password")
        self.limit.succeeded(address, name)
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        event = self._event("user.login", f"{name} logged in from {address}", name)
        self.store.add_login(
            LoginSession(hash_secret(session_id), name, address, now, now),
            stale=now - self.idle,
            per_user=SESSIONS_PER_USER,
            events=[event],
        )
        return Login(session_id, user)

    def session_user(self, session_id: str) -> User | None:
        """The user of a live session, or None (unknown, ended or idle too long:
        an idle one is deleted). Marks the session seen (at most once a minute)."""
        id_hash = hash_secret(session_id)
        found = self.store.find_login(id_hash)
        if found is None:
            return None
        login, user = found
        now = self.clock()
        if now - login.seen_at > self.idle:
            self.store.delete_login(id_hash)
            return None
        if now - login.seen_at > TOUCH_EVERY:
            self.store.touch_login(id_hash, now)
        return user

    def logout(self, session_id: str, user: User | None) -> None:
        name = user.name if user else None
        events = [self._event("user.logout", f"{name} logged out", name)] if name else []
        self.store.delete_login(hash_secret(session_id), events)
