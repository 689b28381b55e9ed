"""Console accounts: the store's users and sessions (SQLite, PostgreSQL and the
memory fake alike), password hashing, the login limit and the roles."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from provisioner.accounts import Accounts, LoginLimit
from provisioner.config import Settings
from provisioner.db.sqlstore import SqlStore
from provisioner.domain import Event, LoginSession, Role, User, utcnow, validate_username
from provisioner.errors import Conflict, NotFound, TooManyAttempts, Unauthorized, ValidationError
from provisioner.passwords import hash_password, verify_password
from provisioner.store import Store
from tests.support.fakes import MemoryStore

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=utcnow().tzinfo)


@pytest.fixture(params=["sql", "memory"])
def any_store(request: pytest.FixtureRequest, settings: Settings) -> Store:
    if request.param == "memory":
        return MemoryStore()
    sql: SqlStore = request.getfixturevalue("store")
    return sql


def _user(name: str, role: Role = Role.VIEWER) -> User:
    return User(name, role, "scrypt$x", created_at=T0)


def _login(id_hash: str, user: str, seen: datetime = T0) -> LoginSession:
    return LoginSession(id_hash, user, "192.0.2.7", seen, seen)


def test_users_round_trip_and_names_are_unique(any_store: Store) -> None:
    made = any_store.add_user(_user("vera"), [Event("user.added", "added", actor="ada")])
    assert made.id is not None
    assert any_store.find_user("vera") == made
    assert any_store.find_user("nobody") is None
    with pytest.raises(Conflict):
        any_store.add_user(_user("vera", Role.ADMIN))
    any_store.add_user(_user("ada", Role.ADMIN))
    assert [u.name for u in any_store.list_users()] == ["ada", "vera"]
    assert any_store.list_events()[-1].actor == "ada"


def test_a_session_is_found_with_its_user_and_ends_when_deleted(any_store: Store) -> None:
    any_store.add_user(_user("vera"))
    any_store.add_login(_login("h1", "vera"), stale=T0 - timedelta(hours=1), per_user=4)
    found = any_store.find_login("h1")
    assert found is not None
    assert (found[0].user, found[0].address, found[1].name) == ("vera", "192.0.2.7", "vera")
    any_store.touch_login("h1", T0 + timedelta(minutes=5))
    found = any_store.find_login("h1")
    assert found is not None
    assert found[0].seen_at == T0 + timedelta(minutes=5)
    any_store.delete_login("h1")
    any_store.delete_login("h1")  # twice is fine
    assert any_store.find_login("h1") is None


def test_sessions_stay_bounded_per_user_and_idle_ones_go(any_store: Store) -> None:
    any_store.add_user(_user("vera"))
    any_store.add_user(_user("otto"))
    any_store.add_login(_login("old", "otto", T0), stale=T0 - timedelta(hours=1), per_user=2)
    for i in range(3):
        seen = T0 + timedelta(hours=2, minutes=i)
        any_store.add_login(
            _login(f"v{i}", "vera", seen), stale=T0 + timedelta(hours=1), per_user=2
        )
    assert any_store.find_login("old") is None  # idle past `stale`
    assert any_store.find_login("v0") is None  # vera's oldest, past per_user
    assert any_store.find_login("v1") is not None
    assert any_store.find_login("v2") is not None


def test_a_new_password_or_role_or_removal_ends_the_users_sessions(any_store: Store) -> None:
    any_store.add_user(_user("vera"))
    stale = T0 - timedelta(hours=1)
    any_store.add_login(_login("a", "vera"), stale=stale, per_user=8)
    any_store.change_user("vera", lambda u: u)  # no change: the session stays
    assert any_store.find_login("a") is not None
    changed = any_store.change_user("vera", lambda u: User(u.name, Role.ADMIN, u.password_hash))
    assert changed.role is Role.ADMIN
    assert any_store.find_login("a") is None
    any_store.add_login(_login("b", "vera"), stale=stale, per_user=8)
    any_store.delete_user("vera")
    assert any_store.find_login("b") is None
    with pytest.raises(NotFound):
        any_store.delete_user("vera")
    with pytest.raises(NotFound):
        any_store.add_login(_login("c", "vera"), stale=stale, per_user=8)


def test_the_rack_reads_each_nodes_newest_event_at_once(any_store: Store) -> None:
    for mac, text in (("52:54:00:00:00:01", "a"), ("52:54:00:00:00:02", "b")):
        any_store.add_event(Event("x", f"{text} old", mac=mac))
        any_store.add_event(Event("x", f"{text} new", mac=mac))
    any_store.add_event(Event("x", "no node"))
    latest = any_store.latest_events()
    assert {m: e.message for m, e in latest.items()} == {
        "52:54:00:00:00:01": "a new",
        "52:54:00:00:00:02": "b new",
    }


def test_passwords_are_salted_scrypt_hashes_naming_their_parameters() -> None:
    one, two = hash_password("correct horse"), hash_password("correct horse")
    assert one != two  # a salt each
    assert one.startswith("scrypt$32768$8$1$")
    assert verify_password("correct horse", one)
    assert not verify_password("correct hors", one)
    for broken in ("", "scrypt$1$2", "md5$1$1$1$AA==$AA==", one.replace("$8$", "$x$")):
        assert not verify_password("correct horse", broken)
    with pytest.raises(ValidationError):
        hash_password("short")


def test_login_limit_locks_an_address_and_name_pair_out_and_stays_bounded() -> None:
    now = [T0]
    limit = LoginLimit(attempts=3, window=60, keys=10, clock=lambda: now[0])
    for _ in range(3):
        limit.check("192.0.2.1", "vera")
        limit.failed("192.0.2.1", "vera")
    with pytest.raises(TooManyAttempts):
        limit.check("192.0.2.1", "vera")
    limit.check("192.0.2.2", "vera")  # another address
    limit.check("192.0.2.1", "otto")  # another name
    now[0] += timedelta(seconds=61)
    limit.check("192.0.2.1", "vera")  # the window passed
    for i in range(100):
        limit.failed(f"198.51.100.{i}", "x")
    assert len(limit) == 10


def test_accounts_log_in_with_a_fresh_session_and_record_who(tmp_path: object) -> None:
    store = MemoryStore()
    accounts = Accounts(store, Settings(console_idle_minutes=30))
    accounts.add_user("vera", Role.VIEWER, "a-long-password", actor="ada")
    with pytest.raises(Unauthorized):
        accounts.login("vera", "wrong-password", "192.0.2.9")
    with pytest.raises(Unauthorized):
        accounts.login("nobody", "a-long-password", "192.0.2.9")
    one = accounts.login("vera", "a-long-password", "192.0.2.9")
    two = accounts.login("vera", "a-long-password", "192.0.2.9")
    assert one.session_id != two.session_id
    assert accounts.session_user(one.session_id) == one.user
    accounts.logout(one.session_id, one.user)
    assert accounts.session_user(one.session_id) is None
    kinds = [(e.kind, e.actor) for e in reversed(store.list_events())]
    assert kinds == [
        ("user.added", "ada"),
        ("user.login", "vera"),
        ("user.login", "vera"),
        ("user.logout", "vera"),
    ]


def test_an_idle_session_ends() -> None:
    store, now = MemoryStore(), [T0]
    accounts = Accounts(store, Settings(console_idle_minutes=10), clock=lambda: now[0])
    accounts.add_user("vera", Role.VIEWER, "a-long-password")
    login = accounts.login("vera", "a-long-password", "192.0.2.9")
    now[0] += timedelta(minutes=9)
    assert accounts.session_user(login.session_id) is not None  # seen: idle time restarts
    now[0] += timedelta(minutes=9)
    assert accounts.session_user(login.session_id) is not None
    now[0] += timedelta(minutes=11)
    assert accounts.session_user(login.session_id) is None


def test_roles_are_ordered_and_user_names_are_checked() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR)
    assert Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.OPERATOR.allows(Role.ADMIN)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert validate_username("ops.anna") == "ops.anna"
    for bad in ("", "Anna", "1anna", "-a", "a" * 33, "<script>"):
        with pytest.raises(ValidationError):
            validate_username(bad)


def test_the_last_admin_can_be_neither_removed_nor_demoted(any_store: Store) -> None:
    accounts = Accounts(any_store, Settings(console_idle_minutes=30))
    accounts.add_user("ada", Role.ADMIN, "a-long-password")
    accounts.add_user("vera", Role.VIEWER, "a-long-password")
    with pytest.raises(Conflict, match="last admin"):
        accounts.remove_user("ada")
    with pytest.raises(Conflict, match="last admin"):
        accounts.set_role("ada", Role.OPERATOR)
    accounts.set_role("ada", Role.ADMIN)  # staying admin is no loss
    accounts.set_role("vera", Role.ADMIN)
    accounts.set_role("ada", Role.VIEWER)  # another admin is left
    accounts.remove_user("ada")
    assert [(u.name, u.role) for u in any_store.list_users()] == [("vera", Role.ADMIN)]
