"""The lease table and reservations (provisioner.dhcp.leases): no address is ever
bound to two MACs, whatever the clients do, and reservations go only to their node."""

from __future__ import annotations

from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.bootparams import Options
from provisioner.dhcp import leases
from provisioner.dhcp.leases import LeaseTable, NodeNet, Snapshot, node_net

FIRST = int(IPv4Address("192.0.2.100"))
POOL = (IPv4Address("192.0.2.100"), IPv4Address("192.0.2.105"))
MACS = [f"52:54:00:00:00:{n:02x}" for n in range(10)]


def test_node_net_reads_the_ip_profile_dot_options() -> None:
    net = node_net(
        Options.parse(
            "auto ip.192.0.2.50 submask.255.255.255.0 gw.192.0.2.1 dns.192.0.2.1,192.0.2.2"
        ),
        "box1",
    )
    assert net == NodeNet(
        IPv4Address("192.0.2.50"),
        IPv4Address("255.255.255.0"),
        IPv4Address("192.0.2.1"),
        (IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")),
        "box1",
    )
    assert node_net(Options.parse("lang.de")) == NodeNet()


def test_two_nodes_with_the_same_ip_the_first_mac_keeps_it_and_the_conflict_is_reported() -> None:
    ip = IPv4Address("192.0.2.50")
    snap = Snapshot.build(
        [
            (MACS[2], NodeNet(ip)),
            (MACS[1], NodeNet(ip)),
            (MACS[3], NodeNet(IPv4Address("192.0.2.1"))),
        ],
        [IPv4Address("192.0.2.1")],
    )
    assert snap.reserved == {int(ip): MACS[1]}
    assert snap.reservation(MACS[2]) is None
    assert len(snap.problems) == 2


def test_the_server_address_is_never_handed_out_from_the_pool() -> None:
    table = LeaseTable(POOL, (), [IPv4Address("192.0.2.100")])
    assert table.offer(MACS[0], Snapshot(), None, 0.0, 60) == FIRST + 1


def test_expired_leases_are_reused_only_when_nothing_fresh_is_left() -> None:
    table = LeaseTable((POOL[0], POOL[0]))
    table.bind(FIRST, MACS[0], now=0.0, lease_time=60)
    assert table.offer(MACS[1], Snapshot(), None, 30.0, 60) is None
    assert table.offer(MACS[1], Snapshot(), None, 61.0, 60) == FIRST
    table.bind(FIRST, MACS[1], now=61.0, lease_time=60)
    assert table.lease_of(MACS[0]) is None


def test_offers_nobody_requested_expire() -> None:
    table = LeaseTable((POOL[0], POOL[0]))
    table.offer(MACS[0], Snapshot(), None, 0.0, 60)
    assert table.offer(MACS[1], Snapshot(), None, 10.0, 60) is None
    assert table.expire_holds(61.0) == 1
    assert table.offer(MACS[1], Snapshot(), None, 61.0, 60) == FIRST


def test_changes_not_written_are_given_back() -> None:
    table = LeaseTable(POOL)
    table.bind(FIRST, MACS[0], 0.0, 60)
    saved, gone = table.take_changes()
    table.requeue(saved, gone)
    assert table.take_changes() == (saved, gone)
    assert table.take_changes() == ([], [])


# -- the invariant, under any sequence of client actions ------------------------------------

actions = st.lists(
    st.tuples(
        st.sampled_from(["discover", "request", "release", "decline", "tick", "reload"]),
        st.integers(0, len(MACS) - 1),
        st.integers(0, 7),  # an address offset (some outside the pool)
    ),
    max_size=60,
)
reservations = st.dictionaries(st.integers(0, len(MACS) - 1), st.integers(0, 7), max_size=4)


def _check(table: LeaseTable, snap: Snapshot, now: float) -> None:
    owners: dict[int, str] = {}
    for lease in table.leases():
        if lease.expires > now:
            ip = int(lease.ip)
            assert ip not in owners, f"{lease.ip} leased to {owners[ip]} and {lease.mac}"
            owners[ip] = lease.mac
    for ip, (mac, until) in table._holds.items():
        if until > now and ip in owners:
            assert owners[ip] == mac, f"{IPv4Address(ip)} offered to {mac}, leased to {owners[ip]}"


@settings(max_examples=300)
@given(actions, reservations, reservations)
def test_no_address_is_ever_bound_to_two_macs(
    steps: list[tuple[str, int, int]], first: dict[int, int], second: dict[int, int]
) -> None:
    def snapshot(res: dict[int, int]) -> Snapshot:
        nodes = [(MACS[m], NodeNet(IPv4Address(FIRST + off))) for m, off in res.items()]
        return Snapshot.build(nodes)

    snap, table, now = snapshot(first), LeaseTable(POOL), 0.0
    for action, m, off in steps:
        mac, ip = MACS[m], FIRST + off
        if action == "discover":
            got = table.offer(mac, snap, ip, now, 60)
            if got is not None:
                assert table.assignable(got, mac, snap, now)
        elif action == "request" and table.assignable(ip, mac, snap, now):
            assert snap.reserved.get(ip) in (None, mac)  # a reservation goes to its node only
            table.bind(ip, mac, now, 120)
        elif action == "release":
            table.release(ip, mac)
        elif action == "decline":
            table.decline(ip, mac, now, 30)
        elif action == "tick":
            now += 25
            table.expire_holds(now)
        elif action == "reload":
            # reservations change under running leases: a lease already given keeps
            # running, but nobody else is given the address from now on
            snap = snapshot(second)
        _check(table, snap, now)
        for ip_, owner in snap.reserved.items():
            for other in MACS:
                if other != owner:
                    assert not table.assignable(ip_, other, snap, now)


def _random_macs(count: int) -> list[str]:
    return [f"02:00:{n >> 24 & 255:02x}:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}"
            for n in range(count)]  # fmt: skip


def test_offers_to_any_number_of_macs_keep_at_most_one_entry_per_pool_address() -> None:
    # offers run out between housekeeping rounds and go to the next MAC: each MAC's
    # pointer to its old offer goes with it, and the queue is compacted
    table, size = LeaseTable(POOL), 6
    for n, mac in enumerate(_random_macs(5000)):
        table.offer(mac, Snapshot(), None, float(n), 1.0)
    assert len(table._holds) <= size
    assert len(table._hold_of) <= size
    assert len(table._hold_queue) <= 2 * size + leases.HOLD_QUEUE_SLACK


def test_an_offer_renewed_many_times_keeps_the_queue_bounded() -> None:
    table = LeaseTable(POOL)
    for n in range(5000):
        table.offer(MACS[0], Snapshot(), None, float(n) / 1000, 60.0)
    assert len(table._hold_queue) <= 2 + leases.HOLD_QUEUE_SLACK
    assert table.expire_holds(100.0) == 1
    assert not table._holds
    assert not table._hold_of


def test_an_old_pointer_never_takes_another_macs_offer() -> None:
    table = LeaseTable((POOL[0], POOL[0]))
    table.offer(MACS[0], Snapshot(), None, 0.0, 1.0)
    assert table.offer(MACS[1], Snapshot(), None, 2.0, 60.0) == FIRST  # MACS[0]'s ran out
    table.offer(MACS[0], Snapshot(), None, 3.0, 60.0)  # nothing free for it
    table.forget_offer(MACS[0])
    assert table._holds == {FIRST: (MACS[1], 62.0)}
    assert table._hold_of == {MACS[1]: FIRST}
