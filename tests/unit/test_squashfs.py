"""The squashfs superblock check, on real mksquashfs images and on broken ones."""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media.squashfs import SquashfsError, parse_superblock
from tests.support.media import make_squashfs, needs_mksquashfs


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("mksquashfs") is None:
        pytest.skip("squashfs-tools not installed")
    root = tmp_path_factory.mktemp("sqfs")
    return {comp: make_squashfs(root / f"{comp}.sqfs", comp) for comp in ("gzip", "xz", "zstd")}


def _check(data: bytes, size: int | None = None) -> object:
    return parse_superblock(data[:96], len(data) if size is None else size)


@needs_mksquashfs
@pytest.mark.parametrize("comp", ["gzip", "xz", "zstd"])
def test_real_mksquashfs_images_are_accepted(images: dict[str, Path], comp: str) -> None:
    data = images[comp].read_bytes()
    sb = parse_superblock(data[:96], len(data))
    assert sb.compressor == comp
    assert sb.block_size == 128 * 1024
    assert sb.bytes_used <= len(data)
    assert "squashfs 4.0" in sb.describe()


@needs_mksquashfs
def test_other_block_sizes_are_read_from_the_superblock(tmp_path: Path) -> None:
    data = make_squashfs(tmp_path / "a.sqfs", "gzip", block="1M").read_bytes()
    assert parse_superblock(data[:96], len(data)).block_size == 1 << 20


@needs_mksquashfs
def test_a_truncated_image_is_refused_saying_how_many_bytes_are_missing(
    images: dict[str, Path],
) -> None:
    data = images["xz"].read_bytes()
    used = struct.unpack_from("<Q", data, 40)[0]
    with pytest.raises(SquashfsError, match=rf"truncated: .* says {used} bytes .* has {used - 1}"):
        _check(data[: used - 1])
    parse_superblock(data[:96], used)  # exactly bytes_used is enough (no padding needed)


@needs_mksquashfs
@pytest.mark.parametrize(
    ("offset", "value", "reason"),
    [
        (0, b"XXXX", "is not a squashfs image"),
        (0, b"sqsh", "big-endian"),
        (28, struct.pack("<HH", 3, 1), "squashfs 3.1; only squashfs 4.0"),
        (20, struct.pack("<H", 9), "unknown compressor"),
        (12, struct.pack("<I", 3000), "bad block size"),
        (22, struct.pack("<H", 11), "bad block size"),
        (64, struct.pack("<Q", 1 << 40), "inode table starts at"),
    ],
)
def test_a_damaged_superblock_is_refused_with_the_reason(
    images: dict[str, Path], offset: int, value: bytes, reason: str
) -> None:
    data = bytearray(images["gzip"].read_bytes())
    data[offset : offset + len(value)] = value
    with pytest.raises(SquashfsError, match=reason) as err:
        _check(bytes(data))
    assert err.value.field == "file"


@pytest.mark.parametrize("size", [0, 10, 95])
def test_files_shorter_than_a_superblock_are_refused(size: int) -> None:
    with pytest.raises(SquashfsError, match="too short"):
        _check(b"hsqs" + bytes(max(0, size - 4)))


def test_random_bytes_are_refused_as_not_squashfs() -> None:
    with pytest.raises(SquashfsError, match="is not a squashfs image"):
        _check(os.urandom(4096).replace(b"hsqs", b"xxxx"))


@given(data=st.binary(min_size=0, max_size=200), size=st.integers(0, 1 << 62))
def test_arbitrary_bytes_raise_only_squashfs_errors(data: bytes, size: int) -> None:
    with contextlib.suppress(SquashfsError):  # anything else fails the test
        parse_superblock(data, size)


@given(body=st.binary(min_size=92, max_size=92), size=st.integers(0, 1 << 40))
def test_arbitrary_superblocks_with_the_right_magic_raise_only_squashfs_errors(
    body: bytes, size: int
) -> None:
    try:
        sb = parse_superblock(b"hsqs" + body, size)
    except SquashfsError:
        return
    assert sb.bytes_used <= size
