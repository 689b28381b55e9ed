"""Every file the server sends (HTTP ``/boot/files/``, HTTP ``/media/``, TFTP) is
checked by its resolved path against its root: a file or *directory* symlink out
of a served root is refused, one that stays inside is served."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from provisioner.config import Settings
from provisioner.confine import open_inside
from provisioner.db.sqlstore import SqlStore
from provisioner.web import create_app
from tests.support.tftp import RawClient, serving, settings_for
from tftp.packet import Error

SECRET = b"TOPSECRET outside every served root"
IMAGE = b"hsqs image bytes"


def _outside(data_dir: Path) -> Path:
    """A directory beside the data directory, with a secret in it and below it."""
    out = data_dir.parent / "outside"
    (out / "1").mkdir(parents=True)
    (out / "secret").write_bytes(SECRET)
    (out / "1" / "secret.squashfs").write_bytes(SECRET)
    return out


def _boot_tree(data_dir: Path) -> Path:
    boot = data_dir / "boot"
    (boot / "sub").mkdir(parents=True)
    (boot / "sub" / "vmlinuz").write_bytes(b"kernel")
    out = _outside(data_dir)
    (boot / "dirlink").symlink_to(out)  # a directory symlink out of the root
    (boot / "filelink").symlink_to(out / "secret")  # a file symlink out of the root
    (boot / "insidedir").symlink_to(boot / "sub")  # directory symlink that stays inside
    (boot / "insidefile").symlink_to("sub/vmlinuz")  # file symlink that stays inside
    return boot


def _media_tree(data_dir: Path) -> Path:
    images = data_dir / "media" / "images"
    (images / "avbox" / "2.0").mkdir(parents=True)
    (images / "avbox" / "2.0" / "avbox-2.0.squashfs").write_bytes(IMAGE)
    uploads = data_dir / "media" / ".uploads"
    uploads.mkdir()
    (uploads / "part").write_bytes(SECRET)
    out = _outside(data_dir)
    (images / "evil").symlink_to(out)  # /media/images/evil/1/secret.squashfs
    (images / "avbox" / "9.0").symlink_to(out / "1")
    (images / "avbox" / "2.0" / "link.squashfs").symlink_to(out / "secret")
    (images / "avbox" / "2.0" / "part.squashfs").symlink_to(uploads / "part")  # not served
    (images / "avbox" / "3.0").symlink_to(images / "avbox" / "2.0")  # stays inside
    (images / "avbox" / "2.0" / "alias.squashfs").symlink_to("avbox-2.0.squashfs")
    return images


OUT_OF_BOOT = ["dirlink/secret", "efi64/dirlink/secret", "filelink"]
INSIDE_BOOT = ["insidedir/vmlinuz", "insidefile", "sub/vmlinuz"]
OUT_OF_MEDIA = [
    "images/evil/1/secret.squashfs",
    "images/avbox/9.0/secret.squashfs",
    "images/avbox/2.0/link.squashfs",
    "images/avbox/2.0/part.squashfs",
]
INSIDE_MEDIA = ["images/avbox/3.0/avbox-2.0.squashfs", "images/avbox/2.0/alias.squashfs"]


@pytest.mark.parametrize("path", OUT_OF_BOOT)
def test_http_boot_refuses_file_and_directory_symlinks_out_of_the_boot_root(
    client: FlaskClient, settings: Settings, path: str
) -> None:
    _boot_tree(settings.data_dir)
    resp = client.get(f"/boot/files/{path}")
    assert resp.status_code in (403, 404)
    assert SECRET not in resp.data


@pytest.mark.parametrize("path", INSIDE_BOOT)
def test_http_boot_serves_symlinks_that_stay_inside_the_boot_root(
    client: FlaskClient, settings: Settings, path: str
) -> None:
    _boot_tree(settings.data_dir)
    with client.get(f"/boot/files/{path}") as resp:  # closes the file it sends
        assert (resp.status_code, resp.data) == (200, b"kernel")


@pytest.mark.parametrize("path", OUT_OF_MEDIA)
def test_media_refuses_file_and_directory_symlinks_out_of_its_directory(
    client: FlaskClient, settings: Settings, path: str
) -> None:
    _media_tree(settings.data_dir)
    for headers in ({}, {"Range": "bytes=0-3"}):
        resp = client.get(f"/media/{path}", headers=headers)
        assert resp.status_code == 404
        assert SECRET[:4] not in resp.data


@pytest.mark.parametrize("path", INSIDE_MEDIA)
def test_media_serves_symlinks_that_stay_inside_its_directory(
    client: FlaskClient, settings: Settings, path: str
) -> None:
    _media_tree(settings.data_dir)
    with client.get(f"/media/{path}") as resp:
        assert (resp.status_code, resp.data) == (200, IMAGE)


def test_with_accel_redirect_nginx_is_never_sent_out_of_the_media_directory(
    settings: Settings, store: SqlStore
) -> None:
    _media_tree(settings.data_dir)
    client = create_app(settings.replace(accel_redirect="/_media/"), store).test_client()
    for path in OUT_OF_MEDIA:
        resp = client.get(f"/media/{path}")
        assert resp.status_code == 404
        assert "X-Accel-Redirect" not in resp.headers
    assert client.get(f"/media/{INSIDE_MEDIA[0]}").status_code == 200


@pytest.mark.parametrize("name", OUT_OF_BOOT)
def test_tftp_refuses_file_and_directory_symlinks_out_of_the_boot_root(
    tmp_path: Path, name: str
) -> None:
    _boot_tree(tmp_path / "data")
    with serving(settings_for(tmp_path)) as server, RawClient(server.address) as c:
        answer = c.request(name)
    assert isinstance(answer, Error), answer
    assert answer.code in (1, 2)  # file not found / access violation


def test_tftp_serves_symlinks_that_stay_inside_the_boot_root(tmp_path: Path) -> None:
    _boot_tree(tmp_path / "data")
    with serving(settings_for(tmp_path)) as server:
        for name in INSIDE_BOOT:
            with RawClient(server.address) as c:
                assert c.fetch(name) == b"kernel"


def test_open_inside_checks_the_opened_file_not_the_name(tmp_path: Path) -> None:
    boot = _boot_tree(tmp_path / "data")
    with pytest.raises(PermissionError):
        open_inside(boot / "dirlink" / "secret", boot)
    with pytest.raises(FileNotFoundError):  # a directory is not a file to send
        open_inside(boot / "sub", boot)
    fd, size = open_inside(boot / "insidedir" / "vmlinuz", boot)
    try:
        assert (size, os.pread(fd, 6, 0)) == (6, b"kernel")
    finally:
        os.close(fd)
