"""Bearer tokens for /api/v1: reads need any role, writes need ``admin``."""

from __future__ import annotations

from flask import g, request

from provisioner.domain import Role
from provisioner.errors import Forbidden, Unauthorized
from provisioner.web.context import ctx

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def require_token() -> None:
    """``before_request`` of every API blueprint."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    token = ctx().service.authenticate(secret.strip())
    if token is None:
        raise Unauthorized("invalid or revoked token")
    if request.method not in READ_METHODS and token.role is not Role.ADMIN:
        raise Forbidden(f"token {token.name!r} has role {token.role.value}; writing needs admin")
    g.token = token
