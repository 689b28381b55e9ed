"""Boot milestones: steps seen by IP wait for their MAC; one per kind per window."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from provisioner import bootlog as bootlog_module
from provisioner.bootlog import BootLog
from provisioner.db.models import BootBindingRow, BootPendingRow
from provisioner.db.sqlstore import SqlStore
from provisioner.domain import Action, Node, utcnow

MAC = "52:54:00:c0:02:0a"


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def _open_window(store: SqlStore, action: Action = Action.INSTALL, mac: str = MAC) -> None:
    now = utcnow() - timedelta(seconds=5)
    store.change_node(
        mac,
        lambda _: Node(
            mac=mac,
            action=action,
            build_token=("t" * 32 + mac.replace(":", ""))[-32:],  # unique per node
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


# -- what any client can make it keep (docs/architecture.md, "Bounded memory") --------------


def _mac(n: int) -> str:
    return f"02:00:00:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}"


def _ip(n: int) -> str:
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def _rows(store: SqlStore, row: type[BootBindingRow | BootPendingRow]) -> int:
    with store._session(write=False) as s:
        return s.scalar(select(func.count()).select_from(row)) or 0


def test_random_macs_and_ips_keep_the_per_process_memos_within_their_bound(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bootlog_module, "LOCAL_ENTRIES", 16)
    bootlog = BootLog(store)
    for n in range(100):
        bootlog.record("config", mac=_mac(n), ip=_ip(n))  # each IP's MAC: _macs
        bootlog.record("dhcp", mac=_mac(n + 1), ip=_ip(n))  # a second MAC: a shared IP
        assert len(bootlog._macs) <= 16
        assert len(bootlog._shared) <= 16
    assert store.list_events() == []


def test_milestones_known_written_are_remembered_up_to_the_bound_oldest_first_out(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bootlog_module, "LOCAL_ENTRIES", 4)
    macs = [_mac(n) for n in range(6)]
    for mac in macs:
        _open_window(store, mac=mac)
    bootlog = BootLog(store)
    for mac in macs:
        bootlog.record("loader", mac=mac)
    assert len(bootlog._done) == 4
    assert {key[0] for key in bootlog._done} == set(macs[2:])
    assert len(store.list_events()) == 6


def test_steps_waiting_for_a_mac_are_bounded_per_ip_and_in_all(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bootlog_module, "PENDING_TOTAL", 10)
    bootlog = BootLog(store)
    for _ in range(20):
        bootlog.record("kernel", ip=_ip(0))
    assert _rows(store, BootPendingRow) == bootlog_module.PENDING_PER_IP
    for n in range(1, 50):
        bootlog.record("loader", ip=_ip(n))
    assert _rows(store, BootPendingRow) == 10


def test_steps_waiting_for_a_mac_expire_and_make_room(store: SqlStore) -> None:
    clock = Clock()
    bootlog = BootLog(store, clock)
    bootlog.record("loader", ip=_ip(1))
    clock.now += timedelta(seconds=bootlog_module.PENDING_SECONDS + 1)
    bootlog.record("loader", ip=_ip(2))
    assert _rows(store, BootPendingRow) == 1


def test_ip_bindings_are_bounded_in_all(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootlog_module, "BINDINGS_TOTAL", 8)
    _open_window(store)
    bootlog = BootLog(store)
    for n in range(30):
        bootlog.record("config", mac=MAC, ip=_ip(n))
    assert _rows(store, BootBindingRow) == 8
