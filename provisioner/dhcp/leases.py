"""Addresses for full DHCP: reservations from the nodes' IP profiles, a pool,
and the lease table. Pure: no I/O; the daemon persists what :meth:`LeaseTable.
take_changes` hands it and feeds a fresh :class:`Snapshot` when nodes change.

Invariants (the tests check them):

* an address is bound to at most one MAC at a time -- leases, offers still
  waiting for their REQUEST, and reservations all count;
* a reserved address (``ip.`` of a node's effective options) is never handed
  out from the pool, and goes only to its node;
* no conflict detection by ping: a ping per address is serial work (dnsmasq's
  3 s ping made 3 of 8 VMs in the lab miss their OFFER). A client that finds
  its address in use says so with DHCPDECLINE, and the address is set aside.

Any client may send DHCP, so what the table keeps is bounded by the addresses
it hands out (pool and reservations), never by the MACs it hears: leases,
offers and declines are keyed by address (the policy declines only addresses
that are ours), a MAC has an entry only while it holds an address, and the
queue of offers is compacted to the offers still held when it grows past
twice their number.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from provisioner.bootparams import Options
from provisioner.domain import Lease

#: entries the offer queue may have beyond twice the offers held before it is compacted
HOLD_QUEUE_SLACK = 64


@dataclass(frozen=True, slots=True)
class NodeNet:
    """A known node's network profile: from ``ip.``/``submask.``/``gw.``/``dns.``."""

    ip: IPv4Address | None = None
    netmask: IPv4Address | None = None
    router: IPv4Address | None = None
    dns: tuple[IPv4Address, ...] = ()
    hostname: str | None = None


def _ip(value: str | None) -> IPv4Address | None:
    try:
        return IPv4Address(value) if value else None
    except ValueError:
        return None


def node_net(options: Options, hostname: str | None = None) -> NodeNet:
    """The DHCP view of a node's effective dot-options."""
    dns = tuple(a for a in (_ip(d) for d in (options.get("dns") or "").split(",")) if a)
    return NodeNet(
        ip=_ip(options.get("ip")),
        netmask=_ip(options.get("submask")),
        router=_ip(options.get("gw")),
        dns=dns,
        hostname=hostname,
    )


@dataclass(frozen=True)
class Snapshot:
    """The known nodes at one moment, by MAC, and who owns each reservation."""

    nodes: Mapping[str, NodeNet] = field(default_factory=dict)
    #: reserved address (as int) -> MAC
    reserved: Mapping[int, str] = field(default_factory=dict)
    #: reservations that could not be honoured, for the log
    problems: tuple[str, ...] = ()
    #: MAC -> address reserved in the settings (a subnet's ``reservations``)
    fixed: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        nodes: Iterable[tuple[str, NodeNet]],
        not_reservable: Iterable[IPv4Address] = (),
        fixed: Iterable[tuple[str, IPv4Address]] = (),
    ) -> Snapshot:
        """Reservations in the settings (``fixed``) come first; two nodes with the
        same ``ip.``: the first MAC in sort order keeps it."""
        by_mac = dict(sorted(nodes))
        fixed_by_mac = {mac: int(ip) for mac, ip in fixed}
        reserved = {ip: mac for mac, ip in fixed_by_mac.items()}
        problems: list[str] = []
        blocked = {int(a) for a in not_reservable}
        for mac, net in by_mac.items():
            if net.ip is None:
                continue
            key = int(net.ip)
            if key in blocked:
                problems.append(f"node {mac}: ip.{net.ip} is the server's or router's address")
            elif key in reserved:
                problems.append(f"node {mac}: ip.{net.ip} is already reserved for {reserved[key]}")
            elif mac in fixed_by_mac:
                problems.append(f"node {mac}: ip.{net.ip} ignored, the settings reserve another")
            else:
                reserved[key] = mac
        return cls(by_mac, reserved, tuple(problems), fixed_by_mac)

    def reservation(self, mac: str) -> int | None:
        if mac in self.fixed:
            return self.fixed[mac]
        net = self.nodes.get(mac)
        if net is None or net.ip is None:
            return None
        key = int(net.ip)
        return key if self.reserved.get(key) == mac else None


@dataclass(frozen=True, slots=True)
class Scope:
    """Where one client may get an address: its subnet and that subnet's pools
    (inclusive ranges as ints, each one of the table's)."""

    network: IPv4Network
    ranges: tuple[tuple[int, int], ...]

    def __contains__(self, ip: object) -> bool:
        net = self.network
        return isinstance(ip, int) and int(net.network_address) <= ip <= int(net.broadcast_address)


@dataclass(frozen=True, slots=True)
class Hold:
    """Set ``ip`` aside for ``mac`` until ``until`` (an OFFER); ``cursor``: where
    the next search of the pool starts, when the address came from that search."""

    mac: str
    ip: int
    until: float
    cursor: int | None = None


@dataclass(frozen=True, slots=True)
class Bind:
    """Record ``lease`` (an ACK)."""

    lease: Lease


@dataclass(frozen=True, slots=True)
class Release:
    ip: int
    mac: str


@dataclass(frozen=True, slots=True)
class Decline:
    """The client found ``ip`` in use: nobody gets it until ``until``."""

    ip: int
    mac: str
    until: float


@dataclass(frozen=True, slots=True)
class ForgetOffer:
    """``mac`` chose another server."""

    mac: str


#: what the policy decides to do to the table; :meth:`LeaseTable.apply` does it
Change = Hold | Bind | Release | Decline | ForgetOffer


class LeaseTable:
    """Leases, offers in flight and declined addresses, in memory.

    The policy only asks it questions (:meth:`assignable`, :meth:`choose`, ...)
    and returns a :data:`Change`; the daemon hands that to :meth:`apply`.

    Addresses are ints inside; ``now`` is always passed in (seconds since the
    epoch) so the table never reads a clock.
    """

    def __init__(
        self,
        pool: tuple[IPv4Address, IPv4Address] | None,
        leases: Iterable[Lease] = (),
        exclude: Iterable[IPv4Address] = (),
        *,
        pools: Sequence[tuple[IPv4Address, IPv4Address]] = (),
    ) -> None:
        ranges = ([pool] if pool else []) + list(pools)
        #: inclusive (first, last) ranges, as ints (every subnet's pools)
        self.ranges = sorted((int(a), int(b)) for a, b in ranges)
        self.first, self.last = self.ranges[0] if self.ranges else (1, 0)
        self._exclude = {int(a) for a in exclude}
        #: range start -> where the next search of that range starts
        self._cursors = {first: first for first, _ in self.ranges}
        self._by_ip: dict[int, Lease] = {}
        self._by_mac: dict[str, int] = {}
        self._holds: dict[int, tuple[str, float]] = {}
        self._hold_of: dict[str, int] = {}
        #: (until, ip) in the order offers were made: expiry without a full scan
        self._hold_queue: deque[tuple[float, int]] = deque()
        self._declined: dict[int, float] = {}  # only addresses that are ours (the policy checks)
        self._changes: dict[int, Lease | None] = {}
        for lease in leases:
            self._by_ip[int(lease.ip)] = lease
            self._by_mac[lease.mac] = int(lease.ip)

    def __len__(self) -> int:
        return len(self._by_ip)

    def in_pool(self, ip: int) -> bool:
        if ip in self._exclude:
            return False
        for first, last in self.ranges:  # noqa: SIM110 - any() builds a generator per packet
            if first <= ip <= last:
                return True
        return False

    def lease_of(self, mac: str) -> Lease | None:
        ip = self._by_mac.get(mac)
        return None if ip is None else self._by_ip.get(ip)

    def leases(self) -> list[Lease]:
        return list(self._by_ip.values())

    # -- who may have an address ------------------------------------------------------
    def _taken_by_other(self, ip: int, mac: str, now: float) -> bool:
        lease = self._by_ip.get(ip)
        if lease is not None and lease.mac != mac and lease.expires > now:
            return True
        hold = self._holds.get(ip)
        if hold is not None and hold[0] != mac and hold[1] > now:
            return True
        return self._declined.get(ip, 0.0) > now

    def assignable(self, ip: int, mac: str, snap: Snapshot, now: float) -> bool:
        """May ``mac`` have ``ip`` right now?"""
        owner = snap.reserved.get(ip)
        if owner is not None:
            return owner == mac and not self._taken_by_other(ip, mac, now)
        return self.in_pool(ip) and not self._taken_by_other(ip, mac, now)

    def ours(self, ip: int, snap: Snapshot) -> bool:
        """Is ``ip`` an address this server hands out (so it may NAK it)?"""
        return ip in snap.reserved or self.in_pool(ip)

    # -- DISCOVER ---------------------------------------------------------------------------
    def offer(
        self, mac: str, snap: Snapshot, requested: int | None, now: float, hold: float
    ) -> int | None:
        """:meth:`choose` an address for ``mac`` and set it aside for ``hold`` seconds."""
        change = self.choose(mac, snap, requested, now, hold)
        if change is None:
            return None
        self.apply(change)
        return change.ip

    def choose(
        self,
        mac: str,
        snap: Snapshot,
        requested: int | None,
        now: float,
        hold: float,
        *,
        scope: Scope | None = None,
    ) -> Hold | None:
        """The address to offer ``mac`` (changes nothing): its reservation, else
        its current lease or pending offer, else the address it asks for, else the
        next free one in the pool -- all within ``scope`` (the client's subnet)
        when one is given."""
        reserved = snap.reservation(mac)
        if reserved is not None and (scope is None or reserved in scope):
            ok = self.assignable(reserved, mac, snap, now)
            return Hold(mac, reserved, now + hold) if ok else None
        for candidate in (self._by_mac.get(mac), self._hold_of.get(mac), requested):
            if candidate is None or (scope is not None and candidate not in scope):
                continue
            if self.assignable(candidate, mac, snap, now):
                return Hold(mac, candidate, now + hold)
        ranges = self.ranges if scope is None else scope.ranges
        for first, last in ranges:
            ip = self._next_free(first, last, mac, snap, now)
            if ip is not None:
                return Hold(mac, ip, now + hold, cursor=ip + 1)
        return None

    def _next_free(self, first: int, last: int, mac: str, snap: Snapshot, now: float) -> int | None:
        ip = self._cursors.get(first, first)
        for _ in range(max(last - first + 1, 0)):
            if ip > last:
                ip = first
            if ip not in self._by_ip and self.assignable(ip, mac, snap, now):
                return ip
            ip += 1
        # second round: addresses whose lease has run out
        for ip in range(first, last + 1):
            if self.assignable(ip, mac, snap, now):
                return ip
        return None

    def apply(self, change: Change | None) -> None:
        """Carry out what the policy decided (None: nothing)."""
        match change:
            case Hold(mac, ip, until, cursor):
                old = self._hold_of.get(mac)
                if old is not None and old != ip:
                    self._unhold(old)
                self._unhold(ip)  # an offer to another MAC that ran out, not yet expired
                self._holds[ip] = (mac, until)
                self._hold_of[mac] = ip
                self._hold_queue.append((until, ip))
                if len(self._hold_queue) > 2 * len(self._holds) + HOLD_QUEUE_SLACK:
                    self._compact_holds()
                if cursor is not None:
                    self._advance(cursor)
            case Bind(lease):
                self._bind(lease)
            case Release(ip, mac):
                self.release(ip, mac)
            case Decline(ip, mac, until):
                self._decline(ip, mac, until)
            case ForgetOffer(mac):
                self.forget_offer(mac)
            case None:
                pass

    def _advance(self, cursor: int) -> None:
        for first, last in self.ranges:
            if first <= cursor - 1 <= last:
                self._cursors[first] = cursor
                return

    # -- REQUEST, DECLINE, RELEASE ------------------------------------------------------------
    def bind(
        self, ip: int, mac: str, now: float, lease_time: int, hostname: str | None = None
    ) -> Lease:
        """Record the lease (the caller checked :meth:`assignable`)."""
        lease = Lease(IPv4Address(ip), mac, now + lease_time, hostname)
        self._bind(lease)
        return lease

    def _bind(self, lease: Lease) -> None:
        ip, mac = int(lease.ip), lease.mac
        old_ip = self._by_mac.get(mac)
        if old_ip is not None and old_ip != ip:
            self._drop(old_ip)
        previous = self._by_ip.get(ip)
        if previous is not None and previous.mac != mac:
            self._by_mac.pop(previous.mac, None)
        self._by_ip[ip] = lease
        self._by_mac[mac] = ip
        self._changes[ip] = lease
        hold = self._hold_of.get(mac)
        if hold is not None:
            self._unhold(hold)
        self._unhold(ip)

    def _unhold(self, ip: int) -> None:
        """Drop the offer of ``ip``, and its MAC's pointer to it."""
        hold = self._holds.pop(ip, None)
        if hold is not None and self._hold_of.get(hold[0]) == ip:
            del self._hold_of[hold[0]]

    def _compact_holds(self) -> None:
        """The queue again holds only the offers still held (renewed offers leave
        entries behind): its length stays within twice the offers, themselves at
        most one per address."""
        self._hold_queue = deque(sorted((until, ip) for ip, (_, until) in self._holds.items()))

    def _drop(self, ip: int) -> None:
        lease = self._by_ip.pop(ip, None)
        if lease is not None:
            if self._by_mac.get(lease.mac) == ip:
                del self._by_mac[lease.mac]
            self._changes[ip] = None

    def release(self, ip: int, mac: str) -> bool:
        lease = self._by_ip.get(ip)
        if lease is None or lease.mac != mac:
            return False
        self._drop(ip)
        return True

    def decline(self, ip: int, mac: str, now: float, backoff: float) -> None:
        """The client found ``ip`` in use: nobody gets it for ``backoff`` seconds."""
        self._decline(ip, mac, now + backoff)

    def _decline(self, ip: int, mac: str, until: float) -> None:
        lease = self._by_ip.get(ip)
        if lease is not None and lease.mac == mac:
            self._drop(ip)
        self._declined[ip] = until
        self.forget_offer(mac)

    def forget_offer(self, mac: str) -> None:
        ip = self._hold_of.get(mac)
        if ip is not None:
            self._unhold(ip)

    def expire_holds(self, now: float) -> int:
        """Drop offers nobody requested and declines that are over; returns how many."""
        queue, stale = self._hold_queue, 0
        while queue and queue[0][0] <= now:
            until, ip = queue.popleft()
            hold = self._holds.get(ip)
            if hold is not None and hold[1] == until:  # not renewed or taken since
                self._unhold(ip)
                stale += 1
        for ip in [ip for ip, until in self._declined.items() if until <= now]:
            del self._declined[ip]
        return stale

    def take_changes(self) -> tuple[list[Lease], list[IPv4Address]]:
        """What changed since the last call: leases to save, addresses to forget."""
        changes, self._changes = self._changes, {}
        saved = [lease for lease in changes.values() if lease is not None]
        gone = [IPv4Address(ip) for ip, lease in changes.items() if lease is None]
        return saved, gone

    def requeue(self, saved: Iterable[Lease], gone: Iterable[IPv4Address]) -> None:
        """Give back changes that could not be written, unless newer ones exist."""
        for lease in saved:
            self._changes.setdefault(int(lease.ip), lease)
        for ip in gone:
            self._changes.setdefault(int(ip), None)
