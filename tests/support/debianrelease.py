"""A real Debian release for the VM tests: ``mmdebstrap`` bookworm minbase with the
Debian kernel, systemd and udev, as an xz squashfs that honours the release
contract (media/releasefacts.py).

Built once per machine: the image is cached under ``$PROVISIONER_TEST_CACHE`` (or
``/var/cache/provisioner-tests``), keyed by everything it is made of -- the suite,
the mirror, the package list, this file's bytes and the date of the mirror's
``Release`` file as the host's apt last saw it -- so a second run costs nothing.
The mirror is the host's own (its apt sources); no other is invented.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.tinyrelease import link_or_copy

SUITE = "bookworm"
PACKAGES = ("linux-image-amd64", "systemd", "systemd-sysv", "udev")
#: Kernel module trees no VM (nor the slot boot) needs: the image stays small.
PRUNED_MODULES = (
    "sound",
    "drivers/gpu",
    "drivers/media",
    "drivers/net/wireless",
    "drivers/infiniband",
    "drivers/staging",
    "drivers/bluetooth",
    "drivers/iio",
    "drivers/isdn",
    "drivers/mtd",
    "drivers/usb",
    "drivers/hid",
    "drivers/input",
    "drivers/comedi",
    "drivers/net/can",
    "drivers/net/usb",
    "drivers/thunderbolt",
    "drivers/hwmon",
    "drivers/platform",
    "drivers/mmc",
    "drivers/edac",
    "drivers/crypto",
    "drivers/net/ethernet/mellanox",
    "drivers/net/ethernet/broadcom",
    "drivers/net/ethernet/chelsio",
    "drivers/net/ethernet/qlogic",
    "drivers/net/ethernet/marvell",
    "drivers/scsi/lpfc",
    "drivers/scsi/qla2xxx",
    "net/wireless",
    "net/mac80211",
    "net/bluetooth",
    "fs/ocfs2",
    "fs/btrfs",
    "fs/xfs",
    "fs/nfs",
    "fs/ceph",
    "fs/smb",
)
DPKG_EXCLUDES = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
    "/usr/share/lintian/*",
    "/lib/firmware/*",
    "/usr/lib/firmware/*",
)
CUSTOMIZE = """set -e
root="$1"
rm -f "$root"/boot/initrd.img-*  # the slot boots with the initramfs `image add` builds
for dir in "$root"/usr/lib/modules/*; do
    for sub in {pruned}; do rm -rf "$dir/kernel/$sub"; done
    chroot "$root" depmod "${{dir##*/}}"
done
: > "$root/etc/machine-id"  # each node makes its own at first boot
rm -f "$root/etc/hostname" "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*_Packages
"""


def default_cache() -> Path:
    return Path(os.environ.get("PROVISIONER_TEST_CACHE", "/var/cache/provisioner-tests"))


def host_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror the host's apt uses for ``SUITE`` (deb822 or one-line)."""
    files = sorted((sources / "sources.list.d").glob("*.sources"))
    for f in files:
        for stanza in f.read_text().split("\n\n"):
            fields = {
                k.strip(): v.strip()
                for k, _, v in (line.partition(":") for line in stanza.splitlines())
                if not k.startswith("#")
            }
            if SUITE in fields.get("Suites", "").split() and "deb" in fields.get("Types", ""):
                return fields["URIs"].split()[0]
    lists = [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*.list"))]
    for f in lists:
        if f.exists():
            for line in f.read_text().splitlines():
                words = [w for w in line.split() if not w.startswith("[")]
                if words[:1] == ["deb"] and len(words) > 2 and words[2] == SUITE:
                    return words[1]
    raise RuntimeError(f"the host's apt has no source for {SUITE}; cannot build a release")


def mirror_date(mirror: str, lists: Path = Path("/var/lib/apt/lists")) -> str:
    """The ``Date:`` of the mirror's Release file as apt last fetched it ('' if none)."""
    stem = re.sub(r"^\w+://", "", mirror).rstrip("/").replace("/", "_")
    for name in (f"{stem}_dists_{SUITE}_InRelease", f"{stem}_dists_{SUITE}_Release"):
        f = lists / name
        if f.exists():
            for line in f.read_text(errors="replace").splitlines():
                if line.startswith("Date:"):
                    return line[5:].strip()
    return ""


def cache_key(mirror: str) -> str:
    h = hashlib.sha256()
    for part in (SUITE, mirror, mirror_date(mirror), *PACKAGES):
        h.update(part.encode() + b"\0")
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def build_debian_release(dest: Path, cache: Path | None = None) -> Path:
    """``dest``: a squashfs of Debian bookworm that boots from a slot (hard link to the
    cached image when there is one)."""
    mirror = host_mirror()
    cache = cache or default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    cached = cache / f"debian-{SUITE}-{cache_key(mirror)}.squashfs"
    if cached.exists():
        os.utime(cached)  # in use: not stale
    else:
        _build(cached, mirror)
        _forget_stale(cache, keep=cached)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return link_or_copy(cached, dest)


def _forget_stale(cache: Path, keep: Path, days: float = 7) -> None:
    """Images of older inputs (another builder, an older mirror) unused for ``days``."""
    for old in cache.glob(f"debian-{SUITE}-*.squashfs"):
        if old != keep and time.time() - old.stat().st_mtime > days * 86400:
            old.unlink(missing_ok=True)


def _build(out: Path, mirror: str) -> None:
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        root = Path(tmp) / "root"
        hook = CUSTOMIZE.format(pruned=" ".join(PRUNED_MODULES))
        argv = [
            "mmdebstrap",
            "--variant=minbase",
            "--mode=root",
            "--include=" + ",".join(PACKAGES),
            "--aptopt=APT::Install-Recommends false",
            *(f"--dpkgopt=path-exclude={p}" for p in DPKG_EXCLUDES),
            f"--customize-hook={hook}",
            SUITE,
            str(root),
            mirror,
        ]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        if done.returncode:
            raise RuntimeError(f"mmdebstrap failed:\n{done.stderr[-4000:]}")
        # mmdebstrap leaves the host's resolver behind: no node should get it
        (root / "etc" / "resolv.conf").unlink(missing_ok=True)
        part = Path(tmp) / "release.squashfs"
        subprocess.run(
            ["mksquashfs", str(root), str(part), "-noappend", "-quiet", "-no-progress",
             "-comp", "xz"],
            check=True, capture_output=True, timeout=1800,
        )  # fmt: skip
        part.rename(out)
