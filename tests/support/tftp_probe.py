"""Run inside a client namespace: send hostile TFTP packets, print what came back.

``python -m tests.support.tftp_probe SERVER_IP`` prints one JSON object:
for each probe, the error code the server answered (or null for no answer).
"""

from __future__ import annotations

import json
import sys

from tests.support.tftp import RawClient
from tftp import packet

PROBES = {
    "truncated": b"\x00\x01",
    "bad_opcode": b"\x00\x09junk",
    "bad_option": b"\x00\x01pxelinux.0\x00octet\x00blksize\x00",
    "traversal": b"\x00\x01../../etc/passwd\x00octet\x00",
    "absolute": b"\x00\x01/etc/passwd\x00octet\x00",
    "non_utf8": b"\x00\x01caf\xe9\x00octet\x00",
    "symlink_escape": b"\x00\x01escape\x00octet\x00",
    "write": b"\x00\x02upload.bin\x00octet\x00",
}


def main() -> None:
    server = (sys.argv[1], 69)
    out: dict[str, int | None] = {}
    for name, wire in PROBES.items():
        with RawClient(server, timeout=2.0, bind="0.0.0.0") as c:
            c.send_raw(wire)
            try:
                pkt, _ = c.recv()
            except TimeoutError:
                out[name] = None
                continue
            out[name] = pkt.code if isinstance(pkt, packet.Error) else -1
    print(json.dumps(out))


if __name__ == "__main__":
    main()
