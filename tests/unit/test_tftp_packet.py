"""The TFTP codec: wire vectors, round trips, option negotiation, and fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tftp.packet import (
    Ack,
    Data,
    Error,
    ErrorCode,
    Limits,
    Opcode,
    OptionAck,
    PacketError,
    Request,
    decode,
    encode,
    negotiate,
    netascii,
)

# What curl 7.88 sends for `curl --tftp-blksize 1468 tftp://host/pxelinux.0`
CURL_RRQ = b"\x00\x01pxelinux.0\x00octet\x00tsize\x000\x00blksize\x001468\x00timeout\x006\x00"


def test_decodes_a_real_curl_read_request_with_its_options_in_order() -> None:
    pkt = decode(CURL_RRQ)
    assert pkt == Request(
        Opcode.RRQ, "pxelinux.0", "octet", {"tsize": "0", "blksize": "1468", "timeout": "6"}
    )
    assert list(pkt.options) == ["tsize", "blksize", "timeout"]
    assert encode(pkt) == CURL_RRQ


@pytest.mark.parametrize(
    ("wire", "packet"),
    [
        (b"\x00\x03\x00\x01hello", Data(1, b"hello")),
        (b"\x00\x03\xff\xff", Data(65535, b"")),
        (b"\x00\x04\x00\x00", Ack(0)),
        (b"\x00\x05\x00\x01File not found\x00", Error(1, "File not found")),
        (b"\x00\x06blksize\x001468\x00", OptionAck({"blksize": "1468"})),
        (b"\x00\x02up.bin\x00netascii\x00", Request(Opcode.WRQ, "up.bin", "netascii")),
    ],
)
def test_wire_vectors_decode_and_encode_both_ways(wire: bytes, packet: object) -> None:
    assert decode(wire) == packet
    assert encode(packet) == wire  # type: ignore[arg-type]


def test_block_numbers_wrap_to_zero_on_the_wire() -> None:
    assert encode(Data(65536, b"x")) == b"\x00\x03\x00\x00x"
    assert encode(Ack(65537)) == b"\x00\x04\x00\x01"


def test_mode_and_option_names_are_case_insensitive() -> None:
    pkt = decode(b"\x00\x01f\x00OCTET\x00BlkSize\x00512\x00")
    assert isinstance(pkt, Request)
    assert (pkt.mode, pkt.options) == ("octet", {"blksize": "512"})


def test_requests_padded_with_nuls_are_accepted() -> None:
    assert decode(b"\x00\x01f\x00octet\x00\x00\x00") == Request(Opcode.RRQ, "f", "octet")


def test_a_non_utf8_name_decodes_losslessly_for_the_router_to_refuse() -> None:
    pkt = decode(b"\x00\x01caf\xe9\x00octet\x00")
    assert isinstance(pkt, Request)
    assert encode(pkt) == b"\x00\x01caf\xe9\x00octet\x00"
    with pytest.raises(UnicodeEncodeError):
        pkt.filename.encode("utf-8")


def test_a_clients_error_without_its_nul_still_decodes() -> None:
    assert decode(b"\x00\x05\x00\x08aborted") == Error(8, "aborted")


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (b"", ErrorCode.ILLEGAL_OPERATION),
        (b"\x00\x01", ErrorCode.ILLEGAL_OPERATION),
        (b"\x00\x09abcd", ErrorCode.ILLEGAL_OPERATION),  # unknown opcode
        (b"\x00\x01file\x00octet", ErrorCode.ILLEGAL_OPERATION),  # no final NUL
        (b"\x00\x01\x00octet\x00", ErrorCode.ILLEGAL_OPERATION),  # empty name
        (b"\x00\x01file\x00", ErrorCode.ILLEGAL_OPERATION),  # no mode
        (b"\x00\x01f\x00oct\xffet\x00", ErrorCode.ILLEGAL_OPERATION),  # mode not ASCII
        (b"\x00\x01f\x00octet\x00blksize\x00", ErrorCode.OPTION_REFUSED),  # no value
        (b"\x00\x01f\x00octet\x00a\x001\x00A\x002\x00", ErrorCode.OPTION_REFUSED),  # twice
        (b"\x00\x04\x00\x01\x00", ErrorCode.ILLEGAL_OPERATION),  # long ACK
        (b"\x00\x03" + bytes(70000), ErrorCode.ILLEGAL_OPERATION),  # too long
    ],
)
def test_malformed_packets_raise_packet_error_with_the_code_to_answer(
    wire: bytes, code: ErrorCode
) -> None:
    with pytest.raises(PacketError) as info:
        decode(wire)
    assert info.value.error_code == code


@given(st.binary(max_size=600))
def test_random_bytes_raise_nothing_but_packet_error(data: bytes) -> None:
    with contextlib.suppress(PacketError):
        decode(data)


@given(
    st.binary(min_size=2, max_size=8).map(lambda b: b"\x00" + bytes([b[0] % 8]) + b[1:]),
    st.binary(max_size=300),
)
def test_random_bodies_behind_every_opcode_raise_nothing_but_packet_error(
    head: bytes, body: bytes
) -> None:
    with contextlib.suppress(PacketError):
        decode(head + body)


names = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"), min_size=1)
values = st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=8)


@given(
    st.sampled_from([Opcode.RRQ, Opcode.WRQ]),
    names,
    st.sampled_from(["octet", "netascii"]),
    st.dictionaries(values.filter(lambda s: s == s.lower() and s != ""), values, max_size=4),
)
def test_requests_round_trip(op: Opcode, name: str, mode: str, options: dict[str, str]) -> None:
    pkt = Request(op, name, mode, options)
    assert decode(encode(pkt)) == pkt


@given(st.integers(0, 65535), st.binary(max_size=1468))
def test_data_round_trips(block: int, payload: bytes) -> None:
    assert decode(encode(Data(block, payload))) == Data(block, payload)


# -- negotiation -----------------------------------------------------------------------
def test_blksize_is_capped_at_the_servers_limit_and_echoed() -> None:
    t = negotiate({"blksize": "8192"}, 100, Limits(max_blksize=1468))
    assert (t.blksize, t.oack) == (1468, {"blksize": "1468"})


def test_tsize_is_answered_with_the_real_size() -> None:
    assert negotiate({"tsize": "0"}, 42430, Limits()).oack == {"tsize": "42430"}


def test_windowsize_and_timeout_are_granted_within_bounds() -> None:
    t = negotiate({"windowsize": "1000", "timeout": "3"}, 0, Limits(max_windowsize=64))
    assert (t.windowsize, t.timeout, t.timeout_asked) == (64, 3.0, True)
    assert t.oack == {"windowsize": "64", "timeout": "3"}


@pytest.mark.parametrize(
    "options",
    [
        {"blksize": "7"},
        {"blksize": "abc"},
        {"blksize": "-1"},
        {"blksize": "99999999999999999999"},
        {"timeout": "0"},
        {"timeout": "256"},
        {"windowsize": "0"},
        {"tsize": "x"},
        {"multicast": ""},
        {"blksize": "١٢٣"},  # Arabic-Indic digits: isdigit() but not ASCII
    ],
)
def test_invalid_or_unknown_options_are_left_out_so_defaults_apply(
    options: dict[str, str],
) -> None:
    t = negotiate(options, 10, Limits())
    assert (t.oack, t.blksize, t.windowsize, t.timeout) == ({}, 512, 1, 1.0)


def test_netascii_turns_line_ends_into_cr_lf_and_bare_cr_into_cr_nul() -> None:
    assert netascii(b"a\nb\rc\r\n") == b"a\r\nb\r\0c\r\0\r\n"
