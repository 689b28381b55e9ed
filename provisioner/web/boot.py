"""Open, read-only boot endpoints: what a booting box fetches over HTTP.

These, the media downloads (web/media.py) and the page at ``/`` (web/index.py)
are the only routes without a token (booting firmware has none); they serve
generated text, the boot tree (``/boot/files/``: the TFTP tree over HTTP for
lpxelinux.0 and iPXE) or media files, and change nothing. ``tests`` walk the
route map so no other route is ever open by accident.
"""

from __future__ import annotations

import logging
import os

from flask import Blueprint, Response, abort, current_app, request
from werkzeug.wsgi import wrap_file

from provisioner.bootlog import BootLog
from provisioner.bootnames import mac_from_config_name
from provisioner.domain import normalize_mac
from provisioner.errors import ValidationError
from provisioner.web.context import ctx
from tftp import files as boot_tree
from tftp import routes

log = logging.getLogger("provisioner.boot")

bp = Blueprint("boot", __name__, url_prefix="/boot")

#: (endpoint, methods) pairs that need no token; tests assert this is complete.
OPEN_ENDPOINTS = {
    # the page at / (web/index.py): names the API and the docs, nothing else
    "index.index": {"GET", "HEAD", "OPTIONS"},
    "boot.pxelinux_cfg": {"GET", "HEAD", "OPTIONS"},
    "boot.ipxe": {"GET", "HEAD", "OPTIONS"},
    "boot.files": {"GET", "HEAD", "OPTIONS"},
    # media downloads (web/media.py): an installing box fetches its release image and
    # bundle files with no token; read-only files under data_dir/media, never .uploads
    "media.image_file": {"GET", "HEAD", "OPTIONS"},
    "media.bundle_file": {"GET", "HEAD", "OPTIONS"},
}
_TREE = "provisioner.boot_tree"
_BOOTLOG = "provisioner.bootlog"


@bp.after_request
def _served_by(resp: Response) -> Response:
    """Which process answered (several HTTP workers share the boot timeline)."""
    resp.headers["X-Provisioner-Worker"] = str(os.getpid())
    return resp


def server_url() -> str:
    """How booting boxes reach us: the configured address, else the URL this
    request came to (:func:`provisioner.bootnames.server_url`: TFTP's rule too)."""
    url = ctx().service.server_url_for(host_url=request.host_url)
    assert url is not None  # a request always has a host
    return url


def _milestone(kind: str, mac: str | None, detail: str) -> None:
    """Tell the node timeline (provisioner.bootlog) that a box reached a step."""
    bootlog = current_app.extensions.get(_BOOTLOG)
    if bootlog is None:
        bootlog = current_app.extensions[_BOOTLOG] = BootLog(ctx().store, view=ctx().service.view)
    bootlog.record(kind, mac=mac, ip=request.remote_addr, detail=detail)


def _query_mac() -> str | None:
    raw = request.args.get("mac")
    try:
        return normalize_mac(raw) if raw else None
    except ValidationError:
        return None


def _text(body: str) -> Response:
    return Response(body, mimetype="text/plain", headers={"Cache-Control": "no-store"})


@bp.get("/pxelinux.cfg/<name>")
def pxelinux_cfg(name: str) -> Response:
    text = ctx().service.pxelinux_file(name, server_url())
    mac = mac_from_config_name(name)
    return _generated(
        text, f"pxelinux.cfg/{name}", "not found", ("config", mac, f"HTTP pxelinux.cfg/{name}")
    )


@bp.get("/ipxe")
def ipxe() -> Response:
    raw = request.args.get("mac")
    if raw is None:
        raise ValidationError("mac", "query parameter required (/boot/ipxe?mac=...)")
    mac = normalize_mac(raw)
    server = server_url()
    text = ctx().service.ipxe_file(mac, f"{server}/boot/files/", server)
    return _generated(text, f"ipxe mac={mac}", "unknown MAC", ("loader", mac, "HTTP iPXE script"))


def _generated(
    text: str | None, what: str, missing: str, milestone: tuple[str, str | None, str]
) -> Response:
    """A generated boot file (or 404), logged, its milestone recorded when served."""
    if text is not None:
        _milestone(*milestone)
    log.info("HTTP boot fetch %s from %s: %s", what, request.remote_addr,
             "served" if text is not None else missing)  # fmt: skip
    if text is None:
        abort(404)
    return _text(text)


def _tree() -> routes.Tree:
    """The boot tree, located once per app (loaders are resolved at start-up)."""
    tree: routes.Tree | None = current_app.extensions.get(_TREE)
    if tree is None:
        settings = ctx().settings
        tree = boot_tree.build_tree(settings.data_dir, settings.loaders_dir)
        current_app.extensions[_TREE] = tree
    return tree


@bp.get("/files/<path:path>")
def files(path: str) -> Response:
    """The same tree as TFTP (tftp/routes.py, tftp/files.py): loaders, generated pxelinux files,
    files under <data_dir>/boot. Whole files with Content-Length (HTTP/1.0 safe)."""
    route = boot_tree.resolve(_tree(), path)
    if isinstance(route, routes.Generated):
        text = ctx().service.pxelinux_file(route.config, server_url())
        log.info("HTTP boot file %s from %s: %s", path, request.remote_addr,
                 "generated" if text is not None else "not found")  # fmt: skip
        if text is None:
            abort(404)
        _milestone("config", mac_from_config_name(route.config), f"HTTP {path}")
        return _text(text)
    log.info("HTTP boot file %s from %s: %s", path, request.remote_addr, route)
    if isinstance(route, routes.Denied):
        abort(403, route.reason)
    if isinstance(route, routes.Missing):
        abort(404)
    try:
        fd, size = boot_tree.open_file(route)
    except OSError:
        abort(404)
    kind = "loader" if route.root is None else "kernel"  # vetted loader / <data_dir>/boot
    _milestone(kind, _query_mac(), f"HTTP {path}")
    resp = Response(
        wrap_file(request.environ, os.fdopen(fd, "rb")),
        mimetype="application/octet-stream",
        direct_passthrough=True,
    )
    resp.content_length = size
    return resp
