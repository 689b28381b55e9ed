"""Disk images of instance bundles (``copyimg.``): what a file is, and whether a
qcow2 is safe to hand out (pure, no I/O).

The danger is a classic one: a qcow2 (or VMDK, VHD, ...) can name *another
file* -- a backing file or an external data file -- that whoever opens it
reads as if it were part of the disk. An uploaded image naming
``/etc/shadow`` as its backing file leaks that file into the VM it is copied
to. So only these are accepted: qcow2 without a backing file, without an
external data file and without encryption; an ISO 9660 image; and raw, but
only when the uploader declares it (a file with no signature at all could be
anything). Everything else that qemu would recognise by its magic is
refused, naming the format.

Only :class:`DiskImageError` escapes this module.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from provisioner.errors import CodecError

QCOW_MAGIC = b"QFI\xfb"
#: an ISO 9660 image's first volume descriptor (sector 16) starts 0x01 'CD001'
ISO_MAGIC, ISO_MAGIC_AT = b"CD001", 16 * 2048 + 1
#: How much of the file's start and end :func:`detect_format` and
#: :func:`check_qcow2` look at.
HEAD_BYTES = 128 * 1024
TAIL_BYTES = 512

_V2_HEADER = struct.Struct(">4sIQIIQIIQQIIQ")  # through snapshots_offset: 72 bytes
_V3_FIELDS = struct.Struct(">QQQII")  # incompatible .. header_length: 32 bytes
_EXT = struct.Struct(">II")

EXT_END = 0x00000000
EXT_BACKING_FORMAT = 0xE2792ACA
EXT_DATA_FILE = 0x44415441
INCOMPAT_DIRTY, INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE = 1 << 0, 1 << 1, 1 << 2
INCOMPAT_KNOWN = (1 << 5) - 1  # dirty, corrupt, data file, compression type, extended L2

#: (offset, magic, name) of formats qemu probes by content; none is accepted.
_REFUSED_MAGICS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"KDMV", "VMDK"),
    (0, b"COWD", "VMDK (version 3)"),
    (0, b"# Disk DescriptorFile", "VMDK descriptor"),
    (0, b"vhdxfile", "VHDX"),
    (0, b"conectix", "VHD"),
    (0, b"QED\x00", "QED"),
    (0, b"WithoutFreeSpace", "Parallels"),
    (0, b"WithouFreSpacExt", "Parallels"),
    (0, b"LUKS\xba\xbe", "LUKS"),
    (0, b"Bochs Virtual HD Image", "Bochs"),
    (0, b"#!/bin/sh\n#V2.0 Format\n", "cloop"),
    (0x40, struct.pack("<I", 0xBEDA107F), "VDI"),
)
_REFUSED_TAILS: tuple[tuple[bytes, str], ...] = ((b"conectix", "VHD"), (b"koly", "DMG"))


class DiskImageError(CodecError):
    """A disk image we will not hand out; the message says why."""


@dataclass(frozen=True, slots=True)
class Qcow2Info:
    version: int
    cluster_size: int
    virtual_size: int


def detect_format(head: bytes, tail: bytes) -> str:
    """``"qcow2"``, ``"qcow"`` (version 1), ``"iso9660"``, the name of another
    container format qemu would recognise (VMDK, VHD, VDI, ...), or ``"raw"``:
    no signature at all (any bytes are a raw disk image)."""
    if head.startswith(QCOW_MAGIC):
        version = struct.unpack_from(">I", head, 4)[0] if len(head) >= 8 else 0
        return "qcow" if version == 1 else "qcow2"
    for offset, magic, name in _REFUSED_MAGICS:
        if head[offset : offset + len(magic)] == magic:
            return name
    for magic, name in _REFUSED_TAILS:
        if len(tail) >= 512 and tail[-512:].startswith(magic):
            return name
    if head[ISO_MAGIC_AT : ISO_MAGIC_AT + len(ISO_MAGIC)] == ISO_MAGIC:
        return "iso9660"
    return "raw"


def check_qcow2(head: bytes, file_size: int, field: str = "file") -> Qcow2Info:
    """Parse a qcow2 header and refuse anything that reaches outside the file.

    ``head`` is the start of the file (:data:`HEAD_BYTES` suffice for every
    image qemu-img writes).
    """
    if len(head) < _V2_HEADER.size:
        raise DiskImageError(field, "is too short for a qcow2 header")
    (
        magic,
        version,
        backing_offset,
        backing_size,
        cluster_bits,
        virtual_size,
        crypt_method,
        l1_size,
        l1_offset,
        refcount_offset,
        refcount_clusters,
        _nb_snapshots,
        _snapshots_offset,
    ) = _V2_HEADER.unpack_from(head)
    if magic != QCOW_MAGIC:
        raise DiskImageError(field, "is not a qcow2 image", 0)
    if version not in (2, 3):
        raise DiskImageError(
            field, f"is qcow version {version}; only qcow2 (2 or 3) is accepted", 4
        )
    if backing_offset:
        name = _text(head, backing_offset, min(backing_size, 1023))
        raise DiskImageError(
            field,
            f"is a qcow2 with a backing file ({name}); whoever opens it would read that "
            "file too. Flatten it first: qemu-img convert -O qcow2 IN OUT",
        )
    if not 9 <= cluster_bits <= 21:
        raise DiskImageError(field, f"has a bad cluster size (2^{cluster_bits})", 20)
    cluster_size = 1 << cluster_bits
    if crypt_method:
        raise DiskImageError(field, "is an encrypted qcow2; the installer has no key for it")
    header_length = 72
    if version == 3:
        if len(head) < _V2_HEADER.size + _V3_FIELDS.size:
            raise DiskImageError(field, "is too short for a qcow2 version 3 header")
        incompatible, _compatible, _autoclear, _refcount_order, header_length = (
            _V3_FIELDS.unpack_from(head, _V2_HEADER.size)
        )
        if incompatible & INCOMPAT_DATA_FILE:
            raise DiskImageError(
                field,
                "is a qcow2 with an external data file; its data lives in another file "
                "that whoever opens it would read. Convert it: qemu-img convert -O qcow2 IN OUT",
            )
        if incompatible & INCOMPAT_CORRUPT:
            raise DiskImageError(field, "is a qcow2 marked corrupt; repair it: qemu-img check -r")
        if incompatible & ~INCOMPAT_KNOWN:
            raise DiskImageError(
                field, f"uses unknown incompatible qcow2 features (0x{incompatible:x})"
            )
        if header_length < 104 or header_length % 8:
            raise DiskImageError(field, f"has a bad qcow2 header length ({header_length})")
    _check_extensions(head, header_length, cluster_size, field)
    for what, start, length in (
        ("L1 table", l1_offset, l1_size * 8),
        ("refcount table", refcount_offset, refcount_clusters * cluster_size),
    ):
        if start + length > file_size:
            raise DiskImageError(
                field,
                f"is truncated: its {what} ends at byte {start + length}, the file has {file_size}",
            )
    return Qcow2Info(version=version, cluster_size=cluster_size, virtual_size=virtual_size)


def _check_extensions(head: bytes, offset: int, cluster_size: int, field: str) -> None:
    """Walk the header extensions; an external data file name is refused."""
    end = min(cluster_size, len(head))
    for _ in range(1024):
        if offset + _EXT.size > end:
            raise DiskImageError(field, "has qcow2 header extensions that run past the header")
        kind, length = _EXT.unpack_from(head, offset)
        if kind == EXT_END:
            return
        data_at = offset + _EXT.size
        if data_at + length > end:
            raise DiskImageError(field, "has a qcow2 header extension that runs past the header")
        if kind == EXT_DATA_FILE:
            name = _text(head, data_at, length)
            raise DiskImageError(
                field,
                f"is a qcow2 naming an external data file ({name}); whoever opens it "
                "would read that file",
            )
        offset = data_at + (length + 7) // 8 * 8
    raise DiskImageError(field, "has too many qcow2 header extensions")


def _text(data: bytes, start: int, length: int) -> str:
    raw = data[start : start + length]
    if not raw or start + length > len(data):
        return "name not readable"
    return repr(raw.decode("utf-8", errors="replace"))
