"""The DHCP codec (provisioner.dhcp.packet/options): round trips, overload and long
options (RFC 3396), PXE/iPXE/relay sub-options, and that malformed input raises
DhcpPacketError and nothing else."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.dhcp.options import (
    LENGTH_RULES,
    DhcpPacketError,
    MessageType,
    Opt,
    PxeBootServer,
    PxeMenuItem,
    PxeVendorOptions,
)
from provisioner.dhcp.packet import HEADER, MAGIC, MIN_SIZE, Packet, parse
from provisioner.errors import ValidationError

MAC = bytes.fromhex("525400c00201")

# -- strategies ------------------------------------------------------------------------------

_SPECIAL = {Opt.OVERLOAD, Opt.VENDOR_SPECIFIC, Opt.VENDOR_CLASS, Opt.RELAY_AGENT_INFO}
_SPECIAL |= {Opt.IPXE_ENCAP, *LENGTH_RULES}
addresses = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
free_codes = st.integers(1, 254).filter(lambda c: c not in _SPECIAL)
cstring = st.binary(max_size=60).map(lambda b: b.replace(b"\x00", b"x"))


@st.composite
def option_maps(draw: st.DrawFn) -> dict[int, bytes]:
    opts = {Opt.MESSAGE_TYPE: bytes((draw(st.integers(1, 18)),))}
    opts.update(draw(st.dictionaries(free_codes, st.binary(max_size=600), max_size=6)))
    if draw(st.booleans()):
        opts[Opt.CLIENT_ARCH] = b"".join(
            struct.pack("!H", a) for a in draw(st.lists(st.integers(0, 65535), min_size=1))
        )
    if draw(st.booleans()):
        opts[Opt.SERVER_ID] = draw(addresses).packed
    return opts


packets = st.builds(
    Packet,
    op=st.sampled_from([1, 2]),
    xid=st.integers(0, 2**32 - 1),
    chaddr=st.binary(max_size=16),
    htype=st.integers(0, 255),
    hops=st.integers(0, 255),
    secs=st.integers(0, 65535),
    flags=st.integers(0, 65535),
    ciaddr=addresses,
    yiaddr=addresses,
    siaddr=addresses,
    giaddr=addresses,
    sname=cstring,
    file=cstring,
    options=option_maps(),
)


def raw(*options: bytes, sname: bytes = b"", file: bytes = b"", op: int = 1) -> bytes:
    """A request with the given raw option bytes (no END added)."""
    header = HEADER.pack(op, 1, 6, 0, 0x1234, 0, 0, *(bytes(4),) * 4, MAC, sname, file)
    return header + MAGIC + b"".join(options)


DISCOVER = bytes((53, 1, 1))


# -- round trips -------------------------------------------------------------------------------


@given(packets)
def test_pack_then_parse_gives_the_same_packet(packet: Packet) -> None:
    assert parse(packet.pack()) == packet


@given(packets, st.integers(300, 1500))
def test_options_that_do_not_fit_spill_into_file_and_sname_and_come_back(
    packet: Packet, max_size: int
) -> None:
    try:
        wire = packet.pack(max_size=max_size)
    except DhcpPacketError:
        return  # too big even with overload: refused, never truncated
    assert len(wire) <= max(max_size, MIN_SIZE)
    assert parse(wire) == packet


def test_long_option_is_split_into_255_byte_instances_and_joined_again() -> None:
    value = bytes(range(256)) * 3  # 768 bytes
    wire = Packet(op=2, xid=1, chaddr=MAC, options={53: b"\x05", 224: value}).pack()
    assert wire.count(bytes((224, 255))) == 3
    assert parse(wire).options[224] == value


def test_overloaded_reply_uses_file_then_sname_and_sets_option_52() -> None:
    opts = {53: b"\x02", **{c: bytes([c]) * 60 for c in range(200, 207)}}
    wire = Packet(op=2, xid=1, chaddr=MAC, options=opts).pack(max_size=548)
    assert bytes((52, 1, 3)) in wire[240:]
    assert parse(wire).options == opts


# -- RFC 3396 and overload on input ---------------------------------------------------------


def test_an_option_split_over_options_file_and_sname_is_concatenated_in_that_order() -> None:
    file = bytes((66, 3)) + b"def" + b"\xff"
    sname = bytes((66, 3)) + b"ghi" + b"\xff"
    packet = parse(
        raw(DISCOVER, bytes((52, 1, 3)), bytes((66, 3)) + b"abc", b"\xff", sname=sname, file=file)
    )
    assert packet.options[66] == b"abcdefghi"
    assert packet.file == b""
    assert packet.sname == b""
    assert Opt.OVERLOAD not in packet.options


def test_without_overload_file_and_sname_are_strings() -> None:
    packet = parse(raw(DISCOVER, b"\xff", sname=b"srv", file=b"pxelinux.0"))
    assert (packet.sname, packet.file) == (b"srv", b"pxelinux.0")


@pytest.mark.parametrize(
    ("wire", "match"),
    [
        (b"\x01" * 100, "shorter than a DHCP header"),
        (b"\x01" * 10_000, "longer than any DHCP message"),
        (raw(DISCOVER)[:236] + b"\x63\x82\x53\x64", "magic cookie"),
        (raw(DISCOVER, bytes((61, 9)) + b"abc"), "option 61 .* 9 bytes said, 3 left"),
        (raw(DISCOVER, b"\x3d"), "no length byte"),
        (raw(DISCOVER, bytes((52, 1, 4))), "overload"),
        (raw(DISCOVER, bytes((52, 2, 1, 1))), "overload"),
        (raw(DISCOVER, bytes((52, 1, 1)), file=bytes((52, 1, 1, 255))), "inside an overloaded"),
        (raw(DISCOVER, bytes((52, 1, 1)), file=b"a" * 120), "file field"),
        (raw(bytes((53, 2, 1, 1))), "option 53 is 2 bytes"),
        (raw(DISCOVER, bytes((93, 3, 0, 0, 7))), "option 93 is 3 bytes"),
        (raw(DISCOVER, bytes((54, 3, 1, 2, 3))), "option 54"),
        (raw(DISCOVER, bytes((82, 4, 1, 9, 0, 0))), "option 82"),
        (raw(DISCOVER, bytes((175, 2, 19, 5))), "option 175"),
        (raw(DISCOVER, bytes((60, 9)) + b"PXEClient", bytes((43, 3, 6, 2, 8))), "option 43"),
        (raw(DISCOVER, op=3), "op 3"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_malformed_packets_raise_the_codec_error_naming_the_problem(
    wire: bytes, match: str
) -> None:
    with pytest.raises(DhcpPacketError, match=match):
        parse(wire)


def test_the_codec_error_is_a_validation_error_with_the_offset() -> None:
    with pytest.raises(ValidationError) as err:
        parse(raw(DISCOVER, bytes((61, 9)) + b"abc"))
    assert isinstance(err.value, DhcpPacketError)
    assert err.value.offset == 243


# -- fuzzing ----------------------------------------------------------------------------------


def _parse_everything(wire: bytes) -> None:
    try:
        packet = parse(wire)
    except DhcpPacketError:
        return
    # on a parsed packet every accessor works
    _ = (packet.mac, packet.message_type, packet.client_archs, packet.vendor_class)
    _ = (packet.hostname, packet.requested_ip, packet.server_id, packet.is_ipxe)
    _ = (packet.pxe_options, packet.ipxe_options, packet.relay_agent_info)
    _ = (packet.max_message_size, packet.client_uuid, packet.param_request_list)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=1500))
def test_random_bytes_raise_nothing_but_the_codec_error(data: bytes) -> None:
    _parse_everything(data)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=700))
def test_random_bytes_after_a_valid_header_raise_nothing_but_the_codec_error(data: bytes) -> None:
    _parse_everything(raw(DISCOVER) + data)
    _parse_everything(raw(bytes((52, 1, 3)), sname=data[:64], file=data[64:192]) + data[192:])


@settings(max_examples=300)
@given(packets, st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=8))
def test_corrupted_valid_packets_raise_nothing_but_the_codec_error(
    packet: Packet, flips: list[tuple[int, int]]
) -> None:
    wire = bytearray(packet.pack())
    for pos, value in flips:
        wire[pos % len(wire)] = value
    _parse_everything(bytes(wire))


# -- sub-options ------------------------------------------------------------------------------


def test_pxe_vendor_options_encode_and_decode() -> None:
    pxe = PxeVendorOptions(
        discovery_control=3,
        boot_servers=(PxeBootServer(0x8000, (IPv4Address("192.0.2.1"),)),),
        menu=(PxeMenuItem(0x8000, "provisioner"),),
        prompt=(0, "PXE"),
        boot_item=(0x8000, 0),
    )
    wire = pxe.encode()
    assert wire[:3] == bytes((6, 1, 3))
    assert wire[-1] == 255
    assert PxeVendorOptions.decode(wire) == pxe


def test_discovery_control_eight_is_what_a_bios_proxy_offer_carries() -> None:
    assert PxeVendorOptions(discovery_control=8).encode() == bytes((6, 1, 8, 255))


@pytest.mark.parametrize(
    "bad",
    [
        bytes((6, 2, 8, 8)),
        bytes((8, 4, 0x80, 0, 2, 192)),
        bytes((9, 4, 0x80, 0, 9, 65)),
        bytes((71, 2, 0, 0)),
        bytes((10, 0)),
    ],
)
def test_bad_pxe_sub_options_raise_the_codec_error(bad: bytes) -> None:
    with pytest.raises(DhcpPacketError):
        PxeVendorOptions.decode(bad)


def test_accessors_read_the_pxe_client_options() -> None:
    vendor = b"PXEClient:Arch:00007:UNDI:003016"
    packet = parse(
        raw(
            DISCOVER,
            bytes((60, len(vendor))) + vendor,
            bytes((93, 4, 0, 7, 0, 9)),
            bytes((94, 3, 1, 3, 16)),
            bytes((97, 17, 0)) + bytes(range(16)),
            bytes((77, 4)) + b"iPXE",
            bytes((175, 6, 19, 1, 1, 20, 1, 1)),
            bytes((82, 8, 1, 2)) + b"c1" + bytes((2, 2)) + b"r1",
            bytes((12, 5)) + b"box\xff\x00",
            bytes((50, 4, 192, 0, 2, 9)),
            b"\xff",
        )
    )
    assert packet.message_type == MessageType.DISCOVER
    assert packet.mac == "52:54:00:c0:02:01"
    assert packet.client_archs == (7, 9)
    assert packet.vendor_class == vendor.decode()
    assert packet.is_ipxe
    assert packet.ipxe_options == {19: b"\x01", 20: b"\x01"}
    assert packet.relay_agent_info == {1: b"c1", 2: b"r1"}
    assert packet.hostname == "box\ufffd"
    assert packet.requested_ip == IPv4Address("192.0.2.9")
    assert packet.client_uuid == bytes(1) + bytes(range(16))


def test_pack_refuses_what_the_header_cannot_hold() -> None:
    for bad in (
        Packet(op=2, xid=1, chaddr=bytes(17)),
        Packet(op=2, xid=2**32, chaddr=MAC),
        Packet(op=2, xid=1, chaddr=MAC, file=b"x" * 128),
        Packet(op=2, xid=1, chaddr=MAC, sname=b"a\x00b"),
        Packet(op=2, xid=1, chaddr=MAC, options={255: b"x"}),
    ):
        with pytest.raises(DhcpPacketError):
            bad.pack()
