"""The boot read model: a warm boot request costs one stamp read; every write to
nodes, profiles, releases or bundles is seen by the next one; a write and its
event commit together."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from provisioner.bootlog import PENDING_PER_IP, BootLog
from provisioner.bootview import BootView
from provisioner.db.sqlstore import SqlStore
from provisioner.domain import Bundle, Event, Node, Release, utcnow
from provisioner.errors import ProvisionerError
from provisioner.service import Service
from tests.conftest import Api
from tests.unit.test_bootlog import MAC as BOOT_MAC
from tests.unit.test_bootlog import _open_window

MAC = "52:54:00:c0:02:21"
NAME = "pxelinux.cfg/01-52-54-00-c0-02-21"


@dataclass
class Counts:
    sessions: int = 0
    statements: int = 0


@contextmanager
def counting(store: SqlStore) -> Iterator[Counts]:
    """Database sessions (transactions begun) and SQL statements, BEGIN aside."""
    engine = store._reader
    counts = Counts()

    def on_begin(*_: Any) -> None:
        counts.sessions += 1

    def on_statement(_conn: Any, _cur: Any, sql: str, *_: Any) -> None:
        if not sql.startswith("BEGIN"):
            counts.statements += 1

    event.listen(engine, "begin", on_begin)
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        yield counts
    finally:
        event.remove(engine, "begin", on_begin)
        event.remove(engine, "before_cursor_execute", on_statement)


def _setup(admin: Api, release: str) -> None:
    r = admin.put(
        "/api/v1/profiles/p1", json={"kernel": "vmlinuz", "options": "lang.de", "release": release}
    )
    assert r.status_code == 201, r.json
    r = admin.put(f"/api/v1/nodes/{MAC}", json={"profile": "p1", "action": "install"})
    assert r.status_code == 201, r.json


def test_a_warm_pxelinux_config_request_reads_only_the_change_stamp(
    admin: Api, store: SqlStore, release: str
) -> None:
    _setup(admin, release)
    client = admin.client
    assert client.get(f"/boot/files/{NAME}").status_code == 200  # cold: loads, binds the IP
    with counting(store) as warm:
        r = client.get(f"/boot/{NAME}")
    assert r.status_code == 200
    assert "lang.de" in r.get_data(as_text=True)
    assert (warm.sessions, warm.statements) == (1, 1)


def test_boxes_booting_their_disks_write_nothing_even_when_they_share_one_ip(
    admin: Api, store: SqlStore
) -> None:
    """Behind a proxy (or in a benchmark) every box has the same client IP: a
    box outside an install window must not rebind it in the store each time."""
    other = "52:54:00:c0:02:22"
    for mac in (MAC, other):
        r = admin.put(f"/api/v1/nodes/{mac}", json={"options": "lang.de", "action": "local"})
        assert r.status_code == 201, r.json
    client = admin.client
    names = [NAME, "pxelinux.cfg/01-52-54-00-c0-02-22"]
    for name in names:
        assert client.get(f"/boot/{name}").status_code == 200  # cold
    with counting(store) as warm:
        for name in names * 3:
            assert client.get(f"/boot/{name}").status_code == 200
    assert (warm.sessions, warm.statements) == (6, 6)  # the change stamp, once a request
    assert store.ip_binding("127.0.0.1", utcnow() - timedelta(hours=1)) is None


def test_a_node_put_opens_fewer_sessions_and_writes_node_and_event_together(
    admin: Api, store: SqlStore, release: str
) -> None:
    _setup(admin, release)
    admin.client.get(f"/boot/{NAME}")  # warm
    with counting(store) as put:
        r = admin.put(f"/api/v1/nodes/{MAC}", json={"profile": "p1", "options": "lang.fr"})
    assert r.status_code == 200, r.json
    # token, stamp, the write with its event, the reload the write made necessary
    assert put.sessions <= 5
    node_events = [e.kind for e in store.list_events(MAC) if e.kind.startswith("node.")]
    assert node_events[:2] == ["node.updated", "node.created"]


def test_each_table_is_seen_by_the_next_request(admin: Api, store: SqlStore, release: str) -> None:
    _setup(admin, release)
    client = admin.client
    view = BootView(store)
    assert "lang.de" in client.get(f"/boot/{NAME}").get_data(as_text=True)
    assert view.snapshot().node(MAC) is not None
    # node
    admin.patch(f"/api/v1/nodes/{MAC}", json={"options": "keyboard.de_CH"})
    assert "keyboard.de_CH" in client.get(f"/boot/{NAME}").get_data(as_text=True)
    # profile
    admin.patch("/api/v1/profiles/p1", json={"options": "lang.it"})
    assert "lang.it" in client.get(f"/boot/{NAME}").get_data(as_text=True)
    # bundle (written by the media library, not through this process's service)
    store.change_bundle("b1", lambda _: Bundle(name="b1", iso="v1.iso"))
    assert view.snapshot().catalog.bundles["b1"].iso == "v1.iso"
    admin.patch("/api/v1/profiles/p1", json={"bundle": "b1"})
    assert "copyiso.v1.iso" in client.get(f"/boot/{NAME}").get_data(as_text=True)
    store.change_bundle("b1", lambda b: Bundle(name="b1", iso="v2.iso"))
    assert "copyiso.v2.iso" in client.get(f"/boot/{NAME}").get_data(as_text=True)
    # release
    store.add_release(Release("avbox", "2.0", "avbox-2.0.sqfs", 4096, "a" * 64))
    found = view.snapshot()
    assert found.releases["avbox:2.0"].size == 4096
    store.delete_release("avbox", "2.0")
    assert "avbox:2.0" not in view.snapshot().releases


def test_a_view_within_its_ttl_asks_the_store_nothing(store: SqlStore) -> None:
    now = [0.0]
    view = BootView(store, ttl=1.0, clock=lambda: now[0])
    first = view.snapshot()
    store.change_node(MAC, lambda _: Node(mac=MAC))
    with counting(store) as c:
        assert view.snapshot() is first
    assert c.statements == 0
    now[0] = 1.5
    assert view.snapshot().node(MAC) is not None


def test_a_failing_event_write_leaves_no_node_change(
    store: SqlStore, service: Service, release: str
) -> None:
    stamp = store.nodes_stamp()
    bad = Event(kind="node.created", message="x", mac=MAC, data={"unserialisable": object()})
    with pytest.raises(Exception, match="serializable"):
        store.change_node(MAC, lambda _: Node(mac=MAC), [bad])
    assert store.find_node(MAC) is None
    assert store.list_events(MAC) == []
    assert store.nodes_stamp() == stamp
    service.save_node(MAC, {"options": "lang.de", "release": release})
    assert [e.kind for e in store.list_events(MAC)] == ["node.created"]
    assert store.nodes_stamp() != stamp


def test_a_step_one_process_saw_by_ip_is_written_when_another_binds_the_ip(
    store: SqlStore,
) -> None:
    _open_window(store)
    netboot, http = BootLog(store), BootLog(store)
    netboot.record("kernel", ip="192.0.2.60", detail="TFTP vmlinuz")
    assert store.list_events(BOOT_MAC) == []
    http.record("config", mac=BOOT_MAC, ip="192.0.2.60")
    assert {e.kind for e in store.list_events(BOOT_MAC)} == {"boot.kernel", "boot.config"}
    assert BootLog(store).mac_for("192.0.2.60") == BOOT_MAC
    BootLog(store).record("config", mac=BOOT_MAC, ip="192.0.2.60")  # once per window, any process
    assert len(store.list_events(BOOT_MAC)) == 2


def test_what_an_unknown_client_can_make_the_store_keep_is_bounded(store: SqlStore) -> None:
    _open_window(store)
    bootlog = BootLog(store)
    for _ in range(PENDING_PER_IP + 5):
        bootlog.record("kernel", ip="192.0.2.61")
    assert len(store.take_pending("192.0.2.61")) == PENDING_PER_IP
    old = utcnow() - timedelta(hours=1)
    for ip in ("192.0.2.62", "192.0.2.63"):
        BootLog(store, lambda: old).record("loader", ip=ip)
    bootlog.record("loader", ip="192.0.2.64")  # drops the expired ones
    assert store.take_pending("192.0.2.62") == []
    assert len(store.take_pending("192.0.2.64")) == 1


def test_the_timeline_never_breaks_a_boot(store: SqlStore) -> None:
    class Broken(SqlStore):
        def add_pending(self, *_: Any, **__: Any) -> bool:
            raise ProvisionerError("down")

    broken = Broken(str(store.url))
    try:
        BootLog(broken).record("kernel", ip="192.0.2.65")
    finally:
        broken.close()
