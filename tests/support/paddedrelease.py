"""The Debian release padded to the paper's release size (~200 MB): the image of
tests/support/debianrelease.py with random, incompressible bytes in ``/opt/payload``,
cached beside it (benchmarks/installer_bench.py ``--release debian200``).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from tests.support.debianrelease import (
    SUITE,
    build_debian_release,
    cache_key,
    default_cache,
    host_mirror,
)
from tests.support.tinyrelease import link_or_copy


def build_padded_release(dest: Path, payload_mib: int = 120, cache: Path | None = None) -> Path:
    """``dest``: the Debian release with ``payload_mib`` of random (incompressible)
    bytes in ``/opt/payload`` -- a release of the paper's size (~200 MB), cached
    beside the image it is made from."""
    cache = cache or default_cache()
    cached = cache / f"debian-{SUITE}-{cache_key(host_mirror())}-pad{payload_mib}.squashfs"
    if cached.exists():
        os.utime(cached)
    else:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            base = build_debian_release(Path(tmp) / "base.squashfs", cache)
            root = Path(tmp) / "root"
            subprocess.run(["unsquashfs", "-q", "-n", "-d", str(root), str(base)],
                           check=True, capture_output=True, timeout=1800)  # fmt: skip
            (root / "opt" / "payload").mkdir(parents=True, exist_ok=True)
            with (root / "opt" / "payload" / "blob").open("wb") as f:
                for _ in range(payload_mib):
                    f.write(os.urandom(1 << 20))
            part = Path(tmp) / "release.squashfs"
            subprocess.run(
                ["mksquashfs", str(root), str(part), "-noappend", "-quiet", "-no-progress",
                 "-comp", "xz"],
                check=True, capture_output=True, timeout=1800,
            )  # fmt: skip
            part.rename(cached)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return link_or_copy(cached, dest)
