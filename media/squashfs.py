"""The squashfs 4.0 superblock: parse and check it (pure, no I/O).

A release image is a squashfs file that every box of the release copies. Before
one is catalogued, its 96-byte superblock must say it is a squashfs 4.0 image
the installer's kernel can mount, and that the file holds all the bytes the
superblock says it uses (a truncated upload is caught here, not at install time).

Layout (little-endian, ``fs/squashfs/squashfs_fs.h``)::

    0 magic "hsqs"   4 inodes   8 mkfs_time  12 block_size  16 fragments
   20 compression   22 block_log 24 flags    26 no_ids      28 major  30 minor
   32 root_inode    40 bytes_used  48 id_table  56 xattr_table  64 inode_table
   72 directory_table  80 fragment_table  88 export_table

Only :class:`SquashfsError` escapes this module.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from provisioner.errors import CodecError

SUPERBLOCK_SIZE = 96
MAGIC = b"hsqs"
_BIG_ENDIAN_MAGIC = b"sqsh"
#: "not present" marker of the optional tables
ABSENT = 0xFFFF_FFFF_FFFF_FFFF
COMPRESSORS = {1: "gzip", 2: "lzma", 3: "lzo", 4: "xz", 5: "lz4", 6: "zstd"}
MIN_BLOCK_LOG, MAX_BLOCK_LOG = 12, 20  # 4 KiB .. 1 MiB

_LAYOUT = struct.Struct("<4sIIIIHHHHHHQQQQQQQQ")
assert _LAYOUT.size == SUPERBLOCK_SIZE


class SquashfsError(CodecError):
    """Not a squashfs 4.0 image we can install; the message says why and
    ``offset`` which superblock field is wrong."""


@dataclass(frozen=True, slots=True)
class Superblock:
    inodes: int
    mkfs_time: int
    block_size: int
    compressor: str
    flags: int
    bytes_used: int
    inode_table: int
    directory_table: int

    def describe(self) -> str:
        return (
            f"squashfs 4.0, {self.compressor}, {self.block_size // 1024} KiB blocks, "
            f"{self.inodes} inodes, {self.bytes_used} bytes used"
        )


def parse_superblock(head: bytes, file_size: int, field: str = "file") -> Superblock:
    """Check the first bytes of a file of ``file_size`` bytes.

    ``head`` needs at least the first 96 bytes. Raises :class:`SquashfsError`
    naming ``field`` and what is wrong.
    """
    if file_size < SUPERBLOCK_SIZE or len(head) < SUPERBLOCK_SIZE:
        raise SquashfsError(
            field,
            f"is {file_size} bytes, too short for a squashfs superblock (96 bytes)",
            min(file_size, len(head)),
        )
    (
        magic,
        inodes,
        mkfs_time,
        block_size,
        _fragments,
        compression,
        block_log,
        flags,
        _no_ids,
        major,
        minor,
        _root_inode,
        bytes_used,
        id_table,
        xattr_table,
        inode_table,
        directory_table,
        fragment_table,
        export_table,
    ) = _LAYOUT.unpack_from(head)
    if magic != MAGIC:
        if magic == _BIG_ENDIAN_MAGIC:
            raise SquashfsError(field, "is a big-endian squashfs (before 4.0); rebuild it", 0)
        raise SquashfsError(
            field, f"is not a squashfs image (magic {magic!r}, expected {MAGIC!r})", 0
        )
    if (major, minor) != (4, 0):
        raise SquashfsError(
            field, f"is squashfs {major}.{minor}; only squashfs 4.0 can be installed", 28
        )
    if compression not in COMPRESSORS:
        raise SquashfsError(field, f"uses an unknown compressor (id {compression})", 20)
    if not MIN_BLOCK_LOG <= block_log <= MAX_BLOCK_LOG or block_size != 1 << block_log:
        raise SquashfsError(
            field,
            f"has a bad block size {block_size} (block_log {block_log}); "
            "it must be a power of two from 4 KiB to 1 MiB",
            12 if MIN_BLOCK_LOG <= block_log <= MAX_BLOCK_LOG else 22,
        )
    if bytes_used < SUPERBLOCK_SIZE:
        raise SquashfsError(field, f"says it uses only {bytes_used} bytes", 40)
    if bytes_used > file_size:
        raise SquashfsError(
            field,
            f"is truncated: the superblock says {bytes_used} bytes are used, "
            f"the file has {file_size}",
            40,
        )
    required = {  # name: (start, where the superblock says it)
        "inode table": (inode_table, 64),
        "directory table": (directory_table, 72),
        "id table": (id_table, 48),
    }
    optional = {
        "xattr table": (xattr_table, 56),
        "fragment table": (fragment_table, 80),
        "export table": (export_table, 88),
    }
    for name, (start, at) in [*required.items(), *optional.items()]:
        if name in optional and start == ABSENT:
            continue
        if not SUPERBLOCK_SIZE <= start < bytes_used:
            raise SquashfsError(
                field, f"is corrupt: its {name} starts at {start}, outside the image", at
            )
    if not inode_table < directory_table:
        raise SquashfsError(field, "is corrupt: the directory table starts before the inodes", 72)
    return Superblock(
        inodes=inodes,
        mkfs_time=mkfs_time,
        block_size=block_size,
        compressor=COMPRESSORS[compression],
        flags=flags,
        bytes_used=bytes_used,
        inode_table=inode_table,
        directory_table=directory_table,
    )
