"""``/ui/login`` and ``/ui/logout``."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from provisioner.errors import TooManyAttempts, Unauthorized
from provisioner.web.console import csrf
from provisioner.web.console.auth import client_address, current_user, public
from provisioner.web.console.blueprint import bp
from provisioner.web.console.forms import FormErrors
from provisioner.web.context import ctx


def _next_url(raw: str | None) -> str:
    """Where to go after logging in: a path of this console only (no open redirect)."""
    parts = urlsplit(raw or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/ui/") or "\\" in (raw or ""):
        return url_for("console.rack")
    return parts.path + (f"?{parts.query}" if parts.query else "")


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Response | tuple[str, int] | str:
    errors = FormErrors()
    name = request.form.get("name", "").strip()
    if request.method == "POST":
        try:
            done = ctx().accounts.login(name, request.form.get("password", ""), client_address())
        except TooManyAttempts as exc:
            errors.add("", exc.message)
            return render_template("console/login.html", errors=errors, name=name), 429
        except Unauthorized as exc:
            errors.add("", exc.message)
            return render_template("console/login.html", errors=errors, name=name), 401
        session.clear()  # a new session: new id, new CSRF token, nothing carried over
        session["sid"] = done.session_id
        csrf.new_token()
        return redirect(_next_url(request.args.get("next")), code=303)
    if current_user() is not None:
        return redirect(url_for("console.rack"))
    return render_template("console/login.html", errors=errors, name=name)


@bp.post("/logout")
def logout() -> Response:
    sid = session.get("sid")
    if isinstance(sid, str):
        ctx().accounts.logout(sid, current_user())
    session.clear()
    flash("You are logged out.", "ok")
    return redirect(url_for("console.login"), code=303)
