"""Build the boot environment: Debian's kernel and an initramfs with the agent.

``provisioner media build-initrd`` (and ``scripts/run`` when it is missing):

1. ``apt-get download`` Debian's current ``linux-image-*-amd64`` (not installed;
   the .deb is cached in ``<data_dir>/cache/``) and extract the kernel and the
   modules the agent needs (NICs, disks, ext4, squashfs);
2. ``depmod`` them (the .deb ships no ``modules.dep``: its postinst makes it);
3. assemble busybox-static, ``sfdisk`` and ``mke2fs`` with the shared libraries
   ``ldd`` names, the agent scripts from ``media/agent/``;
4. write ``<data_dir>/boot/vmlinuz`` and ``initrd.img`` atomically (temp file,
   fsync, rename) with a stamp; a rebuild happens only when an input changed.

The cpio archive is deterministic (see :mod:`media.cpio`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from media import cpio
from provisioner.bootnames import BOOTENV_INITRD, BOOTENV_KERNEL
from provisioner.errors import ProvisionerError

log = logging.getLogger(__name__)

AGENT_DIR = Path(__file__).resolve().parent / "agent"
BUILDER_VERSION = 1
#: Modules the boot environment loads (plus whatever they depend on).
MODULES = (
    "e1000",
    "e1000e",
    "igb",
    "ixgbe",
    "r8169",
    "tg3",
    "bnx2",
    "virtio_pci",
    "virtio_net",
    "virtio_blk",
    "virtio_scsi",
    "ahci",
    "ata_piix",
    "sd_mod",
    "nvme",
    "loop",
    "squashfs",
    "ext4",
    "crc32c_generic",
    "virtio_rng",  # entropy for a VM's early boot (sfdisk and mke2fs need random UUIDs)
)
#: Dynamically linked tools copied with their libraries.
TOOLS = ("/sbin/sfdisk", "/sbin/mke2fs")
BUSYBOX = "/bin/busybox"
KERNEL_META = "linux-image-amd64"


class BuildError(ProvisionerError):
    """The boot environment could not be built; the message says what is missing."""


@dataclass(frozen=True)
class BootEnv:
    kernel_version: str
    vmlinuz: Path
    initrd: Path
    built: bool  # False: an up-to-date build was already there


def _run(
    argv: list[str],
    cwd: Path | None = None,
    timeout: float = 600,
    env: dict[str, str] | None = None,
) -> str:
    try:
        out = subprocess.run(
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
            env=None if env is None else {**os.environ, **env},
        )
    except FileNotFoundError:
        raise BuildError(f"{argv[0]} is not installed (scripts/packages-run.txt)") from None
    except subprocess.CalledProcessError as exc:
        raise BuildError(f"{' '.join(argv)} failed: {exc.stderr.strip()[-500:]}") from None
    return out.stdout


def kernel_package(refresh: Callable[[], None] | None = None) -> str:
    """The versioned package ``linux-image-amd64`` currently depends on."""
    for attempt in (1, 2):
        out = subprocess.run(
            ["apt-cache", "depends", KERNEL_META],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        ).stdout
        m = re.search(r"Depends: (linux-image-\S+-amd64)", out)
        if m:
            return m.group(1)
        if attempt == 1 and refresh is not None:
            refresh()
    raise BuildError(f"cannot resolve {KERNEL_META}: run apt-get update (as root)")


def _apt_update() -> None:
    if os.geteuid() == 0:
        _run(["apt-get", "update", "-qq"], timeout=600)


def download_kernel(cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    pkg = kernel_package(_apt_update)
    found = sorted(cache.glob(f"{pkg}_*.deb"))
    if found:
        return found[-1]
    log.info(
        "downloading %s (Debian's kernel package, about 70 MB; once: kept in %s) with "
        "apt-get download from this machine's Debian mirror",
        pkg,
        cache,
    )
    try:
        _run(["apt-get", "download", pkg], cwd=cache)
    except BuildError:
        _apt_update()
        _run(["apt-get", "download", pkg], cwd=cache)
    found = sorted(cache.glob(f"{pkg}_*.deb"))
    if not found:
        raise BuildError(f"apt-get download {pkg} left no .deb in {cache}")
    return found[-1]


_WANTED = re.compile(
    r"\./(boot/vmlinuz-[^/]+|lib/modules/[^/]+/(modules\.(order|builtin|builtin\.modinfo)"
    r"|kernel/(drivers/(net|block|ata|scsi|nvme|virtio|char/hw_random)/"
    r"|fs/(ext4/|jbd2/|squashfs/|overlayfs/|mbcache\.ko)"
    r"|lib/|crypto/|net/core/).*))\Z"
)


def extract_kernel(deb: Path, dest: Path) -> str:
    """Extract vmlinuz and the module directories we need; return the version."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if member.isfile() and _WANTED.match(member.name):
                    tar.extract(member, dest, filter="data")
        if proc.wait(timeout=300) != 0:
            raise BuildError(f"dpkg-deb could not read {deb}")
    versions = [p.name for p in (dest / "lib" / "modules").iterdir()]
    if len(versions) != 1:
        raise BuildError(f"expected one kernel in {deb}, found {versions}")
    _run(["depmod", "-b", str(dest), versions[0]])
    return versions[0]


def parse_modules_dep(text: str) -> dict[str, tuple[str, list[str]]]:
    """``modules.dep`` -> {module name: (path, [dependency paths])}."""
    out: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        path, sep, deps = line.partition(":")
        if not sep:
            continue
        name = re.sub(r"\.ko(\.[a-z]+)?$", "", path.rsplit("/", 1)[-1]).replace("-", "_")
        out[name] = (path, deps.split())
    return out


def module_closure(dep: dict[str, tuple[str, list[str]]], wanted: Iterable[str]) -> list[str]:
    """Paths of the wanted modules and everything they need (missing ones skipped)."""
    by_path = dict(dep.values())
    todo = [dep[m.replace("-", "_")][0] for m in wanted if m.replace("-", "_") in dep]
    seen: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(by_path.get(path, []))
    return sorted(seen)


def modules_dep_for(dep: dict[str, tuple[str, list[str]]], shipped: list[str]) -> str:
    """``modules.dep`` for just the shipped modules (what busybox modprobe reads)."""
    keep = set(shipped)
    lines = [
        f"{path}: {' '.join(d for d in deps if d in keep)}".rstrip()
        for path, deps in sorted(dep.values())
        if path in keep
    ]
    return "\n".join(lines) + "\n"


def shared_libraries(binary: str) -> list[str]:
    out = _run(["ldd", binary])
    libs = re.findall(r"=> (/\S+)", out) + re.findall(r"^\s*(/\S+ld-linux\S*)", out, re.M)
    return sorted(set(libs))


def _inputs_digest(kernel_deb: Path) -> str:
    h = hashlib.sha256(f"builder {BUILDER_VERSION}\n{kernel_deb.name}\n".encode())
    for f in [Path(__file__), *sorted(AGENT_DIR.glob("*.sh"))]:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    for tool in (BUSYBOX, *TOOLS):
        st = Path(tool).stat()
        h.update(f"{tool} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _entries(tree: Path, version: str) -> list[cpio.Entry]:
    entries = [
        cpio.directory(d)
        for d in (
            "bin",
            "sbin",
            "usr",
            "usr/bin",
            "usr/sbin",
            "etc",
            "proc",
            "sys",
            "dev",
            "tmp",
            "run",
            "data",
            "lib",
            "lib64",
            "lib/modules",
            f"lib/modules/{version}",
        )
    ]
    # the real sfdisk and mke2fs, not busybox's
    entries += busybox_entries(exclude={Path(t).name for t in TOOLS})
    entries.append(cpio.file("init", (AGENT_DIR / "init.sh").read_bytes(), 0o755))
    entries.append(cpio.file("agent.sh", (AGENT_DIR / "agent.sh").read_bytes(), 0o755))
    entries.append(cpio.file("udhcpc.sh", (AGENT_DIR / "udhcpc.sh").read_bytes(), 0o755))
    entries.append(cpio.file("common.sh", (AGENT_DIR / "common.sh").read_bytes(), 0o644))
    entries.append(cpio.file("grubenv.sh", (AGENT_DIR / "grubenv.sh").read_bytes(), 0o644))
    entries.append(cpio.file("etc/resolv.conf", b""))
    seen_dirs = {e.path for e in entries}
    files: dict[str, bytes] = {}
    for tool in TOOLS:
        files[f"sbin/{Path(tool).name}"] = Path(tool).read_bytes()
        for lib in shared_libraries(tool):
            files[lib.lstrip("/")] = Path(lib).read_bytes()
    mod_root = tree / "lib" / "modules" / version
    dep = parse_modules_dep((mod_root / "modules.dep").read_text())
    shipped = module_closure(dep, MODULES)
    for rel in shipped:
        files[f"lib/modules/{version}/{rel}"] = (mod_root / rel).read_bytes()
    files[f"lib/modules/{version}/modules.dep"] = modules_dep_for(dep, shipped).encode()
    for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        if (mod_root / name).exists():
            files[f"lib/modules/{version}/{name}"] = (mod_root / name).read_bytes()
    for path, data in files.items():
        entries += cpio.parents(path, seen_dirs)
        perm = 0o755 if path.startswith(("sbin/", "lib")) and ".ko" not in path else 0o644
        entries.append(cpio.file(path, data, perm))
    return entries


def busybox_entries(exclude: Iterable[str] = ()) -> list[cpio.Entry]:
    """``bin/busybox`` (the host's static one) and a ``bin/<applet>`` link per applet."""
    applets = _run([BUSYBOX, "--list"]).split()
    entries = [cpio.file("bin/busybox", Path(BUSYBOX).read_bytes(), 0o755)]
    skip = {"busybox", *exclude}
    return entries + [cpio.symlink(f"bin/{a}", "busybox") for a in applets if a not in skip]


def atomic_write(path: Path, data: bytes) -> None:
    """Temp file, fsync, rename: readers see the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def build_boot_env(data_dir: Path, *, force: bool = False) -> BootEnv:
    """Build (or reuse) ``<data_dir>/boot/{vmlinuz,initrd.img}``."""
    cache, boot = data_dir / "cache", data_dir / "boot"
    boot.mkdir(parents=True, exist_ok=True)
    for tool in (BUSYBOX, *TOOLS):
        if not Path(tool).exists():
            raise BuildError(f"{tool} is missing (Debian: busybox-static, fdisk, e2fsprogs)")
    deb = download_kernel(cache)
    digest = _inputs_digest(deb)
    stamp_path = boot / "bootenv.json"
    vmlinuz, initrd = boot / BOOTENV_KERNEL, boot / BOOTENV_INITRD
    if not force and stamp_path.exists() and vmlinuz.exists() and initrd.exists():
        stamp = json.loads(stamp_path.read_text())
        if stamp.get("inputs") == digest:
            return BootEnv(stamp["kernel_version"], vmlinuz, initrd, built=False)
    tree = cache / "kernel-tree"
    version = extract_kernel(deb, tree)
    image = cpio.archive(_entries(tree, version))
    atomic_write(vmlinuz, next((tree / "boot").glob("vmlinuz-*")).read_bytes())
    atomic_write(initrd, gzip.compress(image, compresslevel=6, mtime=0))
    atomic_write(
        stamp_path,
        json.dumps(
            {
                "kernel_version": version,
                "inputs": digest,
                "kernel_deb": deb.name,
                "initrd_sha256": hashlib.sha256(initrd.read_bytes()).hexdigest(),
            },
            indent=2,
        ).encode(),
    )
    shutil.rmtree(tree, ignore_errors=True)
    return BootEnv(version, vmlinuz, initrd, built=True)
