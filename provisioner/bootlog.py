"""Boot milestones for the node timeline: DHCP, loader, kernel.

The daemons call :meth:`BootLog.record` at each step of a box's boot. DHCP
knows the MAC; TFTP knows only the client's IP until pxelinux asks for
``pxelinux.cfg/01-<mac>``, so a step seen from an unknown IP waits (briefly)
until DHCP or that request ties the IP to a MAC, and is then written with the
time it happened. Only nodes in an open install window get milestones, and
each kind once per window: the timeline stays short, and the phase timings of
:mod:`provisioner.lifecycle` come from it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from provisioner.domain import Event, Node, utcnow
from provisioner.errors import ProvisionerError
from provisioner.store import Store

log = logging.getLogger(__name__)

KINDS = frozenset({"dhcp", "loader", "config", "kernel"})
#: how long an IP-only step waits for its MAC, and how long we remember an IP's MAC
PENDING_SECONDS = 120.0
LEASE_SECONDS = 3600.0
NODE_CACHE_SECONDS = 2.0


@dataclass
class _Pending:
    kind: str
    detail: str
    at: datetime
    seen: float  # monotonic


class BootLog:
    """Thread-safe; one per process."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._macs: dict[str, tuple[str, float]] = {}  # ip -> (mac, monotonic)
        self._pending: dict[str, list[_Pending]] = {}  # ip -> steps waiting for a MAC
        self._done: set[tuple[str, str, datetime | None]] = set()  # (mac, kind, window)
        self._nodes: dict[str, tuple[Node | None, float]] = {}

    def bind(self, ip: str, mac: str) -> None:
        """DHCP or a per-MAC request told us which box uses ``ip``."""
        with self._lock:
            self._macs[ip] = (mac, time.monotonic())
            waiting = self._pending.pop(ip, [])
        for p in waiting:
            self._write(mac, p.kind, p.detail, p.at)

    def mac_for(self, ip: str) -> str | None:
        """The MAC DHCP (or a per-MAC request) last tied to ``ip``, for log lines."""
        with self._lock:
            known = self._macs.get(ip)
        return known[0] if known and time.monotonic() - known[1] < LEASE_SECONDS else None

    def record(
        self, kind: str, *, mac: str | None = None, ip: str | None = None, detail: str = ""
    ) -> None:
        if kind not in KINDS:
            raise ValueError(kind)
        now = self._clock()
        if mac is None and ip is not None:
            with self._lock:
                known = self._macs.get(ip)
                if known and time.monotonic() - known[1] < LEASE_SECONDS:
                    mac = known[0]
                else:
                    self._prune()
                    self._pending.setdefault(ip, []).append(
                        _Pending(kind, detail, now, time.monotonic())
                    )
                    return
        if mac is not None:
            if ip is not None and kind in {"dhcp", "config"}:
                self.bind(ip, mac)
            self._write(mac, kind, detail, now)

    def _prune(self) -> None:
        cutoff = time.monotonic() - PENDING_SECONDS
        for ip in [ip for ip, ps in self._pending.items() if ps[-1].seen < cutoff]:
            del self._pending[ip]

    def _node(self, mac: str) -> Node | None:
        cached = self._nodes.get(mac)
        if cached and time.monotonic() - cached[1] < NODE_CACHE_SECONDS:
            return cached[0]
        node = self._store.find_node(mac)
        self._nodes[mac] = (node, time.monotonic())
        return node

    def _write(self, mac: str, kind: str, detail: str, at: datetime) -> None:
        try:
            node = self._node(mac)
            if node is None or not node.window_open(at + timedelta(seconds=1)):
                return
            key = (mac, kind, node.window_opened)
            with self._lock:
                if key in self._done:
                    return
                self._done.add(key)
            self._store.add_event(
                Event(kind=f"boot.{kind}", message=detail or kind, mac=mac, time=at)
            )
        except ProvisionerError as exc:  # the timeline must never break a boot
            log.warning("boot log: %s", exc)
