"""A release row for tests whose nodes install: preflight refuses ``install``
with no release (docs/preflight.md). :func:`add_release` writes the row only;
:func:`add_release_to` (for a data dir a real ``provisioner serve`` starts on) also
writes placeholder files that agree with it, since the server's startup check removes
a catalogued release whose image is missing (docs/media.md)."""

from __future__ import annotations

import contextlib
from hashlib import sha256
from pathlib import Path

from provisioner.config import load_settings
from provisioner.domain import Release
from provisioner.errors import Conflict
from provisioner.store import Store

RELEASE = "base:1.0"


def add_release(store: Store) -> str:
    """Add ``base:1.0`` to ``store`` unless it is there; returns its NAME:VERSION."""
    with contextlib.suppress(Conflict):
        store.add_release(Release("base", "1.0", "base-1.0.squashfs", 4096, "b" * 64))
    return RELEASE


#: the placeholder image :func:`add_release_to` writes (not a squashfs: nothing boots it)
IMAGE = bytes(4096)


def add_release_to(data_dir: Path) -> str:
    """``base:1.0`` into the database of ``data_dir`` (created when new), with an
    image file of the catalogued size and sha256 and placeholder boot files."""
    from media.layout import release_boot_relpaths, release_relpath
    from provisioner.db import open_store

    release = Release("base", "1.0", "base-1.0.squashfs", len(IMAGE), sha256(IMAGE).hexdigest())
    store = open_store(load_settings({}, overrides={"data_dir": str(data_dir)}))
    try:
        with contextlib.suppress(Conflict):
            store.add_release(release)
    finally:
        store.close()
    media = data_dir / "media"
    for relpath in (release_relpath(release), *release_boot_relpaths(release).values()):
        path = media / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(IMAGE if relpath == release_relpath(release) else b"placeholder\n")
    return RELEASE
