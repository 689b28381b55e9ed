"""Bundle files and release uniqueness in the SQL store, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import pytest

from provisioner.db.sqlstore import SqlStore
from provisioner.domain import Bundle, BundleFile, Release
from provisioner.errors import Conflict, ValidationError
from provisioner.fields import bundle_from_fields

ISO = BundleFile("iso", "tinycore.iso", 100, "a" * 64, "iso9660")
IMG = BundleFile("image", "v101.img", 1000, "c" * 64, "qcow2")


def _with_files(current: Bundle | None) -> Bundle:
    base = current or Bundle("tinycore")
    return replace(base, iso=ISO.filename, image=IMG.filename, files=(IMG, ISO))


def test_bundle_files_round_trip_in_kind_order(store: SqlStore) -> None:
    bundle, created = store.change_bundle("tinycore", _with_files)
    assert created
    assert [f.kind for f in bundle.files] == ["iso", "image"]
    got = store.get_bundle("tinycore")
    assert got.files == bundle.files
    assert got.file("image") == replace(IMG, created_at=got.files[1].created_at)
    assert [b.files for b in store.list_bundles()] == [got.files]


def test_replacing_and_removing_a_file_keeps_one_row_per_kind(store: SqlStore) -> None:
    store.change_bundle("tinycore", _with_files)
    new_img = replace(IMG, sha256="d" * 64, size=2000)
    store.change_bundle(
        "tinycore", lambda b: replace(b, files=(b.files[0], new_img)) if b else Bundle("x")
    )
    assert store.get_bundle("tinycore").file("image").sha256 == "d" * 64  # type: ignore[union-attr]
    store.change_bundle("tinycore", lambda b: replace(b, image=None, files=b.files[:1]))  # type: ignore[arg-type]
    assert [f.kind for f in store.get_bundle("tinycore").files] == ["iso"]


def test_two_files_of_one_kind_are_refused(store: SqlStore) -> None:
    with pytest.raises(ValidationError, match="at most one file of each kind"):
        store.change_bundle("tinycore", lambda b: Bundle("tinycore", iso="a", files=(ISO, ISO)))


def test_deleting_a_bundle_deletes_its_file_rows(store: SqlStore) -> None:
    store.change_bundle("tinycore", _with_files)
    store.delete_bundle("tinycore")
    bundle, created = store.change_bundle("tinycore", lambda b: Bundle("tinycore", iso="x.iso"))
    assert created
    assert bundle.files == ()


def test_releases_with_the_same_content_are_refused_naming_the_first(store: SqlStore) -> None:
    store.add_release(Release("avbox", "2.0", "avbox-2.0.squashfs", 10, "e" * 64))
    with pytest.raises(Conflict, match=r"same content as release avbox:2\.0"):
        store.add_release(Release("other", "1", "other-1.squashfs", 10, "e" * 64))


def test_api_fields_keep_uploaded_files_and_refuse_renaming_them(store: SqlStore) -> None:
    current, _ = store.change_bundle("tinycore", _with_files)
    kept = bundle_from_fields("tinycore", {"definition": "101.con"}, current, partial=True)
    assert kept.files == current.files
    put = bundle_from_fields(
        "tinycore", {"iso": "tinycore.iso", "image": "v101.img"}, current, partial=False
    )
    assert put.files == current.files
    with pytest.raises(Conflict, match=r"iso 'tinycore\.iso' has an uploaded file"):
        bundle_from_fields("tinycore", {"iso": "other.iso"}, current, partial=True)
    with pytest.raises(Conflict, match=r"image 'v101\.img' has an uploaded file"):
        bundle_from_fields("tinycore", {"iso": "tinycore.iso"}, current, partial=False)
    with pytest.raises(ValidationError, match="is also another file"):
        bundle_from_fields("x", {"iso": "a.img", "image": "a.img"}, None, partial=False)
