"""QEMU VMs that PXE-boot inside a :class:`tests.support.netns.Lab` (TCG only).

Recipe from ``../shared/lab`` (its README's gotchas): KVM does not work on these
machines, so ``-accel tcg``; SeaBIOS mirrors its console (and iPXE's and
pxelinux's) to the serial port with ``graphics=off``; ``-no-reboot`` plus
``-boot order=n,reboot-timeout=0`` makes every reboot or failed PXE end the VM
at once; the kernel gets ``no_timer_check panic=-1`` (profiles in the tests)
against a TCG-only panic under load; a virtio RNG feeds the guest's early
entropy pool (TCG has no RDRAND); OVMF runs from the read-only code image
with a per-VM copy of the variables; every QEMU runs under ``timeout``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.netns import Lab

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
FIRMWARES = ("bios", "uefi")


def require_qemu() -> None:
    missing = [c for c in ("qemu-system-x86_64", "timeout") if shutil.which(c) is None]
    if not OVMF_CODE.exists():
        missing.append(str(OVMF_CODE))
    if not Path("/dev/net/tun").exists():
        missing.append("/dev/net/tun")
    if missing:
        if os.environ.get("PROVISIONER_TEST_REQUIRE_VMS") == "1":
            pytest.fail(f"VM tests required but missing: {', '.join(missing)}")
        pytest.skip(f"missing: {', '.join(missing)}")


def _children(pid: int) -> list[int]:
    """The PIDs whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def mac_for(n: int) -> str:
    return f"52:54:00:c0:02:{n:02x}"


def clean_serial(text: str) -> str:
    text = text.replace("\r", "")
    return re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]|\x1bc", "", text)


@dataclass
class Vm:
    """One VM: a raw disk of its own, a tap on the lab bridge, a serial log."""

    lab: Lab
    index: int
    firmware: str = "bios"  # bios: SeaBIOS + iPXE ROM (e1000); uefi: OVMF's own PXE (virtio)
    disk_mib: int = 512
    mem_mib: int = 256
    workdir: Path = field(init=False)
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    started: float = field(default=0.0, init=False)
    ended: float | None = field(default=None, init=False)
    boots: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.firmware not in FIRMWARES:
            raise ValueError(self.firmware)
        self.workdir = self.lab.workdir / f"vm{self.index}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tap = self.lab.add_tap(f"tap{self.index}")
        with self.disk.open("wb") as f:
            f.truncate(self.disk_mib * 1024 * 1024)
        if self.firmware == "uefi":
            shutil.copyfile(OVMF_VARS, self.workdir / "vars.fd")

    @property
    def mac(self) -> str:
        return mac_for(self.index)

    @property
    def disk(self) -> Path:
        return self.workdir / "disk.raw"

    @property
    def serial(self) -> Path:
        return self.workdir / f"serial{self.boots}.log"

    def argv(self, timeout: int, from_disk: bool = False, then_disk: bool = False) -> list[str]:
        """``from_disk``: network boot out of the boot order (the disk only), and a
        reboot restarts the VM instead of ending it (boot counting needs that).
        ``then_disk``: network first, the disk second, as a rack's boxes are set up;
        a reboot restarts the VM too."""
        restarts = from_disk or then_disk
        netboot = "" if from_disk else ",bootindex=1"
        diskboot = ",bootindex=0" if from_disk else ",bootindex=2" if then_disk else ""
        if self.firmware == "bios":
            machine = ["-machine", "pc,graphics=off"]
            nic = f"e1000,netdev=n0,mac={self.mac}{netboot}"
        else:
            machine = [
                "-machine",
                "q35",
                "-drive",
                f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                "-drive",
                f"if=pflash,format=raw,unit=1,file={self.workdir / 'vars.fd'}",
            ]
            nic = f"virtio-net-pci,netdev=n0,mac={self.mac}{netboot},romfile="
        return [
            "timeout",
            "-k",
            "5",
            str(timeout),
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-m",
            str(self.mem_mib),
            "-smp",
            "1",
            *machine,
            "-display",
            "none",
            "-monitor",
            "none",
            *(["-no-reboot", "-boot", "order=n,reboot-timeout=0"] if not restarts else []),
            "-serial",
            f"file:{self.serial}",
            "-drive",
            f"file={self.disk},format=raw,if=none,id=d0,cache=unsafe",
            "-device",
            "virtio-blk-pci,drive=d0" + diskboot,
            "-netdev",
            f"tap,id=n0,ifname={self.tap},script=no,downscript=no",
            "-device",
            nic,
            # entropy: TCG has no RDRAND, and without an RNG the kernel's early random
            # pool keeps sfdisk and mke2fs waiting ~5 s for their UUIDs
            "-device",
            "virtio-rng-pci",
        ]

    def boot(self, timeout: int = 300, from_disk: bool = False, then_disk: bool = False) -> None:
        self.boots += 1
        self.started, self.ended = time.monotonic(), None
        argv = self.argv(timeout, from_disk, then_disk)
        self.proc = self.lab.start(argv, self.workdir / f"qemu{self.boots}.log")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout: float = 400) -> int:
        assert self.proc is not None
        rc = self.proc.wait(timeout=timeout)
        self.ended = time.monotonic()
        return rc

    def kill(self) -> None:
        """Pull the plug: SIGKILL to QEMU, no shutdown, no flush of anything in flight.

        ``timeout`` (the outer guard) leads its own process group with QEMU in it;
        killing only ``timeout`` would leave QEMU running as an orphan."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            # and by PID: QEMU (``timeout``'s child) once outlived the group kill
            for pid in (*_children(self.proc.pid), self.proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait(timeout=60)  # QEMU under load can take a while to go
            self.ended = time.monotonic()

    def console(self, tail: int = 40) -> str:
        try:
            text = clean_serial(self.serial.read_text(errors="replace"))
        except OSError:
            return "(no serial log)"
        return "\n".join(text.splitlines()[-tail:])
