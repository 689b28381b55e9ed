"""Boot milestones for the node timeline: DHCP, loader, kernel.

The daemons call :meth:`BootLog.record` at each step of a box's boot. DHCP
knows the MAC; TFTP knows only the client's IP until pxelinux asks for
``pxelinux.cfg/01-<mac>``, so a step seen from an unknown IP waits (briefly)
until DHCP or that request ties the IP to a MAC, and is then written with the
time it happened. Only nodes in an open install window get milestones, and
each kind once per window: the timeline stays short, and the phase timings of
:mod:`provisioner.lifecycle` come from it.

An IP that names two boxes within seconds is shared (a proxy or NAT in front,
such as nginx on 127.0.0.1 in ``docs/nginx-provisioner.conf``): for a while no
step is tied to a box by that IP, rather than to whichever box bound it last.

The IP bindings of boxes in an install window, the waiting steps and the
milestones written live in the store, so every process (each HTTP worker, the
network-boot process) sees the others' and none is lost whichever process saw
it. A box outside any window (booting its disk) costs no write: its binding
stays in the process that saw it, for log lines. The boot endpoints are
open, so what a client can make the store keep is bounded: waiting steps per
IP and in all, bindings in all, and both expire.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from provisioner.bootview import BootView
from provisioner.domain import Event, utcnow
from provisioner.errors import ProvisionerError
from provisioner.store import BootStep, Store

log = logging.getLogger(__name__)

KINDS = frozenset({"dhcp", "loader", "config", "kernel"})
#: how long an IP-only step waits for its MAC, and how long we remember an IP's MAC
PENDING_SECONDS = 120.0
LEASE_SECONDS = 3600.0
#: how old a node may be when deciding whether it is in an install window
NODE_CACHE_SECONDS = 2.0
#: what any client can make the store keep
PENDING_PER_IP = 8
PENDING_TOTAL = 1024
BINDINGS_TOTAL = 4096
#: per-process memos: an IP's MAC (seconds), milestones known written (entries)
LOCAL_SECONDS = 5.0
LOCAL_ENTRIES = 4096
#: an IP that names two boxes within LOCAL_SECONDS is shared (a proxy or NAT in front,
#: e.g. nginx on 127.0.0.1): for this long, steps from it are tied to no box by IP
SHARED_SECONDS = 60.0


class BootLog:
    """Thread-safe; one per process (its memos only save store round trips)."""

    def __init__(
        self, store: Store, clock: Callable[[], datetime] = utcnow, view: BootView | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._view = view or BootView(store)
        self._lock = threading.Lock()
        self._macs: dict[str, tuple[str, float]] = {}  # ip -> (mac, monotonic)
        self._done: dict[tuple[str, str, str], None] = {}  # (mac, kind, window), oldest first
        self._shared: dict[str, float] = {}  # ip -> monotonic time it was last seen shared

    def bind(self, ip: str, mac: str) -> None:
        """DHCP or a per-MAC request told us which box uses ``ip``."""
        known = self._known(ip)
        if known == mac:
            # the store has this binding (we wrote or read it moments ago), and the
            # steps that waited for it were taken then; later ones see it (_wait)
            return
        if known is not None or self._is_shared(ip):
            # two boxes behind one IP at once: whichever bound it last is no answer
            # for an IP-only step, so the IP is tied to no box (and costs no write)
            with self._lock:
                if len(self._shared) >= LOCAL_ENTRIES:
                    self._shared.clear()
                self._shared[ip] = time.monotonic()
                self._macs.pop(ip, None)
            return
        now = self._clock()
        try:
            if self._window(mac, now) is None:
                # nothing of this boot goes on a timeline: no other process needs
                # the binding, so it stays here (for log lines) and the store is
                # not written; a box booting its disk costs no write
                self._remember(ip, mac)
                return
            stale = now - timedelta(seconds=LEASE_SECONDS)
            # one transaction: after it, a step another process queues either sees
            # the binding or was taken here (see _wait)
            waiting = self._store.bind_ip(ip, mac, now, stale=stale, limit=BINDINGS_TOTAL)
            self._remember(ip, mac)
        except ProvisionerError as exc:  # the timeline must never break a boot
            log.warning("boot log: %s", exc)
            return
        for p in waiting:
            self._write(mac, p.kind, p.detail, p.at)

    def mac_for(self, ip: str) -> str | None:
        """The MAC DHCP (or a per-MAC request) last tied to ``ip``, for log lines;
        None for a shared IP."""
        if self._is_shared(ip):
            return None
        known = self._known(ip)
        if known is not None:
            return known
        try:
            mac = self._store.ip_binding(ip, self._clock() - timedelta(seconds=LEASE_SECONDS))
        except ProvisionerError as exc:
            log.warning("boot log: %s", exc)
            return None
        if mac is not None:
            self._remember(ip, mac)
        return mac

    def record(
        self, kind: str, *, mac: str | None = None, ip: str | None = None, detail: str = ""
    ) -> None:
        if kind not in KINDS:
            raise ValueError(kind)
        now = self._clock()
        if mac is None and ip is not None:
            mac = self.mac_for(ip)
            if mac is None:
                if not self._is_shared(ip):  # a shared IP names no box to wait for
                    self._wait(ip, BootStep(kind, detail, now))
                return
        if mac is not None:
            if ip is not None and kind in {"dhcp", "config"}:
                self.bind(ip, mac)
            self._write(mac, kind, detail, now)

    def _wait(self, ip: str, step: BootStep) -> None:
        """Queue ``step`` for ``ip``; then look again, for a binding that committed
        after our first look and took the queue before our step was in it."""
        stale = step.at - timedelta(seconds=PENDING_SECONDS)
        try:
            kept = self._store.add_pending(
                ip, step, stale=stale, per_ip=PENDING_PER_IP, limit=PENDING_TOTAL
            )
            if not kept:
                log.info("boot log: step %s from %s dropped (too many waiting)", step.kind, ip)
                return
            since = self._clock() - timedelta(seconds=LEASE_SECONDS)
            mac = self._store.ip_binding(ip, since)
            if mac is None:
                return
            waiting = self._store.take_pending(ip)
        except ProvisionerError as exc:
            log.warning("boot log: %s", exc)
            return
        for p in waiting:
            self._write(mac, p.kind, p.detail, p.at)

    def _is_shared(self, ip: str) -> bool:
        with self._lock:
            seen = self._shared.get(ip)
            if seen is None:
                return False
            if time.monotonic() - seen < SHARED_SECONDS:
                return True
            del self._shared[ip]
            return False

    def _known(self, ip: str) -> str | None:
        with self._lock:
            known = self._macs.get(ip)
        return known[0] if known and time.monotonic() - known[1] < LOCAL_SECONDS else None

    def _remember(self, ip: str, mac: str) -> None:
        with self._lock:
            if len(self._macs) >= LOCAL_ENTRIES:
                self._macs.clear()
            self._macs[ip] = (mac, time.monotonic())

    def _write(self, mac: str, kind: str, detail: str, at: datetime) -> None:
        try:
            window = self._window(mac, at)
            if window is None:
                return
            key = (mac, kind, window)
            with self._lock:
                if key in self._done:
                    return
            event = Event(kind=f"boot.{kind}", message=detail or kind, mac=mac, time=at)
            self._store.add_milestone(window, event)
            with self._lock:
                self._done[key] = None
                if len(self._done) > LOCAL_ENTRIES:
                    del self._done[next(iter(self._done))]
        except ProvisionerError as exc:  # the timeline must never break a boot
            log.warning("boot log: %s", exc)

    def _window(self, mac: str, at: datetime) -> str | None:
        """The install window ``mac`` is in at ``at`` (its opening time), or None."""
        node = self._view.snapshot(max_age=NODE_CACHE_SECONDS).node(mac)
        if node is None or not node.window_open(at + timedelta(seconds=1)):
            return None
        return node.window_opened.isoformat() if node.window_opened else "-"


class Later:
    """Runs boot-log calls in order on a thread of their own: the daemons' event
    loop never waits for the store (the milestones are written there). A full
    queue drops the call: the timeline must never slow a boot."""

    def __init__(self, size: int = 1024) -> None:
        self._queue: queue.Queue[Callable[[], None]] = queue.Queue(size)
        threading.Thread(target=self._run, name="bootlog", daemon=True).start()

    def __call__(self, call: Callable[[], None]) -> None:
        try:
            self._queue.put_nowait(call)
        except queue.Full:
            log.warning("boot log: queue full, a milestone is dropped")

    def _run(self) -> None:
        while True:
            call = self._queue.get()
            try:
                call()
            except Exception:  # the timeline must never stop the daemons
                log.exception("boot log failed")
