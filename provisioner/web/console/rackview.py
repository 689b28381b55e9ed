"""The rack overview's rows: every node with what a technician scans for, and
the search, filter and sort the page's query string asks for (server-side, so
the page works without JavaScript)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from provisioner.bootview import BootSnapshot, Effective
from provisioner.domain import Event, Node, Profile, State


@dataclass(frozen=True, slots=True)
class RackRow:
    mac: str
    hostname: str
    ip: str
    profile: str
    release: str
    slot: str  # the active slot and the release in it, "A: debian:12"
    state: State
    event: str  # the newest event's message
    event_time: datetime | None

    def age(self, now: datetime) -> str:
        """How long ago the newest event was, short: 42 s, 5 min, 3 h, 2 d."""
        if self.event_time is None:
            return ""
        seconds = max(0, int((now - self.event_time).total_seconds()))
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if seconds >= size:
                return f"{seconds // size} {unit}"
        return f"{seconds} s"


def _ip(node: Node, snap: BootSnapshot) -> str:
    own = node.options.get("ip")
    if own:
        return own
    profile = snap.catalog.profiles.get(node.profile) if node.profile else None
    return (profile.options.get("ip") if profile else None) or ""


def _slot(node: Node) -> str:
    if node.active_slot not in ("A", "B"):
        return ""
    held = node.slot_a if node.active_slot == "A" else node.slot_b
    return f"{node.active_slot}: {held}" if held else node.active_slot


def rows(
    snap: BootSnapshot, latest: Mapping[str, Event], now: datetime, confirm_seconds: float
) -> list[RackRow]:
    out = []
    for node in snap.nodes.values():
        event = latest.get(node.mac)
        out.append(
            RackRow(
                mac=node.mac,
                hostname=node.hostname or "",
                ip=_ip(node, snap),
                profile=node.profile or "",
                release=node.release or "",
                slot=_slot(node),
                state=node.shown_state(now, confirm_seconds),
                event=event.message if event else "",
                event_time=event.time if event else None,
            )
        )
    return out


def _ip_key(row: RackRow) -> tuple[int, int]:
    try:
        return (0, int(ipaddress.IPv4Address(row.ip)))
    except ValueError:
        return (1, 0)


#: the columns one may sort by (query ``sort=``), each with its key
SORTS: dict[str, Callable[[RackRow], Any]] = {
    "mac": lambda r: r.mac,
    "hostname": lambda r: (r.hostname == "", r.hostname),
    "ip": _ip_key,
    "profile": lambda r: (r.profile == "", r.profile),
    "release": lambda r: (r.release == "", r.release),
    "state": lambda r: r.state.value,
    "age": lambda r: (r.event_time is None, -(r.event_time.timestamp() if r.event_time else 0)),
}


@dataclass(frozen=True)
class Query:
    """What the page's query string asks for; unknown values fall back to defaults."""

    q: str = ""
    state: str = ""
    sort: str = "hostname"
    desc: bool = False
    view: str = "table"

    @classmethod
    def of(cls, args: Mapping[str, str]) -> Query:
        state = args.get("state", "")
        sort = args.get("sort", "hostname")
        return cls(
            q=args.get("q", "").strip()[:100],
            state=state if state in {s.value for s in State} else "",
            sort=sort if sort in SORTS else "hostname",
            desc=args.get("dir") == "desc",
            view="grid" if args.get("view") == "grid" else "table",
        )

    def apply(self, found: Iterable[RackRow]) -> list[RackRow]:
        needle = self.q.lower()
        chosen = [
            r
            for r in found
            if (not self.state or r.state.value == self.state)
            and (
                not needle
                or any(needle in v.lower() for v in (r.mac, r.hostname, r.ip, r.profile, r.release))
            )
        ]
        return sorted(chosen, key=SORTS[self.sort], reverse=self.desc)

    def link(self, **changes: str) -> dict[str, str]:
        """Query arguments for a link that keeps the rest: ``url_for(..., **link)``."""
        args = {"q": self.q, "state": self.state, "sort": self.sort, "view": self.view}
        args["dir"] = "desc" if self.desc else "asc"
        args.update(changes)
        return {k: v for k, v in args.items() if v}


def used_by(
    snap: BootSnapshot,
    named_by: Callable[[Profile], str | None],
    installs: Callable[[Effective], str | None],
) -> dict[str, list[str]]:
    """Name -> who uses it (``profile P``, then node host names or MACs): a profile by
    its ``named_by`` (its release or bundle), a node by what it ``installs`` (its own
    or its profile's). What the releases and bundles pages show, and why a delete
    is refused."""
    found: dict[str, list[str]] = {}
    for p in snap.catalog.profiles.values():
        name = named_by(p)
        if name:
            found.setdefault(name, []).append(f"profile {p.name}")
    for n in snap.nodes.values():
        name = installs(snap.effective(n))
        if name is not None:
            found.setdefault(name, []).append(n.hostname or n.mac)
    return found
