"""DHCPv4 options: codes, the type-length-value walk, and the encapsulated
option spaces a PXE server reads or writes (RFC 2132, 3046, 4578; PXE 2.1;
iPXE's option 175). Pure: bytes in, values out, and the reverse.

Every decoding failure raises :class:`DhcpPacketError` -- nothing else escapes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from ipaddress import IPv4Address
from typing import Final, TypeVar

from provisioner.errors import CodecError

T = TypeVar("T")


class DhcpPacketError(CodecError):
    """A DHCP packet (or one of its options) that cannot be decoded or encoded.

    ``offset`` is the byte position where decoding gave up, when known. The
    daemon drops such packets and logs the message; it never stops for one.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__("dhcp", message, offset)


class Opt:
    """Option codes this server reads or writes (plain ints, not an Enum: they
    are read several times per packet and an Enum member costs ~0.1 us a read)."""

    PAD: Final = 0
    SUBNET_MASK: Final = 1
    ROUTER: Final = 3
    DNS_SERVERS: Final = 6
    HOSTNAME: Final = 12
    DOMAIN_NAME: Final = 15
    VENDOR_SPECIFIC: Final = 43
    REQUESTED_IP: Final = 50
    LEASE_TIME: Final = 51
    OVERLOAD: Final = 52
    MESSAGE_TYPE: Final = 53
    SERVER_ID: Final = 54
    PARAM_REQUEST: Final = 55
    MESSAGE: Final = 56
    MAX_MESSAGE_SIZE: Final = 57
    RENEWAL_TIME: Final = 58
    REBINDING_TIME: Final = 59
    VENDOR_CLASS: Final = 60
    CLIENT_ID: Final = 61
    TFTP_SERVER_NAME: Final = 66
    BOOTFILE_NAME: Final = 67
    USER_CLASS: Final = 77
    RELAY_AGENT_INFO: Final = 82
    CLIENT_ARCH: Final = 93
    CLIENT_NDI: Final = 94
    CLIENT_UUID: Final = 97
    IPXE_ENCAP: Final = 175
    END: Final = 255


class MessageType(IntEnum):
    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8


# -- the type-length-value walk -------------------------------------------------------------


def walk_tlv(
    data: bytes, start: int, end: int, out: dict[int, bytes], where: str, *, pad_end: bool = True
) -> bool:
    """Read options from ``data[start:end]`` into ``out``.

    A code seen again is concatenated to what is there (RFC 3396). With
    ``pad_end`` (the DHCP option spaces), 0 is padding and 255 ends the walk;
    encapsulated spaces treat 0 and 255 like any other code only where their
    spec says so (``pad_end=False``). Returns whether an END was seen.
    """
    i = start
    while i < end:
        code = data[i]
        if pad_end:
            if code == 0:
                i += 1
                continue
            if code == 255:
                return True
        if i + 1 >= end:
            raise DhcpPacketError(f"option {code} in {where} has no length byte", i)
        j = i + 2 + data[i + 1]
        if j > end:
            raise DhcpPacketError(
                f"option {code} in {where}: {data[i + 1]} bytes said, {end - i - 2} left",
                i,
            )
        value = data[i + 2 : j]
        prev = out.get(code)
        out[code] = value if prev is None else prev + value
        i = j
    return False


def encode_tlv(code: int, value: bytes) -> bytes:
    """One option, split into instances of at most 255 bytes (RFC 3396)."""
    size = len(value)
    if size < 256 and 0 < code < 255:
        return bytes((code, size)) + value
    if not 0 < code < 255:
        raise DhcpPacketError(f"option code {code} cannot carry a value")
    return b"".join(
        bytes((code, len(value[k : k + 255]))) + value[k : k + 255]
        for k in range(0, len(value), 255)
    )


def decode_suboptions(data: bytes, where: str) -> dict[int, bytes]:
    """An encapsulated option space with PAD/END (options 43, 82, 175)."""
    out: dict[int, bytes] = {}
    walk_tlv(data, 0, len(data), out, where)
    return out


def encode_suboptions(subs: Iterable[tuple[int, bytes]], end: bool = True) -> bytes:
    body = b"".join(encode_tlv(code, value) for code, value in subs)
    return body + b"\xff" if end and body else body


# -- plain values -----------------------------------------------------------------------------


def u16(value: int) -> bytes:
    return struct.pack("!H", value)


def u32(value: int) -> bytes:
    return struct.pack("!I", value)


def addresses(values: Iterable[IPv4Address]) -> bytes:
    return b"".join(a.packed for a in values)


def network_options(
    netmask: IPv4Address | None, router: IPv4Address | None, dns: Sequence[IPv4Address]
) -> dict[int, bytes]:
    """Options 1 (subnet mask), 3 (router) and 6 (DNS servers), those given."""
    given = {Opt.SUBNET_MASK: netmask, Opt.ROUTER: router}
    opts = {code: value.packed for code, value in given.items() if value is not None}
    if dns:
        opts[Opt.DNS_SERVERS] = addresses(dns)
    return opts


def read_addresses(data: bytes) -> tuple[IPv4Address, ...]:
    if not data or len(data) % 4:
        raise DhcpPacketError(f"{len(data)} bytes is not a list of IPv4 addresses")
    return tuple(IPv4Address(data[k : k + 4]) for k in range(0, len(data), 4))


#: Options whose length is fixed or a multiple of something: checked at parse
#: time so that the accessors of a parsed packet never fail. code -> (min, step)
LENGTH_RULES: dict[int, tuple[int, int]] = {
    Opt.SUBNET_MASK: (4, 0),
    Opt.ROUTER: (4, 4),
    Opt.DNS_SERVERS: (4, 4),
    Opt.REQUESTED_IP: (4, 0),
    Opt.LEASE_TIME: (4, 0),
    Opt.OVERLOAD: (1, 0),
    Opt.MESSAGE_TYPE: (1, 0),
    Opt.SERVER_ID: (4, 0),
    Opt.MAX_MESSAGE_SIZE: (2, 0),
    Opt.RENEWAL_TIME: (4, 0),
    Opt.REBINDING_TIME: (4, 0),
    Opt.CLIENT_ARCH: (2, 2),
    Opt.CLIENT_NDI: (3, 0),
}


def check_length(code: int, value: bytes) -> None:
    rule = LENGTH_RULES.get(code)
    if rule is None:
        return
    size, step = rule
    ok = len(value) == size if step == 0 else len(value) >= size and len(value) % step == 0
    if not ok:
        what = f"{size} bytes" if step == 0 else f"a multiple of {step} bytes"
        raise DhcpPacketError(f"option {code} is {len(value)} bytes, expected {what}")


# -- PXE vendor options (option 43 when option 60 is "PXEClient") -----------------------------

PXE_DISCOVERY_CONTROL = 6
PXE_BOOT_SERVERS = 8
PXE_BOOT_MENU = 9
PXE_MENU_PROMPT = 10
PXE_BOOT_ITEM = 71

#: PXE_DISCOVERY_CONTROL bit 3: skip discovery, download the boot file named in
#: this offer (what every BIOS client here gets).
DISCOVERY_USE_BOOTFILE = 0x08


@dataclass(frozen=True, slots=True)
class PxeBootServer:
    type: int
    addresses: tuple[IPv4Address, ...]


@dataclass(frozen=True, slots=True)
class PxeMenuItem:
    type: int
    description: str


@dataclass(frozen=True, slots=True)
class PxeVendorOptions:
    """The PXE 2.1 sub-options of option 43 (6, 8, 9, 10 and the client's 71)."""

    discovery_control: int | None = None
    boot_servers: tuple[PxeBootServer, ...] = ()
    menu: tuple[PxeMenuItem, ...] = ()
    #: (timeout in seconds, prompt text)
    prompt: tuple[int, str] | None = None
    #: (boot server type, layer) -- sent by a client in boot server discovery
    boot_item: tuple[int, int] | None = None
    other: dict[int, bytes] = field(default_factory=dict)

    def encode(self) -> bytes:
        subs: list[tuple[int, bytes]] = []
        if self.discovery_control is not None:
            subs.append((PXE_DISCOVERY_CONTROL, bytes((self.discovery_control,))))
        if self.boot_servers:
            subs.append(
                (
                    PXE_BOOT_SERVERS,
                    b"".join(
                        u16(s.type) + bytes((len(s.addresses),)) + addresses(s.addresses)
                        for s in self.boot_servers
                    ),
                )
            )
        if self.menu:
            subs.append(
                (
                    PXE_BOOT_MENU,
                    b"".join(
                        u16(m.type) + bytes((len(m.description),)) + m.description.encode("ascii")
                        for m in self.menu
                    ),
                )
            )
        if self.prompt is not None:
            subs.append((PXE_MENU_PROMPT, bytes((self.prompt[0],)) + self.prompt[1].encode()))
        if self.boot_item is not None:
            subs.append((PXE_BOOT_ITEM, u16(self.boot_item[0]) + u16(self.boot_item[1])))
        subs.extend(sorted(self.other.items()))
        return encode_suboptions(subs)

    @classmethod
    def decode(cls, data: bytes) -> PxeVendorOptions:
        subs = decode_suboptions(data, "option 43")
        control = subs.pop(PXE_DISCOVERY_CONTROL, None)
        if control is not None and len(control) != 1:
            raise DhcpPacketError("PXE discovery control (43.6) must be 1 byte")
        servers = _records(subs.pop(PXE_BOOT_SERVERS, b""), "43.8", _server)
        menu = _records(subs.pop(PXE_BOOT_MENU, b""), "43.9", _menu_item)
        raw_prompt = subs.pop(PXE_MENU_PROMPT, None)
        if raw_prompt is not None and not raw_prompt:
            raise DhcpPacketError("PXE menu prompt (43.10) is empty")
        item = subs.pop(PXE_BOOT_ITEM, None)
        if item is not None and len(item) != 4:
            raise DhcpPacketError("PXE boot item (43.71) must be 4 bytes")
        return cls(
            discovery_control=control[0] if control is not None else None,
            boot_servers=servers,
            menu=menu,
            prompt=(raw_prompt[0], text(raw_prompt[1:])) if raw_prompt is not None else None,
            boot_item=struct.unpack("!HH", item) if item is not None else None,
            other=subs,
        )


def _records(
    data: bytes, where: str, read: Callable[[bytes, int, str], tuple[T, int]]
) -> tuple[T, ...]:
    out: list[T] = []
    i = 0
    while i < len(data):
        if i + 3 > len(data):
            raise DhcpPacketError(f"truncated record in PXE sub-option {where}", i)
        value, i = read(data, i, where)
        out.append(value)
    return tuple(out)


def _server(data: bytes, i: int, where: str) -> tuple[PxeBootServer, int]:
    kind, count = struct.unpack_from("!HB", data, i)
    end = i + 3 + 4 * count
    if end > len(data):
        raise DhcpPacketError(f"boot server list in {where} is truncated", i)
    return PxeBootServer(kind, read_addresses(data[i + 3 : end]) if count else ()), end


def _menu_item(data: bytes, i: int, where: str) -> tuple[PxeMenuItem, int]:
    kind, size = struct.unpack_from("!HB", data, i)
    end = i + 3 + size
    if end > len(data):
        raise DhcpPacketError(f"menu item in {where} is truncated", i)
    return PxeMenuItem(kind, text(data[i + 3 : end])), end


def text(data: bytes) -> str:
    """Text from the wire, for logs and comparisons: never fails; NULs dropped,
    anything not ASCII replaced."""
    return data.replace(b"\x00", b"").decode("ascii", "replace")
