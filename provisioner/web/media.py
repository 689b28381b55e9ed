"""Open, read-only media downloads: ``GET /media/images/...`` and
``GET /media/bundles/...`` (listed in ``OPEN_ENDPOINTS``: an installing box
has no API token).

Streaming: the whole file and every single byte range go to the WSGI server
as a file object positioned at the range start, with ``Content-Length`` set to
the range's length, wrapped in the server's ``wsgi.file_wrapper``. gunicorn
then ``sendfile()``s exactly ``Content-Length`` bytes from the file's current
offset (``gunicorn/http/wsgi.py``, ``Response.sendfile``). werkzeug's
``send_file`` cannot do that under gunicorn: for a range it wraps the file in
a ``_RangeWrapper``, which is not the server's file wrapper (no sendfile) and,
as gunicorn's wrapper is not seekable, reads and discards every byte before
the range start. Multi-range answers (``multipart/byteranges``) are written
with ``pread`` instead.

With ``accel_redirect`` set, the answer is only ``X-Accel-Redirect`` and nginx
sends the file (see docs/nginx-provisioner.conf).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator
from urllib.parse import quote

from flask import Blueprint, Response, abort, request
from werkzeug.http import http_date
from werkzeug.wsgi import FileWrapper

from media.layout import DIGEST_DIR_RE
from media.ranges import Plan, Validators, evaluate, multipart_layout
from media.storage import MediaDirs
from provisioner.confine import open_inside, resolves_inside
from provisioner.errors import ValidationError
from provisioner.web.context import ctx
from provisioner.web.errors import error_response

bp = Blueprint("media", __name__, url_prefix="/media")

BLOCK = 256 * 1024
CONTENT_TYPE = "application/octet-stream"


class FileSlice:
    """A file object that is ``length`` bytes of ``fd`` from ``start``: its
    descriptor is positioned at ``start`` (gunicorn's sendfile takes the offset
    from there) and ``read`` stops at the end of the slice (servers without
    sendfile iterate it). Owns ``fd``."""

    def __init__(self, fd: int, start: int, length: int) -> None:
        os.lseek(fd, start, os.SEEK_SET)
        self._fd = fd
        self._left = length

    def fileno(self) -> int:
        return self._fd

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if size < 0 else min(size, self._left)
        data = os.read(self._fd, n)
        self._left -= len(data)
        return data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@bp.get("/images/<name>/<version>/<filename>")
def image_file(name: str, version: str, filename: str) -> Response:
    return _serve(f"images/{name}/{version}/{filename}")


@bp.get("/bundles/<bundle>/<digest>/<filename>")
def bundle_file(bundle: str, digest: str, filename: str) -> Response:
    if not DIGEST_DIR_RE.match(digest):
        abort(404)
    return _serve(f"bundles/{bundle}/{digest}/{filename}")


def _serve(relpath: str) -> Response:
    """Send a file under ``media/images`` or ``media/bundles``, only if its resolved
    path (symlinks, file or directory, followed) stays inside that directory."""
    settings = ctx().settings
    dirs = MediaDirs(settings.data_dir)
    try:
        path = dirs.path(relpath)
    except ValidationError:
        abort(404)
    root = dirs.root / relpath.split("/", 1)[0]
    if settings.accel_redirect:
        if not path.is_file() or not resolves_inside(path, root):
            abort(404)
        target = settings.accel_redirect.rstrip("/") + "/" + quote(relpath, safe="/+")
        return Response(b"", headers={"X-Accel-Redirect": target}, content_type=CONTENT_TYPE)
    try:
        fd, _ = open_inside(path, root)
    except OSError as exc:
        if isinstance(exc, PermissionError) or exc.errno in (
            errno.ENOENT,
            errno.ENOTDIR,
            errno.ELOOP,
            errno.EISDIR,
        ):
            abort(404)
        raise
    try:
        return _respond(fd)
    except BaseException:
        os.close(fd)
        raise


def _respond(fd: int) -> Response:
    """Answer for the open file ``fd``; the response owns ``fd`` when it has a body."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        abort(404)
    size = st.st_size
    validators = Validators(
        etag=f'"{st.st_size:x}-{st.st_mtime_ns:x}-{st.st_ino:x}"',
        last_modified=int(st.st_mtime),
    )
    plan = evaluate(request.method, request.headers.get, size, validators)
    headers = {
        "ETag": validators.etag,
        "Last-Modified": http_date(validators.last_modified),
        "Accept-Ranges": "bytes",
        "Cache-Control": "no-cache",
    }
    if not plan.has_body or request.method == "HEAD":
        os.close(fd)
        return _bodiless(plan, size, headers)
    if plan.status == 200:
        return _slice(fd, 0, size, 200, headers)
    if len(plan.ranges) == 1:
        r = plan.ranges[0]
        headers["Content-Range"] = r.content_range(size)
        return _slice(fd, r.start, r.length, 206, headers)
    return _multipart(fd, plan, size, headers)


def _bodiless(plan: Plan, size: int, headers: dict[str, str]) -> Response:
    if plan.status == 304:
        return Response(status=304, headers=headers)
    if plan.status == 412:
        resp = error_response(
            412, {"code": "precondition_failed", "message": "If-Match/If-Unmodified-Since failed"}
        )
        resp.headers.update(headers)
        return resp
    if plan.status == 416:
        resp = error_response(
            416,
            {
                "code": "range_not_satisfiable",
                "field": "Range",
                "message": f"no requested range starts inside the file ({size} bytes)",
            },
        )
        resp.headers["Content-Range"] = f"bytes */{size}"
        return resp
    resp = Response(status=200, headers=headers, content_type=CONTENT_TYPE)  # HEAD
    resp.headers["Content-Length"] = str(size)
    return resp


def _slice(fd: int, start: int, length: int, status: int, headers: dict[str, str]) -> Response:
    wrapper = request.environ.get("wsgi.file_wrapper", FileWrapper)
    body = wrapper(FileSlice(fd, start, length), BLOCK)
    resp = Response(
        body, status=status, headers=headers, content_type=CONTENT_TYPE, direct_passthrough=True
    )
    resp.headers["Content-Length"] = str(length)
    return resp


def _multipart(fd: int, plan: Plan, size: int, headers: dict[str, str]) -> Response:
    layout = multipart_layout(plan.ranges, size, CONTENT_TYPE, secrets.token_hex(12))

    def body() -> Iterator[bytes]:
        for part_header, r in layout.parts:
            yield part_header
            offset, end = r.start, r.start + r.length
            while offset < end:
                chunk = os.pread(fd, min(BLOCK, end - offset), offset)
                if not chunk:  # the file shrank under us: stop short, the client sees it
                    return
                offset += len(chunk)
                yield chunk
        yield layout.trailer

    resp = Response(body(), status=206, headers=headers, content_type=layout.content_type)
    resp.headers["Content-Length"] = str(layout.length)
    resp.call_on_close(lambda: os.close(fd))
    return resp
