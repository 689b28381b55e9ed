"""Locks that make a catalogue change and its files one step, across processes.

One ``NAME:VERSION`` (or one bundle) is changed by one holder at a time: whoever
holds its lock checks the catalogue, places or removes the files, and records the
change, so no other upload, delete, check or GC sees the files and the catalogue
half-way. The lock is an exclusive ``flock`` on a file under ``media/.uploads/locks`` (one
per key, never removed: removing a lock file others wait on would let two hold
"the" lock). The kernel drops it when its holder dies, so a killed server leaves
nothing to clean up.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from media.errors import MediaBusy

#: under ``media/.uploads`` (never served), beside the uploads in progress
LOCKS_DIR = "locks"
#: seconds a change waits for the one before it (an upload's boot files take a few)
WAIT = 120.0


def flock_within(fd: int, wait: float) -> bool:
    """Take an exclusive ``flock`` on ``fd``, trying for up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


class MediaLocks:
    def __init__(self, uploads_dir: Path) -> None:
        self.dir = uploads_dir / LOCKS_DIR

    def _path(self, key: tuple[str, ...]) -> Path:
        digest = hashlib.sha256("\0".join(key).encode()).hexdigest()[:32]
        return self.dir / f"{key[0]}-{digest}.lock"

    @contextlib.contextmanager
    def hold(self, *key: str, wait: float = WAIT) -> Iterator[None]:
        """Hold the lock of ``key`` (e.g. ``("release", name, version)``); raises
        :class:`MediaBusy` (409) when another holder keeps it past ``wait`` seconds."""
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self._path(key), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if not flock_within(fd, wait):
                raise MediaBusy(f"{' '.join(key)} is busy: another change holds it; try again")
            yield
        finally:
            os.close(fd)
