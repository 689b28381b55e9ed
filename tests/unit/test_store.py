"""The SQL store on SQLite and PostgreSQL: CRUD, references, concurrency, migrations."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from provisioner.bootparams import Options
from provisioner.db import migrate
from provisioner.db.sqlstore import SqlStore
from provisioner.domain import Action, Bundle, Event, Node, Profile, Release, Role, State
from provisioner.errors import Conflict, NotFound, StoreError, ValidationError

MAC = "52:54:00:c0:02:0a"


def _release(name: str = "avbox", version: str = "2.0") -> Release:
    sha256 = hashlib.sha256(f"{name}:{version}".encode()).hexdigest()  # one release per content
    return Release(
        name=name, version=version, filename=f"{name}-{version}.squashfs", size=1, sha256=sha256
    )


def test_models_and_migrations_do_not_drift(db_url: str) -> None:
    migrate.check(db_url)  # raises when autogenerate would find a change
    assert migrate.current(db_url) == migrate.head()


def test_migrations_downgrade_and_upgrade_cleanly(db_url: str) -> None:
    migrate.downgrade(db_url, "base")
    engine = create_engine(db_url.replace("postgresql+psycopg", "postgresql+psycopg"))
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()


def test_node_round_trips_with_all_fields(store: SqlStore) -> None:
    store.add_release(_release())
    store.change_bundle("tc", lambda _: Bundle(name="tc", iso="tinycore.iso"))
    store.change_profile("avbox1", lambda _: Profile(name="avbox1", options=Options.parse("auto")))
    node = Node(
        mac=MAC,
        hostname="box1",
        profile="avbox1",
        options=Options.parse("lang.de"),
        release="avbox:2.0",
        bundle="tc",
        action=Action.LOCAL,
        state=State.INSTALLED,
    )
    saved, created = store.change_node(MAC, lambda cur: node)
    assert created
    assert saved == node
    assert store.get_node(MAC) == node
    assert store.list_nodes() == [node]
    _, created = store.change_node(MAC, lambda cur: replace(cur, hostname="box2"))  # type: ignore[arg-type]
    assert not created
    assert store.get_node(MAC).hostname == "box2"


def test_missing_things_raise_not_found(store: SqlStore) -> None:
    for call in (
        lambda: store.get_node(MAC),
        lambda: store.delete_node(MAC),
        lambda: store.get_profile("x"),
        lambda: store.delete_profile("x"),
        lambda: store.get_release("a", "1"),
        lambda: store.delete_release("a", "1"),
        lambda: store.get_bundle("x"),
        lambda: store.delete_bundle("x"),
        lambda: store.delete_token(99),
    ):
        with pytest.raises(NotFound):
            call()


@pytest.mark.parametrize(
    ("field", "value"), [("profile", "nope"), ("release", "avbox:9"), ("bundle", "nope")]
)
def test_references_to_missing_things_are_refused_naming_the_field(
    store: SqlStore, field: str, value: str
) -> None:
    with pytest.raises(ValidationError) as err:
        store.change_node(MAC, lambda _: Node(mac=MAC, **{field: value}))  # type: ignore[arg-type]
    assert err.value.field == field
    assert store.find_node(MAC) is None


def test_things_in_use_cannot_be_deleted_and_the_error_says_by_whom(store: SqlStore) -> None:
    store.add_release(_release())
    store.change_bundle("tc", lambda _: Bundle(name="tc", iso="t.iso"))
    store.change_profile("p", lambda _: Profile(name="p", release="avbox:2.0"))
    store.change_node(MAC, lambda _: Node(mac=MAC, profile="p", bundle="tc"))
    with pytest.raises(Conflict, match=f"profile 'p' is still used by node {MAC}"):
        store.delete_profile("p")
    with pytest.raises(Conflict, match=r"release 'avbox:2\.0' is still used by profile p"):
        store.delete_release("avbox", "2.0")
    with pytest.raises(Conflict, match=f"bundle 'tc' is still used by node {MAC}"):
        store.delete_bundle("tc")
    store.delete_node(MAC)
    store.delete_profile("p")
    store.delete_release("avbox", "2.0")
    store.delete_bundle("tc")


def test_hostnames_are_unique(store: SqlStore) -> None:
    store.change_node(MAC, lambda _: Node(mac=MAC, hostname="box"))
    with pytest.raises(Conflict, match=f"already used by node {MAC}"):
        store.change_node(
            "52:54:00:c0:02:0b", lambda _: Node(mac="52:54:00:c0:02:0b", hostname="box")
        )


def test_duplicate_release_versions_are_refused(store: SqlStore) -> None:
    store.add_release(_release())
    with pytest.raises(Conflict):
        store.add_release(_release())
    store.add_release(_release(version="2.1"))
    assert [r.ref for r in store.list_releases()] == ["avbox:2.0", "avbox:2.1"]


def test_a_failing_change_writes_nothing(store: SqlStore) -> None:
    def boom(_: Node | None) -> Node:
        raise ValidationError("x", "no")

    with pytest.raises(ValidationError):
        store.change_node(MAC, boom, events=[Event(kind="k", message="m", mac=MAC)])
    assert store.find_node(MAC) is None
    assert store.list_events() == []


def test_events_are_newest_first_and_filter_by_mac(store: SqlStore) -> None:
    for i in range(5):
        store.add_event(Event(kind="k", message=f"m{i}", mac=MAC if i % 2 else None, data={"i": i}))
    assert [e.message for e in store.list_events()] == ["m4", "m3", "m2", "m1", "m0"]
    assert [e.message for e in store.list_events(MAC)] == ["m3", "m1"]
    newest = store.list_events(limit=2)
    assert [e.message for e in store.list_events(before_id=newest[-1].id, limit=2)] == ["m2", "m1"]
    assert store.list_events(limit=1)[0].data == {"i": 4}


def test_events_after_an_id_are_the_oldest_page_above_it_newest_first(store: SqlStore) -> None:
    """A follower's cursor: ``after_id`` pages forward without a gap."""
    ids = [store.add_event(Event(kind="k", message=f"m{i}", mac=MAC)).id for i in range(5)]
    assert ids[0] is not None
    after = store.list_events(MAC, limit=2, after_id=ids[0])
    assert [e.message for e in after] == ["m2", "m1"]
    assert [e.message for e in store.list_events(MAC, after_id=after[0].id)] == ["m4", "m3"]
    assert store.list_events(MAC, after_id=ids[-1]) == []


def test_tokens_store_only_the_hash(store: SqlStore) -> None:
    t = store.add_token("ci", Role.VIEWER, "ab" * 32)
    assert store.find_token("ab" * 32) == t
    assert store.find_token("cd" * 32) is None
    store.delete_token(t.id)  # type: ignore[arg-type]
    assert store.list_tokens() == []


def test_concurrent_read_modify_writes_lose_no_update(store: SqlStore, db_url: str) -> None:
    """16 threads each add their own word to one node's options at the same time.
    With pysqlite's default deferred BEGIN some of them would read the same old
    value and overwrite each other (or fail with 'database is locked')."""
    store.change_node(MAC, lambda _: Node(mac=MAC))
    writers = [SqlStore(db_url) for _ in range(4)]  # several pools, as several workers
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def add(i: int) -> None:
        s = writers[i % len(writers)]
        try:
            barrier.wait(timeout=10)
            for j in range(3):

                def change(cur: Node | None, word: str = f"w{i}x{j}") -> Node:
                    assert cur is not None
                    return replace(cur, options=cur.options.merged(Options.parse(word)))

                s.change_node(MAC, change)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for w in writers:
        w.close()
    assert errors == []
    assert len(store.get_node(MAC).options) == 48


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    migrate.upgrade(url)
    store = SqlStore(url, busy_timeout=7)
    store.list_nodes()
    with sqlite3.connect(tmp_path / "x.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with store._reader.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7000
    store.close()


def test_an_unmigrated_database_gives_a_clear_error(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(StoreError, match="provisioner db upgrade"):
        store.list_nodes()
    store.close()


def test_an_unreachable_database_gives_a_clear_error() -> None:
    store = SqlStore("postgresql://nobody@/nodb?host=/nonexistent-socket-dir")
    with pytest.raises(StoreError, match="database unavailable"):
        store.list_nodes()
    store.close()


def test_changing_many_profiles_is_all_or_none_in_one_transaction(store: SqlStore) -> None:
    store.change_profile("kept", lambda _: Profile(name="kept", description="old"))
    store.add_release(Release("avbox", "2.0", "avbox-2.0.squashfs", 1, "ab" * 32))
    good = [(f"p{i}", lambda _, i=i: Profile(name=f"p{i}", release="avbox:2.0")) for i in range(3)]
    bad = ("p9", lambda _: Profile(name="p9", release="avbox:9.9"))
    with pytest.raises(ValidationError, match=r"avbox:9\.9"):
        store.change_profiles([*good, bad])
    assert [p.name for p in store.list_profiles()] == ["kept"]
    update = ("kept", lambda old: replace(old, description="new"))
    results = store.change_profiles([*good, update], [Event("profile.imported", "p0-p2")])
    assert [(p.name, created) for p, created in results] == [
        ("p0", True), ("p1", True), ("p2", True), ("kept", False)
    ]  # fmt: skip
    stored = {p.name: p for p in store.list_profiles()}
    assert stored["kept"].description == "new"
    assert stored["p1"].release == "avbox:2.0"
    assert store.list_events(None, 1)[0].kind == "profile.imported"


@pytest.mark.parametrize("kind", ["sql", "memory"])
def test_change_nodes_stores_all_or_none(store: SqlStore, kind: str) -> None:
    from tests.support.fakes import MemoryStore

    s = store if kind == "sql" else MemoryStore()
    s.change_profile("base", lambda _: Profile(name="base"))
    s.change_node("52:54:00:50:00:09", lambda _: Node("52:54:00:50:00:09", hostname="taken"))
    new = [
        (f"52:54:00:50:00:0{i}", lambda _, i=i: Node(f"52:54:00:50:00:0{i}", hostname=f"n{i}"))
        for i in range(1, 4)
    ]
    clash = ("52:54:00:50:00:05", lambda _: Node("52:54:00:50:00:05", hostname="taken"))
    with pytest.raises(Conflict, match="taken"):
        s.change_nodes([*new, clash])
    unknown = ("52:54:00:50:00:06", lambda _: Node("52:54:00:50:00:06", profile="nosuch"))
    with pytest.raises(ValidationError, match="nosuch"):
        s.change_nodes([*new, unknown])
    assert [n.mac for n in s.list_nodes()] == ["52:54:00:50:00:09"]
    # the host name moves from one node to another inside the batch
    rename = ("52:54:00:50:00:09", lambda old: replace(old, hostname="free", profile="base"))
    takes = ("52:54:00:50:00:04", lambda _: Node("52:54:00:50:00:04", hostname="taken"))
    done = s.change_nodes([*new, rename, takes], [Event("node.imported", "five")])
    assert [created for _, created in done] == [True, True, True, False, True]
    stored = {n.mac: n for n in s.list_nodes()}
    assert stored["52:54:00:50:00:09"].hostname == "free"
    assert stored["52:54:00:50:00:04"].hostname == "taken"
    assert s.list_events(None, 1)[0].kind == "node.imported"
