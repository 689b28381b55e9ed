"""``/ui/releases``: the release images (viewers), and for admins upload and
delete (refused, naming them, while nodes or profiles use a release).

The upload page's script speaks the API's resumable upload protocol
(docs/media.md) to two console routes that run the API's own code with the
user's library (its events name the user): ``POST /ui/releases/uploads``
(JSON: name, version, size) and ``PUT /ui/uploads/ID``
(``Content-Range``), each with the ``X-CSRF-Token`` header. Without scripts
the form posts the file in one go (small files: the 4 MiB form limit)."""

from __future__ import annotations

from typing import Any, BinaryIO, cast

from flask import Response, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from provisioner.domain import Role
from provisioner.errors import ProvisionerError, ValidationError
from provisioner.media_library import MediaLibrary
from provisioner.web.body import json_object as json_body
from provisioner.web.console.auth import current_user, require_role
from provisioner.web.console.blueprint import bp
from provisioner.web.console.forms import FormErrors, flash_outcome
from provisioner.web.console.rackview import used_by
from provisioner.web.context import ctx
from provisioner.web.errors import status_for
from provisioner.web.media_api import library, put_range, start_upload

UPLOADS = "/ui/uploads"


def media_library() -> MediaLibrary:
    """The media library whose events name the console's user."""
    user = current_user()
    return library().acting(user.name if user else None)


def _users() -> dict[str, list[str]]:
    """Release ref -> who uses it."""
    return used_by(
        ctx().service.view.snapshot(),
        lambda p: p.release,
        lambda e: e.release.ref if e.release else None,
    )


def _page(status: int = 200, **values: Any) -> tuple[str, int]:
    values.setdefault("errors", FormErrors())
    values.setdefault("values", {})
    releases = ctx().store.list_releases()
    page = render_template(
        "console/releases.html", releases=releases, users=_users(), uploads=UPLOADS, **values
    )
    return page, status


@bp.get("/releases")
def releases() -> tuple[str, int]:
    return _page()


@bp.post("/releases")
@require_role(Role.ADMIN)
def release_upload() -> BaseResponse | tuple[str, int]:
    """The form without scripts: the whole file in one request."""
    values = {k: request.form.get(k, "").strip() for k in ("name", "version")}
    errors = FormErrors()
    f = request.files.get("file")
    try:
        if f is None or not f.filename:
            raise ValidationError("file", "choose a squashfs file")
        lib = media_library()
        target = lib.target({"target": "image", **values})
        f.stream.seek(0, 2)
        size = f.stream.tell()
        f.stream.seek(0)
        release = lib.upload(target, cast(BinaryIO, f.stream), size)
    except ProvisionerError as exc:
        errors.take(exc)
        return _page(422 if isinstance(exc, ValidationError) else 409, errors=errors, values=values)
    flash(f"Release {getattr(release, 'ref', values['name'])} added.", "ok")
    return redirect(url_for("console.releases"), code=303)


def json_errors(run: Any) -> tuple[Response, int]:
    try:
        answer: tuple[Response, int] = run()
    except ProvisionerError as exc:
        return jsonify({"error": exc.message, "field": getattr(exc, "field", "")}), (
            status_for(type(exc)) or 500
        )
    return answer


@bp.post("/releases/uploads")
@require_role(Role.ADMIN)
def release_upload_start() -> tuple[Response, int]:
    data = json_body()
    allowed: dict[str, Any] = {
        k: data[k] for k in ("name", "version", "size", "sha256") if k in data
    }
    return json_errors(
        lambda: start_upload(media_library(), {"target": "image", **allowed}, UPLOADS)
    )


@bp.put("/uploads/<upload_id>")
@require_role(Role.ADMIN)
def upload_put(upload_id: str) -> tuple[Response, int]:
    """The next bytes of a release's or a bundle file's upload (``Content-Range``)."""
    return json_errors(lambda: put_range(media_library(), upload_id))


@bp.post("/releases/<ref>/delete")
@require_role(Role.ADMIN)
def release_delete(ref: str) -> BaseResponse:
    flash_outcome(
        lambda: media_library().delete_release(ref),
        f"Release {ref} deleted.",
        f"Release {ref} not deleted",
    )
    return redirect(url_for("console.releases"), code=303)
