"""The three files of an instance bundle, checked for what they claim to be
(pure, no I/O).

An instance bundle is the paper's ``copyiso.X copydef.Y copyimg.Z``: an ISO
image, a VM definition and a disk image that the installer copies onto the box.
Each kind is checked from the first :data:`HEAD_BYTES` and last
:data:`TAIL_BYTES` of the uploaded file:

* ``iso`` -- an ISO 9660 image whose primary volume descriptor fits the file;
* ``definition`` -- a short UTF-8 text file (no NUL or control characters);
* ``image`` -- a recognised disk image: a safe qcow2 (see :mod:`media.diskimage`)
  or an ISO 9660 image; raw only when declared (``raw=True``: a file with no
  signature could be anything, a text file or a truncated download); matching
  what its file name claims (``.qcow2`` must be qcow2, ``.raw`` must be raw).

:func:`check_bundle_file` returns the format recorded with the file; only
:class:`BundleFileError` (and :class:`~media.diskimage.DiskImageError`) escape.
"""

from __future__ import annotations

import struct

from media.diskimage import HEAD_BYTES, TAIL_BYTES, DiskImageError, check_qcow2, detect_format
from provisioner.domain import BUNDLE_KINDS as KINDS
from provisioner.errors import CodecError

__all__ = ["HEAD_BYTES", "KINDS", "TAIL_BYTES", "BundleFileError", "check_bundle_file"]

DEFINITION_MAX = 64 * 1024
ISO_SECTOR = 2048
_FIRST_DESCRIPTOR = 16 * ISO_SECTOR
_MAX_DESCRIPTORS = 32
#: file name suffix -> disk image formats it may hold
_IMAGE_CLAIMS = {
    ".qcow2": ("qcow2",),
    ".qcow": ("qcow2",),
    ".raw": ("raw",),
    ".iso": ("iso9660",),
}
#: what the image kind accepts (raw only when declared)
IMAGE_FORMATS = ("qcow2", "iso9660", "raw")


class BundleFileError(CodecError):
    """A bundle file that is not what it claims to be; the message says why."""


def check_bundle_file(
    kind: str, filename: str, head: bytes, tail: bytes, size: int, *, raw: bool = False
) -> str:
    """Check one uploaded file; return its format (``iso9660``, ``text``,
    ``raw``, ``qcow2``). ``field`` in errors is the bundle field (``iso``, ...).
    ``raw``: the uploader declares a raw disk image (``image`` only)."""
    if raw and kind != "image":
        raise BundleFileError("raw", f"only an image can be raw, not the {kind}")
    if kind not in KINDS:
        raise BundleFileError("kind", f"{kind!r} is not one of: {', '.join(KINDS)}")
    if size == 0:
        raise BundleFileError(kind, f"{filename!r} is empty")
    if kind == "iso":
        check_iso(head, size, kind)
        return "iso9660"
    if kind == "definition":
        check_definition(head, size, kind)
        return "text"
    return check_disk_image(filename, head, tail, size, kind, raw=raw)


def check_iso(head: bytes, size: int, field: str = "iso") -> None:
    """An ISO 9660 image: a volume descriptor set with a primary volume
    descriptor, whose volume size fits in the file."""
    if size < _FIRST_DESCRIPTOR + ISO_SECTOR or len(head) < _FIRST_DESCRIPTOR + ISO_SECTOR:
        raise BundleFileError(field, f"is {size} bytes, too short for an ISO 9660 image")
    if head[_FIRST_DESCRIPTOR + 1 : _FIRST_DESCRIPTOR + 6] in (b"BEA01", b"NSR02", b"NSR03"):
        raise BundleFileError(field, "is a UDF-only image; an ISO 9660 image is needed")
    primary = None
    for i in range(_MAX_DESCRIPTORS):
        at = _FIRST_DESCRIPTOR + i * ISO_SECTOR
        if at + ISO_SECTOR > len(head):
            break
        kind, ident, version = head[at], head[at + 1 : at + 6], head[at + 6]
        if ident != b"CD001" or version != 1:
            if i == 0:
                raise BundleFileError(
                    field, "is not an ISO 9660 image (no CD001 at sector 16)", at + 1
                )
            raise BundleFileError(field, f"has a broken volume descriptor at sector {16 + i}", at)
        if kind == 1 and primary is None:
            primary = at
        if kind == 255:
            break
    if primary is None:
        raise BundleFileError(field, "has no ISO 9660 primary volume descriptor")
    blocks_le, blocks_be = (
        struct.unpack_from("<I", head, primary + 80)[0],
        struct.unpack_from(">I", head, primary + 84)[0],
    )
    block_le, block_be = (
        struct.unpack_from("<H", head, primary + 128)[0],
        struct.unpack_from(">H", head, primary + 130)[0],
    )
    if blocks_le != blocks_be or block_le != block_be or block_le not in (512, 1024, 2048):
        raise BundleFileError(field, "has a corrupt ISO 9660 primary volume descriptor")
    if blocks_le * block_le > size:
        raise BundleFileError(
            field,
            f"is truncated: the volume has {blocks_le * block_le} bytes, the file {size}",
        )


def check_definition(head: bytes, size: int, field: str = "definition") -> None:
    """A VM definition: UTF-8 text of at most 64 KiB, lines of printable text."""
    if size > DEFINITION_MAX:
        raise BundleFileError(
            field, f"is {size} bytes; a VM definition is text of at most {DEFINITION_MAX} bytes"
        )
    if len(head) < size:
        raise BundleFileError(field, "was not read completely")
    try:
        text = head[:size].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleFileError(
            field, f"is not UTF-8 text (byte {exc.start}); a VM definition is text"
        ) from None
    for lineno, line in enumerate(text.splitlines(), 1):
        for ch in line:
            if (ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F:
                raise BundleFileError(
                    field, f"line {lineno} contains a control character (0x{ord(ch):02x})"
                )


def check_disk_image(
    filename: str, head: bytes, tail: bytes, size: int, field: str = "image", *, raw: bool = False
) -> str:
    """A recognised disk image (qcow2, ISO 9660), or raw when declared (``raw``);
    and what its name says it is."""
    found = detect_format(head, tail)
    if found == "qcow":
        raise DiskImageError(field, "is a qcow version 1 image; convert it to qcow2")
    if found not in IMAGE_FORMATS:
        raise DiskImageError(
            field,
            f"is a {found} image; only qcow2, ISO 9660 and raw disk images are accepted "
            "(convert: qemu-img convert -O qcow2 IN OUT)",
        )
    if found == "raw" and not raw:
        raise DiskImageError(
            field,
            f"{filename!r} is not a recognised disk image (no qcow2 or ISO 9660 signature); "
            "a raw disk image is accepted only when declared raw "
            '(bundle upload --raw, or "raw": true in the API)',
        )
    if raw and found != "raw":
        raise DiskImageError("raw", f"{filename!r} was declared raw but is a {found} image")
    suffix = filename[filename.rfind(".") :].lower() if "." in filename else ""
    allowed = _IMAGE_CLAIMS.get(suffix, IMAGE_FORMATS)
    if found not in allowed:
        raise DiskImageError(
            field, f"{filename!r} claims to be {' or '.join(allowed)} but is a {found} image"
        )
    if found == "qcow2":
        check_qcow2(head, size, field)
    elif found == "iso9660":
        check_iso(head, size, field)
    return found
