"""Boot milestones: steps seen by IP wait for their MAC; one per kind per window."""

from __future__ import annotations

from datetime import datetime, timedelta

from provisioner.bootlog import BootLog
from provisioner.db.sqlstore import SqlStore
from provisioner.domain import Action, Node, utcnow

MAC = "52:54:00:c0:02:0a"


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def _open_window(store: SqlStore, action: Action = Action.INSTALL) -> None:
    now = utcnow() - timedelta(seconds=5)
    store.change_node(
        MAC,
        lambda _: Node(
            mac=MAC,
            action=action,
            build_token="t" * 32,
            window_opened=now,
            window_expires=now + timedelta(hours=1),
        ),
    )


def test_a_step_seen_by_ip_is_written_with_its_own_time_once_the_mac_is_known(
    store: SqlStore,
) -> None:
    _open_window(store)
    clock = Clock()
    bootlog = BootLog(store, clock)
    loader_time = clock.now
    bootlog.record("loader", ip="192.0.2.50", detail="pxelinux.0")
    assert store.list_events(MAC) == []
    clock.now += timedelta(seconds=3)
    bootlog.record("config", mac=MAC, ip="192.0.2.50")
    bootlog.record("kernel", ip="192.0.2.50", detail="vmlinuz")
    events = {e.kind: e.time for e in store.list_events(MAC)}
    assert set(events) == {"boot.loader", "boot.config", "boot.kernel"}
    assert abs((events["boot.loader"] - loader_time).total_seconds()) < 0.01


def test_each_kind_is_recorded_once_per_window_and_only_in_a_window(store: SqlStore) -> None:
    bootlog = BootLog(store)
    store.change_node(MAC, lambda _: Node(mac=MAC, action=Action.LOCAL))
    bootlog.record("dhcp", mac=MAC, ip="192.0.2.50")
    assert store.list_events(MAC) == []
    _open_window(store)
    bootlog = BootLog(store)
    for _ in range(3):
        bootlog.record("dhcp", mac=MAC, ip="192.0.2.50")
    assert [e.kind for e in store.list_events(MAC)] == ["boot.dhcp"]


def test_unknown_macs_leave_no_trace(store: SqlStore) -> None:
    bootlog = BootLog(store)
    bootlog.record("dhcp", mac="52:54:00:99:99:99", ip="192.0.2.99")
    bootlog.record("loader", ip="192.0.2.99")
    assert store.list_events() == []


def test_an_ip_shared_by_two_booting_boxes_ties_no_step_to_either(store: SqlStore) -> None:
    """Behind nginx (docs/nginx-provisioner.conf) every box is 127.0.0.1: the last
    box that asked is no answer for a step seen by that IP alone."""
    other = "52:54:00:c0:02:0b"
    _open_window(store)
    now = utcnow() - timedelta(seconds=5)
    store.change_node(
        other,
        lambda _: Node(
            mac=other,
            action=Action.INSTALL,
            build_token="u" * 32,
            window_opened=now,
            window_expires=now + timedelta(hours=1),
        ),
    )
    bootlog = BootLog(store)
    bootlog.record("config", mac=MAC, ip="127.0.0.1")
    bootlog.record("config", mac=other, ip="127.0.0.1")
    bootlog.record("kernel", ip="127.0.0.1", detail="vmlinuz")
    assert [e.kind for e in store.list_events(MAC)] == ["boot.config"]
    assert [e.kind for e in store.list_events(other)] == ["boot.config"]
    assert bootlog.mac_for("127.0.0.1") is None
    bootlog.record("config", mac=MAC, ip="127.0.0.1")  # still shared: no rebinding
    bootlog.record("kernel", ip="127.0.0.1")
    assert [e.kind for e in store.list_events(MAC)] == ["boot.config"]
