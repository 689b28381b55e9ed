"""Real media files for tests, made with the real tools (mksquashfs, qemu-img,
xorriso) in a test's own directory."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.tinyrelease import add_boot_contract

needs_mksquashfs = pytest.mark.skipif(
    shutil.which("mksquashfs") is None, reason="squashfs-tools not installed"
)
needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-utils missing")
needs_xorriso = pytest.mark.skipif(shutil.which("xorriso") is None, reason="xorriso not installed")


def make_tree(root: Path, payload: int = 200_000, seed: int = 1) -> Path:
    """A small directory tree with ``payload`` incompressible bytes."""
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "hostname").write_text(f"avbox{seed}\n")
    (root / "data.bin").write_bytes(random.Random(seed).randbytes(payload))
    return root


def make_squashfs(
    path: Path, comp: str = "gzip", payload: int = 200_000, seed: int = 1, block: str = "128K"
) -> Path:
    """A release image: :func:`make_tree` plus the fake pieces of the release contract."""
    src = add_boot_contract(make_tree(path.parent / f"{path.name}.src", payload, seed))
    subprocess.run(
        ["mksquashfs", str(src), str(path), "-comp", comp, "-b", block, "-noappend", "-quiet"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    shutil.rmtree(src)
    return path


def make_qcow2(path: Path, *options: str, size: str = "1M") -> Path:
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", *options, str(path), size],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path


def make_iso(path: Path, seed: int = 1) -> Path:
    src = make_tree(path.parent / f"{path.name}.src", 50_000, seed)
    subprocess.run(
        ["xorriso", "-as", "mkisofs", "-quiet", "-o", str(path), str(src)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    shutil.rmtree(src)
    return path


def random_file(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 20))
            f.write(chunk)
            left -= len(chunk)
    return path


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
