"""Read what ``tcpdump -w`` wrote: just enough pcap (Ethernet, IPv4, UDP) to get the
datagrams a real client or server sent. Test support only."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path


@dataclass(frozen=True)
class Datagram:
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes
    #: the Ethernet source address, ``aa:bb:cc:dd:ee:ff``
    src_mac: str = ""


def udp_datagrams(path: Path) -> list[Datagram]:
    """Every IPv4/UDP datagram in a pcap file (a partly written file is read up
    to its last whole record)."""
    data = path.read_bytes() if path.exists() else b""
    if len(data) < 24:
        return []
    magic = data[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">"}.get(magic)
    if endian is None:
        raise ValueError(f"{path} is not a pcap file (nanosecond pcaps are not supported)")
    (linktype,) = struct.unpack_from(endian + "I", data, 20)
    if linktype != 1:
        raise ValueError(f"{path}: link type {linktype}, expected Ethernet")
    out = []
    i = 24
    while i + 16 <= len(data):
        _, _, caplen, _ = struct.unpack_from(endian + "IIII", data, i)
        frame = data[i + 16 : i + 16 + caplen]
        i += 16 + caplen
        if len(frame) < caplen:
            break
        datagram = _udp(frame)
        if datagram is not None:
            out.append(datagram)
    return out


def _udp(frame: bytes) -> Datagram | None:
    if len(frame) < 14 + 20 + 8 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ip[9] != 17 or len(ip) < ihl + 8:
        return None
    total = struct.unpack_from("!H", ip, 2)[0]
    udp = ip[ihl:total]
    sport, dport, length = struct.unpack_from("!HHH", udp)
    return Datagram(
        str(IPv4Address(ip[12:16])),
        sport,
        str(IPv4Address(ip[16:20])),
        dport,
        udp[8:length],
        frame[6:12].hex(":"),
    )
