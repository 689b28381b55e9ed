"""Who is logged in, and what they may do.

The browser holds one cookie, ``provisioner_console`` (path ``/ui``, HttpOnly,
SameSite=Lax, Secure over HTTPS or with ``console_https``): Flask's signed
session carrying the session id (``sid``), the CSRF token and flash messages.
The server keeps the session itself (:mod:`provisioner.accounts`): logging out
deletes it, so a copy of the old cookie logs nobody in. The signing key is made
once per data directory (``DATA_DIR/console.key``, 0600) and shared by every
worker.

Every console view needs a logged-in user unless it is marked :func:`public`;
:func:`require_role` asks for more than a viewer.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.wrappers import Response

from provisioner.config import Settings
from provisioner.domain import Role, User
from provisioner.errors import Forbidden
from provisioner.service import Service
from provisioner.web.console.blueprint import bp, nav_items
from provisioner.web.context import EXTENSION, ctx

F = TypeVar("F", bound=Callable[..., Any])
COOKIE = "provisioner_console"
_PUBLIC = "_console_public"


def _secret_key(data_dir: Path) -> bytes:
    """The cookie signing key of this data directory, made on first use (atomic:
    workers starting together all read the one that was linked first)."""
    path = data_dir / "console.key"
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes()
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".console.key.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()


class _Cookies(SecureCookieSessionInterface):
    """Flask's signed cookie, Secure when the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or ctx().settings.console_https


def init_app(app: Flask) -> None:
    settings: Settings = app.extensions[EXTENSION].settings
    app.secret_key = _secret_key(settings.data_dir)
    app.session_interface = _Cookies()
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_PATH="/ui",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )


def current_user() -> User | None:
    """The logged-in user of this request (None on public pages when nobody is)."""
    return cast(User | None, g.get("console_user"))


def acting_service() -> Service:
    """The service whose events name the logged-in user (use it for every change)."""
    user = current_user()
    return ctx().service.acting(user.name if user else None)


def client_address() -> str:
    return request.remote_addr or "-"


def public(view: F) -> F:
    """Mark a view as open to visitors who are not logged in (the login page)."""
    setattr(view, _PUBLIC, True)
    return view


def require_role(role: Role) -> Callable[[F], F]:
    """Refuse (403) users whose role does not allow ``role``'s work."""

    def wrap(view: F) -> F:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None or not user.role.allows(role):
                raise Forbidden(f"this needs the {role.value} role")
            return view(*args, **kwargs)

        return cast(F, checked)

    return wrap


def may(role: Role) -> bool:
    """For templates: whether the user may do ``role``'s work (show the button)."""
    user = current_user()
    return user is not None and user.role.allows(role)


@bp.before_request
def _load_user() -> Response | None:
    sid = session.get("sid")
    user = ctx().accounts.session_user(sid) if isinstance(sid, str) else None
    if user is None and sid is not None:
        session.pop("sid", None)  # ended, idle or unknown: forget it
    g.console_user = user
    view = current_app.view_functions.get(request.endpoint or "")
    if user is None and not getattr(view, _PUBLIC, False) and request.endpoint != "console.static":
        if request.method in ("GET", "HEAD"):
            return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
        return redirect(url_for("console.login"), code=303)
    return None


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    user = current_user()
    return {"current_user": user, "nav": nav_items(user), "may": may, "Role": Role}
