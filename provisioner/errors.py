"""The exception tree of the service, and nothing else.

Every error the domain raises is a :class:`ProvisionerError`. Each boundary maps
these to its own vocabulary and never lets anything else escape for bad input:

=====================  ===========  ==========================================
exception              HTTP status  CLI
=====================  ===========  ==========================================
ValidationError        422          message with the field named, exit 2
NotFound               404          message, exit 1
Conflict               409          message, exit 1
Unauthorized           401          (API only)
Forbidden              403          (API only)
ConfigError            (start-up)   message naming the source, exit 2
StoreError             503          message, exit 1
=====================  ===========  ==========================================

Codecs (dot-options, pxelinux, DHCP, TFTP, squashfs) raise subclasses of
:class:`ValidationError` or their own codec error; daemons translate those into
protocol errors or dropped packets.
"""

from __future__ import annotations


class ProvisionerError(Exception):
    """Base class of every error the service raises on purpose."""

    status = 500
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class ValidationError(ProvisionerError):
    """Input that cannot be accepted; ``field`` names what was wrong."""

    status = 422
    code = "invalid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.detail = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "field": self.field, "message": self.message}


class NotFound(ProvisionerError):
    status = 404
    code = "not_found"

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind = kind
        self.key = key


class Conflict(ProvisionerError):
    """The request is valid but collides with what is stored."""

    status = 409
    code = "conflict"


class Unauthorized(ProvisionerError):
    status = 401
    code = "unauthorized"


class Forbidden(ProvisionerError):
    status = 403
    code = "forbidden"


class ConfigError(ProvisionerError):
    """Bad configuration; ``source`` says where the value came from."""

    code = "config"

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class StoreError(ProvisionerError):
    """The database is unavailable or not migrated."""

    status = 503
    code = "store_unavailable"
