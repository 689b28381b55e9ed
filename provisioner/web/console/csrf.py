"""CSRF: every POST, PUT, PATCH and DELETE to the console carries the token of
the browser's session, as the form field ``csrf_token`` or the header
``X-CSRF-Token`` (scripts); without it the request is refused (400) before any
view runs. The token lives in the signed session cookie (a forger can neither
read nor make it) and is new at each login. SameSite=Lax is a second fence."""

from __future__ import annotations

import hmac
import secrets

from flask import render_template, request, session
from markupsafe import Markup

from provisioner.web.console.blueprint import bp

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    """This browser session's token (made when a page first needs one)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def new_token() -> None:
    """A login starts a new session: a new token with it."""
    session["csrf"] = secrets.token_urlsafe(32)


def csrf_field() -> Markup:
    """The hidden input every form carries: ``{{ csrf_field() }}``."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, csrf_token())


@bp.before_request
def _check() -> tuple[str, int] | None:
    if request.method in SAFE_METHODS:
        return None
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    expected = session.get("csrf")
    if isinstance(expected, str) and hmac.compare_digest(sent.encode(), expected.encode()):
        return None
    page = render_template(
        "console/error.html",
        status=400,
        message="The form was refused: its security token is missing or out of date "
        "(CSRF). Reload the page and try again.",
    )
    return page, 400


@bp.context_processor
def _helpers() -> dict[str, object]:
    return {"csrf_field": csrf_field, "csrf_token": csrf_token}
