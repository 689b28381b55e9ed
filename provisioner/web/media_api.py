"""Media under ``/api/v1`` (token; writes need admin): release images, instance
bundles and their files, resumable uploads, and the per-node manifest.

Uploads stream: the body is read from ``wsgi.input`` in blocks straight into a
part file under ``<data_dir>/media/.uploads`` (never into memory, and past
Flask's 4 MiB ``MAX_CONTENT_LENGTH``, which is for JSON); ``upload_max_bytes``
and the free disk are the limits. See docs/media.md for the protocol.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from media.errors import IncompleteBody, LengthRequired, OffsetMismatch
from media.layout import media_base_url, media_url, release_relpath
from media.uploads import Session
from provisioner.domain import Release, parse_count, parse_release_ref
from provisioner.errors import ValidationError
from provisioner.media_library import MediaLibrary, Stored
from provisioner.views import bundle_upload_view, bundle_view, release_view
from provisioner.web.api import _body as json_body
from provisioner.web.auth import require_token
from provisioner.web.body import mark_read
from provisioner.web.context import ctx
from provisioner.web.errors import domain_error_response

bp = Blueprint("media_api", __name__, url_prefix="/api/v1")
bp.before_request(require_token)

EXTENSION = "provisioner.media"
_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)\Z")


def init_app(app: Flask) -> None:
    """Register the media blueprints and the app's :class:`MediaLibrary`."""
    from provisioner.web import media

    context = app.extensions["provisioner"]
    app.extensions[EXTENSION] = MediaLibrary(context.store, context.settings)
    app.register_blueprint(bp)
    app.register_blueprint(media.bp)


def library() -> MediaLibrary:
    lib: MediaLibrary = current_app.extensions[EXTENSION]
    return lib


def media_base() -> str:
    s = ctx().settings
    return media_base_url(s.media_url, s.server_ip, s.http_host_port[1], request.host_url)


def _release(r: Release) -> dict[str, Any]:
    return release_view(r, media_url(media_base(), release_relpath(r)))


def _stored(result: Stored) -> dict[str, Any]:
    if isinstance(result, Release):
        return {"release": _release(result)}
    view = bundle_upload_view(result.bundle, result.replaced, media_base())
    return {"bundle": view, "replaced": view["replaced"]}


@contextlib.contextmanager
def _upload_body() -> Iterator[tuple[BinaryIO, int | None]]:
    """The raw request body and its length (None: chunked, read to the end),
    with an idle timeout on the client's socket while it is read: ``http_body_timeout``
    without a byte and the server gives up (the part received is kept; the client
    resumes). The HTTP front puts the same timeout on every request's socket; this
    holds it under a plain gunicorn too."""
    env = request.environ
    length = request.content_length
    if length is None and not env.get("wsgi.input_terminated"):
        raise LengthRequired("Content-Length (or Transfer-Encoding: chunked) is required")
    sock = env.get("gunicorn.socket")
    old = sock.gettimeout() if sock is not None else None
    if sock is not None:
        sock.settimeout(ctx().settings.http_body_timeout)
    mark_read()  # read here, straight from wsgi.input: nothing to drain after a refusal
    try:
        yield env["wsgi.input"], length
    finally:
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.settimeout(old)


@bp.errorhandler(OffsetMismatch)
@bp.errorhandler(IncompleteBody)
def _with_offset(exc: OffsetMismatch | IncompleteBody) -> Response:
    resp = domain_error_response(exc)
    resp.headers["Upload-Offset"] = str(exc.offset)
    return resp


# -- release images -------------------------------------------------------------------------
@bp.get("/images")
def list_images() -> Response:
    return jsonify([_release(r) for r in ctx().store.list_releases()])


@bp.post("/images")
def upload_image() -> tuple[Response, int]:
    """One-shot upload: ``?name=&version=[&sha256=]``, the squashfs file as the body."""
    lib = library()
    target = lib.target({"target": "image", **request.args.to_dict()})
    with _upload_body() as (stream, length):
        result = lib.upload(target, stream, length, request.args.get("sha256"))
    return jsonify(_stored(result)["release"]), 201


@bp.get("/images/<ref>")
def get_image(ref: str) -> Response:
    name, version = parse_release_ref(ref)
    return jsonify(_release(ctx().store.get_release(name, version)))


@bp.delete("/images/<ref>")
def delete_image(ref: str) -> tuple[str, int]:
    library().delete_release(ref)
    return "", 204


# -- bundles -----------------------------------------------------------------------------------
@bp.get("/bundles")
def list_bundles() -> Response:
    base = media_base()
    return jsonify([bundle_view(b, base) for b in ctx().store.list_bundles()])


@bp.get("/bundles/<name>")
def get_bundle(name: str) -> Response:
    return jsonify(bundle_view(ctx().store.get_bundle(name), media_base()))


@bp.put("/bundles/<name>")
def put_bundle(name: str) -> tuple[Response, int]:
    bundle, created = ctx().service.put_bundle(name, json_body())
    return jsonify(bundle_view(bundle, media_base())), 201 if created else 200


@bp.patch("/bundles/<name>")
def patch_bundle(name: str) -> Response:
    bundle, _ = ctx().service.put_bundle(name, json_body(), partial=True, must_exist=True)
    return jsonify(bundle_view(bundle, media_base()))


@bp.delete("/bundles/<name>")
def delete_bundle(name: str) -> tuple[str, int]:
    library().delete_bundle(name)
    return "", 204


@bp.put("/bundles/<name>/files/<kind>")
def upload_bundle_file(name: str, kind: str) -> tuple[Response, int]:
    """One-shot upload of a bundle's ``iso``, ``definition`` or ``image``:
    ``[?filename=][&sha256=][&raw=true]``, the file as the body. The answer is the
    bundle and ``replaced``: the file of that kind it replaced, or null."""
    lib = library()
    args = request.args.to_dict()
    target = lib.target({"target": "bundle", "bundle": name, "kind": kind, **args})
    with _upload_body() as (stream, length):
        result = lib.upload(target, stream, length, args.get("sha256"))
    return jsonify(_stored(result)["bundle"]), 201


@bp.delete("/bundles/<name>/files/<kind>")
def delete_bundle_file(name: str, kind: str) -> Response:
    return jsonify(bundle_view(library().delete_bundle_file(name, kind), media_base()))


# -- resumable uploads -------------------------------------------------------------------------
def _time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _session(s: Session, result: Stored | None = None) -> Response:
    uploads = library().uploads
    offset = s.size if result is not None else uploads.offset(s)
    body: dict[str, Any] = {
        "id": s.id,
        "url": f"/api/v1/uploads/{s.id}",
        "target": s.target,
        "size": s.size,
        "sha256": s.sha256,
        "offset": offset,
        "complete": result is not None,
        "created_at": _time(s.created_at),
    }
    if result is None:
        body["expires_at"] = _time(uploads.expires_at(s))
    else:
        body.update(_stored(result))
    resp = jsonify(body)
    resp.headers["Upload-Offset"] = str(offset)
    return resp


@bp.get("/uploads")
def list_uploads() -> Response:
    lib = library()
    return jsonify([_session(s).get_json() for s in lib.uploads.all()])


@bp.post("/uploads")
def create_upload() -> tuple[Response, int]:
    """Start (or find again) a resumable upload: the target, ``size`` and,
    best, ``sha256`` as JSON."""
    return start_upload(library(), json_body(), "/api/v1/uploads")


def start_upload(lib: MediaLibrary, data: dict[str, Any], base: str) -> tuple[Response, int]:
    """``POST .../uploads`` (the API's, and the console's with its user's library)."""
    unknown = set(data) - {"target", "name", "version", "bundle", "kind", "filename", "raw"}
    unknown -= {"size", "sha256"}
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown field")
    if data.get("size") is None:
        raise ValidationError("size", "required: the number of bytes to upload")
    session, created = lib.start(lib.target(data), data.get("size"), data.get("sha256"))
    resp = _session(session)
    resp.headers["Location"] = f"{base}/{session.id}"
    return resp, 201 if created else 200


@bp.get("/uploads/<upload_id>")
def get_upload(upload_id: str) -> Response:
    return _session(library().uploads.get(upload_id))


@bp.delete("/uploads/<upload_id>")
def delete_upload(upload_id: str) -> tuple[str, int]:
    uploads = library().uploads
    uploads.discard(uploads.get(upload_id))
    return "", 204


@bp.put("/uploads/<upload_id>")
def put_upload(upload_id: str) -> tuple[Response, int]:
    """``Content-Range: bytes START-END/SIZE`` and those bytes; or ``bytes
    */SIZE`` and no body to ask for the offset (and finish a complete upload)."""
    return put_range(library(), upload_id)


def put_range(lib: MediaLibrary, upload_id: str) -> tuple[Response, int]:
    """``PUT .../uploads/ID`` (the API's, and the console's with its user's library)."""
    session = lib.uploads.get(upload_id)
    header = request.headers.get("Content-Range", "")
    m = _CONTENT_RANGE.match(header.strip())
    if m is None:
        raise ValidationError(
            "Content-Range", f"{header!r}: expected 'bytes START-END/SIZE' or 'bytes */SIZE'"
        )
    first, last, total = m.groups()
    if total != "*" and parse_count("Content-Range", total) != session.size:
        raise ValidationError("Content-Range", f"the upload's size is {session.size}, not {total}")
    if first is not None:
        start = parse_count("Content-Range", first)
        length = parse_count("Content-Range", last) - start + 1
        if length <= 0:
            raise ValidationError("Content-Range", "END is before START")
        if request.content_length is not None and request.content_length != length:
            raise ValidationError(
                "Content-Length", f"is {request.content_length}; Content-Range says {length}"
            )
        with _upload_body() as (stream, _):
            lib.uploads.write(session, start, stream, length)
    if lib.uploads.offset(session) == session.size:
        return _session(session, lib.finish(session)), 201
    return _session(session), 200


# -- the per-node manifest ---------------------------------------------------------------------
@bp.get("/nodes/<mac>/manifest")
def node_manifest(mac: str) -> Response:
    """What the box must fetch (URLs, sizes, sha256) and its effective options."""
    return jsonify(ctx().service.manifest(mac, media_base()).to_json())
