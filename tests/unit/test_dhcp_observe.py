"""What observe mode makes of the replies it hears (pure: provisioner.dhcp.observe
and the daemon's Watch), and the record kept of each server through both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address

import pytest

from provisioner.db.sqlstore import SqlStore
from provisioner.dhcp.observe import (
    MAX_CLIENTS,
    MAX_SERVERS,
    NetbootXids,
    chosen,
    conflicts,
    merge,
    readable,
    sighting,
)
from provisioner.dhcp.options import MessageType, Opt
from provisioner.dhcp.packet import Packet, parse
from provisioner.dhcp.watch import Watch, merged
from provisioner.domain import DhcpServerSeen
from provisioner.store import Store
from tests.support.fakes import MemoryStore

T0 = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
SERVER = "192.0.2.2"


def mac(n: int) -> bytes:
    return bytes([0x52, 0x54, 0, 0xC0, 2, n])


def request(n: int, xid: int, vendor: bytes = b"PXEClient:Arch:00000") -> Packet:
    opts = {Opt.MESSAGE_TYPE: bytes([MessageType.DISCOVER]), Opt.VENDOR_CLASS: vendor}
    return parse(Packet(op=1, xid=xid, chaddr=mac(n), options=opts).pack())


def reply(
    n: int,
    xid: int,
    kind: MessageType = MessageType.OFFER,
    server: str = SERVER,
    file: bytes = b"",
) -> Packet:
    opts = {
        Opt.MESSAGE_TYPE: bytes([kind]),
        Opt.SERVER_ID: IPv4Address(server).packed,
        Opt.SUBNET_MASK: b"\xff\xff\xff\x00",
    }
    yiaddr = IPv4Address("0.0.0.0") if kind == MessageType.NAK else IPv4Address(f"192.0.2.{n}")
    packet = Packet(op=2, xid=xid, chaddr=mac(n), yiaddr=yiaddr, file=file, options=opts)
    return parse(packet.pack())


def test_a_reply_names_its_server_the_client_and_the_offer() -> None:
    xids = NetbootXids()
    xids.heard(request(7, 0x77))
    seen = sighting(reply(7, 0x77, file=b"pxelinux.0"), "192.0.2.9", xids, T0)
    assert seen is not None
    assert (seen.server_id, seen.source, seen.message, seen.boot_file) == (
        SERVER,
        "192.0.2.9",
        "OFFER",
        "pxelinux.0",
    )
    assert (seen.client.mac, seen.client.address, seen.client.pxe) == (
        "52:54:00:c0:02:07",
        "192.0.2.7",
        True,
    )
    assert seen.options[str(Opt.SUBNET_MASK)] == "ffffff00"
    assert seen.offers_boot


def test_a_plain_client_answered_without_boot_information_is_no_pxe_client() -> None:
    xids = NetbootXids()
    xids.heard(request(7, 0x77, vendor=b"udhcp 1.36"))
    seen = sighting(reply(7, 0x77), SERVER, xids, T0)
    assert seen is not None
    assert not seen.client.pxe
    assert not seen.offers_boot


def test_client_requests_and_unknown_messages_are_no_sighting() -> None:
    assert sighting(request(7, 1), SERVER, NetbootXids(), T0) is None
    inform = reply(7, 1, kind=MessageType.INFORM)
    assert sighting(inform, SERVER, NetbootXids(), T0) is None


def test_the_netboot_memory_is_bounded() -> None:
    xids = NetbootXids(limit=3)
    for xid in range(5):
        xids.heard(request(1, xid))
    assert [x in xids for x in range(5)] == [False, False, True, True, True]


def test_the_record_counts_replies_keeps_each_client_once_newest_first_and_is_bounded() -> None:
    xids = NetbootXids()
    record = None
    for n in range(MAX_CLIENTS + 4):
        for kind in (MessageType.OFFER, MessageType.ACK):
            seen = sighting(reply(n, n, kind), SERVER, xids, T0 + timedelta(seconds=n))
            assert seen is not None
            record = merge(record, seen)
    assert record is not None
    assert record.replies == 2 * (MAX_CLIENTS + 4)
    assert len(record.clients) == MAX_CLIENTS
    assert record.clients[0].mac == mac(MAX_CLIENTS + 3).hex(":")
    assert {c.message for c in record.clients} == {"ACK"}
    assert (record.first_seen, record.last_seen) == (T0, T0 + timedelta(seconds=MAX_CLIENTS + 3))


def test_a_nak_keeps_the_last_offer() -> None:
    xids = NetbootXids()
    offer = sighting(reply(1, 1, file=b"boot.ipxe"), SERVER, xids, T0)
    nak = sighting(reply(1, 2, MessageType.NAK), SERVER, xids, T0)
    assert offer is not None
    assert nak is not None
    record = merged(None, [offer, nak])
    assert record.boot_file == "boot.ipxe"
    assert record.clients[0].message == "NAK"


@pytest.mark.parametrize(
    ("pxe_client", "boot_file", "mode", "conflict"),
    [
        (True, b"pxelinux.0", "proxy", True),
        (True, b"", "proxy", False),  # the site's server gives the address: fine beside proxy
        (True, b"", "full", True),
        (False, b"", "full", False),
        (True, b"pxelinux.0", "observe", False),
    ],
)
def test_a_server_competes_when_it_answers_network_boot_clients(
    pxe_client: bool, boot_file: bytes, mode: str, conflict: bool
) -> None:
    xids = NetbootXids()
    if pxe_client:
        xids.heard(request(1, 1))
    seen = sighting(reply(1, 1, file=boot_file), SERVER, xids, T0)
    assert seen is not None
    assert conflicts(merge(None, seen), mode) is conflict


def test_the_watch_ignores_this_server_and_warns_once_per_competing_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = Watch("proxy", ["192.0.2.1"], [])
    watch.request(request(1, 1), T0.timestamp())
    watch.reply(reply(1, 1, server="192.0.2.1", file=b"x"), "192.0.2.1", T0.timestamp())
    watch.request(client_request(1, 1, "192.0.2.1"), T0.timestamp())  # a client chose us
    for _ in range(3):
        watch.reply(reply(1, 1, file=b"pxelinux.0"), SERVER, T0.timestamp())
    assert list(watch.servers) == [SERVER]
    warnings = [r for r in caplog.records if "offering boot files" in r.getMessage()]
    assert len(warnings) == 1
    taken = watch.take()
    assert list(taken) == [SERVER]
    assert len(taken[SERVER]) == 3
    assert watch.take() == {}


def test_the_watch_records_at_most_max_servers() -> None:
    watch = Watch("observe", [], [])
    for n in range(MAX_SERVERS + 5):
        watch.reply(reply(1, 1, server=f"198.18.{n // 250}.{n % 250 + 1}"), SERVER, 0.0)
    assert len(watch.servers) == MAX_SERVERS


def test_the_watch_warns_at_start_about_recorded_competitors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    xids = NetbootXids()
    xids.heard(request(1, 1))
    seen = sighting(reply(1, 1), SERVER, xids, T0)
    assert seen is not None
    Watch("full", [], [merge(None, seen)]).warn_known()
    assert "192.0.2.2" in caplog.text
    assert "answering network-boot clients" in caplog.text


def _roundtrip(store: Store) -> None:
    xids = NetbootXids()
    xids.heard(request(1, 1))
    first = sighting(reply(1, 1, file=b"pxelinux.0"), SERVER, xids, T0)
    second = sighting(reply(2, 2, MessageType.ACK), SERVER, xids, T0 + timedelta(seconds=5))
    assert first is not None
    assert second is not None
    store.change_dhcp_server(SERVER, lambda old: merged(old, [first]))
    saved = store.change_dhcp_server(SERVER, lambda old: merged(old, [second]))
    [record] = store.list_dhcp_servers()
    assert record == saved
    assert isinstance(record, DhcpServerSeen)
    assert record.replies == 2
    assert [c.mac for c in record.clients] == [
        mac(2).hex(":"),
        mac(1).hex(":"),
    ]
    assert record.boot_file == ""
    assert record.first_seen == T0
    assert record.answers_pxe


def test_the_sql_store_keeps_one_row_per_server(store: SqlStore) -> None:
    assert store.list_dhcp_servers() == []
    _roundtrip(store)


def test_the_memory_store_keeps_one_record_per_server() -> None:
    _roundtrip(MemoryStore())


@pytest.mark.parametrize(
    ("code", "value", "shown"),
    [
        ("54", "c0000202", "192.0.2.2"),
        ("6", "c0000201c0000202", "192.0.2.1, 192.0.2.2"),
        ("51", "00000258", "600 s"),
        ("60", "505845436c69656e74", "PXEClient"),
        ("53", "02", "OFFER"),
        ("43", "0601", "0601"),
        ("54", "c00002", "c00002"),  # not an address: left as it came
        ("67", "3c0a", "3c0a"),  # not printable
    ],
)
def test_recorded_options_read_as_a_person_reads_them(code: str, value: str, shown: str) -> None:
    assert readable(code, value) == shown


def client_request(n: int, xid: int, server: str) -> Packet:
    opts = {
        Opt.MESSAGE_TYPE: bytes([MessageType.REQUEST]),
        Opt.SERVER_ID: IPv4Address(server).packed,
        Opt.REQUESTED_IP: IPv4Address(f"192.0.2.{n}").packed,
    }
    return parse(Packet(op=1, xid=xid, chaddr=mac(n), options=opts).pack())


def test_a_client_choosing_a_server_records_it_even_when_its_offer_was_not_heard() -> None:
    xids = NetbootXids()
    xids.heard(request(5, 0x55))
    seen = chosen(client_request(5, 0x55, SERVER), xids, T0)
    assert seen is not None
    record = merge(None, seen)
    assert (record.server_id, record.source, record.replies) == (SERVER, SERVER, 0)
    assert record.answers_pxe
    assert (record.clients[0].message, record.clients[0].address) == ("REQUEST", "192.0.2.5")
    assert chosen(request(5, 0x55), xids, T0) is None  # a DISCOVER names no server


def test_a_request_keeps_what_the_replies_said() -> None:
    xids = NetbootXids()
    offer = sighting(reply(5, 5, file=b"pxelinux.0"), "192.0.2.9", xids, T0)
    ask = chosen(client_request(5, 5, SERVER), xids, T0 + timedelta(seconds=1))
    assert offer is not None
    assert ask is not None
    record = merged(None, [offer, ask])
    assert (record.source, record.replies, record.boot_file) == ("192.0.2.9", 1, "pxelinux.0")
    assert [c.message for c in record.clients] == ["REQUEST"]
