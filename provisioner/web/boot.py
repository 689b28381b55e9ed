"""Open, read-only boot endpoints: what a booting box fetches over HTTP.

These and the media downloads (web/media.py) are the only routes without a
token (booting firmware has none); they serve generated text or files only and
change nothing. ``tests`` walk the route map so
no other route is ever open by accident.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, request

from provisioner.domain import normalize_mac
from provisioner.errors import ValidationError
from provisioner.web import ctx

log = logging.getLogger("provisioner.boot")

bp = Blueprint("boot", __name__, url_prefix="/boot")

#: (endpoint, methods) pairs that need no token; tests assert this is complete.
OPEN_ENDPOINTS = {
    "boot.pxelinux_cfg": {"GET", "HEAD", "OPTIONS"},
    "boot.ipxe": {"GET", "HEAD", "OPTIONS"},
    # media downloads (web/media.py): an installing box fetches its release image and
    # bundle files with no token; read-only files under data_dir/media, never .uploads
    "media.image_file": {"GET", "HEAD", "OPTIONS"},
    "media.bundle_file": {"GET", "HEAD", "OPTIONS"},
}


def _text(body: str) -> Response:
    return Response(body, mimetype="text/plain", headers={"Cache-Control": "no-store"})


@bp.get("/pxelinux.cfg/<name>")
def pxelinux_cfg(name: str) -> Response:
    text = ctx().service.pxelinux_file(name)
    log.info(
        "HTTP boot fetch pxelinux.cfg/%s from %s: %s",
        name,
        request.remote_addr,
        "served" if text is not None else "not found",
    )
    if text is None:
        abort(404)
    return _text(text)


@bp.get("/ipxe")
def ipxe() -> Response:
    raw = request.args.get("mac")
    if raw is None:
        raise ValidationError("mac", "query parameter required (/boot/ipxe?mac=...)")
    mac = normalize_mac(raw)
    settings = ctx().settings
    host = (
        f"http://{settings.server_ip}:{settings.http_host_port[1]}/"
        if settings.server_ip
        else request.host_url
    )
    text = ctx().service.ipxe_file(mac, host + "boot/files/")
    log.info(
        "HTTP boot fetch ipxe mac=%s from %s: %s",
        mac,
        request.remote_addr,
        "served" if text is not None else "unknown MAC",
    )
    if text is None:
        abort(404)
    return _text(text)
