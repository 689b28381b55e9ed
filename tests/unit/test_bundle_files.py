"""Bundle files are what they claim to be: real ISOs, qcow2 and raw images made
with xorriso and qemu-img; qcow2 files that reach outside themselves are refused."""

from __future__ import annotations

import contextlib
import os
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media.bundlefiles import BundleFileError, check_bundle_file
from media.diskimage import HEAD_BYTES, DiskImageError, check_qcow2, detect_format
from provisioner.errors import ValidationError
from tests.support.media import make_iso, make_qcow2, needs_qemu_img, needs_xorriso


def _check(
    kind: str,
    path: Path,
    filename: str | None = None,
    size: int | None = None,
    *,
    raw: bool = False,
) -> str:
    data = path.read_bytes()
    real = len(data) if size is None else size
    name = filename or path.name
    return check_bundle_file(kind, name, data[:HEAD_BYTES], data[-512:], real, raw=raw)


@needs_xorriso
def test_a_real_iso_is_an_iso_and_a_truncated_one_is_refused(tmp_path: Path) -> None:
    iso = make_iso(tmp_path / "tinycore.iso")
    assert _check("iso", iso) == "iso9660"
    with pytest.raises(BundleFileError, match="truncated: the volume has"):
        _check("iso", iso, size=iso.stat().st_size - 2048)


@needs_qemu_img
def test_an_iso_that_is_not_iso_9660_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleFileError, match="not an ISO 9660 image") as err:
        _check("iso", make_qcow2(tmp_path / "x.iso"))
    assert err.value.field == "iso"


@needs_qemu_img
@pytest.mark.parametrize("compat", ["0.10", "1.1"])
def test_plain_qcow2_images_version_2_and_3_are_accepted(tmp_path: Path, compat: str) -> None:
    image = make_qcow2(tmp_path / "v101.qcow2", "-o", f"compat={compat}")
    assert _check("image", image) == "qcow2"
    assert _check("image", image, "v101.img") == "qcow2"  # .img may be either


@needs_qemu_img
def test_a_qcow2_with_a_backing_file_is_refused_naming_it(tmp_path: Path) -> None:
    base = make_qcow2(tmp_path / "base.qcow2")
    overlay = make_qcow2(tmp_path / "v101.img", "-b", str(base), "-F", "qcow2")
    with pytest.raises(DiskImageError, match=rf"backing file \('{base}'\)") as err:
        _check("image", overlay)
    assert err.value.field == "image"


@needs_qemu_img
def test_a_qcow2_with_an_external_data_file_is_refused(tmp_path: Path) -> None:
    image = make_qcow2(tmp_path / "v101.qcow2", "-o", f"data_file={tmp_path / 'data.raw'}")
    with pytest.raises(DiskImageError, match="external data file"):
        _check("image", image)


@needs_qemu_img
def test_an_external_data_file_name_extension_alone_is_refused(tmp_path: Path) -> None:
    """Even with the feature bit cleared, the header extension naming a file is refused."""
    data = bytearray(make_qcow2(tmp_path / "d.qcow2", "-o", "data_file=/etc/shadow").read_bytes())
    data[72:80] = struct.pack(">Q", struct.unpack_from(">Q", data, 72)[0] & ~4)
    with pytest.raises(DiskImageError, match=r"external data file \('/etc/shadow'\)"):
        check_qcow2(bytes(data[:HEAD_BYTES]), len(data))


@needs_qemu_img
@pytest.mark.parametrize(
    ("fmt", "name"),
    [("vmdk", "VMDK"), ("vpc", "VHD"), ("vdi", "VDI"), ("qed", "QED"), ("vhdx", "VHDX")],
)
def test_other_container_formats_are_refused_naming_the_format(
    tmp_path: Path, fmt: str, name: str
) -> None:
    import subprocess

    image = tmp_path / f"v101.{fmt}"
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(image), "1M"], check=True)
    with pytest.raises(DiskImageError, match=f"is a {name} image; only qcow2, ISO 9660 and raw"):
        _check("image", image)


@needs_qemu_img
def test_a_name_that_claims_raw_must_hold_raw(tmp_path: Path) -> None:
    image = make_qcow2(tmp_path / "v101.raw")
    with pytest.raises(DiskImageError, match=r"'v101\.raw' claims to be raw but is a qcow2"):
        _check("image", image)
    raw = tmp_path / "disk.qcow2"
    raw.write_bytes(os.urandom(4096).replace(b"QFI", b"xxx"))
    with pytest.raises(DiskImageError, match="claims to be qcow2 but is a raw"):
        _check("image", raw, raw=True)
    assert _check("image", raw, "disk.img", raw=True) == "raw"


def test_a_raw_image_is_accepted_only_when_declared_raw(tmp_path: Path) -> None:
    """Bytes with no signature could be anything (a text file, a wrong download)."""
    raw = tmp_path / "v101.img"
    raw.write_bytes(b"\x00" * 510 + b"\x55\xaa" + os.urandom(8192).replace(b"CD001", b"xxxxx"))
    with pytest.raises(DiskImageError, match=r"'v101\.img' is not a recognised disk image") as err:
        _check("image", raw)
    assert err.value.field == "image"
    assert "--raw" in err.value.detail
    assert _check("image", raw, raw=True) == "raw"


@needs_qemu_img
def test_declaring_a_recognised_image_raw_is_refused_naming_the_raw_field(tmp_path: Path) -> None:
    with pytest.raises(DiskImageError, match="declared raw but is a qcow2 image") as err:
        _check("image", make_qcow2(tmp_path / "v101.img"), raw=True)
    assert err.value.field == "raw"
    with pytest.raises(BundleFileError, match="only an image can be raw") as err2:
        _check("definition", make_qcow2(tmp_path / "101.con"), raw=True)
    assert err2.value.field == "raw"


@needs_xorriso
def test_an_iso_9660_image_is_a_recognised_disk_image(tmp_path: Path) -> None:
    iso = make_iso(tmp_path / "v101.iso")
    assert _check("image", iso) == "iso9660"
    assert _check("image", iso, "v101.img") == "iso9660"
    with pytest.raises(DiskImageError, match="claims to be qcow2 but is a iso9660"):
        _check("image", iso, "v101.qcow2")


@needs_qemu_img
def test_a_truncated_qcow2_is_refused(tmp_path: Path) -> None:
    image = make_qcow2(tmp_path / "v101.qcow2")
    with pytest.raises(DiskImageError, match=r"truncated: its (L1|refcount) table ends"):
        _check("image", image, size=70_000)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"name: tinycore\nmemory: 512\n", None),
        (b"a\x00b", "control character"),
        (b"\xff\xfe", "not UTF-8"),
        (b"", "is empty"),
    ],
)
def test_a_vm_definition_is_short_text(tmp_path: Path, text: bytes, reason: str | None) -> None:
    path = tmp_path / "101.con"
    path.write_bytes(text)
    if reason is None:
        assert _check("definition", path) == "text"
    else:
        with pytest.raises(BundleFileError, match=reason):
            _check("definition", path)


def test_a_large_vm_definition_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "101.con"
    path.write_bytes(b"x" * 70_000)
    with pytest.raises(BundleFileError, match="at most 65536 bytes"):
        _check("definition", path)


def test_detection_reads_magic_at_the_start_and_footers_at_the_end() -> None:
    assert detect_format(b"QFI\xfb\x00\x00\x00\x03", b"") == "qcow2"
    assert detect_format(b"QFI\xfb\x00\x00\x00\x01", b"") == "qcow"
    assert detect_format(bytes(1024), b"conectix" + bytes(504)) == "VHD"
    assert detect_format(bytes(1024), b"koly" + bytes(508)) == "DMG"
    assert detect_format(bytes(1024), bytes(512)) == "raw"
    assert detect_format(bytes(32769) + b"CD001\x01", bytes(512)) == "iso9660"


@given(head=st.binary(max_size=300), size=st.integers(0, 1 << 40))
def test_arbitrary_qcow2_headers_raise_only_disk_image_errors(head: bytes, size: int) -> None:
    with contextlib.suppress(DiskImageError):  # anything else fails the test
        check_qcow2(b"QFI\xfb" + head, size)


@given(
    kind=st.sampled_from(["iso", "definition", "image", "x"]),
    head=st.binary(max_size=40_000),
    tail=st.binary(max_size=600),
    size=st.integers(0, 1 << 40),
)
def test_arbitrary_files_raise_only_validation_errors(
    kind: str, head: bytes, tail: bytes, size: int
) -> None:
    with contextlib.suppress(ValidationError):
        check_bundle_file(kind, "f.img", head, tail, size)
