"""Group commit against a real store (SQLite and PostgreSQL): an ACK goes out only
after its lease is committed, the ACKs of a few milliseconds share a transaction,
and when the transaction fails no ACK goes out while the lease is written later."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address

import sqlalchemy as sa

from provisioner.config import Settings
from provisioner.db.sqlstore import SqlStore
from provisioner.dhcp.commit import GroupCommit
from provisioner.dhcp.leases import Bind, LeaseTable, Release
from provisioner.dhcp.packet import Packet
from provisioner.dhcp.policy import Reply
from provisioner.domain import Lease

POOL = (IPv4Address("192.0.2.100"), IPv4Address("192.0.2.199"))
NOW = 1_800_000_000.0


def mac(n: int) -> str:
    return f"52:54:00:c0:03:{n:02x}"


def ack(n: int) -> tuple[Lease, Reply]:
    ip = IPv4Address(int(POOL[0]) + n)
    packet = Packet(op=2, xid=n, chaddr=bytes.fromhex(mac(n).replace(":", "")), yiaddr=ip)
    return Lease(ip, mac(n), NOW + 3600, None), Reply(packet, ("192.0.2.2", 67))


def stored(store: SqlStore) -> dict[str, str]:
    return {str(x.ip): x.mac for x in store.list_leases()}


def test_an_ack_leaves_only_once_its_lease_is_in_the_store(store: SqlStore) -> None:
    table = LeaseTable(POOL)
    sent: list[tuple[str, dict[str, str]]] = []

    def send(reply: Reply) -> None:  # what another process reading the store sees now
        sent.append((str(reply.packet.yiaddr), stored(store)))

    async def scenario() -> None:
        commit = GroupCommit(table, store.save_leases, send)
        commit.start()
        for n in range(3):
            lease, reply = ack(n)
            table.apply(Bind(lease))
            commit.after_commit(reply)
            await asyncio.sleep(0.05)
        await commit.stop()

    asyncio.run(scenario())
    assert [ip for ip, _ in sent] == ["192.0.2.100", "192.0.2.101", "192.0.2.102"]
    for n, (ip, seen) in enumerate(sent):
        assert seen.get(ip) == mac(n)


def test_the_acks_of_a_few_milliseconds_share_one_transaction(store: SqlStore) -> None:
    table = LeaseTable(POOL)
    sent: list[Reply] = []

    async def scenario() -> GroupCommit:
        commit = GroupCommit(table, store.save_leases, sent.append, window=0.005)
        commit.start()
        for n in range(50):  # one burst, as a loop tick full of REQUESTs
            lease, reply = ack(n)
            table.apply(Bind(lease))
            commit.after_commit(reply)
        await asyncio.sleep(0.5)
        await commit.stop()
        return commit

    commit = asyncio.run(scenario())
    assert len(sent) == 50
    assert commit.commits == 1
    assert len(stored(store)) == 50


def test_a_request_whose_commit_fails_gets_no_ack_and_its_lease_is_written_later(
    store: SqlStore, settings: Settings
) -> None:
    """The failure is real: the leases table is renamed away underneath the store."""
    engine = sa.create_engine(settings.effective_database_url)
    table = LeaseTable(POOL)
    sent: list[Reply] = []

    def rename(old: str, new: str) -> None:
        with engine.begin() as conn:
            conn.execute(sa.text(f"ALTER TABLE {old} RENAME TO {new}"))

    async def scenario() -> GroupCommit:
        commit = GroupCommit(table, store.save_leases, sent.append, retry=0.2)
        commit.start()
        rename("leases", "leases_away")
        lease, reply = ack(1)
        table.apply(Bind(lease))
        commit.after_commit(reply)
        await asyncio.sleep(0.1)
        assert sent == []
        assert commit.failures >= 1
        rename("leases_away", "leases")
        other, _ = ack(2)
        table.apply(Bind(other))
        table.apply(Release(int(other.ip), other.mac))
        await asyncio.sleep(0.5)  # the retry
        await commit.stop()
        return commit

    try:
        commit = asyncio.run(scenario())
    finally:
        engine.dispose()
    assert sent == []  # the failed transaction's ACK is dropped, never sent late
    assert stored(store) == {"192.0.2.101": mac(1)}  # ... and its lease written on retry
    assert commit.commits >= 1
