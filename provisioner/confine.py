"""Files served from a root: sent only when their *resolved* path lies inside it.

Every file the server sends to a client (HTTP ``/boot/files/``, HTTP ``/media/``,
TFTP) is opened through :func:`open_inside`. Symlinks are allowed as long as,
followed all the way (file and directory symlinks alike), they end inside the
root; the check is made on the opened descriptor (``/proc/self/fd``), so a link
swapped in between a lookup and the open cannot leak a byte from outside.

A library below :mod:`tftp` and :mod:`media` (both use it): plain paths in, no
settings, no store.
"""

from __future__ import annotations

import os
import stat


def is_inside(real: str, root: str) -> bool:
    """``real`` (a resolved path) lies strictly below ``root`` (a resolved directory)."""
    return real.startswith(root.rstrip("/") + "/")


def resolves_inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """``path``, every symlink followed, lies inside ``root``, every symlink followed."""
    return is_inside(os.path.realpath(path), os.path.realpath(root))


def open_inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> tuple[int, int]:
    """Open the regular file ``path`` read-only, only if the opened file lies
    inside ``root`` once every symlink is resolved: ``(fd, size)``.

    Raises ``FileNotFoundError`` (also for a directory or a special file) or
    ``PermissionError`` (it resolves outside ``root``); the caller owns ``fd``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileNotFoundError(f"{os.fspath(path)} is not a regular file")
        real = os.readlink(f"/proc/self/fd/{fd}")
        if not is_inside(real, os.path.realpath(root)):
            raise PermissionError(f"{os.fspath(path)} resolves outside {os.fspath(root)}")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, info.st_size
