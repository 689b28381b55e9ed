"""Every codec raises one error base, CodecError, and says at which byte of its
input decoding failed: one malformed input per codec, with the expected offset."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from media import cpio
from media.bundlefiles import check_iso
from media.diskimage import check_qcow2
from media.disklayout import parse_gpt
from media.squashfs import parse_superblock
from provisioner.dhcp.packet import parse as parse_dhcp
from provisioner.dns.wire import decode as decode_dns
from provisioner.errors import CodecError
from tftp.packet import decode as decode_tftp


def _dhcp_with_a_cut_short_client_id() -> None:
    header = struct.pack("!BBBB", 1, 1, 6, 0) + bytes(232)  # 236-byte BOOTP header
    cookie = bytes((99, 130, 83, 99))
    parse_dhcp(header + cookie + bytes((53, 1, 1)) + bytes((61, 9)) + b"abc")  # 61 at 243


def _superblock(**fields: int) -> bytes:
    values = {"compression": 1, "block_log": 17, "major": 4, "minor": 0, **fields}
    head = bytearray(96)
    head[0:4] = b"hsqs"
    struct.pack_into("<I", head, 12, 1 << values["block_log"])
    struct.pack_into("<HH", head, 20, values["compression"], values["block_log"])
    struct.pack_into("<HH", head, 28, values["major"], values["minor"])
    return bytes(head)


def _duplicate_cpio_member() -> None:
    cpio.archive([cpio.file("init", b"#!/bin/sh\n"), cpio.file("init", b"")])


FIRST_MEMBER = len(cpio.archive([cpio.file("init", b"#!/bin/sh\n")])) - len(
    cpio.archive([])
)  # where the second "init" would start

QCOW_V1 = b"QFI\xfb" + struct.pack(">I", 1) + bytes(96)

CASES: list[tuple[str, Callable[[], object], int]] = [
    ("tftp unknown opcode", lambda: decode_tftp(b"\x00\x09junk"), 0),
    ("tftp non-ASCII mode", lambda: decode_tftp(b"\x00\x01file\x00oct\xffet\x00"), 10),
    ("tftp option without value", lambda: decode_tftp(b"\x00\x01f\x00octet\x00blksize\x00"), 10),
    ("tftp long ACK", lambda: decode_tftp(b"\x00\x04\x00\x01\x00"), 4),
    ("dhcp option cut short", _dhcp_with_a_cut_short_client_id, 243),
    ("squashfs magic", lambda: parse_superblock(b"XXXX" + bytes(92), 4096), 0),
    ("squashfs compressor", lambda: parse_superblock(_superblock(compression=9), 4096), 20),
    ("squashfs version", lambda: parse_superblock(_superblock(major=3), 4096), 28),
    ("cpio member twice", _duplicate_cpio_member, FIRST_MEMBER),
    ("gpt header missing", lambda: parse_gpt(bytes(1024)), 512),
    ("qcow version 1", lambda: check_qcow2(QCOW_V1, 1 << 20), 4),
    ("iso without CD001", lambda: check_iso(bytes(40000), 1 << 20), 32769),
    (
        "dns question cut short",
        lambda: decode_dns(bytes.fromhex("0001010000010000") + bytes(4) + b"\x03ab"),
        13,
    ),
]


@pytest.mark.parametrize(("what", "decode", "offset"), CASES, ids=[c[0] for c in CASES])
def test_a_malformed_input_raises_a_codec_error_with_the_offset(
    what: str, decode: Callable[[], object], offset: int
) -> None:
    with pytest.raises(CodecError) as err:
        decode()
    assert err.value.offset == offset
    # what the daemons log (DHCP's dropped-packet line) and TFTP sends back names the byte
    assert err.value.detail.endswith(f"(byte {offset})")
