"""The Debian test release is built from the host's own mirror and cached by what it
is made of (tests/support/debianrelease.py): no mmdebstrap run here."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.support import debianrelease as dr


def _etc(tmp_path: Path, sources: str, name: str = "debian.sources") -> Path:
    (tmp_path / "sources.list.d").mkdir(parents=True, exist_ok=True)
    (tmp_path / "sources.list.d" / name).write_text(sources)
    return tmp_path


def test_the_mirror_is_the_one_the_hosts_deb822_sources_name_for_the_suite(
    tmp_path: Path,
) -> None:
    sources = (
        "Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\n"
    )
    etc = _etc(tmp_path, sources)
    assert dr.host_mirror(etc) == "http://mirror.example/debian"


def test_a_one_line_sources_list_is_read_too(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "deb [arch=amd64] http://old.example/debian bookworm main\n"
    )
    assert dr.host_mirror(tmp_path) == "http://old.example/debian"


def test_no_source_for_the_suite_is_an_error_not_an_invented_mirror(tmp_path: Path) -> None:
    etc = _etc(tmp_path, "Types: deb\nURIs: http://x.example/debian\nSuites: trixie\n")
    with pytest.raises(RuntimeError, match="no source for bookworm"):
        dr.host_mirror(etc)


def test_the_mirrors_release_date_comes_from_apts_lists(tmp_path: Path) -> None:
    (tmp_path / "mirror.example_debian_dists_bookworm_InRelease").write_text(
        "Origin: Debian\nDate: Sat, 11 Jul 2026 10:16:37 UTC\n"
    )
    assert dr.mirror_date("http://mirror.example/debian/", tmp_path) == (
        "Sat, 11 Jul 2026 10:16:37 UTC"
    )
    assert dr.mirror_date("http://other.example/debian", tmp_path) == ""


def test_a_cached_image_is_reused_without_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dr, "host_mirror", lambda: "http://mirror.example/debian")
    key = dr.cache_key("http://mirror.example/debian")
    cached = tmp_path / "cache" / f"debian-bookworm-{key}.squashfs"
    cached.parent.mkdir()
    cached.write_bytes(b"image")

    def no_build(out: Path, mirror: str) -> None:
        raise AssertionError("built although cached")

    monkeypatch.setattr(dr, "_build", no_build)
    out = dr.build_debian_release(tmp_path / "out" / "debian.squashfs", tmp_path / "cache")
    assert out.read_bytes() == b"image"


def test_a_new_build_forgets_images_of_older_inputs_unused_for_a_week(tmp_path: Path) -> None:
    new, recent, old = (tmp_path / f"debian-bookworm-{k}.squashfs" for k in "abc")
    for f in (new, recent, old):
        f.write_bytes(b"image")
    week = 8 * 86400
    os.utime(old, (time.time() - week, time.time() - week))
    dr._forget_stale(tmp_path, keep=new)
    assert sorted(p.name for p in tmp_path.iterdir()) == [new.name, recent.name]
