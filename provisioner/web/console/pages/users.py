"""``/ui/users`` (admins): console accounts: add with a role, change the role,
set a new password, remove. The last admin can be neither removed nor demoted
(:class:`provisioner.accounts.Accounts`). Each change is an event naming the admin."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from provisioner.domain import Role, parse_enum
from provisioner.errors import ProvisionerError
from provisioner.web.console.auth import current_user, require_role
from provisioner.web.console.blueprint import bp
from provisioner.web.console.forms import FormErrors
from provisioner.web.context import ctx


def _actor() -> str | None:
    user = current_user()
    return user.name if user else None


def _page(status: int = 200, **values: Any) -> tuple[str, int]:
    values.setdefault("errors", FormErrors())
    values.setdefault("values", {})
    users = ctx().store.list_users()
    roles = [r.value for r in Role]
    return render_template("console/users.html", users=users, roles=roles, **values), status


@bp.get("/users")
@require_role(Role.ADMIN)
def users() -> tuple[str, int]:
    return _page()


@bp.post("/users")
@require_role(Role.ADMIN)
def user_new() -> Response | tuple[str, int]:
    values = {k: request.form.get(k, "").strip() for k in ("name", "role")}
    errors = FormErrors()
    try:
        role = parse_enum(Role, values["role"], "role")
        ctx().accounts.add_user(values["name"], role, request.form.get("password", ""), _actor())
    except ProvisionerError as exc:
        errors.take(exc)
        return _page(422, errors=errors, values=values)
    flash(f"User {values['name']} added ({role.value}).", "ok")
    return redirect(url_for("console.users"), code=303)


@bp.post("/users/<name>")
@require_role(Role.ADMIN)
def user_change(name: str) -> Response:
    """One of: ``role`` (a new role), ``password`` (a new password), ``remove``."""
    accounts, actor = ctx().accounts, _actor()
    try:
        if request.form.get("remove") == "1":
            accounts.remove_user(name, actor)
            done = f"User {name} removed."
        elif "password" in request.form:
            accounts.set_password(name, request.form["password"], actor)
            done = f"New password of {name} set; their sessions ended."
        else:
            role = parse_enum(Role, request.form.get("role", ""), "role")
            accounts.set_role(name, role, actor)
            done = f"{name} is now {role.value}."
    except ProvisionerError as exc:
        flash(f"{name}: not changed: {exc.message}", "error")
    else:
        flash(done, "ok")
    return redirect(url_for("console.users"), code=303)
