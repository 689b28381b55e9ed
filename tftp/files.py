"""The boot tree on disk: where the loaders are (found once at start-up), the
files under ``<data_dir>/boot``, and opening them safely. :mod:`tftp.routes`
decides from the name alone; this module looks at the disk.

Security rules:

* loaders are resolved (symlinks and all) once at start-up from package
  directories the administrator controls: an exact loader name may be a symlink
  anywhere (Debian's ``ipxe.efi`` -> ``/boot/ipxe.efi``); glob-matched modules must
  resolve inside their directory;
* files under ``<data_dir>/boot`` are resolved with ``os.path.realpath`` and must
  lie inside it; :func:`open_file` opens them with :func:`provisioner.confine.open_inside`
  (the one containment check of every served root: HTTP ``/boot``, ``/media``, TFTP),
  which checks the opened descriptor once more, so a symlink swapped in between
  cannot leak a byte from outside.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from pathlib import Path

from provisioner.bootnames import ARM64_DIR, BIOS_DIR, EFI64_DIR, LOADERS, TREE_DIRS, tree_names
from provisioner.confine import is_inside, open_inside
from tftp.routes import Denied, File, Lookup, Missing, Route, Tree, route

Layout = tuple[tuple[str, str, tuple[str, ...]], ...]

#: Where Debian 12 (amd64) ships the loaders: tree directory -> package directories,
#: searched in order for that directory's allow-list (bootnames.tree_names). It
#: ships no arm64 loader: those come from ``loaders_dir`` only.
DEBIAN_DIRS: dict[str, tuple[str, ...]] = {
    BIOS_DIR: ("/usr/lib/PXELINUX", "/usr/lib/syslinux/modules/bios", "/usr/lib/ipxe"),
    EFI64_DIR: ("/usr/lib/SYSLINUX.EFI/efi64", "/usr/lib/syslinux/modules/efi64"),
    ARM64_DIR: (),
}

#: (tree directory, Debian directory, names or globs), in order of precedence.
DEBIAN_LOADERS: Layout = tuple(
    (prefix, directory, tree_names(prefix))
    for prefix in TREE_DIRS
    for directory in DEBIAN_DIRS[prefix]
)


def override_layout(loaders_dir: str) -> Layout:
    """``settings.loaders_dir`` has the virtual tree's layout (``efi64/``, ``arm64/``)."""
    root = loaders_dir.rstrip("/") or "/"
    return tuple((prefix, os.path.join(root, prefix), tree_names(prefix)) for prefix in TREE_DIRS)


def _is_regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def find_loaders(layout: Layout) -> tuple[dict[str, str], list[str]]:
    """Resolve the allow-listed loader files of ``layout`` (first match wins)."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for prefix, directory, patterns in layout:
        try:
            entries = sorted(os.listdir(directory))
        except OSError:
            entries = []
        real_dir = os.path.realpath(directory)
        for pattern in patterns:
            is_glob = any(c in pattern for c in "*?[")
            names = fnmatch.filter(entries, pattern) if is_glob else [pattern]
            for name in names:
                virtual = prefix + name
                if virtual in found:
                    continue
                real = os.path.realpath(os.path.join(directory, name))
                if not _is_regular(real) or (is_glob and not is_inside(real, real_dir)):
                    if not is_glob:
                        missing.append(virtual)
                    continue
                found[virtual] = real
    return found, [m for m in missing if m not in found]


def build_tree(data_dir: Path | str, loaders_dir: str = "") -> Tree:
    """Locate the loaders (``loaders_dir`` replaces the Debian directories as a
    whole, so pxelinux.0 and ldlinux.c32 never come from two syslinux versions)."""
    layout = override_layout(loaders_dir) if loaders_dir else DEBIAN_LOADERS
    loaders, missing = find_loaders(layout)
    # every loader DHCP may offer that is not here (arm64 without loaders_dir)
    missing += [lo.path for lo in LOADERS if lo.path not in loaders and lo.path not in missing]
    boot_root = os.path.realpath(os.path.join(os.fspath(data_dir), "boot"))
    return Tree(boot_root=boot_root, loaders=loaders, missing=tuple(missing))


def _data_file(tree: Tree, rel: str) -> File | None:
    real = os.path.realpath(os.path.join(tree.boot_root, rel))
    if not is_inside(real, tree.boot_root):
        return None
    return File(real, tree.boot_root) if _is_regular(real) else None


def resolve(tree: Tree, name: str) -> Route:
    """Where ``name`` comes from: :func:`tftp.routes.route`, then the disk."""
    decided = route(tree, name)
    if not isinstance(decided, Lookup):
        return decided
    for rel in decided.candidates:
        found = _data_file(tree, rel)
        if found is not None:
            return found
    # tell a symlink escape apart from a plain miss (logged, answered like a miss)
    checked = decided.name
    real = os.path.realpath(os.path.join(tree.boot_root, checked))
    if not is_inside(real, tree.boot_root) and os.path.lexists(
        os.path.join(tree.boot_root, checked)
    ):
        return Denied("resolves outside the boot directory")
    return Missing()


def open_file(route: File) -> tuple[int, int]:
    """Open ``route`` read-only: ``(fd, size)``. Data-dir files must still lie
    inside their root once opened (:func:`provisioner.confine.open_inside`: a
    symlink swapped after :func:`resolve` is caught here). Raises ``OSError``;
    the caller closes ``fd``."""
    if route.root is not None:
        return open_inside(route.path, route.root)
    fd = os.open(route.path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise IsADirectoryError(route.path)
    except BaseException:
        os.close(fd)
        raise
    return fd, info.st_size
