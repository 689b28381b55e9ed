"""Files under ``<data_dir>/media``: atomic placement, removal, free space.

A file reaches its final name only complete and verified: it is written under
``media/.uploads``, fsynced, checked, then *linked* into place (``link(2)``
never replaces an existing name) or, by the holder of the release's lock
(:mod:`media.locks`), linked to a unique temp name and renamed over a crash's
leftover; the directory is fsynced so the name survives a crash.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from media.layout import MEDIA_DIR, SEGMENT_RE, UPLOADS_DIR
from provisioner.errors import ValidationError

FILE_MODE = 0o644  # nginx, running as another user, serves these files
DIR_MODE = 0o755
BLOCK = 1 << 20


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def hash_fd(fd: int) -> Any:
    """The running sha256 of a whole file, read with ``pread`` (the offset stays)."""
    h = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, BLOCK, offset):
        h.update(chunk)
        offset += len(chunk)
    return h


def sha256_file(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return str(hash_fd(fd).hexdigest())
    finally:
        os.close(fd)


def read_head_tail(path: Path, head: int, tail: int) -> tuple[bytes, bytes, int]:
    """The first ``head`` and last ``tail`` bytes of a file, and its size."""
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        first = f.read(head)
        f.seek(max(0, size - tail))
        return first, f.read(tail), size


class MediaDirs:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / MEDIA_DIR
        self.uploads = self.root / UPLOADS_DIR

    def path(self, relpath: str) -> Path:
        """The file of a relative media path; every segment is checked."""
        parts = relpath.split("/")
        if not all(SEGMENT_RE.match(p) for p in parts):
            raise ValidationError("path", f"{relpath!r} is not a media path")
        return self.root.joinpath(*parts)

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.uploads.mkdir(mode=0o700, exist_ok=True)

    def free_bytes(self) -> int:
        self.ensure()
        st = os.statvfs(self.uploads)
        return st.f_bavail * st.f_frsize

    def place(self, src: Path, relpath: str) -> bool:
        """Link ``src`` to its final name; False when that name already exists
        (the caller decides whether that is the same content or a conflict)."""
        dest = self.path(relpath)
        for attempt in (1, 2):
            self._mkdirs(dest.parent)
            try:
                os.link(src, dest)
                break
            except FileExistsError:
                return False
            except FileNotFoundError:  # a concurrent removal pruned the directory
                if attempt == 2:
                    raise
        fsync_dir(dest.parent)
        return True

    def replace(self, src: Path, relpath: str) -> None:
        """Put ``src`` under a name whose old file nobody owns (a crash leftover)."""
        dest = self.path(relpath)
        self._mkdirs(dest.parent)
        fsync_file(src)
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(8)}")  # one per caller
        os.link(src, tmp)
        os.replace(tmp, dest)
        fsync_dir(dest.parent)

    def remove(self, relpath: str) -> None:
        """Unlink a file and the directories it leaves empty (below the root)."""
        path = self.path(relpath)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._prune(path.parent)

    def discard(self, path: Path) -> None:
        """Unlink a file found under the root by walking it (any name, even the
        dot-file of a crashed :meth:`replace`) and the directories it leaves empty."""
        if self.root not in path.parents:
            raise ValueError(f"{path} is not under {self.root}")
        path.unlink(missing_ok=True)
        self._prune(path.parent)

    def remove_tree(self, relpath: str) -> None:
        path = self.path(relpath)
        shutil.rmtree(path, ignore_errors=True)
        self._prune(path.parent)

    def _prune(self, directory: Path) -> None:
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    return
                if exc.errno != errno.ENOENT:
                    raise
            directory = directory.parent

    def _mkdirs(self, directory: Path) -> None:
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for d in reversed(missing):
            with contextlib.suppress(FileExistsError):
                d.mkdir(mode=DIR_MODE)
            os.chmod(d, DIR_MODE)  # whatever the umask, nginx must traverse it
