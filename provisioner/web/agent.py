"""Routes the installer agent calls, authenticated by its node's build token
(``Authorization: Bearer <token>``, the ``token.`` dot-option of its boot).

Not API routes: an API token is no use here, and a build token opens nothing
but these two routes, for one node, while its install window is open.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from provisioner.errors import Unauthorized
from provisioner.installer import Installer
from provisioner.web.context import ctx

bp = Blueprint("agent", __name__, url_prefix="/agent")


@bp.before_request
def _require_build_token() -> None:
    g.build_token = bearer("build token")
    g.agent_node = Installer(ctx().service).node_for_token(g.build_token)


def bearer(what: str) -> str:
    """The secret of ``Authorization: Bearer <secret>``; 401 naming ``what`` without."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(f"missing {what} (Authorization: Bearer <token>)")
    return token.strip()


@bp.get("/manifest")
def manifest() -> Response:
    """KEY=value lines (a shell parses them): release image, instance files, slots."""
    body = Installer(ctx().service).manifest(g.agent_node, request.host_url).env()
    return Response(body, mimetype="text/plain", headers={"Cache-Control": "no-store"})


@bp.post("/report")
def report() -> Response:
    """A progress or final report (form-encoded: step, status, message, ...)."""
    node = Installer(ctx().service).report(g.build_token, request.form.to_dict())
    return Response(f"ok {node.state.value}\n", mimetype="text/plain")


@bp.get("/boot.cfg")
def boot_cfg() -> Response:
    """The GRUB fragment that boots slot ``?slot=A|B`` with the node's kernel words."""
    body = Installer(ctx().service).slot_boot_cfg(g.agent_node, request.args.get("slot", ""))
    return Response(body, mimetype="text/plain", headers={"Cache-Control": "no-store"})


@bp.get("/settings.tar")
def settings_tar() -> Response:
    """The node's settings as files of the installed system (a tar the agent unpacks
    into the data partition's ``provisioner/root``)."""
    body = Installer(ctx().service).settings_tar(g.agent_node, request.host_url)
    return Response(body, mimetype="application/x-tar", headers={"Cache-Control": "no-store"})
