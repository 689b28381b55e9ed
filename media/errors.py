"""Upload errors: each names its cause; the HTTP edge gives each its own status
(the table ``STATUS`` in :mod:`provisioner.web.errors`).

=======================  ======  ===============================================
exception                status  when
=======================  ======  ===============================================
TooLarge                 413     larger than ``upload_max_bytes`` or the declared size
InsufficientStorage      507     not enough free disk in the data directory, or disk full
OffsetMismatch           409     a chunk does not start where the upload stands
UploadBusy               409     another request is writing the same upload
MediaBusy                409     another change holds the release or bundle too long
IncompleteBody           400     the client sent fewer bytes than it announced
ChecksumMismatch         422     the bytes do not have the declared sha256
LengthRequired           411     neither Content-Length nor chunked encoding
=======================  ======  ===============================================

Format errors (squashfs, ISO, qcow2, ...) are ``ValidationError`` subclasses of
their own pure modules (``CodecError``, 422).
"""

from __future__ import annotations

from provisioner.errors import Conflict, ProvisionerError, ValidationError


class TooLarge(ProvisionerError):
    code = "too_large"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)


class InsufficientStorage(ProvisionerError):
    code = "insufficient_storage"


class OffsetMismatch(Conflict):
    """The chunk starts elsewhere than the upload's current offset."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class UploadBusy(Conflict):
    pass


class MediaBusy(Conflict):
    """A release or bundle stayed locked by another change for the whole wait."""


class IncompleteBody(ProvisionerError):
    code = "incomplete_body"

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class ChecksumMismatch(ValidationError):
    def __init__(self, declared: str, actual: str) -> None:
        super().__init__(
            "sha256",
            f"the upload's sha256 is {actual}, not the declared {declared}; nothing was stored",
        )


class LengthRequired(ProvisionerError):
    """An upload with neither a Content-Length nor chunked encoding."""

    code = "length_required"
