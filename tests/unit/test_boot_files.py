"""``GET /boot/files/<path>``: the TFTP tree over HTTP, open and read-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from provisioner.config import Settings
from provisioner.service import Service

PXE = Path("/usr/lib/PXELINUX/pxelinux.0")


@pytest.fixture
def boot(settings: Settings) -> Path:
    root = settings.data_dir / "boot"
    root.mkdir(parents=True)
    (root / "vmlinuz").write_bytes(b"\x00kernel" * 100)
    (settings.data_dir / "secret").write_text("TOPSECRET")
    (root / "escape").symlink_to(settings.data_dir / "secret")
    return root


def test_a_data_file_is_served_whole_with_its_length(client: FlaskClient, boot: Path) -> None:
    resp = client.get("/boot/files/vmlinuz")
    assert resp.status_code == 200
    assert resp.data == (boot / "vmlinuz").read_bytes()
    assert resp.content_length == 700
    assert resp.mimetype == "application/octet-stream"
    resp.close()


def test_the_efi64_prefix_reaches_the_same_file(client: FlaskClient, boot: Path) -> None:
    resp = client.get("/boot/files/efi64/vmlinuz")
    assert resp.data == (boot / "vmlinuz").read_bytes()
    resp.close()


def test_head_gives_the_length_without_a_body(client: FlaskClient, boot: Path) -> None:
    resp = client.head("/boot/files/vmlinuz")
    assert (resp.status_code, resp.content_length, resp.data) == (200, 700, b"")
    resp.close()


@pytest.mark.skipif(not PXE.exists(), reason="pxelinux not installed")
def test_a_loader_is_served_byte_identical(client: FlaskClient, boot: Path) -> None:
    resp = client.get("/boot/files/pxelinux.0")
    assert resp.data == PXE.read_bytes()
    resp.close()


def test_a_generated_pxelinux_file_is_served(
    client: FlaskClient, boot: Path, service: Service, release: str
) -> None:
    service.save_node("52:54:00:c0:02:01", {"options": "auto ip.192.0.2.50", "release": release})
    # over HTTP the agent is told to report to the address the request came to
    expected = service.pxelinux_file("01-52-54-00-c0-02-01", "http://localhost")
    for prefix in ("", "efi64/"):
        resp = client.get(f"/boot/files/{prefix}pxelinux.cfg/01-52-54-00-c0-02-01")
        assert resp.status_code == 200
        assert resp.get_data(as_text=True) == expected
    assert client.get("/boot/files/pxelinux.cfg/01-52-54-00-c0-02-99").status_code == 404


@pytest.mark.parametrize(
    "url",
    ["/boot/pxelinux.cfg/01-52-54-00-c0-02-01", "/boot/files/pxelinux.cfg/01-52-54-00-c0-02-01"],
)
def test_fetching_a_per_box_config_over_http_records_the_milestone_with_its_mac(
    client: FlaskClient, boot: Path, service: Service, url: str, release: str
) -> None:
    # an install window
    service.save_node("52:54:00:c0:02:01", {"options": "auto ip.192.0.2.50", "release": release})
    assert client.get(url).status_code == 200
    events = service.store.list_events("52:54:00:c0:02:01")
    assert [e.message for e in events if e.kind == "boot.config"] != [], events


@pytest.mark.parametrize(
    "path",
    ["../secret", "..%2fsecret", "escape", "sub/../../secret", "a%5cb", "%2fetc%2fpasswd"],
)
def test_traversal_and_escaping_symlinks_are_refused(
    client: FlaskClient, boot: Path, path: str
) -> None:
    resp = client.get(f"/boot/files/{path}")
    assert resp.status_code in (403, 404, 308)  # 308: werkzeug merging '//' into '/'
    assert b"TOPSECRET" not in resp.data


def test_a_missing_file_is_404(client: FlaskClient, boot: Path) -> None:
    assert client.get("/boot/files/nope").status_code == 404
