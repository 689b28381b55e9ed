"""``/ui/tokens`` (admins): the API tokens; a new one's secret is shown once,
in the answer to the form (never in the cookie's flash messages)."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from provisioner.domain import TOKEN_ROLES, Role, parse_count, parse_enum
from provisioner.errors import ProvisionerError
from provisioner.web.console.auth import acting_service, require_role
from provisioner.web.console.blueprint import bp
from provisioner.web.console.forms import FormErrors, flash_outcome
from provisioner.web.context import ctx


def _page(status: int = 200, **values: Any) -> tuple[str, int]:
    values.setdefault("errors", FormErrors())
    values.setdefault("values", {})
    tokens = ctx().store.list_tokens()
    roles = [r.value for r in TOKEN_ROLES]
    return render_template("console/tokens.html", tokens=tokens, roles=roles, **values), status


@bp.get("/tokens")
@require_role(Role.ADMIN)
def tokens() -> tuple[str, int]:
    return _page()


@bp.post("/tokens")
@require_role(Role.ADMIN)
def token_new() -> tuple[str, int]:
    values = {k: request.form.get(k, "").strip() for k in ("name", "role")}
    errors = FormErrors()
    try:
        role = parse_enum(Role, values["role"], "role")
        token, secret = acting_service().create_token(values["name"], role)
    except ProvisionerError as exc:
        errors.take(exc)
        return _page(422, errors=errors, values=values)
    return _page(201, created=token, secret=secret)


@bp.post("/tokens/<token_id>/revoke")
@require_role(Role.ADMIN)
def token_revoke(token_id: str) -> Response:
    flash_outcome(
        lambda: acting_service().revoke_token(parse_count("token", token_id, 1, 2**31 - 1)),
        f"Token {token_id} revoked.",
        f"Token {token_id} not revoked",
    )
    return redirect(url_for("console.tokens"), code=303)
