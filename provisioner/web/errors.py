"""Boundary: exceptions -> JSON error responses. Bad input is never a 500."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from provisioner.errors import ProvisionerError, Unauthorized

log = logging.getLogger(__name__)


def error_response(status: int, body: dict[str, str]) -> Response:
    resp = jsonify({"error": body})
    resp.status_code = status
    return resp


def register(app: Flask) -> None:
    @app.errorhandler(ProvisionerError)
    def _domain(exc: ProvisionerError) -> Response:
        resp = error_response(exc.status, exc.to_dict())
        if isinstance(exc, Unauthorized):
            resp.headers["WWW-Authenticate"] = 'Bearer realm="provisioner"'
        return resp

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
