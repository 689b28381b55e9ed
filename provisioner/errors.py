"""The exception tree of the service, and nothing else.

Every error the domain raises is a :class:`ProvisionerError`: a message and a
stable machine-readable ``code``. The exceptions know nothing of HTTP or exit
codes; each boundary maps them to its own vocabulary (the most specific class
wins) and never lets anything else escape for bad input:

=====================  ===========  ==========================================
exception              HTTP status  CLI
=====================  ===========  ==========================================
ValidationError        422          message with the field named, exit 2
  CodecError           422          message with the field named, exit 2
  PreflightError       422          every problem, the field named, exit 2
    PreflightConflict  409          every problem, the field named, exit 2
NotFound               404          message, exit 1
Conflict               409          message, exit 1
  OutOfOrder           409          (agent reports) the step named
  Contradiction        409          (installed-system reports) the field named
Unauthorized           401          (API only)
Forbidden              403          (API only)
ConfigError            500          message naming the source, exit 2
StoreError             503          message, exit 1
=====================  ===========  ==========================================

The HTTP column is the table ``STATUS`` in :mod:`provisioner.web.errors` (it
also maps the upload errors of :mod:`media.errors`); the CLI column is
:func:`provisioner.cli._fail`.

Codecs (DHCP, TFTP, squashfs, qcow2/ISO, cpio, GPT, DNS wire, dot-options)
raise subclasses of :class:`CodecError`, which carries the byte ``offset`` where
decoding failed when the decoder knows it. Daemons translate it at their
boundary: TFTP answers an error packet, DHCP drops the packet with a log line
naming the offset, DNS answers FORMERR; over HTTP it is a 422.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class ProvisionerError(Exception):
    """Base class of every error the service raises on purpose."""

    code = "error"
    #: the input field the error is about, when it is about one
    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        """With ``field``, the message starts with it and the JSON names it."""
        message = f"{field}: {message}" if field else message
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str | int]:
        body: dict[str, str | int] = {"code": self.code, "message": self.message}
        return body if self.field is None else {**body, "field": self.field}


class ValidationError(ProvisionerError):
    """Input that cannot be accepted; ``field`` names what was wrong."""

    code = "invalid"
    field: str

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)
        self.detail = message

    def to_dict(self) -> dict[str, str | int]:
        return {"code": self.code, "field": self.field, "message": self.message}


class CodecError(ValidationError):
    """Bytes a codec cannot decode (or values it cannot encode).

    ``offset`` is the position in the input where decoding failed, when the
    decoder knows it; the message then ends with ``(byte N)``.
    """

    def __init__(self, field: str, message: str, offset: int | None = None) -> None:
        super().__init__(field, message if offset is None else f"{message} (byte {offset})")
        self.offset = offset

    def to_dict(self) -> dict[str, str | int]:
        body = super().to_dict()
        if self.offset is not None:
            body["offset"] = self.offset
        return body


class PreflightError(ValidationError):
    """The preflight check refuses a change (docs/preflight.md): ``field`` and the
    message are the first error's; ``problems`` lists every problem found, errors
    first, as JSON-ready dicts (severity, code, field, message, fix)."""

    code = "preflight"

    def __init__(
        self, field: str, message: str, problems: Sequence[Mapping[str, str]] = ()
    ) -> None:
        super().__init__(field, message)
        self.problems = tuple(problems)


class PreflightConflict(PreflightError):
    """A preflight error that collides with another node (the same IP address)."""


class NotFound(ProvisionerError):
    code = "not_found"

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind = kind
        self.key = key


class Conflict(ProvisionerError):
    """The request is valid but collides with what is stored."""

    code = "conflict"


class OutOfOrder(Conflict):
    """A step reported before the steps it needs (an agent's ``done`` before its
    image was written and verified); ``field`` names what was out of order."""

    code = "out_of_order"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)


class Contradiction(Conflict):
    """A report that contradicts the record (an installed system claiming a slot
    holds a release the node's record does not put there); ``field=`` names it."""

    code = "contradiction"


class Unauthorized(ProvisionerError):
    code = "unauthorized"


class TooManyAttempts(Unauthorized):
    """Too many failed logins from one address for one user name: wait and retry."""

    code = "too_many_attempts"


class Forbidden(ProvisionerError):
    code = "forbidden"


class ConfigError(ProvisionerError):
    """Bad configuration; ``source`` says where the value came from."""

    code = "config"

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class StoreError(ProvisionerError):
    """The database is unavailable or not migrated."""

    code = "store_unavailable"
