"""The exception tree and its HTTP edge: every error of the code base has a status
in web/errors.py STATUS (none silently becomes a 500), the most specific class
wins, and the exceptions themselves carry no HTTP status."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import media
import provisioner
import pxelinux
import tftp
from media.client import UploadFailed
from media.errors import (
    ChecksumMismatch,
    IncompleteBody,
    InsufficientStorage,
    LengthRequired,
    OffsetMismatch,
    TooLarge,
    UploadBusy,
)
from media.squashfs import SquashfsError
from provisioner.dhcp.options import DhcpPacketError
from provisioner.errors import (
    CodecError,
    ConfigError,
    Conflict,
    Forbidden,
    NotFound,
    ProvisionerError,
    StoreError,
    Unauthorized,
    ValidationError,
)
from provisioner.web.errors import STATUS, status_for
from tftp.packet import PacketError


def _all_subclasses(cls: type[ProvisionerError]) -> set[type[ProvisionerError]]:
    found: set[type[ProvisionerError]] = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _all_subclasses(sub)
    return found


@pytest.fixture(scope="module")
def every_error() -> set[type[ProvisionerError]]:
    """Every ProvisionerError subclass of the code base, after importing every module."""
    for package in (provisioner, media, tftp, pxelinux):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    ours = ("provisioner.", "media.", "tftp.", "pxelinux.")
    return {c for c in _all_subclasses(ProvisionerError) if c.__module__.startswith(ours)}


def test_every_error_of_the_code_base_has_an_http_status(
    every_error: set[type[ProvisionerError]],
) -> None:
    assert len(every_error) >= 25  # the walk found the tree, not just the kernel
    missing = sorted(c.__qualname__ for c in every_error if status_for(c) is None)
    assert missing == [], f"add these to provisioner/web/errors.py STATUS: {missing}"


def test_no_exception_carries_an_http_status_of_its_own(
    every_error: set[type[ProvisionerError]],
) -> None:
    assert not hasattr(ProvisionerError, "status")
    assert [c.__qualname__ for c in every_error if hasattr(c, "status")] == []


def test_the_base_class_alone_has_no_status_so_a_new_error_is_caught() -> None:
    class NewError(ProvisionerError):
        pass

    assert ProvisionerError not in STATUS
    assert status_for(NewError) is None


@pytest.mark.parametrize(
    ("exc_type", "status"),
    [
        (ValidationError, 422),
        (CodecError, 422),
        (SquashfsError, 422),
        (DhcpPacketError, 422),
        (PacketError, 422),
        (ChecksumMismatch, 422),
        (NotFound, 404),
        (Conflict, 409),
        (UploadBusy, 409),
        (OffsetMismatch, 409),
        (Unauthorized, 401),
        (Forbidden, 403),
        (StoreError, 503),
        (IncompleteBody, 400),
        (LengthRequired, 411),
        (TooLarge, 413),
        (InsufficientStorage, 507),
        (ConfigError, 500),
        (UploadFailed, 502),
    ],
)
def test_the_most_specific_class_gives_the_status(
    exc_type: type[ProvisionerError], status: int
) -> None:
    assert status_for(exc_type) == status


def test_a_codec_error_is_a_validation_error_with_its_offset_in_the_body() -> None:
    err = CodecError("dhcp", "option 61 is cut short", 243)
    assert isinstance(err, ValidationError)
    assert err.message == "dhcp: option 61 is cut short (byte 243)"
    assert err.to_dict() == {
        "code": "invalid",
        "field": "dhcp",
        "message": "dhcp: option 61 is cut short (byte 243)",
        "offset": 243,
    }
    assert "offset" not in CodecError("file", "is odd").to_dict()
