"""A node with a realistic install history (what a BIOS box reports from DHCP to
its first boot), written into the server's store for the node page's tests and
screenshot: its events carry the times the phase bar is drawn from."""

from __future__ import annotations

from datetime import timedelta

from provisioner.bootparams import Options
from provisioner.db.sqlstore import SqlStore
from provisioner.domain import Action, Event, Node, State, utcnow
from provisioner.lifecycle import phase_timings
from tests.browser.rack_data import RELEASE, put_node

#: (seconds after the install was set, kind, message, actor, agent status)
HISTORY = (
    (0.0, "node.created", "node created: action, hostname, options, release", "ada", ""),
    (2.0, "node.updated", "node updated: action", "otto", ""),
    (31.0, "boot.dhcp", "DHCP offer 192.0.2.61", "", ""),
    (31.4, "boot.loader", "TFTP lpxelinux.0", "", ""),
    (31.9, "boot.config", "HTTP pxelinux.cfg/01-52-54-00-30-00-07", "", ""),
    (33.2, "boot.kernel", "HTTP vmlinuz", "", ""),
    (41.8, "agent.boot", "agent up, action install", "", "running"),
    (42.5, "agent.disk", "disk /dev/vda 20 GiB, blank: fresh install", "", "ok"),
    (44.0, "agent.image", "writing debian:12.8 to slot A", "", "running"),
    (102.3, "agent.image", "image written: 700 MiB in 58 s", "", "ok"),
    (105.9, "agent.verify", "sha256 matches", "", "ok"),
    (107.0, "agent.bootfiles", "GRUB and the slot's kernel installed", "", "ok"),
    (108.2, "agent.files", "settings: hostname, network, keyboard de_CH, lang de", "", "ok"),
    (109.0, "agent.done", "installed debian:12.8 in slot A, rebooting", "", "ok"),
    (131.5, "node.running", "running debian:12.8 from slot A on 192.0.2.61/24", "", ""),
)


def add_installed_node(store: SqlStore, mac: str, hostname: str) -> Node:
    """``mac`` installed ``debian:12.8`` into slot A two minutes ago and runs it."""
    start = utcnow() - timedelta(minutes=3)
    events = [
        Event(kind, message, mac=mac, time=start + timedelta(seconds=at), actor=actor or None,
              data={"status": status} if status else {})
        for at, kind, message, actor, status in HISTORY
    ]  # fmt: skip
    done = next(e for e in events if e.kind == "agent.done")
    phases = phase_timings(events, done.time, {})
    running = next(e for e in events if e.kind == "node.running")
    phases["firstboot"] = round((running.time - done.time).total_seconds(), 1)
    node = Node(
        mac,
        hostname=hostname,
        options=Options.parse("ip.192.0.2.61 submask.255.255.255.0 keyboard.de_CH lang.de"),
        release=RELEASE.ref,
        action=Action.LOCAL,
        state=State.RUNNING,
        slot_a=RELEASE.ref,
        slot_b="debian:12.7",
        active_slot="A",
        installed_at=done.time,
        install_seconds=round((done.time - events[2].time).total_seconds(), 1),
        phases=phases,
        running={"release": RELEASE.ref, "slot": "A", "addresses": "192.0.2.61/24"},
    )
    put_node(store, node)
    for event in events:
        store.add_event(event)
    return node
