"""The catalogue against the files on disk (provisioner/media_audit.py): ``provisioner
media check`` repairs what disagrees, ``media gc`` removes what nothing names after
its grace, and neither touches a release another change holds."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from provisioner.config import Settings
from provisioner.db.sqlstore import SqlStore
from provisioner.media_audit import MediaAudit
from provisioner.media_library import MediaLibrary
from tests.conftest import Run
from tests.support.media import make_squashfs, needs_mksquashfs

pytestmark = needs_mksquashfs
MAC = "52:54:00:c0:02:0b"
KEEP = [f"images/keep/1/keep-1.{s}" for s in ("boot.json", "initrd.img", "squashfs", "vmlinuz")]


@pytest.fixture
def library(tmp_path: Path, store: SqlStore, settings: Settings) -> MediaLibrary:
    lib = MediaLibrary(store, settings)
    image = make_squashfs(tmp_path / "keep.sqfs", "gzip", payload=20_000, seed=5).read_bytes()
    lib.upload(lib.target({"target": "image", "name": "keep", "version": "1"}),
               io.BytesIO(image), len(image))  # fmt: skip
    return lib


def _media(settings: Settings) -> Path:
    return settings.data_dir / "media"


def _files(settings: Settings) -> list[str]:
    root = _media(settings)
    return sorted(
        p.relative_to(root).as_posix()
        for top in ("images", "bundles")
        for p in (root / top).rglob("*")
        if p.is_file()
    )


def _strays(settings: Settings) -> list[Path]:
    """What crashes leave: a release's files never recorded, and a replace's temp name."""
    paths = [_media(settings) / "images/gone/1/gone-1.squashfs",
             _media(settings) / "images/keep/1/.keep-1.squashfs.0123456789abcdef"]  # fmt: skip
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"left by a crash")
    return paths


def test_the_gc_removes_only_files_nothing_names_once_older_than_the_grace(
    library: MediaLibrary, settings: Settings
) -> None:
    audit, later = MediaAudit(library), time.time() + 2 * 3600
    strays = _strays(settings)
    assert audit.gc(1.0).young == sorted(p.relative_to(_media(settings)).as_posix()
                                         for p in strays)  # fmt: skip
    dry = audit.gc(1.0, dry_run=True, now=later)
    assert [p for p, _ in dry.removed] == [
        "images/gone/1/gone-1.squashfs",
        "images/keep/1/.keep-1.squashfs.0123456789abcdef",
    ]
    assert all(p.exists() for p in strays), "a dry run removed something"
    audit.gc(1.0, now=later)
    assert _files(settings) == KEEP
    assert not (_media(settings) / "images/gone").exists(), "empty directories stay"


def test_the_gc_leaves_alone_a_file_whose_release_another_change_holds(
    library: MediaLibrary, settings: Settings
) -> None:
    _strays(settings)
    with library.locks.hold("release", "gone", "1"):  # as an upload between place and record
        report = MediaAudit(library).gc(0)
    assert report.busy == ["images/gone/1/gone-1.squashfs"]
    assert (_media(settings) / "images/gone/1/gone-1.squashfs").exists()


def test_the_check_rebuilds_missing_boot_files_and_hashes_an_unchanged_image_once(
    library: MediaLibrary, settings: Settings, run: Run
) -> None:
    (_media(settings) / "images/keep/1/keep-1.initrd.img").unlink()
    first = run("media", "check")
    assert first.exit_code == 0, first.output
    assert "release keep:1: boot files INITRD were missing; rebuilt" in first.output
    assert "(1 hashed)" in first.output
    assert _files(settings) == KEEP
    assert "(0 hashed), 0 problem(s)" in run("media", "check").output
    assert "(1 hashed)" in run("media", "check", "--full").output


def test_a_release_with_other_bytes_is_removed_unless_in_use_then_kept_with_an_event(
    library: MediaLibrary, settings: Settings, store: SqlStore, run: Run
) -> None:
    image = _media(settings) / "images/keep/1/keep-1.squashfs"
    image.write_bytes(image.read_bytes()[:-1] + b"!")
    assert run("node", "set", MAC, "--release", "keep:1").exit_code == 0
    kept = run("media", "check")
    assert "release keep:1: its image has other bytes" in kept.output
    assert f"node {MAC}): upload it again" in kept.output
    assert [r.ref for r in store.list_releases()] == ["keep:1"]
    assert run("node", "delete", MAC).exit_code == 0
    removed = run("media", "check")
    assert "release keep:1: its image has other bytes" in removed.output
    assert "removed from the catalogue" in removed.output
    assert store.list_releases() == []
    assert _files(settings) == []
    kinds = [e.kind for e in store.list_events(None, 50, None, None)]
    assert {"release.damaged", "release.removed"} <= set(kinds)


def test_media_gc_on_the_command_line_says_what_it_removes_or_would(
    library: MediaLibrary, settings: Settings, run: Run
) -> None:
    _strays(settings)
    dry = run("media", "gc", "--dry-run", "--grace-hours", "0")
    assert "would remove images/gone/1/gone-1.squashfs (15 bytes): nothing names it" in dry.output
    assert "2 unreferenced file(s) would remove" in dry.output
    assert len(_files(settings)) == 6
    done = run("media", "gc", "--grace-hours", "0")
    assert "2 unreferenced file(s) removed" in done.output, done.output
    assert _files(settings) == KEEP
