"""``/ui/import`` (admins): a rack as CSV and a USB stick's syslinux.cfg.

Both are two requests: a preview, then the import. The preview page carries
the text back in a hidden field and the import parses and checks it all again
(nothing the browser sends is trusted between the two); either is all or
nothing (:meth:`Service.import_nodes`, :meth:`Service.import_syslinux`)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from provisioner.domain import Role
from provisioner.errors import ProvisionerError, ValidationError
from provisioner.rackcsv import (
    FIELD_COLUMNS,
    MAX_CSV_BYTES,
    OPTION_COLUMNS,
    RowProblem,
    parse_rack_csv,
)
from provisioner.web.console.auth import acting_service, require_role
from provisioner.web.console.blueprint import bp
from provisioner.web.console.forms import FormErrors
from provisioner.web.errors import status_for

#: the largest syslinux.cfg the page takes (the API takes more: importer.MAX_IMPORT_BYTES)
MAX_CFG_BYTES = 1024 * 1024


def _text(upload: str, pasted: str, limit: int) -> str:
    """The uploaded file's text, else the form's text field (the preview's copy)."""
    if request.content_length is not None and request.content_length > 3 * limit:
        raise ValidationError(upload, f"too large: a file here has at most {limit} bytes")
    f = request.files.get(upload)
    raw = f.stream.read(limit + 1) if f is not None and f.filename else None
    text = request.form.get(pasted, "") if raw is None else None
    if raw is not None:
        if len(raw) > limit:
            raise ValidationError(upload, f"too large: a file here has at most {limit} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(upload, "the file must be UTF-8 text") from None
    assert text is not None
    if len(text.encode()) > limit:
        raise ValidationError(upload, f"too large: a file here has at most {limit} bytes")
    if not text.strip():
        raise ValidationError(upload, "choose a file")
    return text


def _page(status: int = 200, **values: object) -> tuple[str, int]:
    values.setdefault("errors", FormErrors())
    page = render_template(
        "console/import.html",
        field_columns=FIELD_COLUMNS,
        option_columns=OPTION_COLUMNS,
        max_csv=MAX_CSV_BYTES,
        max_cfg=MAX_CFG_BYTES,
        **values,
    )
    return page, status


@bp.get("/import")
@require_role(Role.ADMIN)
def rack_import() -> tuple[str, int]:
    return _page()


@bp.post("/import/csv")
@require_role(Role.ADMIN)
def rack_import_csv() -> Response | tuple[str, int]:
    errors = FormErrors()
    try:
        text = _text("csv_file", "csv_text", MAX_CSV_BYTES)
        parsed = parse_rack_csv(text)
    except ValidationError as exc:
        errors.take(exc)
        return _page(413 if "too large" in exc.detail else 422, errors=errors)
    apply = request.form.get("apply") == "1"
    problems = list(parsed.problems)
    warnings: list[RowProblem] = []
    try:
        if parsed.ok:
            problems += acting_service().import_nodes(
                parsed.rows, dry_run=not apply, warnings=warnings
            )
    except ProvisionerError as exc:  # the rack changed between the check and the write
        errors.take(exc)
        return _page(status_for(type(exc)) or 409, errors=errors)
    if apply and not problems:
        flash(f"Imported {len(parsed.rows)} node(s).", "ok")
        for w in warnings[:20]:
            flash(f"Warning: {w}", "error")
        return redirect(url_for("console.rack"), code=303)
    by_row: dict[int, list[str]] = {}
    for p in problems:
        by_row.setdefault(p.row, []).append(f"{p.field}: {p.message}")
    warned: dict[int, list[str]] = {}
    for p in warnings:
        warned.setdefault(p.row, []).append(f"{p.field}: {p.message}")
    return _page(
        422 if problems else 200,
        csv=parsed,
        csv_text=text,
        csv_problems=problems,
        csv_by_row=by_row,
        csv_warned=warned,
    )


@bp.post("/import/syslinux")
@require_role(Role.ADMIN)
def rack_import_syslinux() -> Response | tuple[str, int]:
    errors = FormErrors()
    try:
        text = _text("cfg_file", "cfg_text", MAX_CFG_BYTES)
    except ValidationError as exc:
        errors.take(exc)
        return _page(413 if "too large" in exc.detail else 422, errors=errors)
    apply = request.form.get("apply") == "1"
    flags = {k: request.form.get(k) == "1" for k in ("replace", "join_wrapped")}
    try:
        report = acting_service().import_syslinux(text, dry_run=not apply, **flags)
    except ValidationError as exc:
        errors.add("cfg_file", exc.message)
        return _page(422, errors=errors)
    if apply and report.ok:
        done = len(report.created) + len(report.replaced)
        flash(f"Imported {done} profile(s) from syslinux.cfg.", "ok")
        for warning in report.warnings[:20]:
            flash(f"Warning: {warning}", "error")
        return redirect(url_for("console.profiles"), code=303)
    return _page(422 if not report.ok else 200, report=report, cfg_text=text, flags=flags)
