"""How a release boots from its slot: its own kernel and a small initramfs.

The slot holds the release's squashfs image verbatim (its sha256 is what the agent
checked). At ``image add`` the server builds, per release, from the image alone:

* ``vmlinuz``: the release's kernel (:attr:`ReleaseFacts.kernel`);
* ``initrd.img``: a deterministic gzip'd cpio with the host's static busybox,
  the modules the slot boot needs (disk controllers, squashfs, overlay, ext4 and
  what they depend on, decompressed to plain ``.ko`` with a rewritten
  ``modules.dep``: busybox modprobe may not read ``.ko.xz``/``.ko.zst``),
  ``media/agent/slotinit.sh`` as ``/init``, the reporter ``boot-report.sh`` with
  ``common.sh`` and, when the loader's ``grubenv.sh`` is there, that too;
* ``release-boot.json``: the facts, the two files' sha256 and the builder version.

The same image gives the same bytes. ``slotinit.sh`` mounts the slot read-only
under an overlay whose writable layer lives on the data partition
(docs/installer.md, "How a release boots from its slot").
"""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from media import cpio
from media.initrd import (
    AGENT_DIR,
    atomic_write,
    busybox_entries,
    module_closure,
    modules_dep_for,
    parse_modules_dep,
)
from media.releasefacts import (
    DISK_DRIVERS,
    FILESYSTEMS,
    Listing,
    ReleaseContractError,
    ReleaseFacts,
    check,
    inspect_release,
    list_image,
    run_unsquashfs,
)

__all__ = [
    "BOOT_MODULES",
    "ReleaseBoot",
    "ReleaseContractError",
    "ReleaseFacts",
    "build_release_boot",
    "inspect_release",
]

BUILDER_VERSION = 1
#: What slotinit.sh modprobes, in this order (those the kernel has as modules;
#: built-in ones and absent ones are skipped). virtio_pci carries virtio_blk's
#: bus and crc32c_generic ext4's checksums: neither is in modules.dep.
BOOT_MODULES: tuple[str, ...] = (
    "virtio_pci",
    *dict.fromkeys(m for alt in DISK_DRIVERS for m in alt),
    *FILESYSTEMS,
    "crc32c_generic",
)
#: Scripts from media/agent/ next to /init (the loader's grubenv.sh comes apart).
SCRIPTS = ("boot-report.sh", "common.sh")


@dataclass(frozen=True)
class ReleaseBoot:
    facts: ReleaseFacts
    vmlinuz: Path
    initrd: Path
    manifest: Path  # release-boot.json


def _plain_module(path: str, data: bytes) -> tuple[str, bytes]:
    """(``.ko`` path, uncompressed bytes) of a module file."""
    if path.endswith(".ko.xz"):
        return path[:-3], lzma.decompress(data)
    if path.endswith(".ko.gz"):
        return path[:-3], gzip.decompress(data)
    if path.endswith(".ko.zst"):
        if shutil.which("zstd") is None:
            raise ReleaseContractError(f"{path} is zstd-compressed and zstd is not installed")
        out = subprocess.run(
            ["zstd", "-dc"], input=data, capture_output=True, timeout=120, check=True
        )
        return path[:-4], out.stdout
    return path, data


def _extract(ls: Listing, paths: list[str], into: Path) -> None:
    listfile = into / "extract.list"
    listfile.write_text("".join(f"/{p}\n" for p in paths))
    run_unsquashfs(
        ["-no-xattrs", "-f", "-d", str(into / "root"), "-ef", str(listfile), str(ls.image)]
    )


def _modules(ls: Listing, facts: ReleaseFacts, tmp: Path) -> tuple[dict[str, bytes], list[str]]:
    """Files under ``lib/modules/<version>/`` for the initramfs, and the modules
    slotinit.sh loads."""
    mdir = facts.modules_dir
    if ls.kind(f"{mdir}/modules.dep") != "-":
        raise ReleaseContractError(
            f"kernel {facts.kernel_version} has no modules.dep (run depmod in the image)"
        )
    dep = parse_modules_dep(ls.cat(f"{mdir}/modules.dep").decode(errors="replace"))
    load = [m for m in BOOT_MODULES if m in dep]
    shipped = module_closure(dep, load)
    extras = [f"{mdir}/{n}" for n in ("modules.builtin",) if ls.kind(f"{mdir}/{n}") == "-"]
    wanted = [f"{mdir}/{rel}" for rel in shipped] + extras
    real = {p: ls.resolve(p) for p in wanted}
    _extract(ls, sorted({r for r in real.values() if r}), tmp)
    files: dict[str, bytes] = {}
    renamed: dict[str, str] = {}
    for rel in shipped:
        src = real[f"{mdir}/{rel}"]
        if src is None:
            raise ReleaseContractError(f"modules.dep names {rel}, which is not in the image")
        plain, data = _plain_module(rel, (tmp / "root" / src).read_bytes())
        renamed[rel] = plain
        files[plain] = data
    plain_dep = {
        name: (renamed[path], [renamed.get(d, d) for d in deps])
        for name, (path, deps) in dep.items()
        if path in renamed
    }
    files["modules.dep"] = modules_dep_for(plain_dep, sorted(renamed.values())).encode()
    for extra in extras:
        src = real[extra]
        assert src is not None
        files[extra.rsplit("/", 1)[-1]] = (tmp / "root" / src).read_bytes()
    return files, load


def _conf(facts: ReleaseFacts, load: list[str]) -> bytes:
    return (
        f"INIT={facts.init}\nINIT_KIND={facts.init_kind}\nMODULES='{' '.join(load)}'\n"
    ).encode()


def _initrd(
    facts: ReleaseFacts, modules: dict[str, bytes], load: list[str], grubenv: Path | None
) -> bytes:
    dirs = ("bin", "etc", "proc", "sys", "dev", "data", "lower", "newroot")
    entries = [cpio.directory(d) for d in dirs]
    entries += busybox_entries()
    entries.append(cpio.file("init", (AGENT_DIR / "slotinit.sh").read_bytes(), 0o755))
    for name in SCRIPTS:
        entries.append(cpio.file(name, (AGENT_DIR / name).read_bytes(), 0o755))
    if grubenv is not None:
        entries.append(cpio.file("grubenv.sh", grubenv.read_bytes(), 0o644))
    entries.append(cpio.file("etc/release-boot.conf", _conf(facts, load)))
    root = f"lib/modules/{facts.kernel_version}"
    seen = {e.path for e in entries}
    for rel, data in sorted(modules.items()):
        entries += cpio.parents(f"{root}/{rel}", seen)
        entries.append(cpio.file(f"{root}/{rel}", data))
    return gzip.compress(cpio.archive(entries), compresslevel=6, mtime=0)


def build_release_boot(image: Path, dest: Path, *, grubenv: Path | None = None) -> ReleaseBoot:
    """Write ``dest/{vmlinuz,initrd.img,release-boot.json}`` for the release ``image``.

    ``grubenv`` defaults to ``media/agent/grubenv.sh`` when it exists (the loader's
    environment helper); raises :class:`ReleaseContractError` like inspect_release.
    """
    if grubenv is None and (AGENT_DIR / "grubenv.sh").exists():
        grubenv = AGENT_DIR / "grubenv.sh"
    ls = list_image(image)
    facts = check(ls)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".build-") as t:
        tmp = Path(t)
        modules, load = _modules(ls, facts, tmp)
        kernel = ls.cat(facts.kernel)
    initrd = _initrd(facts, modules, load, grubenv)
    manifest = {
        "builder": BUILDER_VERSION,
        "facts": json.loads(facts.to_json()),
        "modules": load,
        "grubenv": grubenv is not None,
        "vmlinuz_sha256": hashlib.sha256(kernel).hexdigest(),
        "initrd_sha256": hashlib.sha256(initrd).hexdigest(),
    }
    out = ReleaseBoot(facts, dest / "vmlinuz", dest / "initrd.img", dest / "release-boot.json")
    atomic_write(out.vmlinuz, kernel)
    atomic_write(out.initrd, initrd)
    atomic_write(out.manifest, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return out
