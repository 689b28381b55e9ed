"""Disks of layout v2 assembled on the host, and QEMU booting them from their own loader.

What the installer agent will do to a disk, done from outside without root, loop
devices or mounts: ``sfdisk`` on a sparse file, GRUB's ``mbr.bin`` (440 bytes) at
byte 0, ``core.img`` into partition 1, ``esp.img`` into partition 2, the data
partition made with the agent's own ``mke2fs`` command (no ``/etc/mke2fs.conf``,
as in its initramfs) and filled with ``debugfs``. The slots' kernels are Debian's
(the boot environment's vmlinuz); each slot's initramfs is a few lines of busybox
sh that print the slot the kernel was told (``SLOT=A``) and power off, or, for a
"broken" slot, exit so the kernel panics and reboots (``panic=10``).
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from media import cpio, grubenv
from media.grubcfg import slot_boot_cfg
from media.loader import BIOS_BOOT_LBA, ESP_LBA, Loader
from tests.support.vm import OVMF_CODE, OVMF_VARS, clean_serial

MIB = 1024 * 1024
SECTOR = 512
AGENT_DIR = Path(__file__).resolve().parents[2] / "media" / "agent"
#: The agent's command (agent.sh), DEV appended.
AGENT_MKE2FS = [
    "/sbin/mke2fs",
    "-q",
    "-F",
    "-t",
    "ext4",
    "-E",
    "lazy_itable_init=1,lazy_journal_init=1",
    "-L",
    "prov-data",
]
#: The initramfs has no /etc/mke2fs.conf: mke2fs then uses its built-in profile.
#: (A config file that exists but is empty is another case: plain ext2 defaults.)
NO_MKE2FS_CONF = {"MKE2FS_CONFIG": "/nonexistent/mke2fs.conf"}
TYPE_BIOS = "21686148-6449-6E6F-744E-656564454649"
TYPE_ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
TYPE_LINUX = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
#: Kernel words for the test slots; the last two prove quoting reaches the kernel intact.
WORDS = (
    "console=ttyS0,115200",
    "loglevel=3",
    "no_timer_check",
    "prov.test=a;b$c|d&e{f}",
    "prov.note=x y",
)


@dataclass(frozen=True)
class Layout:
    """Partition sizes in MiB (p1 and p2 are fixed by layout v2)."""

    slot_mib: int = 4
    data_mib: int = 520  # over 512 MiB: mke2fs's "default" type, 4 KiB blocks

    def starts(self) -> dict[str, tuple[int, int]]:
        """name -> (first LBA, sectors)."""
        sizes = [
            ("prov-bios", 1),
            ("prov-esp", 32),
            ("prov-state", 1),
            ("prov-A", self.slot_mib),
            ("prov-B", self.slot_mib),
            ("prov-data", self.data_mib),
        ]
        out, lba = {}, BIOS_BOOT_LBA
        for name, mib in sizes:
            out[name] = (lba, mib * MIB // SECTOR)
            lba += mib * MIB // SECTOR
        return out

    def disk_bytes(self) -> int:
        first, count = self.starts()["prov-data"]
        return (first + count) * SECTOR + MIB  # room for the backup GPT

    def sfdisk_script(self) -> str:
        types = {"prov-bios": TYPE_BIOS, "prov-esp": TYPE_ESP}
        lines = ["label: gpt", "unit: sectors"]
        for name, (first, count) in self.starts().items():
            lines.append(
                f"start={first}, size={count}, type={types.get(name, TYPE_LINUX)}, name={name}"
            )
        return "\n".join(lines) + "\n"


def slot_initrd(*, broken: bool = False) -> bytes:
    """A gzip'd initramfs: busybox and an /init that reports the slot it was booted as."""
    end = "exit 1  # the kernel panics: panic=10 reboots" if broken else "poweroff -f"
    init = f"""#!/bin/sh
mount -t proc proc /proc
read -r line < /proc/cmdline
for w in $line; do case "$w" in prov.slot=*) slot=${{w#prov.slot=}} ;; esac; done
echo "CMDLINE=$line"
echo "{"BROKEN" if broken else "SLOT"}=$slot"
{end}
"""
    entries = [
        cpio.directory("bin"),
        cpio.directory("proc"),
        cpio.directory("dev"),
        cpio.file("bin/busybox", Path("/bin/busybox").read_bytes(), 0o755),
        *(cpio.symlink(f"bin/{a}", "busybox") for a in ("sh", "mount", "poweroff")),
        cpio.file("init", init.encode(), 0o755),
    ]
    return gzip.compress(cpio.archive(entries), mtime=0)


def _run(argv: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        argv, input=stdin, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, f"{' '.join(argv)}: {out.stderr}"
    return out.stdout


def make_data_fs(path: Path, size: int, files: dict[str, bytes]) -> None:
    """The data partition as the agent makes it, with ``files`` (path -> bytes) on it."""
    with path.open("wb") as f:
        f.truncate(size)
    _run([*AGENT_MKE2FS, str(path)], env={**os.environ, **NO_MKE2FS_CONF})
    staging = path.parent / f"{path.name}.files"
    staging.mkdir(exist_ok=True)
    cmds, dirs = [], set()
    for i, (dest, data) in enumerate(sorted(files.items())):
        parts = dest.strip("/").split("/")
        for n in range(1, len(parts)):
            d = "/" + "/".join(parts[:n])
            if d not in dirs:
                dirs.add(d)
                cmds.append(f"mkdir {d}")
        local = staging / str(i)
        local.write_bytes(data)
        cmds.append(f"write {local} {dest}")
    script = path.parent / f"{path.name}.debugfs"
    script.write_text("\n".join(cmds) + "\n")
    out = subprocess.run(
        ["debugfs", "-w", "-f", str(script), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "rror" not in out.stderr, out.stderr
    shutil.rmtree(staging)


def _copy_into(disk: Path, offset: int, source: Path) -> None:
    """``dd conv=notrunc,sparse``: only the non-zero 64 KiB blocks are written."""
    with source.open("rb") as src, disk.open("r+b") as dst:
        pos = 0
        while block := src.read(64 * 1024):
            if block.count(0) != len(block):
                dst.seek(offset + pos)
                dst.write(block)
            pos += len(block)


def assemble_disk(
    disk: Path,
    loader: Loader,
    kernel: Path,
    slots: dict[str, bytes],
    layout: Layout = Layout(),
) -> None:
    """A layout-v2 disk with our loader and, per slot in ``slots``, kernel + initrd + boot.cfg."""
    with disk.open("wb") as f:
        f.truncate(layout.disk_bytes())
    _run(
        ["sfdisk", "-q", "--no-reread", "--no-tell-kernel", str(disk)], stdin=layout.sfdisk_script()
    )
    with disk.open("r+b") as f:
        f.write(loader.mbr.read_bytes())  # 440 bytes: the partition table stays
        f.seek(BIOS_BOOT_LBA * SECTOR)
        f.write(loader.core.read_bytes())
    _copy_into(disk, ESP_LBA * SECTOR, loader.esp)
    files = {}
    for slot, initrd in slots.items():
        base = f"/provisioner/boot/{slot}"
        files[f"{base}/vmlinuz"] = kernel.read_bytes()
        files[f"{base}/initrd.img"] = initrd
        files[f"{base}/boot.cfg"] = slot_boot_cfg(slot, WORDS).encode()
    first, count = layout.starts()["prov-data"]
    data = disk.parent / f"{disk.name}.data"
    make_data_fs(data, count * SECTOR, files)
    _copy_into(disk, first * SECTOR, data)
    data.unlink()


def env_at(loader: Loader) -> int:
    """grubenv's byte offset on the disk."""
    return ESP_LBA * SECTOR + loader.env_offset


def read_env(disk: Path, loader: Loader) -> dict[str, str]:
    with disk.open("rb") as f:
        f.seek(env_at(loader))
        return grubenv.parse(f.read(grubenv.BLOCK_SIZE))


def genv_sh(disk: Path, offset: int, commands: str) -> str:
    """Run ``commands`` in busybox sh with media/agent/grubenv.sh sourced; DEV and
    OFF name the disk and the block's offset."""
    script = f'. {AGENT_DIR / "grubenv.sh"}\nDEV="$1" OFF="$2"\n{commands}\n'
    return _run(["busybox", "sh", "-c", script, "sh", str(disk), str(offset)])


def boot(
    disk: Path,
    firmware: str,
    workdir: Path,
    name: str,
    *,
    reboots: bool = False,
    timeout: int = 120,
) -> str:
    """Boot ``disk`` (behind an empty first disk) until the VM powers off; the serial log.

    ``reboots``: a reboot (a panicking slot) starts the firmware again, else QEMU ends."""
    workdir.mkdir(parents=True, exist_ok=True)
    blank = workdir / "blank.raw"
    if not blank.exists():
        with blank.open("wb") as f:
            f.truncate(8 * MIB)
    serial = workdir / f"{name}.log"
    if firmware == "bios":
        machine = ["-machine", "pc,graphics=off", "-boot", "c"]
    else:
        vars_fd = workdir / f"{name}.vars.fd"
        shutil.copyfile(OVMF_VARS, vars_fd)
        machine = [
            "-machine",
            "q35",
            "-drive",
            f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
            "-drive",
            f"if=pflash,format=raw,unit=1,file={vars_fd}",
        ]
    argv = [
        "timeout",
        "-k",
        "5",
        str(timeout),
        "qemu-system-x86_64",
        "-accel",
        "tcg",
        "-m",
        "512",  # GRUB 2.06's EFI linux loader runs out of memory in OVMF with 256
        "-smp",
        "1",
        *machine,
        "-display",
        "none",
        "-monitor",
        "none",
        "-nic",
        "none",
        "-serial",
        f"file:{serial}",
        # two disks, the empty one first: OVMF tries it, fails and boots the second,
        # which GRUB calls hd1, so the loader must find its own disk, not assume hd0
        # (SeaBIOS boots only its first hard disk and gives the chosen one drive 0x80)
        "-drive",
        f"file={blank},format=raw,if=none,id=d0",
        "-device",
        f"virtio-blk-pci,drive=d0,bootindex={2 if firmware == 'bios' else 1}",
        "-drive",
        f"file={disk},format=raw,if=none,id=d1,cache=unsafe",
        "-device",
        f"virtio-blk-pci,drive=d1,bootindex={1 if firmware == 'bios' else 2}",
        "-device",
        "virtio-rng-pci",
        *([] if reboots else ["-no-reboot"]),
    ]
    proc = subprocess.run(argv, capture_output=True, timeout=timeout + 30, check=False)
    log = clean_serial(serial.read_text(errors="replace")) if serial.exists() else ""
    assert proc.returncode == 0, (
        f"QEMU exit {proc.returncode}: {proc.stderr[-500:]!r}\n{log[-3000:]}"
    )
    return log
