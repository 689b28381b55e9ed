"""``provisioner image|bundle upload|node manifest|upload`` in-process (click's
runner), on SQLite and PostgreSQL, with real mksquashfs and qemu-img files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.conftest import Run
from tests.support.media import make_qcow2, make_squashfs, needs_mksquashfs, needs_qemu_img

MAC = "52:54:00:c0:02:0a"
pytestmark = needs_mksquashfs


def test_image_add_list_show_and_delete(run: Run, tmp_path: Path, data_dir: Path) -> None:
    image = make_squashfs(tmp_path / "avbox.sqfs", "xz")
    sha = hashlib.sha256(image.read_bytes()).hexdigest()
    added = run("image", "add", str(image), "--name", "avbox", "--version", "2.0", "--sha256", sha)
    assert added.exit_code == 0, added.output
    assert f"release avbox:2.0 added: {image.stat().st_size} bytes, sha256 {sha}" in added.output
    assert (data_dir / "media/images/avbox/2.0/avbox-2.0.squashfs").read_bytes() == (
        image.read_bytes()
    )
    listed = json.loads(run("image", "list", "--json").stdout)
    assert [(r["ref"], r["sha256"]) for r in listed] == [("avbox:2.0", sha)]
    assert "sha256:" in run("image", "show", "avbox:2.0").output
    again = run("image", "add", str(image), "--name", "copy", "--version", "1")
    assert again.exit_code == 1
    assert "same content as release avbox:2.0" in again.output
    assert run("image", "delete", "avbox:2.0").exit_code == 0
    assert not (data_dir / "media/images/avbox").exists()


def test_image_add_refuses_what_is_not_squashfs_saying_why(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "x.sqfs"
    bad.write_bytes(b"not a squashfs image at all" * 10)
    result = run("image", "add", str(bad), "--name", "x", "--version", "1")
    assert result.exit_code == 2
    assert "error: file: is not a squashfs image" in result.output
    wrong = run("image", "add", str(make_squashfs(tmp_path / "a.sqfs")), "--name", "a",
                "--version", "1", "--sha256", "0" * 64)  # fmt: skip
    assert (wrong.exit_code, "sha256:" in wrong.output) == (2, True)
    assert json.loads(run("image", "list", "--json").stdout) == []


def test_large_files_show_a_progress_bar(run: Run, tmp_path: Path) -> None:
    image = make_squashfs(tmp_path / "big.sqfs", "gzip", payload=17 << 20)
    result = run("image", "add", str(image), "--name", "big", "--version", "1", FORCE_COLOR="1")
    assert result.exit_code == 0, result.output
    assert "copy big.sqfs" in result.stderr
    assert "MB" in result.stderr


@needs_qemu_img
def test_bundle_upload_remove_file_and_the_node_manifest(run: Run, tmp_path: Path) -> None:
    image = make_squashfs(tmp_path / "avbox.sqfs")
    run("image", "add", str(image), "--name", "avbox", "--version", "2.0")
    disk = make_qcow2(tmp_path / "local-disk.qcow2")
    assert run("bundle", "set", "tinycore", "--image", "v101.img").exit_code == 0
    uploaded = run("bundle", "upload", "tinycore", "image", str(disk))
    assert uploaded.exit_code == 0, uploaded.output
    assert "copyimg.v101.img" in uploaded.output  # the bundle's name, not the local file's
    run("node", "set", MAC, "--release", "avbox:2.0", "--bundle", "tinycore")
    manifest = json.loads(run("node", "manifest", MAC).stdout)
    assert [(f["purpose"], f["filename"]) for f in manifest["fetch"]] == [
        ("release", "avbox-2.0.squashfs"),
        ("copyimg", "v101.img"),
    ]
    assert manifest["fetch"][1]["url"].startswith("http://SERVER:8080/media/bundles/tinycore/")
    evil = make_qcow2(tmp_path / "evil.qcow2", "-b", str(disk), "-F", "qcow2")
    refused = run("bundle", "upload", "tinycore", "image", str(evil))
    assert refused.exit_code == 2
    assert "backing file" in refused.output
    run("bundle", "set", "tinycore", "--iso", "x.iso")
    assert run("bundle", "remove-file", "tinycore", "image").exit_code == 0
    assert "copyimg" not in run("bundle", "list").output


def test_upload_list_and_sweep_show_unfinished_uploads(run: Run, data_dir: Path) -> None:
    from media.storage import MediaDirs
    from media.uploads import Uploads

    uploads = Uploads(MediaDirs(data_dir))
    session, _ = uploads.create({"target": "image", "name": "a", "version": "1"}, 10, None)
    assert f"{session.id}  0/10  target=image name=a version=1" in run("upload", "list").output
    assert "0 stale upload(s) discarded" in run("upload", "sweep").output
    assert run("upload", "discard", session.id).exit_code == 0
    assert run("upload", "list").output == ""
