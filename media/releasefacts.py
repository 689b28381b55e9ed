"""The release contract: what a squashfs image must carry to boot from its slot.

A release boots with its own kernel under a small per-release initramfs
(:mod:`media.releaseboot`), so ``image add`` checks, from the listing alone
(``unsquashfs -lls``: no root, no mount), that the image has

* exactly one kernel ``/boot/vmlinuz-<version>`` (or several and a ``/vmlinuz``
  symlink choosing one) and its modules in ``/lib/modules/<version>`` (or
  ``/usr/lib/modules/<version>``);
* a driver for at least one disk controller (:data:`DISK_DRIVERS`), as a module
  (``.ko``, ``.ko.xz``, ``.ko.zst``, ``.ko.gz``) or named in ``modules.builtin``;
* squashfs, overlay and ext4 support (:data:`FILESYSTEMS`), module or built in;
* an init: ``/sbin/init`` or ``/lib/systemd/systemd``.

Symlinks inside the image are followed (``/lib`` -> ``usr/lib`` on a merged-usr
system). :class:`ReleaseFacts` records what the boot needs to know later.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from provisioner.errors import ValidationError

#: Disk controllers a release can boot from: any one alternative, every module of it
#: present (SCSI and ATA host drivers need the SCSI disk driver ``sd_mod`` too).
DISK_DRIVERS: tuple[tuple[str, ...], ...] = (
    ("virtio_blk",),
    ("nvme",),
    ("ahci", "sd_mod"),
    ("ata_piix", "sd_mod"),
    ("virtio_scsi", "sd_mod"),
    ("megaraid_sas", "sd_mod"),
    ("mpt3sas", "sd_mod"),
)
#: File systems the slot boot mounts: the slot, the overlay on it, the data partition.
FILESYSTEMS = ("squashfs", "overlay", "ext4")
INITS = ("sbin/init", "lib/systemd/systemd")
_MODULE = re.compile(r"([^/]+)\.ko(\.xz|\.zst|\.gz)?\Z")
_LINE = re.compile(r"^(.)\S{9}\s+\S+\s+.*?\d{4}-\d\d-\d\d \d\d:\d\d squashfs-root(/.*)?$")


class ReleaseContractError(ValidationError):
    """The image cannot boot from a slot; the message names what is missing."""

    code = "release_contract"

    def __init__(self, message: str) -> None:
        super().__init__("image", message)


@dataclass(frozen=True)
class ReleaseFacts:
    kernel: str  # path inside the image, no leading slash: boot/vmlinuz-6.1.0-50-amd64
    kernel_version: str
    modules_dir: str  # lib/modules/<version> or usr/lib/modules/<version> (real path)
    init: str  # what switch_root executes: /sbin/init or /lib/systemd/systemd
    init_kind: str  # "systemd" or "other"
    has_networkd: bool
    has_ifupdown: bool

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ReleaseFacts:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Listing:
    """The image's tree: path (no leading slash) -> (kind d/-/l/..., symlink target)."""

    image: Path
    nodes: dict[str, tuple[str, str]]

    def resolve(self, path: str) -> str | None:
        """The real path of ``path`` after following symlinks, or None if absent."""
        parts = [p for p in path.split("/") if p and p != "."]
        done: list[str] = []
        hops = 0
        while parts:
            name = parts.pop(0)
            if name == "..":
                if done:
                    done.pop()
                continue
            here = "/".join([*done, name])
            node = self.nodes.get(here)
            if node is None:
                return None
            if node[0] == "l":
                hops += 1
                if hops > 40:
                    return None
                target = node[1]
                if target.startswith("/"):
                    done = []
                parts = [p for p in target.split("/") if p and p != "."] + parts
                continue
            done.append(name)
        return "/".join(done)

    def kind(self, path: str) -> str | None:
        real = self.resolve(path)
        return None if real is None else self.nodes[real][0] if real else "d"

    def children(self, directory: str) -> list[str]:
        prefix = directory + "/"
        return sorted(p for p in self.nodes if p.startswith(prefix) and "/" not in p[len(prefix) :])

    def under(self, directory: str) -> list[str]:
        prefix = directory + "/"
        return sorted(p for p in self.nodes if p.startswith(prefix))

    def cat(self, path: str) -> bytes:
        return run_unsquashfs(["-cat", str(self.image), path], text=False)


def run_unsquashfs(args: list[str], *, text: bool = True) -> bytes:
    try:
        out = subprocess.run(
            ["unsquashfs", "-no-progress", *args], capture_output=True, timeout=600, check=True
        )
    except FileNotFoundError:
        raise ReleaseContractError("unsquashfs is not installed (squashfs-tools)") from None
    except subprocess.CalledProcessError as exc:
        err = exc.stderr.decode(errors="replace").strip()[-300:]
        raise ReleaseContractError(f"unsquashfs cannot read it: {err}") from None
    return out.stdout


def list_image(image: Path) -> Listing:
    text = run_unsquashfs(["-lls", str(image)]).decode(errors="surrogateescape")
    nodes: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m or not m.group(2):
            continue
        kind, path = m.group(1), m.group(2).lstrip("/")
        target = ""
        if kind == "l":
            path, _, target = path.partition(" -> ")
        nodes[path] = (kind, target)
    if not nodes:
        raise ReleaseContractError("the image is empty")
    return Listing(image, nodes)


def _kernel(ls: Listing) -> tuple[str, str]:
    boot = ls.resolve("boot")
    kernels = sorted(
        real
        for p in (ls.children(boot) if boot else [])
        if PurePosixPath(p).name.startswith("vmlinuz-")
        and (real := ls.resolve(p))
        and ls.nodes[real][0] == "-"
    )
    kernels = sorted(set(kernels))
    if not kernels:
        raise ReleaseContractError("no kernel: /boot/vmlinuz-<version> is missing")
    if len(kernels) > 1:
        chosen = ls.resolve("vmlinuz")
        if chosen not in kernels:
            raise ReleaseContractError(
                f"{len(kernels)} kernels ({', '.join('/' + k for k in kernels)}) and no "
                "/vmlinuz symlink choosing one"
            )
        kernels = [chosen]
    name = PurePosixPath(kernels[0]).name
    return kernels[0], name.removeprefix("vmlinuz-")


def module_names(ls: Listing, modules_dir: str) -> tuple[set[str], set[str]]:
    """(loadable modules, built-in modules) of the kernel, names with ``_``."""
    loadable = {
        m.group(1).replace("-", "_")
        for p in ls.under(modules_dir)
        if ls.nodes[p][0] == "-" and (m := _MODULE.search(p))
    }
    builtin: set[str] = set()
    if ls.kind(f"{modules_dir}/modules.builtin") == "-":
        for line in ls.cat(f"{modules_dir}/modules.builtin").decode(errors="replace").split():
            if m := _MODULE.search(line):
                builtin.add(m.group(1).replace("-", "_"))
    return loadable, builtin


def check(ls: Listing) -> ReleaseFacts:
    kernel, version = _kernel(ls)
    modules_dir = next(
        (
            real
            for d in (f"lib/modules/{version}", f"usr/lib/modules/{version}")
            if (real := ls.resolve(d)) is not None and ls.nodes[real][0] == "d"
        ),
        None,
    )
    if modules_dir is None:
        raise ReleaseContractError(
            f"kernel {version} has no modules: /lib/modules/{version} is missing"
        )
    loadable, builtin = module_names(ls, modules_dir)
    have = loadable | builtin
    if not any(all(m in have for m in alt) for alt in DISK_DRIVERS):
        wanted = ", ".join("+".join(alt) for alt in DISK_DRIVERS)
        raise ReleaseContractError(
            f"kernel {version} has no disk controller driver (module or built in): "
            f"need one of {wanted}"
        )
    missing = [fs for fs in FILESYSTEMS if fs not in have]
    if missing:
        raise ReleaseContractError(
            f"kernel {version} lacks {', '.join(missing)} support (module or built in)"
        )
    inits = [i for i in INITS if ls.kind(i) == "-"]
    if not inits:
        raise ReleaseContractError("no init: neither /sbin/init nor /lib/systemd/systemd")
    systemd = ls.kind("lib/systemd/systemd") == "-" or (
        (ls.resolve("sbin/init") or "").endswith("/systemd")
    )
    return ReleaseFacts(
        kernel=kernel,
        kernel_version=version,
        modules_dir=modules_dir,
        init="/" + inits[0],
        init_kind="systemd" if systemd else "other",
        has_networkd=ls.kind("lib/systemd/systemd-networkd") == "-",
        has_ifupdown=ls.kind("sbin/ifup") == "-",
    )


def inspect_release(image: Path) -> ReleaseFacts:
    """Check the release contract on ``image``; raise :class:`ReleaseContractError`."""
    return check(list_image(image))
