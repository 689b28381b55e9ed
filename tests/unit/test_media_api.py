"""Release images, bundle files, uploads and the manifest through the API
(Flask's test client; SQLite and PostgreSQL). Real squashfs, qcow2 and ISO
files made with mksquashfs, qemu-img and xorriso."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from media.locks import LOCKS_DIR
from provisioner.config import Settings
from provisioner.db.sqlstore import SqlStore
from provisioner.media_audit import VERIFIED
from provisioner.web import create_app
from tests.conftest import Api
from tests.support.media import (
    make_iso,
    make_qcow2,
    make_squashfs,
    make_tree,
    needs_mksquashfs,
)
from tests.support.tinyrelease import add_boot_contract

MAC = "52:54:00:c0:02:0a"
OCTETS = "application/octet-stream"
pytestmark = needs_mksquashfs


@pytest.fixture
def image(tmp_path: Path) -> bytes:
    return make_squashfs(tmp_path / "avbox.sqfs", "xz", seed=7).read_bytes()


def _error(resp: Any) -> dict[str, str]:
    body: dict[str, dict[str, str]] = resp.get_json()
    return body["error"]


def _visible_media(settings: Settings) -> list[str]:
    """Files under media/ outside the upload area: what could be downloaded."""
    root = settings.data_dir / "media"
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and ".uploads" not in p.parts
    )


def _upload_area(settings: Settings) -> list[str]:
    """Uploads in progress (the locks and the verify cache live there too)."""
    area = (settings.data_dir / "media" / ".uploads").glob("*")
    return sorted(p.name for p in area if p.name not in (LOCKS_DIR, VERIFIED))


def _add_image(admin: Api, data: bytes, ref: str = "avbox:2.0", **args: str) -> Any:
    name, version = ref.split(":")
    query = "&".join(f"{k}={v}" for k, v in {"name": name, "version": version, **args}.items())
    return admin.post(f"/api/v1/images?{query}", data=data, content_type=OCTETS)


# -- release images ------------------------------------------------------------------------
def test_an_uploaded_squashfs_is_listed_with_size_sha256_and_a_working_url(
    admin: Api, client: FlaskClient, image: bytes, settings: Settings
) -> None:
    sha = hashlib.sha256(image).hexdigest()
    resp = _add_image(admin, image, sha256=sha)
    assert resp.status_code == 201, resp.get_json()
    listed = admin.get("/api/v1/images").get_json()
    assert [(r["name"], r["version"], r["size"], r["sha256"]) for r in listed] == [
        ("avbox", "2.0", len(image), sha)
    ]
    url = listed[0]["url"]
    assert url == "http://localhost/media/images/avbox/2.0/avbox-2.0.squashfs"
    got = client.get(url.removeprefix("http://localhost"))
    assert got.status_code == 200
    assert got.data == image
    assert got.headers["Accept-Ranges"] == "bytes"
    assert _visible_media(settings) == [  # the image and the boot files built from it
        f"images/avbox/2.0/avbox-2.0.{suffix}"
        for suffix in ("boot.json", "initrd.img", "squashfs", "vmlinuz")
    ]
    assert _upload_area(settings) == []
    event = admin.get("/api/v1/events").get_json()[0]
    assert (event["kind"], event["data"]["sha256"]) == ("release.added", sha)


def test_versions_are_kept_and_the_same_content_is_refused(
    admin: Api, image: bytes, tmp_path: Path, settings: Settings
) -> None:
    assert _add_image(admin, image).status_code == 201
    other = make_squashfs(tmp_path / "v3.sqfs", "zstd", seed=8).read_bytes()
    assert _add_image(admin, other, "avbox:3.0").status_code == 201
    again = _add_image(admin, image, "copy:1")
    assert again.status_code == 409
    assert "same content as release avbox:2.0" in _error(again)["message"]
    twice = _add_image(admin, other, "avbox:3.0")
    assert twice.status_code == 409
    assert [r["ref"] for r in admin.get("/api/v1/images").get_json()] == ["avbox:2.0", "avbox:3.0"]
    assert len(_visible_media(settings)) == 2 * 4  # image, kernel, initramfs, record
    assert _upload_area(settings) == []


def test_a_checksum_mismatch_is_refused_and_nothing_is_stored(
    admin: Api, image: bytes, settings: Settings
) -> None:
    resp = _add_image(admin, image, sha256="0" * 64)
    assert resp.status_code == 422
    assert _error(resp)["field"] == "sha256"
    assert "nothing was stored" in _error(resp)["message"]
    assert admin.get("/api/v1/images").get_json() == []
    assert _visible_media(settings) == []
    assert _upload_area(settings) == []


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda d: d[: len(d) // 2], "truncated"),
        (lambda d: b"XXXX" + d[4:], "is not a squashfs image"),
        (lambda d: hashlib.sha512(d).digest() * 10, "is not a squashfs image"),
    ],
)
def test_files_that_are_not_whole_squashfs_images_are_refused_saying_why(
    admin: Api, image: bytes, settings: Settings, mangle: Any, reason: str
) -> None:
    resp = _add_image(admin, mangle(image))
    assert resp.status_code == 422
    assert (_error(resp)["field"], reason in _error(resp)["message"]) == ("file", True)
    assert _visible_media(settings) == []
    assert _upload_area(settings) == []


@pytest.mark.parametrize(
    ("strip", "reason"),
    [("boot", "no kernel"), ("lib/modules", "modules"), ("sbin/init", "init")],
)
def test_a_release_that_cannot_boot_is_refused_naming_what_is_missing(
    admin: Api, tmp_path: Path, settings: Settings, strip: str, reason: str
) -> None:
    src = add_boot_contract(make_tree(tmp_path / "src"))
    target = src / strip
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    out = tmp_path / "bad.sqfs"
    subprocess.run(["mksquashfs", str(src), str(out), "-noappend", "-quiet"], check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    resp = _add_image(admin, out.read_bytes())
    assert resp.status_code == 422
    assert _error(resp)["field"] == "image"
    assert reason in _error(resp)["message"], _error(resp)
    assert admin.get("/api/v1/images").get_json() == []
    assert _visible_media(settings) == []
    assert _upload_area(settings) == []


def test_bad_names_and_missing_lengths_are_4xx(admin: Api, image: bytes) -> None:
    assert _error(_add_image(admin, image, "bad name:1"))["field"] == "name"
    assert _error(admin.post("/api/v1/images?name=a", data=image))["field"] == "version"
    resp = admin.post(
        "/api/v1/images?name=a&version=1", data=image, headers={"Content-Type": OCTETS}
    )
    assert resp.status_code == 201
    assert _error(_add_image(admin, image, "b:1", sha256="xyz"))["field"] == "sha256"


def test_deleting_a_release_in_use_is_refused_and_otherwise_removes_its_file(
    admin: Api, image: bytes, settings: Settings
) -> None:
    _add_image(admin, image)
    admin.put(f"/api/v1/nodes/{MAC}", json={"release": "avbox:2.0"})
    refused = admin.delete("/api/v1/images/avbox:2.0")
    assert refused.status_code == 409
    assert MAC in _error(refused)["message"]
    assert len(_visible_media(settings)) == 4, "a refused delete removed boot files"
    admin.delete(f"/api/v1/nodes/{MAC}")
    assert admin.delete("/api/v1/images/avbox:2.0").status_code == 204
    assert _visible_media(settings) == []
    assert not (settings.data_dir / "media" / "images" / "avbox").exists()


def test_viewers_cannot_upload(viewer: Api, image: bytes) -> None:
    assert _add_image(viewer, image).status_code == 403


def test_uploads_over_the_size_limit_are_413_naming_the_setting(
    settings: Settings, store: SqlStore, image: bytes, client: FlaskClient, admin: Api
) -> None:
    app = create_app(settings.replace(upload_max_bytes=len(image) - 1), store)
    limited = Api(app.test_client(), admin.token)
    resp = _add_image(limited, image)
    assert resp.status_code == 413
    assert "upload_max_bytes" in _error(resp)["message"]
    resp = limited.post(
        "/api/v1/uploads",
        json={"target": "image", "name": "a", "version": "1", "size": len(image)},
    )
    assert resp.status_code == 413
    assert _visible_media(settings) == []


def test_an_upload_of_unknown_length_is_read_to_its_end(admin: Api, image: bytes) -> None:
    """What a chunked request (curl -T - ...) looks like to the app: no Content-Length."""
    import io

    resp = admin.post(
        "/api/v1/images?name=a&version=1",
        input_stream=io.BytesIO(image),
        headers={"Content-Type": OCTETS},
    )
    assert (resp.status_code, resp.get_json()["size"]) == (201, len(image))


# -- resumable uploads -------------------------------------------------------------------------
def _start(admin: Api, image: bytes, **extra: Any) -> Any:
    body = {"target": "image", "name": "avbox", "version": "2.0", "size": len(image)}
    return admin.post("/api/v1/uploads", json={**body, **extra})


def _chunk(admin: Api, upload_id: str, data: bytes, start: int, total: int) -> Any:
    end = start + len(data) - 1
    header = f"bytes {start}-{end}/{total}" if data else f"bytes */{total}"
    return admin.put(
        f"/api/v1/uploads/{upload_id}",
        data=data,
        headers={"Content-Range": header, "Content-Type": OCTETS},
    )


def test_a_resumable_upload_takes_chunks_in_order_and_completes_into_a_release(
    admin: Api, image: bytes, settings: Settings
) -> None:
    sha = hashlib.sha256(image).hexdigest()
    started = _start(admin, image, sha256=sha)
    assert started.status_code == 201
    up = started.get_json()
    assert (up["offset"], up["complete"], started.headers["Location"]) == (
        0,
        False,
        f"/api/v1/uploads/{up['id']}",
    )
    third = len(image) // 3
    first = _chunk(admin, up["id"], image[:third], 0, len(image))
    assert (first.status_code, first.headers["Upload-Offset"]) == (200, str(third))
    wrong = _chunk(admin, up["id"], image[:10], 0, len(image))
    assert (wrong.status_code, wrong.headers["Upload-Offset"]) == (409, str(third))
    assert f"send the rest from byte {third}" in _error(wrong)["message"]
    # the same target and sha256 finds the same upload again (resume after a restart)
    again = _start(admin, image, sha256=sha)
    assert (again.status_code, again.get_json()["id"], again.get_json()["offset"]) == (
        200,
        up["id"],
        third,
    )
    assert _visible_media(settings) == []  # nothing visible until complete
    done = _chunk(admin, up["id"], image[third:], third, len(image))
    assert done.status_code == 201
    body = done.get_json()
    assert (body["complete"], body["release"]["sha256"]) == (True, sha)
    assert admin.get(f"/api/v1/uploads/{up['id']}").status_code == 404
    assert _upload_area(settings) == []


def test_content_range_must_match_the_upload(admin: Api, image: bytes) -> None:
    up = _start(admin, image).get_json()
    n = len(image)
    for header, body, status, field in [
        ("", b"0123456789", 422, "Content-Range"),
        ("bytes 0-9/5", b"0123456789", 422, "Content-Range"),
        ("bytes 5-1/*", b"0123456789", 422, "Content-Range"),
        ("bytes 0-9/*", b"01234", 422, "Content-Length"),
        (f"bytes 0-{n}/*", image + b"!", 413, "Content-Range"),
    ]:
        resp = admin.put(
            f"/api/v1/uploads/{up['id']}", data=body, headers={"Content-Range": header}
        )
        assert (resp.status_code, _error(resp)["field"]) == (status, field), header
    status = _chunk(admin, up["id"], b"", 0, len(image))
    assert (status.status_code, status.get_json()["offset"]) == (200, 0)
    assert admin.delete(f"/api/v1/uploads/{up['id']}").status_code == 204
    assert admin.get("/api/v1/uploads").get_json() == []


def test_a_wrong_checksum_at_the_end_of_a_resumable_upload_stores_nothing(
    admin: Api, image: bytes, settings: Settings
) -> None:
    up = _start(admin, image, sha256="1" * 64).get_json()
    resp = _chunk(admin, up["id"], image, 0, len(image))
    assert (resp.status_code, _error(resp)["field"]) == (422, "sha256")
    assert admin.get(f"/api/v1/uploads/{up['id']}").status_code == 404
    assert _visible_media(settings) == []
    assert _upload_area(settings) == []


# -- bundles -----------------------------------------------------------------------------------
@pytest.fixture
def bundle_files(tmp_path: Path) -> dict[str, bytes]:
    if shutil.which("qemu-img") is None or shutil.which("xorriso") is None:
        pytest.skip("qemu-img and xorriso needed")
    return {
        "iso": make_iso(tmp_path / "tinycore.iso").read_bytes(),
        "definition": b"name: tinycore\nmemory: 512\n",
        "image": make_qcow2(tmp_path / "v101.img").read_bytes(),
    }


def _put_file(admin: Api, kind: str, data: bytes, **args: str) -> Any:
    query = "&".join(f"{k}={v}" for k, v in args.items())
    return admin.put(f"/api/v1/bundles/tinycore/files/{kind}?{query}", data=data)


def test_bundle_files_upload_and_the_manifest_lists_everything_the_box_fetches(
    admin: Api, client: FlaskClient, image: bytes, bundle_files: dict[str, bytes]
) -> None:
    names = {"iso": "tinycore.iso", "definition": "101.con", "image": "v101.img"}
    for kind, data in bundle_files.items():
        resp = _put_file(admin, kind, data, filename=names[kind])
        assert resp.status_code == 201, resp.get_json()
    bundle = admin.get("/api/v1/bundles/tinycore").get_json()
    assert bundle["options"] == "copyiso.tinycore.iso copydef.101.con copyimg.v101.img"
    assert {k: f["format"] for k, f in bundle["files"].items()} == {
        "iso": "iso9660",
        "definition": "text",
        "image": "qcow2",
    }
    _add_image(admin, image)
    admin.put("/api/v1/profiles/avbox", json={"options": "lang.de auto", "release": "avbox:2.0"})
    admin.put(f"/api/v1/nodes/{MAC}", json={"profile": "avbox", "bundle": "tinycore"})
    manifest = admin.get(f"/api/v1/nodes/{MAC}/manifest").get_json()
    assert manifest["cmdline"] == (
        "lang.de auto copyiso.tinycore.iso copydef.101.con copyimg.v101.img"
    )
    assert [f["purpose"] for f in manifest["fetch"]] == [
        "release",
        "copyiso",
        "copydef",
        "copyimg",
    ]
    for f in manifest["fetch"]:
        got = client.get(f["url"].removeprefix("http://localhost"))
        assert (len(got.data), hashlib.sha256(got.data).hexdigest()) == (f["size"], f["sha256"])


def test_a_qcow2_with_a_backing_file_is_refused_and_the_bundle_is_unchanged(
    admin: Api, bundle_files: dict[str, bytes], tmp_path: Path, settings: Settings
) -> None:
    _put_file(admin, "image", bundle_files["image"], filename="v101.img")
    before = admin.get("/api/v1/bundles/tinycore").get_json()
    evil = make_qcow2(tmp_path / "evil.img", "-b", "/etc/shadow", "-F", "raw", "-u")
    resp = _put_file(admin, "image", evil.read_bytes(), filename="v101.img")
    assert resp.status_code == 422
    assert "backing file ('/etc/shadow')" in _error(resp)["message"]
    assert admin.get("/api/v1/bundles/tinycore").get_json() == before
    assert len(_visible_media(settings)) == 1


def test_replacing_a_bundle_file_says_which_file_it_replaced(
    admin: Api, bundle_files: dict[str, bytes], tmp_path: Path, settings: Settings
) -> None:
    first = _put_file(admin, "image", bundle_files["image"], filename="v101.img").get_json()
    assert first["replaced"] is None
    same = _put_file(admin, "image", bundle_files["image"], filename="v101.img").get_json()
    assert same["replaced"] is None  # the same bytes under the same name: nothing replaced
    other = make_qcow2(tmp_path / "v102.img", size="2M").read_bytes()
    resp = _put_file(admin, "image", other, filename="v101.img")
    assert resp.status_code == 201
    replaced = resp.get_json()["replaced"]
    old_sha = hashlib.sha256(bundle_files["image"]).hexdigest()
    assert (replaced["filename"], replaced["sha256"], replaced["url"]) == (
        "v101.img",
        old_sha,
        None,
    )
    assert resp.get_json()["files"]["image"]["sha256"] == hashlib.sha256(other).hexdigest()
    assert len(_visible_media(settings)) == 1  # the old bytes are gone
    # the resumable protocol's final answer says it too
    again = make_qcow2(tmp_path / "v103.img", size="3M").read_bytes()
    body = {"target": "bundle", "bundle": "tinycore", "kind": "image", "size": len(again)}
    up = admin.post("/api/v1/uploads", json=body).get_json()
    done = _chunk(admin, up["id"], again, 0, len(again)).get_json()
    assert done["replaced"]["sha256"] == hashlib.sha256(other).hexdigest()


def test_a_raw_image_needs_raw_declared_and_bad_raw_values_name_the_field(
    admin: Api, settings: Settings
) -> None:
    raw = b"\x00" * 510 + b"\x55\xaa" + b"\x01" * 4096  # an MBR and nothing recognisable
    refused = _put_file(admin, "image", raw, filename="disk.img")
    assert (refused.status_code, _error(refused)["field"]) == (422, "image")
    assert "not a recognised disk image" in _error(refused)["message"]
    assert _visible_media(settings) == []
    accepted = _put_file(admin, "image", raw, filename="disk.img", raw="true")
    assert accepted.status_code == 201, accepted.get_json()
    assert accepted.get_json()["files"]["image"]["format"] == "raw"
    bad = _put_file(admin, "image", raw, filename="disk.img", raw="maybe")
    assert (bad.status_code, _error(bad)["field"]) == (422, "raw")
    body = {"target": "bundle", "bundle": "t2", "kind": "iso", "filename": "a.iso", "raw": True}
    not_image = admin.post("/api/v1/uploads", json={**body, "size": 10})
    assert (not_image.status_code, _error(not_image)["field"]) == (422, "raw")
    body = {"target": "bundle", "bundle": "t2", "kind": "image", "filename": "d.img", "raw": True}
    up = admin.post("/api/v1/uploads", json={**body, "size": len(raw)})
    assert up.status_code == 201, up.get_json()
    assert _chunk(admin, up.get_json()["id"], raw, 0, len(raw)).status_code == 201


def test_renaming_an_uploaded_file_is_refused_until_it_is_deleted(
    admin: Api, bundle_files: dict[str, bytes], settings: Settings
) -> None:
    _put_file(admin, "iso", bundle_files["iso"], filename="tinycore.iso")
    _put_file(admin, "definition", bundle_files["definition"], filename="101.con")
    resp = admin.patch("/api/v1/bundles/tinycore", json={"iso": "other.iso"})
    assert resp.status_code == 409
    gone = admin.delete("/api/v1/bundles/tinycore/files/iso")
    assert (gone.status_code, gone.get_json()["iso"]) == (200, None)
    assert [p.split("/")[-1] for p in _visible_media(settings)] == ["101.con"]
    last = admin.delete("/api/v1/bundles/tinycore/files/definition")
    assert last.status_code == 409
    assert admin.delete("/api/v1/bundles/tinycore").status_code == 204
    assert _visible_media(settings) == []


def test_a_manifest_whose_bundle_lacks_an_upload_is_a_conflict(admin: Api, release: str) -> None:
    admin.put("/api/v1/bundles/tinycore", json={"iso": "tinycore.iso"})
    put = admin.put(f"/api/v1/nodes/{MAC}", json={"bundle": "tinycore", "release": release})
    # preflight says so when the node is set (a warning: the file may come before the box boots)
    assert [p["code"] for p in put.get_json()["problems"]] == ["bundle-file-not-uploaded"]
    resp = admin.get(f"/api/v1/nodes/{MAC}/manifest")
    assert resp.status_code == 409
    assert "no file was uploaded" in _error(resp)["message"]
    assert admin.get("/api/v1/nodes/52:54:00:00:00:01/manifest").status_code == 404


# -- downloads ---------------------------------------------------------------------------------
def test_downloads_are_open_and_only_for_catalogued_paths(
    admin: Api, client: FlaskClient, image: bytes, settings: Settings
) -> None:
    _add_image(admin, image)
    url = "/media/images/avbox/2.0/avbox-2.0.squashfs"
    assert client.head(url).headers["Content-Length"] == str(len(image))
    part = client.get(url, headers={"Range": "bytes=-100"})
    assert (part.status_code, part.data) == (206, image[-100:])
    etag = part.headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    (settings.data_dir / "media" / ".uploads" / "x").write_bytes(b"secret")
    for bad in ("/media/images/avbox/2.0/..", "/media/images/avbox/2.0/.x", "/media/.uploads/x"):
        assert client.get(bad).status_code == 404


def test_with_accel_redirect_nginx_is_told_which_file_to_send(
    settings: Settings, store: SqlStore, admin: Api, image: bytes
) -> None:
    _add_image(admin, image)
    app = create_app(settings.replace(accel_redirect="/_media/"), store)
    resp = app.test_client().get("/media/images/avbox/2.0/avbox-2.0.squashfs")
    assert resp.status_code == 200
    assert resp.headers["X-Accel-Redirect"] == "/_media/images/avbox/2.0/avbox-2.0.squashfs"
    assert resp.data == b""
    assert app.test_client().get("/media/images/avbox/2.0/nope.squashfs").status_code == 404


# -- fuzz: never a 500 ---------------------------------------------------------------------------
_values = st.none() | st.booleans() | st.integers(-5, 1 << 40) | st.text(max_size=20)
_upload_fields = st.sampled_from(
    ["target", "name", "version", "bundle", "kind", "filename", "size", "sha256", "x"]
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.dictionaries(_upload_fields, _values, max_size=6),
    content_range=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    query=st.dictionaries(
        st.sampled_from(["name", "version", "sha256", "filename"]), st.text(max_size=12), max_size=4
    ),
)
def test_random_upload_requests_never_cause_a_500(
    admin: Api, body: dict[str, Any], content_range: str, query: dict[str, str]
) -> None:
    from urllib.parse import urlencode

    resp = admin.post("/api/v1/uploads", json=body)
    assert resp.status_code < 500, resp.get_json()
    started = admin.post(
        "/api/v1/uploads", json={"target": "image", "name": "f", "version": "1", "size": 5}
    ).get_json()
    resp = admin.put(
        f"/api/v1/uploads/{started['id']}", data=b"abc", headers={"Content-Range": content_range}
    )
    assert resp.status_code < 500, resp.get_json()
    resp = admin.post(f"/api/v1/images?{urlencode(query)}", data=b"not squashfs")
    assert resp.status_code < 500, resp.get_json()
    for kind in ("iso", "definition", "image", "x"):
        resp = admin.put(f"/api/v1/bundles/b/files/{kind}?{urlencode(query)}", data=b"\x00" * 64)
        assert resp.status_code < 500, resp.get_json()
