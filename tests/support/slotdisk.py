"""Disks in layout v2, assembled on the host for slot-boot VM tests, and read back.

GPT: p1 prov-bios, p2 prov-esp, p3 prov-state, p4 prov-A, p5 prov-B, p6 prov-data
(ext4, labelled prov-data, filled from a directory with ``mke2fs -d``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from media.disklayout import Partition, parse_gpt

LINUX = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
LAYOUT_V2 = (
    ("prov-bios", 1, "21686148-6449-6E6F-744E-656564454649"),
    ("prov-esp", 8, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
    ("prov-state", 1, LINUX),
    ("prov-A", 48, LINUX),
    ("prov-B", 48, LINUX),
    ("prov-data", 0, LINUX),  # the rest
)


def _run(*argv: str, stdin: str | None = None) -> str:
    return subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, timeout=120, check=True
    ).stdout


def partitions(disk: Path) -> dict[str, Partition]:
    with disk.open("rb") as f:
        return {p.name: p for p in parse_gpt(f.read(34 * 512))}


def make_disk(
    disk: Path, mib: int, slots: dict[str, Path], data_tree: Path
) -> dict[str, Partition]:
    """A sparse ``mib`` MiB disk: layout v2, each slot image dd'd in, the data
    partition formatted and filled with ``data_tree``."""
    with disk.open("wb") as f:
        f.truncate(mib * 1024 * 1024)
    lines = ["label: gpt"] + [
        f'{f"size={size}MiB, " if size else ""}type={kind}, name="{name}"'
        for name, size, kind in LAYOUT_V2
    ]
    _run("sfdisk", "--quiet", str(disk), stdin="\n".join(lines) + "\n")
    parts = partitions(disk)
    with disk.open("r+b") as out:
        for slot, image in slots.items():
            part = parts[f"prov-{slot}"]
            assert image.stat().st_size <= part.size, f"{image} does not fit slot {slot}"
            out.seek(part.offset)
            with image.open("rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    data = parts["prov-data"]
    with tempfile.TemporaryDirectory() as t:
        img = Path(t) / "data.img"
        _run(
            "mke2fs",
            "-q",
            "-F",
            "-t",
            "ext4",
            "-L",
            "prov-data",
            "-d",
            str(data_tree),
            str(img),
            f"{data.size // 1024}k",
        )
        with img.open("rb") as f, disk.open("r+b") as out:
            out.seek(data.offset)
            shutil.copyfileobj(f, out, 1 << 20)
    return parts


def data_file(disk: Path, path: str) -> bytes | None:
    """A file of the data partition, read after replaying its journal on a copy
    (the VM's plug was pulled: debugfs alone does not replay the journal)."""
    part = partitions(disk)["prov-data"]
    with tempfile.TemporaryDirectory() as t:
        img = Path(t) / "data.img"
        with disk.open("rb") as f, img.open("wb") as out:
            f.seek(part.offset)
            left = part.size
            while left:
                chunk = f.read(min(left, 1 << 20))
                out.write(chunk)
                left -= len(chunk)
        subprocess.run(["e2fsck", "-fy", str(img)], capture_output=True, timeout=120, check=False)
        out = subprocess.run(
            ["debugfs", "-R", f"stat {path}", str(img)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if "Inode:" not in out.stdout:
            return None
        return subprocess.run(
            ["debugfs", "-R", f"cat {path}", str(img)], capture_output=True, timeout=60, check=True
        ).stdout


def read_at(disk: Path, name: str, offset: int, size: int) -> bytes:
    part = partitions(disk)[name]
    with disk.open("rb") as f:
        f.seek(part.offset + offset)
        return f.read(size)
