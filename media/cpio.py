"""A deterministic writer for the cpio "newc" format (the Linux initramfs format).

Pure: entries in, bytes out. Every entry gets uid/gid 0, mtime 0 and an inode
number by position, so the same inputs always give the same archive (the
initramfs is reproducible and its hash can stamp a build).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from provisioner.errors import CodecError

S_IFDIR = 0o040000
S_IFREG = 0o100000
S_IFLNK = 0o120000
TRAILER = "TRAILER!!!"


class CpioError(CodecError):
    """An entry that cannot be archived; ``offset`` is where its member would
    have started in the archive (this module writes, it reads no input)."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__("cpio", message, offset)


@dataclass(frozen=True, slots=True)
class Entry:
    """One archive member; ``path`` is relative (``bin/busybox``)."""

    path: str
    mode: int  # file type bits | permissions
    data: bytes = b""  # file content, or the link target for symlinks


def directory(path: str, perm: int = 0o755) -> Entry:
    return Entry(path, S_IFDIR | perm)


def file(path: str, data: bytes, perm: int = 0o644) -> Entry:
    return Entry(path, S_IFREG | perm, data)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, S_IFLNK | 0o777, target.encode())


def parents(path: str, seen: set[str]) -> list[Entry]:
    """Directory entries for the parents of ``path`` not yet in ``seen`` (updated)."""
    out = []
    parts = path.split("/")
    for i in range(1, len(parts)):
        d = "/".join(parts[:i])
        if d not in seen:
            seen.add(d)
            out.append(directory(d))
    return out


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _header(ino: int, mode: int, nlink: int, size: int, namesize: int) -> bytes:
    fields = (ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, namesize, 0)
    return b"070701" + b"".join(f"{v:08X}".encode() for v in fields)


def _member(ino: int, entry: Entry) -> bytes:
    name = entry.path.encode() + b"\0"
    nlink = 2 if entry.mode & S_IFDIR == S_IFDIR else 1
    head = _header(ino, entry.mode, nlink, len(entry.data), len(name))
    return head + name + _pad4(len(head) + len(name)) + entry.data + _pad4(len(entry.data))


def archive(entries: Iterable[Entry]) -> bytes:
    """The archive, members sorted by path (parents before children)."""
    items = sorted(entries, key=lambda e: e.path)
    seen: set[str] = set()
    out = bytearray()
    for ino, entry in enumerate(items, start=1):
        if not entry.path or entry.path.startswith("/") or ".." in entry.path.split("/"):
            raise CpioError(f"bad path {entry.path!r}", len(out))
        if entry.path in seen:
            raise CpioError(f"{entry.path!r} appears twice", len(out))
        seen.add(entry.path)
        out += _member(ino, entry)
    out += _member(0, Entry(TRAILER, 0))
    return bytes(out)
