"""Boundary: exceptions -> JSON error responses. Bad input is never a 500.

:data:`STATUS` is the one table that gives each exception of the tree
(:mod:`provisioner.errors`) its HTTP status; the exceptions themselves know
nothing of HTTP. The most specific class wins (the first class of the
exception's MRO that the table names). A :class:`ProvisionerError` the table
does not cover is a bug: it answers 500 and is logged (a test walks every
subclass so that none is left out).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from media.client import UploadFailed
from media.errors import (
    IncompleteBody,
    InsufficientStorage,
    LengthRequired,
    OffsetMismatch,
    TooLarge,
)
from media.initrd import BuildError
from provisioner.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    NotFound,
    PreflightConflict,
    PreflightError,
    ProvisionerError,
    StoreError,
    TooManyAttempts,
    Unauthorized,
    ValidationError,
)

log = logging.getLogger(__name__)

#: exception class -> HTTP status; the most specific class of an exception wins
STATUS: Mapping[type[ProvisionerError], int] = {
    ValidationError: 422,  # CodecError, ChecksumMismatch and the format errors too
    NotFound: 404,
    Conflict: 409,  # UploadBusy too
    PreflightConflict: 409,  # the same IP as another node (a PreflightError: 422)
    Unauthorized: 401,
    TooManyAttempts: 429,  # console logins (provisioner.accounts)
    Forbidden: 403,
    StoreError: 503,
    # uploads (media/errors.py)
    IncompleteBody: 400,
    LengthRequired: 411,
    TooLarge: 413,
    InsufficientStorage: 507,
    OffsetMismatch: 409,
    # the server's own fault, never the client's input
    ConfigError: 500,
    BuildError: 500,  # building the installer's boot environment
    UploadFailed: 502,  # the upload client's error: another server refused
}


def status_for(exc_type: type[ProvisionerError]) -> int | None:
    """The HTTP status of an exception class (None: the table misses it, a bug)."""
    return next((STATUS[c] for c in exc_type.__mro__ if c in STATUS), None)


def error_response(
    status: int, body: Mapping[str, str | int], extra: Mapping[str, object] | None = None
) -> Response:
    resp = jsonify({"error": body, **(extra or {})})
    resp.status_code = status
    return resp


def domain_error_response(exc: ProvisionerError) -> Response:
    """The JSON error for ``exc``, with the status :data:`STATUS` gives it."""
    status = status_for(type(exc))
    if status is None:
        log.error("%s has no HTTP status in web/errors.py STATUS; answering 500", type(exc))
        status = 500
    # a refused change lists every problem beside "error", as the import report does
    extra = {"problems": list(exc.problems)} if isinstance(exc, PreflightError) else {}
    resp = error_response(status, exc.to_dict(), extra)
    if isinstance(exc, Unauthorized):
        resp.headers["WWW-Authenticate"] = 'Bearer realm="provisioner"'
    return resp


def register(app: Flask) -> None:
    app.register_error_handler(ProvisionerError, domain_error_response)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        resp = error_response(exc.code or 500, {"code": code, "message": exc.description or ""})
        for key, value in exc.get_headers():
            if key.lower() not in {"content-type", "content-length"}:
                resp.headers[key] = value
        return resp

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, {"code": "internal", "message": "internal error (see the log)"})
