"""Capture DHCP test vectors from real clients (run by hand, as root, from the
repository root; the tests only read what it wrote)::

    .venv/bin/python -m tests.vectors.dhcp.capture [SCENARIO ...]

Each scenario builds a private lab (tests/support/netns.py), starts our DHCP
server in it (full mode, or proxy mode beside busybox udhcpd), runs one real
client, records br0 with tcpdump and writes every client -> server datagram
(to port 67 or 4011) as ``<scenario>-<n>-<TYPE>.bin`` next to this file.
``vectors.json`` lists them with what the test expects of each.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from provisioner.dhcp.packet import parse
from tests.support import dhcp, netns
from tests.support.pcap import udp_datagrams
from tests.support.vm import Vm

HERE = Path(__file__).resolve().parent
VM_MAC = "52:54:00:c0:02:10"
PXE_VENDOR = "PXEClient:Arch:00007:UNDI:003016"


def _server(lab: netns.Lab, mode: str) -> None:
    pool = ("--pool", "192.0.2.100-192.0.2.150") if mode == "full" else ()
    dhcp.start_server(lab, mode, "--unknown-macs", "menu", *pool)
    if mode == "proxy":  # the site's DHCP server hands out addresses
        dhcp.start_site_server(lab)


def _udhcpc(lab: netns.Lab, *extra: str) -> None:
    dhcp.udhcpc(lab.add_client("c0"), lab.workdir, *extra)


def _dhclient(lab: netns.Lab, arch: int) -> None:
    dhcp.dhclient(lab, lab.add_client("c0"), f"PXEClient:Arch:{arch:05d}:UNDI:002001", arch)


def _vm(lab: netns.Lab, firmware: str, want: Callable[[list[bytes]], bool]) -> None:
    """firmware: bios (SeaBIOS + QEMU's iPXE ROM) or uefi (OVMF's own PXE)."""
    vm = Vm(lab, int(VM_MAC.rsplit(":", 1)[1], 16), firmware=firmware, disk_mib=16)
    vm.boot(120)
    _wait(lambda: want(_sent(lab)), 110)
    vm.kill()


def _wait(done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not done():
        time.sleep(0.5)


def _sent(lab: netns.Lab) -> list[bytes]:
    """What clients sent to a DHCP server (port 67) or a PXE boot server (4011)."""
    return [
        d.payload
        for d in udp_datagrams(lab.workdir / "br0.pcap")
        if d.dport in (67, 4011) and d.payload[:1] == b"\x01"
    ]


def _tftp_requested(lab: netns.Lab) -> bool:
    return any(d.dport == 69 for d in udp_datagrams(lab.workdir / "br0.pcap"))


def _show(lab: netns.Lab) -> None:
    for d in udp_datagrams(lab.workdir / "br0.pcap"):
        what = d.payload[:40] if d.dport == 69 else ""
        print(f"  {d.src}:{d.sport} -> {d.dst}:{d.dport} {len(d.payload)} bytes {what!r}")


def _types(payloads: list[bytes]) -> list[str]:
    return [str(parse(p).message_type.name) for p in payloads]  # type: ignore[union-attr]


SCENARIOS: dict[str, tuple[str, Callable[[netns.Lab], None]]] = {
    "udhcpc-plain": ("full", lambda lab: _udhcpc(lab)),
    "udhcpc-pxe-arch7": ("full", lambda lab: _udhcpc(lab, "-V", PXE_VENDOR, "-x", "0x5d:0007")),
    "dhclient-pxe-arch0": ("full", lambda lab: _dhclient(lab, 0)),
    "ipxe-rom-bios": (
        "full",
        lambda lab: _vm(lab, "bios", lambda sent: "REQUEST" in _types(sent)),
    ),
    "ovmf-pxe-full": ("full", lambda lab: _vm(lab, "uefi", lambda _: _tftp_requested(lab))),
    "ovmf-pxe-proxy": (
        "proxy",
        lambda lab: _vm(
            lab, "uefi-pxe", lambda sent: len([p for p in sent if b"PXEClient" in p]) >= 3
        ),
    ),
}


def capture(name: str) -> list[dict[str, str]]:
    mode, run = SCENARIOS[name]
    with tempfile.TemporaryDirectory() as tmp, netns.lab(Path(tmp)) as lab:
        dump = lab.start(
            [
                "tcpdump",
                "-i",
                "br0",
                "--immediate-mode",
                "-U",
                "-w",
                str(lab.workdir / "br0.pcap"),
                "udp",
            ],
            lab.workdir / "tcpdump.log",
        )
        time.sleep(1)
        _server(lab, mode)
        run(lab)
        time.sleep(1)
        lab.stop(dump)
        _show(lab)
        sent = _sent(lab)
    out = []
    for n, payload in enumerate(sent):
        kind = parse(payload).message_type
        file = f"{name}-{n}-{kind.name if kind else 'X'}.bin"
        (HERE / file).write_bytes(payload)
        out.append({"file": file, "client": name, "type": kind.name if kind else "?"})
        print(file, len(payload))
    return out


def main(names: list[str]) -> None:
    index = HERE / "vectors.json"
    known = json.loads(index.read_text()) if index.exists() else []
    for name in names or list(SCENARIOS):
        for old in HERE.glob(f"{name}-*.bin"):
            old.unlink()
        known = [v for v in known if v["client"] != name] + capture(name)
    index.write_text(json.dumps(sorted(known, key=lambda v: v["file"]), indent=1) + "\n")
    subprocess.run(["ls", "-l", str(HERE)], check=False)


if __name__ == "__main__":
    main(sys.argv[1:])
