"""QEMU VMs with real, unmodified firmware for network-boot tests (see
/work/shared/lab/README.md for the recipe and its gotchas): TCG only (KVM does
not work here), ``-no-reboot`` and ``reboot-timeout=0`` so a failed boot ends
the VM, and always under ``timeout``. Test support only."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support import netns

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
IPXE_ROM = Path("/usr/lib/ipxe/qemu/efi-e1000.rom")

#: firmware -> what boots: SeaBIOS + QEMU's iPXE ROM (an iPXE client, arch 0), or
#: OVMF's own PXE stack on virtio-net with the iPXE ROM removed (arch 7)
FIRMWARES = ("bios-ipxe", "uefi-pxe")


def require(firmware: str) -> None:
    netns.require()
    netns.need_commands("qemu-system-x86_64", "timeout")
    needed = [IPXE_ROM] if firmware == "bios-ipxe" else [OVMF_CODE, OVMF_VARS]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        netns.need_commands(*missing)  # skips (or fails when required) naming them


def serial_log(workdir: Path, mac: str) -> Path:
    return workdir / f"serial-{mac.replace(':', '')}.log"


def argv(firmware: str, tap: str, mac: str, workdir: Path, seconds: int) -> list[str]:
    """The command line of one VM that network-boots from ``tap``."""
    if firmware == "bios-ipxe":
        machine = ["-machine", "pc,graphics=off"]
        nic = f"e1000,netdev=n0,mac={mac},bootindex=1"
    elif firmware == "uefi-pxe":
        vars_copy = workdir / f"vars-{mac.replace(':', '')}.fd"
        shutil.copyfile(OVMF_VARS, vars_copy)
        machine = [
            "-machine",
            "q35",
            "-drive",
            f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
            "-drive",
            f"if=pflash,format=raw,unit=1,file={vars_copy}",
        ]
        nic = f"virtio-net-pci,netdev=n0,mac={mac},bootindex=1,romfile="
    else:
        raise ValueError(firmware)
    return [
        "timeout",
        "-k",
        "5",
        str(seconds),
        "qemu-system-x86_64",
        "-accel",
        "tcg",
        "-m",
        "256",
        "-smp",
        "1",
        *machine,
        "-display",
        "none",
        "-monitor",
        "none",
        "-no-reboot",
        "-boot",
        "order=n,reboot-timeout=0",
        "-serial",
        f"file:{serial_log(workdir, mac)}",
        "-netdev",
        f"tap,id=n0,ifname={tap},script=no,downscript=no",
        "-device",
        nic,
    ]
