"""``/ui/profiles``: every profile (viewers), and for admins new, edit and
delete (refused, with the store's reason, while nodes use the profile)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from provisioner.bootnames import join_initrd
from provisioner.domain import Profile, Role
from provisioner.errors import ProvisionerError
from provisioner.web.console.auth import acting_service, require_role
from provisioner.web.console.blueprint import bp
from provisioner.web.console.forms import FormErrors, flash_outcome
from provisioner.web.context import ctx

TEXT_FIELDS = ("kernel", "initrd", "options", "release", "bundle", "description")


@bp.get("/profiles")
def profiles() -> str:
    c = ctx()
    users = Counter(n.profile for n in c.store.list_nodes() if n.profile)
    return render_template(
        "console/profiles.html",
        profiles=c.store.list_profiles(),
        users=users,
        join_initrd=join_initrd,
    )


def _values(p: Profile | None) -> dict[str, Any]:
    if p is None:
        return {"kernel": "vmlinuz", "ipappend": "2"}
    return {
        "name": p.name,
        "kernel": p.kernel,
        "initrd": join_initrd(p.initrd) or "",
        "options": p.options.render(),
        "ipappend": str(p.ipappend),
        "release": p.release or "",
        "bundle": p.bundle or "",
        "description": p.description,
    }


def _edit(
    values: dict[str, Any], errors: FormErrors, new: bool, status: int = 200
) -> tuple[str, int]:
    c = ctx()
    page = render_template(
        "console/profile_edit.html",
        values=values,
        errors=errors,
        new=new,
        releases=[r.ref for r in c.store.list_releases()],
        bundles=[b.name for b in c.store.list_bundles()],
    )
    return page, status


def _save(name: str, new: bool) -> Response | tuple[str, int]:
    form = {k: request.form.get(k, "").strip() for k in ("ipappend", *TEXT_FIELDS)}
    form["name"] = name
    errors = FormErrors()
    data: dict[str, Any] = {k: form[k] or None for k in TEXT_FIELDS}
    data["description"] = form["description"]
    data["kernel"] = form["kernel"]
    try:
        data["ipappend"] = int(form["ipappend"] or "2")
    except ValueError:
        errors.add("ipappend", "must be an integer from 0 to 7 (IPAPPEND flags)")
    if not errors:
        try:
            acting_service().save_profile(name, data, must_exist=not new)
        except ProvisionerError as exc:
            errors.take(exc)
    if errors:
        return _edit(form, _beside_fields(errors), new, 422)
    flash(f"Profile {name} saved.", "ok")
    return redirect(url_for("console.profiles"), code=303)


def _beside_fields(errors: FormErrors) -> FormErrors:
    """``options.ip`` beside ``options``; a field the form lacks at the top."""
    shown = FormErrors()
    for key, message in errors.items():
        top = key.split(".")[0]
        shown.add(top if top in ("name", "ipappend", *TEXT_FIELDS) else "", message)
    return shown


@bp.route("/profiles/new", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def profile_new() -> Any:
    if request.method == "GET":
        return _edit(_values(None), FormErrors(), True)
    return _save(request.form.get("name", "").strip(), new=True)


@bp.route("/profiles/<name>/edit", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def profile_edit(name: str) -> Any:
    current = ctx().store.get_profile(name)
    if request.method == "GET":
        return _edit(_values(current), FormErrors(), False)
    return _save(current.name, new=False)


@bp.post("/profiles/<name>/delete")
@require_role(Role.ADMIN)
def profile_delete(name: str) -> Response:
    flash_outcome(
        lambda: acting_service().delete_profile(name),
        f"Profile {name} deleted.",
        f"Profile {name} not deleted",
    )
    return redirect(url_for("console.profiles"), code=303)
