"""TFTP packets (RFC 1350) and options (RFC 2347/2348/2349/7440): bytes <-> values.

No I/O. :func:`decode` turns any datagram into one of the packet classes or
raises :class:`PacketError`, and nothing else: truncated packets, unknown
opcodes, options without a value, ... all end up there, with the TFTP error
code the server should answer with. :func:`negotiate` turns the options a
client asked for into the ones we grant (what goes into the OACK).

File names are decoded as UTF-8 with ``surrogateescape``: a non-UTF-8 name
decodes (and re-encodes) losslessly, and :mod:`tftp.routes` refuses it.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from provisioner.errors import CodecError


class Opcode(IntEnum):
    RRQ = 1
    WRQ = 2
    DATA = 3
    ACK = 4
    ERROR = 5
    OACK = 6


class ErrorCode(IntEnum):
    NOT_DEFINED = 0
    FILE_NOT_FOUND = 1
    ACCESS_VIOLATION = 2
    DISK_FULL = 3
    ILLEGAL_OPERATION = 4
    UNKNOWN_TID = 5
    FILE_EXISTS = 6
    NO_SUCH_USER = 7
    OPTION_REFUSED = 8  # RFC 2347; UEFI firmware sends it after a tsize probe


class PacketError(CodecError):
    """A datagram that is not a valid TFTP packet. ``error_code`` is what to
    answer; ``offset`` is the byte of the datagram where decoding gave up."""

    def __init__(
        self,
        message: str,
        code: ErrorCode = ErrorCode.ILLEGAL_OPERATION,
        offset: int | None = None,
    ) -> None:
        super().__init__("tftp", message, offset)
        self.error_code = code


#: Largest packet we ever accept or send: 4-byte header + the largest blksize.
MAX_PACKET = 4 + 65464
MODES = ("octet", "netascii")


@dataclass(frozen=True, slots=True)
class Request:
    """RRQ or WRQ. ``options`` keys are lower case, in the order the client sent them."""

    opcode: Opcode
    filename: str
    mode: str
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Data:
    block: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Ack:
    block: int


@dataclass(frozen=True, slots=True)
class Error:
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class OptionAck:
    options: dict[str, str]


Packet = Request | Data | Ack | Error | OptionAck


def _cstrings(body: bytes, base: int, what: str) -> tuple[list[bytes], list[int]]:
    """The NUL-terminated fields of ``body`` and where each starts in the datagram
    (``body`` starts at byte ``base``)."""
    if not body.endswith(b"\0"):
        raise PacketError(f"{what}: last field is not NUL-terminated", offset=base + len(body))
    parts = body[:-1].split(b"\0")
    starts, at = [], base
    for part in parts:
        starts.append(at)
        at += len(part) + 1
    return parts, starts


def _ascii(raw: bytes, what: str, at: int) -> str:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise PacketError(f"{what} is not ASCII", offset=at + exc.start) from None


def _options(parts: list[bytes], starts: list[int], what: str) -> dict[str, str]:
    if len(parts) % 2:
        raise PacketError(
            f"{what}: option {parts[-1]!r} has no value", ErrorCode.OPTION_REFUSED, starts[-1]
        )
    options: dict[str, str] = {}
    for i in range(0, len(parts), 2):
        name = _ascii(parts[i], "option name", starts[i]).lower()
        if not name:
            raise PacketError(f"{what}: empty option name", ErrorCode.OPTION_REFUSED, starts[i])
        if name in options:
            raise PacketError(
                f"{what}: option {name} given twice", ErrorCode.OPTION_REFUSED, starts[i]
            )
        options[name] = _ascii(parts[i + 1], f"value of option {name}", starts[i + 1])
    return options


def decode(datagram: bytes) -> Packet:
    """Parse one datagram; raises :class:`PacketError` only."""
    if len(datagram) < 4:
        raise PacketError(f"packet of {len(datagram)} bytes is too short", offset=len(datagram))
    if len(datagram) > MAX_PACKET:
        raise PacketError(f"packet of {len(datagram)} bytes is too long", offset=MAX_PACKET)
    raw_op, body = int.from_bytes(datagram[:2], "big"), datagram[2:]
    try:
        op = Opcode(raw_op)
    except ValueError:
        raise PacketError(f"unknown opcode {raw_op}", offset=0) from None
    if op in (Opcode.RRQ, Opcode.WRQ):
        parts, starts = _cstrings(body, 2, op.name)
        # some ROMs pad requests with NULs; an option may still have an empty value
        while len(parts) > 2 and not parts[-1] and (len(parts) % 2 or not parts[-2]):
            parts.pop()
        if len(parts) < 2 or not parts[0]:
            raise PacketError(f"{op.name} without a file name or mode", offset=2)
        mode = _ascii(parts[1], "mode", starts[1]).lower()
        name = parts[0].decode("utf-8", "surrogateescape")
        return Request(op, name, mode, _options(parts[2:], starts[2 : len(parts)], op.name))
    if op is Opcode.DATA:
        return Data(int.from_bytes(body[:2], "big"), bytes(body[2:]))
    if op is Opcode.ACK:
        if len(body) != 2:
            raise PacketError(f"ACK of {len(datagram)} bytes", offset=4)
        return Ack(int.from_bytes(body, "big"))
    if op is Opcode.ERROR:  # lenient: a client's last word need not be well formed
        message = body[2:].split(b"\0", 1)[0].decode("utf-8", "replace")
        return Error(int.from_bytes(body[:2], "big"), message)
    parts, starts = _cstrings(body, 2, "OACK")
    return OptionAck(_options(parts, starts, "OACK"))


def _z(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape") + b"\0"


def encode(packet: Packet) -> bytes:
    """The wire form of ``packet``; the inverse of :func:`decode`."""
    if isinstance(packet, Request):
        opts = b"".join(_z(k) + _z(v) for k, v in packet.options.items())
        return struct.pack("!H", packet.opcode) + _z(packet.filename) + _z(packet.mode) + opts
    if isinstance(packet, Data):
        return struct.pack("!HH", Opcode.DATA, packet.block & 0xFFFF) + packet.payload
    if isinstance(packet, Ack):
        return struct.pack("!HH", Opcode.ACK, packet.block & 0xFFFF)
    if isinstance(packet, Error):
        msg = packet.message.encode("utf-8", "replace")
        return struct.pack("!HH", Opcode.ERROR, packet.code) + msg + b"\0"
    opts = b"".join(_z(k) + _z(v) for k, v in packet.options.items())
    return struct.pack("!H", Opcode.OACK) + opts


_DATA = struct.Struct("!HH")


def encode_data(block: int, payload: bytes) -> bytes:
    """``encode(Data(block, payload))`` without the object: the per-block fast path."""
    return _DATA.pack(Opcode.DATA, block & 0xFFFF) + payload


def ack_block(datagram: bytes) -> int | None:
    """The block number if ``datagram`` is a well-formed ACK, else None (then
    :func:`decode` says what it is): the per-block fast path."""
    if len(datagram) == 4 and datagram[0] == 0 and datagram[1] == Opcode.ACK:
        return int.from_bytes(datagram[2:4], "big")
    return None


def error(code: ErrorCode, message: str) -> bytes:
    return encode(Error(int(code), message))


# -- options -------------------------------------------------------------------------------
DEFAULT_BLKSIZE = 512
DEFAULT_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True)
class Limits:
    """What the server allows; the client may ask for less."""

    max_blksize: int = 1468  # Ethernet MTU 1500 - IP/UDP/TFTP headers: no fragmentation
    max_windowsize: int = 64


@dataclass(frozen=True, slots=True)
class Transfer:
    """The parameters of one transfer after negotiation, and the OACK to send (if any)."""

    blksize: int = DEFAULT_BLKSIZE
    windowsize: int = 1
    timeout: float = DEFAULT_TIMEOUT
    timeout_asked: bool = False
    oack: dict[str, str] = field(default_factory=dict)


def _int(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 10 else None


def negotiate(requested: Mapping[str, str], size: int, limits: Limits) -> Transfer:
    """RFC 2347: grant what we support, leave out what we do not or what is invalid
    (the client then uses the default). ``size`` answers ``tsize``."""
    oack: dict[str, str] = {}
    blksize, windowsize, timeout, asked = DEFAULT_BLKSIZE, 1, DEFAULT_TIMEOUT, False
    for name, value in requested.items():
        number = _int(value)
        if name == "blksize" and number is not None and number >= 8:  # RFC 2348: 8..65464
            blksize = min(number, limits.max_blksize, 65464)
            oack[name] = str(blksize)
        elif name == "windowsize" and number is not None and number >= 1:  # RFC 7440
            windowsize = min(number, limits.max_windowsize, 65535)
            oack[name] = str(windowsize)
        elif name == "timeout" and number is not None and 1 <= number <= 255:  # RFC 2349
            timeout, asked = float(number), True
            oack[name] = str(number)
        elif name == "tsize" and number is not None:  # RFC 2349: the client sends 0
            oack[name] = str(size)
    return Transfer(blksize, windowsize, timeout, asked, oack)


def netascii(data: bytes) -> bytes:
    """RFC 764 line endings: LF -> CR LF, CR -> CR NUL."""
    return data.replace(b"\r", b"\r\0").replace(b"\n", b"\r\n")
