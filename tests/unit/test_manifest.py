"""The per-node manifest, built from plain values (no store, no HTTP)."""

from __future__ import annotations

import json

import pytest

from media.layout import media_base_url
from provisioner.bootparams import Options
from provisioner.domain import Action, Bundle, BundleFile, Node, Profile, Release
from provisioner.errors import Conflict
from provisioner.manifest import Download, build_manifest

BASE = "http://192.0.2.1:8080/media/"
SHA_A, SHA_B, SHA_C, SHA_R = "a" * 64, "b" * 64, "c" * 64, "1" * 64


def _bundle(with_files: bool = True) -> Bundle:
    files = (
        BundleFile("iso", "tinycore.iso", 100, SHA_A, "iso9660"),
        BundleFile("definition", "101.con", 10, SHA_B, "text"),
        BundleFile("image", "v101.img", 1000, SHA_C, "qcow2"),
    )
    return Bundle(
        "tinycore", "tinycore.iso", "101.con", "v101.img", files=files if with_files else ()
    )


def test_manifest_lists_release_and_bundle_files_with_urls_sizes_and_sha256() -> None:
    profile = Profile("avbox", options=Options.parse("initrd=initrd.img lang.de auto"))
    node = Node(
        "52:54:00:c0:02:0a",
        hostname="avbox251",
        profile="avbox",
        options=Options.parse("ip.192.168.2.251"),
    )
    release = Release("avbox", "2.0", "avbox-2.0.squashfs", 12345, SHA_R)
    m = build_manifest(node, profile, release, _bundle(), BASE).to_json()
    assert m["manifest_version"] == 1
    assert m["cmdline"] == (
        "initrd=initrd.img lang.de auto ip.192.168.2.251 "
        "copyiso.tinycore.iso copydef.101.con copyimg.v101.img"
    )
    assert m["options"]["copyimg"] == "v101.img"
    assert m["release"]["url"] == BASE + "images/avbox/2.0/avbox-2.0.squashfs"
    assert [(f["purpose"], f["url"], f["size"], f["sha256"]) for f in m["fetch"]] == [
        ("release", BASE + "images/avbox/2.0/avbox-2.0.squashfs", 12345, SHA_R),
        ("copyiso", BASE + f"bundles/tinycore/{SHA_A[:16]}/tinycore.iso", 100, SHA_A),
        ("copydef", BASE + f"bundles/tinycore/{SHA_B[:16]}/101.con", 10, SHA_B),
        ("copyimg", BASE + f"bundles/tinycore/{SHA_C[:16]}/v101.img", 1000, SHA_C),
    ]
    assert [f["option"] for f in m["bundle"]["files"]] == ["copyiso", "copydef", "copyimg"]


def test_a_node_without_release_or_bundle_fetches_nothing() -> None:
    m = build_manifest(Node("52:54:00:c0:02:0a"), None, None, None, BASE).to_json()
    assert (m["release"], m["bundle"], m["fetch"], m["cmdline"]) == (None, None, [], "")


def test_the_typed_manifest_carries_what_its_json_says() -> None:
    profile = Profile("avbox", options=Options.parse("lang.de slotsize.4096 auto"))
    node = Node("52:54:00:c0:02:0a", hostname="avbox251", profile="avbox", action=Action.INSTALL)
    release = Release("avbox", "2.0", "avbox-2.0.squashfs", 12345, SHA_R)
    m = build_manifest(node, profile, release, _bundle(), BASE)
    assert (m.mac, m.hostname, m.action) == ("52:54:00:c0:02:0a", "avbox251", Action.INSTALL)
    assert m.cmdline.get("slotsize") == "4096"
    assert m.cmdline.get("copydef") == "101.con"
    assert m.release is not None
    assert m.release.release == release
    assert m.bundle is not None
    assert [(f.option, f.file.kind, f.file.format) for f in m.bundle.files] == [
        ("copyiso", "iso", "iso9660"),
        ("copydef", "definition", "text"),
        ("copyimg", "image", "qcow2"),
    ]
    assert m.fetch[0] == Download(
        "release", "avbox-2.0.squashfs", BASE + "images/avbox/2.0/avbox-2.0.squashfs", 12345, SHA_R
    )
    assert [d.purpose for d in m.fetch] == ["release", "copyiso", "copydef", "copyimg"]
    doc = m.to_json()
    assert list(doc) == [
        "manifest_version",
        "mac",
        "hostname",
        "action",
        "cmdline",
        "options",
        "release",
        "bundle",
        "fetch",
    ]
    assert list(doc["release"]) == ["ref", "name", "version", "filename", "url", "size", "sha256"]
    files = doc["bundle"]["files"]
    assert list(files[0]) == ["kind", "option", "filename", "format", "url", "size", "sha256"]
    assert doc["action"] == "install"
    assert doc["cmdline"] == m.cmdline.render()
    assert doc["fetch"] == [
        {
            "purpose": d.purpose,
            "filename": d.filename,
            "url": d.url,
            "size": d.size,
            "sha256": d.sha256,
        }
        for d in m.fetch
    ]
    assert json.loads(json.dumps(doc)) == doc


def test_a_bundle_file_nobody_uploaded_makes_the_manifest_a_conflict() -> None:
    node = Node("52:54:00:c0:02:0a", bundle="tinycore")
    with pytest.raises(Conflict, match=r"names copyiso\.tinycore\.iso but no file was uploaded"):
        build_manifest(node, None, None, _bundle(with_files=False), BASE)


@pytest.mark.parametrize(
    ("media_url", "server_ip", "expected"),
    [
        ("http://nginx.example/media/", "192.0.2.1", "http://nginx.example/media/"),
        ("http://nginx.example/media", "", "http://nginx.example/media/"),
        ("", "192.0.2.1", "http://192.0.2.1:8080/media/"),
        ("", "", "http://localhost:5000/media/"),
    ],
)
def test_download_urls_prefer_media_url_then_server_ip_then_the_request_host(
    media_url: str, server_ip: str, expected: str
) -> None:
    assert media_base_url(media_url, server_ip, 8080, "http://localhost:5000/") == expected
