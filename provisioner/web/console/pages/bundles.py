"""``/ui/bundles``: the instance bundles (viewers); for admins new (the file
names), a file's upload (resumable with scripts, as on the releases page) and
delete (refused, naming them, while nodes or profiles use the bundle)."""

from __future__ import annotations

from typing import Any, BinaryIO, cast

from flask import Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from provisioner.domain import BUNDLE_KINDS, Role
from provisioner.errors import ProvisionerError, ValidationError
from provisioner.web.body import json_object
from provisioner.web.console.auth import acting_service, require_role
from provisioner.web.console.blueprint import bp
from provisioner.web.console.forms import FormErrors, flash_outcome
from provisioner.web.console.pages.releases import UPLOADS, json_errors, media_library
from provisioner.web.console.rackview import used_by
from provisioner.web.context import ctx
from provisioner.web.media_api import start_upload

KINDS = tuple(BUNDLE_KINDS)


def _users() -> dict[str, list[str]]:
    """Bundle name -> who uses it."""
    return used_by(
        ctx().service.view.snapshot(),
        lambda p: p.bundle,
        lambda e: e.bundle.name if e.bundle else None,
    )


def _page(status: int = 200, **values: Any) -> tuple[str, int]:
    values.setdefault("errors", FormErrors())
    values.setdefault("values", {})
    page = render_template(
        "console/bundles.html",
        bundles=ctx().store.list_bundles(),
        users=_users(),
        kinds=KINDS,
        uploads=UPLOADS,
        **values,
    )
    return page, status


@bp.get("/bundles")
def bundles() -> tuple[str, int]:
    return _page()


@bp.post("/bundles")
@require_role(Role.ADMIN)
def bundle_new() -> BaseResponse | tuple[str, int]:
    values = {k: request.form.get(k, "").strip() for k in ("name", *KINDS)}
    errors = FormErrors()
    try:
        acting_service().put_bundle(values["name"], {k: values[k] or None for k in KINDS})
    except ProvisionerError as exc:
        errors.take(exc)
        return _page(422, errors=errors, values=values)
    flash(f"Bundle {values['name']} saved.", "ok")
    return redirect(url_for("console.bundles"), code=303)


@bp.post("/bundles/<name>/files")
@require_role(Role.ADMIN)
def bundle_file(name: str) -> BaseResponse:
    """The form without scripts: one file of the bundle in one request."""
    f = request.files.get("file")

    def upload() -> None:
        if f is None or not f.filename:
            raise ValidationError("file", "choose a file")
        lib = media_library()
        target = lib.target({"target": "bundle", "bundle": name, "kind": request.form.get("kind")})
        f.stream.seek(0, 2)
        size = f.stream.tell()
        f.stream.seek(0)
        lib.upload(target, cast(BinaryIO, f.stream), size)

    kind = request.form.get("kind", "")
    flash_outcome(upload, f"Bundle {name}: {kind} uploaded.", f"Bundle {name}: not uploaded")
    return redirect(url_for("console.bundles"), code=303)


@bp.post("/bundles/uploads")
@require_role(Role.ADMIN)
def bundle_upload_start() -> tuple[Response, int]:
    data = json_object()
    allowed: dict[str, Any] = {k: data[k] for k in ("bundle", "kind", "size") if k in data}
    return json_errors(
        lambda: start_upload(media_library(), {"target": "bundle", **allowed}, UPLOADS)
    )


@bp.post("/bundles/<name>/delete")
@require_role(Role.ADMIN)
def bundle_delete(name: str) -> BaseResponse:
    flash_outcome(
        lambda: media_library().delete_bundle(name),
        f"Bundle {name} deleted.",
        f"Bundle {name} not deleted",
    )
    return redirect(url_for("console.bundles"), code=303)
