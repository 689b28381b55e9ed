"""A release row for tests whose nodes install: preflight refuses ``install``
with no release (docs/preflight.md). The row only: no image file is written."""

from __future__ import annotations

import contextlib
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


def add_release_to(data_dir: Path) -> str:
    """:func:`add_release` into the database of ``data_dir`` (created when new)."""
    from provisioner.db import open_store

    store = open_store(load_settings({}, overrides={"data_dir": str(data_dir)}))
    try:
        return add_release(store)
    finally:
        store.close()
