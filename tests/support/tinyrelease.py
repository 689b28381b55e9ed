"""Releases for tests that honour the release contract (media/releasefacts.py).

* :func:`build_tiny_release`: a bootable squashfs of a few MB — busybox-static,
  the boot environment's Debian kernel with the modules a VM needs, and an
  ``/sbin/init`` that brings up the network (busybox ifupdown), starts the
  installed reporter and puts a getty on ttyS0;
* :func:`add_boot_contract`: the minimal fake pieces that make any tree pass
  :func:`media.releasefacts.inspect_release` (no VM can boot them).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from media.initrd import (
    BUSYBOX,
    download_kernel,
    extract_kernel,
    module_closure,
    modules_dep_for,
    parse_modules_dep,
)

#: Modules of the tiny release: what slotinit.sh needs plus the VM's NIC.
TINY_MODULES = (
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "e1000",  # the BIOS VMs' NIC (tests/support/vm.py)
    "squashfs",
    "overlay",
    "ext4",
    "crc32c_generic",
)
FAKE_KERNEL = "6.1.0-test"

INIT = """#!/bin/sh
# the tiny release's init (tests/support/tinyrelease.py)
PATH=/sbin:/bin
export PATH
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mount -t tmpfs run /run
{broken}
for m in virtio_pci virtio_net e1000; do modprobe "$m" 2>/dev/null; done
[ -f /etc/hostname ] && hostname -F /etc/hostname
[ -f /etc/network/interfaces ] && mkdir -p /run/network && ifup -a
[ -x /usr/lib/provisioner/boot-report ] && /usr/lib/provisioner/boot-report &
echo "boot $(cat /proc/sys/kernel/random/boot_id)" >> /root/boots.log && sync
for f in /etc/systemd/system/*.service /etc/systemd/system/multi-user.target.wants/*; do
    if [ -L "$f" ]; then echo "UNIT-LINK $f -> $(readlink "$f")"
    elif [ -f "$f" ]; then sed "s|^|UNIT $f: |" "$f"; fi
done
echo "TINY-RELEASE {version} up"
while :; do getty -L 115200 ttyS0 vt100; done
"""


def _squash(tree: Path, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.tmp")
    subprocess.run(
        ["mksquashfs", str(tree), str(tmp), "-noappend", "-quiet", "-no-progress", "-all-root"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    tmp.replace(dest)


def _kernel_tree(cache: Path, deb: Path) -> tuple[Path, str]:
    tree = cache / f"kernel-tree-{deb.stem}"
    if not (tree / "done").exists():
        version = extract_kernel(deb, tree)
        (tree / "done").write_text(version)
    return tree, (tree / "done").read_text()


def _tree(root: Path, version: str, broken: bool, systemd: bool, ktree: Path, kver: str) -> None:
    for d in ("bin", "etc/network", "proc", "sys", "dev", "run", "tmp", "root", "data", "usr"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "sbin").symlink_to("bin")
    (root / "lib").mkdir()
    (root / "var").mkdir()
    (root / "var" / "run").symlink_to("/run")
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run(
        [BUSYBOX, "--list"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    for a in applets:
        if a not in {"busybox", "init", "linuxrc"}:
            (root / "bin" / a).symlink_to("busybox")
    fail = f'echo "TINY-RELEASE {version} broken"; exit 1' if broken else ""
    init = root / "bin" / "init"
    if systemd:  # a stand-in at systemd's path: the boot takes it for systemd
        (root / "lib" / "systemd").mkdir()
        init = root / "lib" / "systemd" / "systemd"
        (root / "bin" / "init").symlink_to("/lib/systemd/systemd")
    init.write_text(INIT.format(version=version, broken=fail))
    init.chmod(0o755)
    (root / "etc" / "os-release").write_text(
        f'NAME="Tiny Release"\nID=tiny\nVERSION_ID="{version}"\nPRETTY_NAME="Tiny {version}"\n'
    )
    (root / "etc" / "hostname").write_text("tiny\n")
    (root / "etc" / "passwd").write_text("root::0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    (root / "boot").mkdir()
    shutil.copy2(next((ktree / "boot").glob("vmlinuz-*")), root / "boot" / f"vmlinuz-{kver}")
    src = ktree / "lib" / "modules" / kver
    dst = root / "lib" / "modules" / kver
    dep = parse_modules_dep((src / "modules.dep").read_text())
    shipped = module_closure(dep, TINY_MODULES)
    for rel in shipped:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dst / rel)
    (dst / "modules.dep").write_text(modules_dep_for(dep, shipped))
    for name in ("modules.builtin", "modules.order"):
        if (src / name).exists():
            shutil.copy2(src / name, dst / name)


def build_tiny_release(
    dest_squashfs: Path,
    version: str,
    *,
    broken: bool = False,
    fake_systemd: bool = False,
    cache: Path | None = None,
) -> Path:
    """A bootable release image at ``dest_squashfs``; built once per set of inputs
    into ``cache`` (default: next to ``dest_squashfs``, where the kernel .deb is
    kept too) and hard-linked (or copied) from there. ``broken``: its init fails;
    ``fake_systemd``: its init sits at /lib/systemd/systemd (and prints the units
    it finds), so the slot boot treats it as a systemd release."""
    cache = cache or dest_squashfs.parent / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    deb = download_kernel(cache)
    bb = Path(BUSYBOX).stat()
    key = hashlib.sha256(
        f"{deb.name}\n{version}\n{broken} {fake_systemd}\n{bb.st_size} {bb.st_mtime_ns}\n".encode()
        + Path(__file__).read_bytes()
    ).hexdigest()[:16]
    cached = cache / f"tiny-{version}-{key}.squashfs"
    if not cached.exists():
        ktree, kver = _kernel_tree(cache, deb)
        work = cache / f"tiny-{key}.tree"
        shutil.rmtree(work, ignore_errors=True)
        _tree(work, version, broken, fake_systemd, ktree, kver)
        _squash(work, cached)
        shutil.rmtree(work)
    return link_or_copy(cached, dest_squashfs)


def link_or_copy(cached: Path, dest: Path) -> Path:
    """``dest``: a hard link to a cached image (a copy across file systems)."""
    dest.unlink(missing_ok=True)
    try:
        os.link(cached, dest)
    except OSError:
        shutil.copyfile(cached, dest)
    return dest


def add_boot_contract(tree: Path) -> Path:
    """Fake kernel, modules.dep/modules.builtin (squashfs, overlay, ext4, virtio_blk
    built in) and an /sbin/init: enough for inspect_release, not for a real boot."""
    (tree / "boot").mkdir(parents=True, exist_ok=True)
    (tree / "boot" / f"vmlinuz-{FAKE_KERNEL}").write_bytes(b"not a kernel\n")
    mods = tree / "lib" / "modules" / FAKE_KERNEL
    mods.mkdir(parents=True, exist_ok=True)
    (mods / "modules.dep").write_text("")
    (mods / "modules.builtin").write_text(
        "kernel/fs/squashfs/squashfs.ko\nkernel/fs/overlayfs/overlay.ko\n"
        "kernel/fs/ext4/ext4.ko\nkernel/drivers/block/virtio_blk.ko\n"
    )
    (tree / "sbin").mkdir(parents=True, exist_ok=True)
    init = tree / "sbin" / "init"
    init.write_text("#!/bin/sh\necho fake release\n")
    init.chmod(0o755)
    return tree
