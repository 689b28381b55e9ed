"""What the browser tests put behind the console: a demo rack (for the rack's
tests and screenshots) and hostile strings, written straight into the server's
store (as a database that an older version or another tool filled could hold)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from provisioner.bootparams import Options
from provisioner.db.sqlstore import SqlStore
from provisioner.domain import Event, Node, Profile, Release, State, utcnow

RELEASE = Release("debian", "12.8", "debian-12.8.squashfs", 734_003_200, "ab" * 32)
#: the demo rack's states, by unit: mostly running, an install under way, trouble
DEMO_STATES = (
    [State.RUNNING] * 20
    + [State.INSTALLING] * 8
    + [State.INSTALLED] * 4
    + [State.NEW] * 6
    + [State.FAILED] * 2
)
DEMO_PREFIX = "rack1-u"


@contextlib.contextmanager
def server_store(data_dir: Path) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{data_dir / 'provisioner.db'}")
    try:
        yield store
    finally:
        store.close()


def demo_mac(unit: int) -> str:
    return f"52:54:00:10:00:{unit:02x}"


def set_state(store: SqlStore, mac: str, state: State) -> None:
    store.change_node(mac, lambda n: replace(n, state=state) if n else Node(mac, state=state))


def put_node(store: SqlStore, node: Node) -> None:
    """Store ``node`` as it is (no preflight: what a database may hold)."""
    store.change_node(node.mac, lambda _: node)


def add_demo_rack(store: SqlStore) -> None:
    """40 nodes, rack1-u01..u40, in the states above, with a profile, a release,
    slots and a few events each (idempotent)."""
    if store.find_node(demo_mac(1)) is not None:
        return
    if RELEASE.ref not in {r.ref for r in store.list_releases()}:
        store.add_release(RELEASE)
    store.change_profile(
        "debian-12",
        lambda _: Profile("debian-12", options=Options.parse("keyboard.de_CH lang.de auto")),
    )
    now = utcnow()
    for unit, state in enumerate(DEMO_STATES, start=1):
        mac = demo_mac(unit)
        installed = state in (State.RUNNING, State.INSTALLED)
        node = Node(
            mac,
            hostname=f"{DEMO_PREFIX}{unit:02d}",
            profile="debian-12",
            options=Options.parse(f"ip.192.0.2.{100 + unit} submask.255.255.255.0"),
            release=RELEASE.ref,
            state=state,
            slot_a=RELEASE.ref if installed else None,
            active_slot="A" if installed else None,
            installed_at=now - timedelta(minutes=3) if installed else None,
        )
        put_node(store, node)
        message = {
            State.RUNNING: "running: debian:12.8 in slot A",
            State.INSTALLING: f"image: {unit * 9 % 100} % of debian-12.8.squashfs",
            State.INSTALLED: "installed debian:12.8 in slot A",
            State.NEW: "node created",
            State.FAILED: "install failed: disk /dev/sda not found",
        }[state]
        store.add_event(Event("demo", message, mac=mac, time=now - timedelta(seconds=unit * 17)))
