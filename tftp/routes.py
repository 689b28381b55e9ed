"""The boot tree's names: a requested path -> a loader, a generated file, files
to look for under ``<data_dir>/boot``, or a refusal. Pure: a function of a
:class:`Tree` and a name; :mod:`tftp.files` builds the tree at start-up and does
the disk lookups (shared by the TFTP server and the HTTP mirror,
``GET /boot/files/<path>``).

The virtual tree::

    pxelinux.0, lpxelinux.0, *.c32              BIOS syslinux (Debian: pxelinux, syslinux-common)
    efi64/syslinux.efi, efi64/ldlinux.e64,
    efi64/*.c32                                 UEFI x86-64 syslinux (syslinux-efi)
    undionly.kpxe, snponly.efi, ipxe.efi        iPXE (ipxe)
    arm64/snponly.efi, arm64/ipxe.efi           arm64 iPXE (``loaders_dir`` only)
    pxelinux.cfg/<name>, efi64/pxelinux.cfg/<name>   generated per box (Service.pxelinux_file)
    anything else, also under efi64/            <data_dir>/boot/<path>

A name is refused unless it is relative, UTF-8, free of NUL, backslashes and
control characters, and has no empty, ``.`` or ``..`` component. Loaders come
from a fixed allow-list of names (the catalogue in :mod:`provisioner.bootnames`,
which DHCP offers from too); :mod:`tftp.files` says how they and data files are
found and opened safely.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from provisioner.bootnames import CONFIG_DIRS, EFI64_DIR

GENERATED_DIRS = CONFIG_DIRS
EFI_PREFIX = EFI64_DIR
MAX_NAME = 1024


@dataclass(frozen=True, slots=True)
class File:
    """A real file. ``root``: the directory the opened file must still lie in
    (None for loaders, which were vetted at start-up)."""

    path: str
    root: str | None = None


@dataclass(frozen=True, slots=True)
class Generated:
    """``pxelinux.cfg/<config>``: ask ``Service.pxelinux_file(config)``."""

    config: str


@dataclass(frozen=True, slots=True)
class Missing:
    reason: str = "file not found"


@dataclass(frozen=True, slots=True)
class Denied:
    reason: str


@dataclass(frozen=True, slots=True)
class Lookup:
    """Look for these relative paths under the tree's ``boot_root``, in order
    (:func:`tftp.files.resolve` does; ``name`` is the checked request)."""

    name: str
    candidates: tuple[str, ...]


Route = File | Generated | Missing | Denied


@dataclass(frozen=True, slots=True)
class Tree:
    """Loader name -> resolved path, and the resolved ``<data_dir>/boot``."""

    boot_root: str
    loaders: Mapping[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] = ()  # allow-listed loader names not found (for the start-up log)


def check_name(name: str) -> str | Denied:
    """The name as a clean relative path, or why it is refused."""
    if not name:
        return Denied("empty file name")
    if len(name) > MAX_NAME:
        return Denied("file name too long")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return Denied("file name is not UTF-8")
    if "\\" in name:
        return Denied("backslash in file name")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return Denied("control character in file name")
    if name.startswith("/"):
        return Denied("absolute path")
    if any(part in ("", ".", "..") for part in name.split("/")):
        return Denied("empty, '.' or '..' path component")
    return name


def route(tree: Tree, name: str) -> Route | Lookup:
    """Where ``name`` comes from, as far as names tell; see the module docstring."""
    checked = check_name(name)
    if isinstance(checked, Denied):
        return checked
    loader = tree.loaders.get(checked)
    if loader is not None:
        return File(loader)
    for prefix in GENERATED_DIRS:
        if checked.startswith(prefix):
            config = checked[len(prefix) :]
            return Generated(config) if "/" not in config else Missing()
    fallback = (checked[len(EFI_PREFIX) :],) if checked.startswith(EFI_PREFIX) else ()
    return Lookup(checked, (checked, *fallback))
