"""The DNS resolver (pure) and the dnslib layer: answers, refusals, malformed input."""

from __future__ import annotations

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord
from hypothesis import given
from hypothesis import strategies as st

from provisioner.daemons import node_records
from provisioner.dns.wire import Forward, check_upstream, get_reply, servfail
from provisioner.dns.zone import Snapshot, build_snapshot, lookup
from provisioner.service import Service

SNAP = build_snapshot(
    "Lab.Test.",
    60,
    [
        ("avbox251", "192.0.2.50"),
        ("web.lab.test", "192.0.2.60"),
        ("multi", "192.0.2.70"),
        ("multi", "192.0.2.71"),
        ("bad", "not-an-ip"),
        ("", "192.0.2.99"),
    ],
    ns_address="192.0.2.1",
    serial=7,
)


def ask(name: str, qtype: str = "A", snap: Snapshot = SNAP, **kw: bool) -> DNSRecord:
    reply = get_reply(DNSRecord.question(name, qtype).pack(), snap, **kw)
    assert isinstance(reply, bytes)
    return DNSRecord.parse(reply)


# -- zone --------------------------------------------------------------------------------
def test_snapshot_holds_fqdns_reverse_names_and_skips_bad_records() -> None:
    assert SNAP.domain == "lab.test"
    assert SNAP.names["avbox251.lab.test"] == ("192.0.2.50",)
    assert SNAP.names["multi.lab.test"] == ("192.0.2.70", "192.0.2.71")
    assert "bad.lab.test" not in SNAP.names
    assert SNAP.ptrs["50.2.0.192.in-addr.arpa"] == ("avbox251.lab.test",)
    assert SNAP.reverse_zones == {"2.0.192.in-addr.arpa"}
    assert SNAP.names["ns.lab.test"] == ("192.0.2.1",)


def test_lookup_answers_ours_and_returns_none_for_the_rest() -> None:
    answer = lookup(SNAP, "AVBOX251.lab.test.", "A")
    assert answer is not None
    assert answer.answers == (("avbox251.lab.test", "A", "192.0.2.50"),)
    assert lookup(SNAP, "example.com", "A") is None
    assert lookup(SNAP, "1.1.10.in-addr.arpa", "PTR") is None
    assert lookup(SNAP, "lab.test.evil.com", "A") is None


# -- replies -----------------------------------------------------------------------------
def test_a_record_of_a_node_is_authoritative_and_keeps_the_askers_case() -> None:
    reply = ask("AvBox251.LAB.test")
    assert reply.header.aa == 1
    assert reply.header.rcode == RCODE.NOERROR
    assert [(str(r.rname), str(r.rdata), r.ttl) for r in reply.rr] == [
        ("AvBox251.LAB.test.", "192.0.2.50", 60)
    ]


def test_ptr_of_a_node_address() -> None:
    reply = ask("50.2.0.192.in-addr.arpa", "PTR")
    assert [str(r.rdata) for r in reply.rr] == ["avbox251.lab.test."]
    assert reply.header.aa == 1


def test_unknown_names_in_our_zones_are_nxdomain_with_the_soa() -> None:
    for name, qtype in (("nope.lab.test", "A"), ("77.2.0.192.in-addr.arpa", "PTR")):
        reply = ask(name, qtype)
        assert reply.header.rcode == RCODE.NXDOMAIN
        assert reply.header.aa == 1
        assert [QTYPE[r.rtype] for r in reply.auth] == ["SOA"]


def test_a_name_without_the_asked_type_is_nodata() -> None:
    reply = ask("avbox251.lab.test", "AAAA")
    assert (reply.header.rcode, len(reply.rr), QTYPE[reply.auth[0].rtype]) == (0, 0, "SOA")


def test_soa_and_ns_of_the_zone_with_glue() -> None:
    soa = ask("lab.test", "SOA").rr[0].rdata
    assert (str(soa.mname), str(soa.rname), soa.times[0]) == (
        "ns.lab.test.",
        "hostmaster.lab.test.",
        7,
    )
    ns = ask("lab.test", "NS")
    assert [str(r.rdata) for r in ns.rr] == ["ns.lab.test."]
    assert [str(r.rdata) for r in ns.ar] == ["192.0.2.1"]


def test_names_outside_our_zones_are_refused_without_an_upstream() -> None:
    for name, qtype in (("example.com", "A"), ("1.1.168.192.in-addr.arpa", "PTR")):
        reply = ask(name, qtype)
        assert reply.header.rcode == RCODE.REFUSED
        assert (reply.header.aa, reply.header.ra, len(reply.rr)) == (0, 0, 0)


def test_names_outside_our_zones_are_forwarded_when_allowed() -> None:
    query = DNSRecord.question("Example.COM", "MX")
    reply = get_reply(query.pack(), SNAP, can_forward=True)
    assert reply == Forward(query.pack(), query.header.id, "example.com", QTYPE.MX, 1)
    assert isinstance(get_reply(query.pack(), SNAP, can_forward=False), bytes)


def test_zone_transfers_and_other_opcodes_are_refused() -> None:
    assert ask("lab.test", "AXFR").header.rcode == RCODE.REFUSED
    query = DNSRecord.question("lab.test")
    query.header.opcode = 4  # NOTIFY
    reply = get_reply(query.pack(), SNAP)
    assert isinstance(reply, bytes)
    assert DNSRecord.parse(reply).header.rcode == RCODE.NOTIMP


def test_edns_queries_get_an_opt_record_back() -> None:
    query = DNSRecord.question("avbox251.lab.test")
    query.add_ar(EDNS0(udp_len=4096))
    reply = get_reply(query.pack(), SNAP)
    assert isinstance(reply, bytes)
    assert [QTYPE[r.rtype] for r in DNSRecord.parse(reply).ar] == ["OPT"]


def test_oversized_udp_answers_are_truncated() -> None:
    many = build_snapshot("lab.test", 60, [("big", f"192.0.2.{i}") for i in range(1, 60)])
    query = DNSRecord.question("big.lab.test").pack()
    udp = get_reply(query, many)
    tcp = get_reply(query, many, tcp=True)
    assert isinstance(udp, bytes)
    assert isinstance(tcp, bytes)
    assert DNSRecord.parse(udp).header.tc == 1
    assert len(DNSRecord.parse(tcp).rr) == 59


# -- malformed ---------------------------------------------------------------------------
def test_garbage_with_a_header_gets_formerr_with_the_same_id() -> None:
    reply = get_reply(b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07broken", SNAP)
    assert isinstance(reply, bytes)
    assert reply[:2] == b"\xab\xcd"
    parsed = DNSRecord.parse(reply)
    assert (parsed.header.qr, parsed.header.rcode, parsed.header.rd) == (1, RCODE.FORMERR, 1)


def test_short_garbage_and_responses_are_dropped() -> None:
    assert get_reply(b"\x01\x02\x03", SNAP) is None
    response = DNSRecord.question("avbox251.lab.test").reply().pack()
    assert get_reply(response, SNAP) is None


def test_two_questions_are_formerr() -> None:
    query = DNSRecord.question("a.lab.test")
    query.add_question(*DNSRecord.question("b.lab.test").questions)
    reply = get_reply(query.pack(), SNAP)
    assert isinstance(reply, bytes)
    assert DNSRecord.parse(reply).header.rcode == RCODE.FORMERR


@given(st.binary(max_size=512))
def test_random_bytes_never_raise(data: bytes) -> None:
    reply = get_reply(data, SNAP, can_forward=True)
    assert reply is None or isinstance(reply, bytes | Forward)


@given(st.binary(min_size=1, max_size=200))
def test_random_bytes_behind_a_valid_query_header_never_raise(tail: bytes) -> None:
    get_reply(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + tail, SNAP)


# -- forwarding checks -------------------------------------------------------------------
def _forward() -> Forward:
    query = DNSRecord.question("example.com")
    reply = get_reply(query.pack(), SNAP, can_forward=True)
    assert isinstance(reply, Forward)
    return reply


def _upstream_reply(fwd: Forward, sent_id: int, name: str = "example.com") -> bytes:
    reply = DNSRecord.question(name).reply()
    reply.header.id = sent_id
    reply.add_answer(*DNSRecord.question(name).reply().rr)
    return bytes(reply.pack())


def test_an_upstream_reply_with_our_id_and_question_goes_back_with_the_clients_id() -> None:
    fwd = _forward()
    out = check_upstream(_upstream_reply(fwd, 4242), fwd, 4242)
    assert out is not None
    assert DNSRecord.parse(out).header.id == fwd.id


@pytest.mark.parametrize(
    "bad",
    [
        lambda f: _upstream_reply(f, 4243),  # wrong ID
        lambda f: _upstream_reply(f, 4242, "evil.com"),  # another question
        lambda f: DNSRecord.question("example.com").pack(),  # a query, not a reply
        lambda f: b"\x10\x92garbage",
    ],
)
def test_spoofed_or_mismatched_upstream_replies_are_ignored(bad: object) -> None:
    fwd = _forward()
    assert check_upstream(bad(fwd), fwd, 4242) is None  # type: ignore[operator]


def test_servfail_answers_the_client_when_the_upstream_is_silent() -> None:
    fwd = _forward()
    reply = DNSRecord.parse(servfail(fwd))
    assert (reply.header.id, reply.header.rcode) == (fwd.id, RCODE.SERVFAIL)


# -- records from the store ------------------------------------------------------------------
def test_node_records_use_the_effective_ip_option(service: Service, release: str) -> None:
    service.save_profile("p", {"options": "ip.192.0.2.10 lang.de", "release": release})
    service.save_node("52:54:00:c0:02:01", {"hostname": "box1", "profile": "p"})
    service.save_node(
        "52:54:00:c0:02:02", {"hostname": "box2", "options": "ip.192.0.2.20", "release": release}
    )
    service.save_node("52:54:00:c0:02:03", {"hostname": "box3", "release": release})  # no ip
    service.save_node(
        "52:54:00:c0:02:04", {"options": "ip.192.0.2.40", "release": release}
    )  # no name
    service.save_node(
        "52:54:00:c0:02:05", {"hostname": "box5", "profile": "p", "options": "ip.192.0.2.50"}
    )
    assert sorted(node_records(service)) == [
        ("box1", "192.0.2.10"),
        ("box2", "192.0.2.20"),
        ("box5", "192.0.2.50"),
    ]


def test_only_private_loopback_and_link_local_clients_may_use_the_forwarder() -> None:
    from provisioner.config import load_settings
    from provisioner.daemons import dns_server

    with_upstream = load_settings({}, overrides={"dns_upstream": "192.0.2.53:53"})
    server = dns_server(with_upstream, list)
    assert server._may_forward("192.168.1.9")
    assert server._may_forward("127.0.0.1")
    assert server._may_forward("169.254.1.1")
    assert not server._may_forward("8.8.8.8")  # a public client: REFUSED, not an open resolver
    assert not dns_server(load_settings({}), list)._may_forward("192.168.1.9")


@given(st.text(max_size=100), st.sampled_from(["A", "PTR", "ANY", "SOA", "NS", "TXT"]))
def test_lookup_of_random_names_never_raises(name: str, qtype: str) -> None:
    lookup(SNAP, name, qtype)
