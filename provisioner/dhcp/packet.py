"""The DHCPv4 message (RFC 2131): ``parse(bytes) -> Packet`` and
``Packet.pack() -> bytes``. No I/O.

* the BOOTP header, the magic cookie and the options;
* option overload (option 52: more options in ``file`` and/or ``sname``);
* long options (RFC 3396): an option seen more than once is concatenated in the
  order options field, ``file``, ``sname``; on output a value longer than 255
  bytes is split, and options that do not fit ``max_size`` spill into empty
  ``file``/``sname`` fields behind an option 52;
* relay fields: ``giaddr`` and option 82 are kept as they came.

A parsed packet holds its options as raw bytes by code (``options``); the typed
accessors (``message_type``, ``client_arch``, ``pxe_options`` ...) read them.
Options with a fixed format are checked by :func:`parse`, so on a parsed packet
no accessor can fail. Anything malformed raises :class:`DhcpPacketError` and
nothing else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from provisioner.dhcp.options import (
    LENGTH_RULES,
    DhcpPacketError,
    MessageType,
    Opt,
    PxeVendorOptions,
    check_length,
    decode_suboptions,
    encode_tlv,
    text,
    walk_tlv,
)

__all__ = ["DhcpPacketError", "MessageType", "Opt", "Packet", "parse"]

MAGIC = b"\x63\x82\x53\x63"
BOOTREQUEST = 1
BOOTREPLY = 2
BROADCAST_FLAG = 0x8000
#: op htype hlen hops | xid | secs flags | ciaddr yiaddr siaddr giaddr | chaddr sname file
HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")
OPTIONS_AT = HEADER.size + len(MAGIC)  # 240
#: BOOTP's minimum message; some PXE ROMs drop shorter replies (RFC 1542)
MIN_SIZE = 300
#: Larger than any DHCP message a client sends on a jumbo-frame LAN.
MAX_SIZE = 9000
ZERO = IPv4Address(0)
_ZERO4 = bytes(4)
_MESSAGE_TYPES = {m.value: m for m in MessageType}


def _ip(raw: bytes) -> IPv4Address:
    return ZERO if raw == _ZERO4 else IPv4Address(raw)


def _packed(address: IPv4Address) -> bytes:
    return _ZERO4 if address is ZERO else address.packed


@dataclass(slots=True)
class Packet:
    """One DHCP message. ``chaddr`` is the client hardware address (``hlen``
    bytes); ``sname``/``file`` are the header strings without their NULs.

    Not frozen on purpose: a frozen dataclass of 14 fields costs ~2 us more to
    build, twice per packet. Treat it as a value all the same."""

    op: int
    xid: int
    chaddr: bytes
    htype: int = 1
    hops: int = 0
    secs: int = 0
    flags: int = 0
    ciaddr: IPv4Address = ZERO
    yiaddr: IPv4Address = ZERO
    siaddr: IPv4Address = ZERO
    giaddr: IPv4Address = ZERO
    sname: bytes = b""
    file: bytes = b""
    options: dict[int, bytes] = field(default_factory=dict)

    # -- accessors (never fail on a parsed packet) --------------------------------------
    @property
    def mac(self) -> str:
        """``aa:bb:cc:dd:ee:ff`` (lower case), or "" when not Ethernet."""
        if self.htype != 1 or len(self.chaddr) != 6:
            return ""
        return self.chaddr.hex(":")

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & BROADCAST_FLAG)

    @property
    def message_type(self) -> MessageType | None:
        raw = self.options.get(Opt.MESSAGE_TYPE)
        return None if raw is None else _MESSAGE_TYPES.get(raw[0])

    def _address(self, code: int) -> IPv4Address | None:
        raw = self.options.get(code)
        return None if raw is None else IPv4Address(raw)

    @property
    def requested_ip(self) -> IPv4Address | None:
        return self._address(Opt.REQUESTED_IP)

    @property
    def server_id(self) -> IPv4Address | None:
        return self._address(Opt.SERVER_ID)

    @property
    def client_archs(self) -> tuple[int, ...]:
        """Option 93 (RFC 4578): the client's architecture types, preferred first."""
        raw = self.options.get(Opt.CLIENT_ARCH, b"")
        return struct.unpack(f"!{len(raw) // 2}H", raw)

    @property
    def vendor_class(self) -> str:
        return text(self.options.get(Opt.VENDOR_CLASS, b""))

    @property
    def user_class(self) -> bytes:
        return self.options.get(Opt.USER_CLASS, b"")

    @property
    def is_ipxe(self) -> bool:
        """iPXE says who it is in the user class (77) and sends option 175."""
        return self.user_class == b"iPXE" or Opt.IPXE_ENCAP in self.options

    @property
    def hostname(self) -> str | None:
        raw = self.options.get(Opt.HOSTNAME)
        return None if raw is None else text(raw)

    @property
    def param_request_list(self) -> bytes:
        return self.options.get(Opt.PARAM_REQUEST, b"")

    @property
    def max_message_size(self) -> int | None:
        raw = self.options.get(Opt.MAX_MESSAGE_SIZE)
        return None if raw is None else int.from_bytes(raw, "big")

    @property
    def client_uuid(self) -> bytes | None:
        """Option 97, the PXE client machine identifier (type 0 + 16 bytes)."""
        return self.options.get(Opt.CLIENT_UUID)

    @property
    def pxe_options(self) -> PxeVendorOptions | None:
        """Option 43 as PXE sub-options, when the vendor class says PXEClient."""
        raw = self.options.get(Opt.VENDOR_SPECIFIC)
        if raw is None or not self.vendor_class.startswith("PXEClient"):
            return None
        return PxeVendorOptions.decode(raw)

    @property
    def ipxe_options(self) -> dict[int, bytes]:
        """Option 175: iPXE's feature flags and settings, by sub-option code."""
        raw = self.options.get(Opt.IPXE_ENCAP)
        return {} if raw is None else decode_suboptions(raw, "option 175")

    @property
    def relay_agent_info(self) -> dict[int, bytes]:
        """Option 82 (RFC 3046): circuit id (1), remote id (2), ..."""
        raw = self.options.get(Opt.RELAY_AGENT_INFO)
        return {} if raw is None else decode_suboptions(raw, "option 82")

    # -- encoding ------------------------------------------------------------------------
    def pack(self, max_size: int = 0) -> bytes:
        """The wire form. ``max_size`` (0: no limit) is the largest message the
        receiver takes (its option 57, else 576 - 28); options that do not fit
        go into ``file`` and ``sname`` when those are empty (option 52)."""
        if len(self.sname) > 63 or len(self.file) > 127:
            raise DhcpPacketError("sname holds at most 63 bytes and file 127")
        if b"\x00" in self.sname or b"\x00" in self.file:
            raise DhcpPacketError("sname and file cannot contain NUL bytes")
        if len(self.chaddr) > 16:
            raise DhcpPacketError("chaddr holds at most 16 bytes")
        chunks = [encode_tlv(code, value) for code, value in self.options.items()]
        main, in_file, in_sname = _place(chunks, max_size, not self.file, not self.sname)
        overload = (1 if in_file else 0) | (2 if in_sname else 0)
        sname = _area(in_sname, 64) if in_sname else self.sname
        file = _area(in_file, 128) if in_file else self.file
        try:
            header = HEADER.pack(
                self.op,
                self.htype,
                len(self.chaddr),
                self.hops,
                self.xid,
                self.secs,
                self.flags,
                _packed(self.ciaddr),
                _packed(self.yiaddr),
                _packed(self.siaddr),
                _packed(self.giaddr),
                self.chaddr,
                sname,
                file,
            )
        except struct.error as exc:
            raise DhcpPacketError(f"header field out of range: {exc}") from None
        body = b"".join(main)
        if overload:
            body = bytes((Opt.OVERLOAD, 1, overload)) + body
        out = header + MAGIC + body + b"\xff"
        return out if len(out) >= MIN_SIZE else out + bytes(MIN_SIZE - len(out))


def _place(
    chunks: list[bytes], max_size: int, file_free: bool, sname_free: bool
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Split option instances over the options field, ``file`` and ``sname``, in
    that order (the order RFC 3396 concatenates them back)."""
    if not max_size or OPTIONS_AT + sum(map(len, chunks)) + 1 <= max_size:
        return chunks, [], []
    areas: list[tuple[list[bytes], int]] = [([], max_size - OPTIONS_AT - 3 - 1)]
    if file_free:
        areas.append(([], 128 - 1))
    if sname_free:
        areas.append(([], 64 - 1))
    k = 0
    for area, size in areas:
        left = size
        while k < len(chunks) and len(chunks[k]) <= left:
            left -= len(chunks[k])
            area.append(chunks[k])
            k += 1
    if k < len(chunks):
        raise DhcpPacketError(f"options do not fit a {max_size}-byte message")
    main = areas[0][0]
    rest = [a for a, _ in areas[1:]]
    in_file = rest.pop(0) if file_free else []
    in_sname = rest.pop(0) if sname_free else []
    return main, in_file, in_sname


def _area(chunks: list[bytes], size: int) -> bytes:
    return (b"".join(chunks) + b"\xff").ljust(size, b"\x00")


def _cstring(raw: bytes) -> bytes:
    end = raw.find(b"\x00")
    return raw if end < 0 else raw[:end]


def parse(data: bytes) -> Packet:
    """Decode one DHCP message; raises :class:`DhcpPacketError` for anything
    malformed (and only that)."""
    if len(data) < OPTIONS_AT:
        raise DhcpPacketError(f"{len(data)} bytes is shorter than a DHCP header")
    if len(data) > MAX_SIZE:
        raise DhcpPacketError(f"{len(data)} bytes is longer than any DHCP message")
    if data[HEADER.size : OPTIONS_AT] != MAGIC:
        raise DhcpPacketError("no DHCP magic cookie", HEADER.size)
    op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi, chaddr, sname, file = (
        HEADER.unpack_from(data)
    )
    if op not in (BOOTREQUEST, BOOTREPLY):
        raise DhcpPacketError(f"op {op} is neither request nor reply", 0)
    if hlen > 16:
        raise DhcpPacketError(f"hardware address length {hlen} is more than 16", 2)
    options: dict[int, bytes] = {}
    walk_tlv(data, OPTIONS_AT, len(data), options, "the options field")
    overload = options.pop(Opt.OVERLOAD, None)
    if overload is not None:
        if len(overload) != 1 or not 1 <= overload[0] <= 3:
            raise DhcpPacketError(f"option 52 (overload) is {overload.hex()}, not 1, 2 or 3")
        # RFC 3396: options field, then file, then sname
        for bit, raw, name in ((1, file, "file"), (2, sname, "sname")):
            if overload[0] & bit:
                walk_tlv(raw, 0, len(raw), options, f"the {name} field")
        if Opt.OVERLOAD in options:
            raise DhcpPacketError("option 52 (overload) inside an overloaded field")
        file = b"" if overload[0] & 1 else file
        sname = b"" if overload[0] & 2 else sname
    for code, value in options.items():
        if code in LENGTH_RULES:
            check_length(code, value)
    packet = Packet(
        op=op,
        xid=xid,
        chaddr=chaddr[:hlen],
        htype=htype,
        hops=hops,
        secs=secs,
        flags=flags,
        ciaddr=_ip(ci),
        yiaddr=_ip(yi),
        siaddr=_ip(si),
        giaddr=_ip(gi),
        sname=_cstring(sname),
        file=_cstring(file),
        options=options,
    )
    # encapsulated spaces the policy reads: check them now, not when read
    if Opt.RELAY_AGENT_INFO in options:
        _ = packet.relay_agent_info
    if Opt.IPXE_ENCAP in options:
        _ = packet.ipxe_options
    if Opt.VENDOR_SPECIFIC in options:
        _ = packet.pxe_options
    return packet
