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
    g.build_token = _token()
    g.agent_node = Installer(ctx().service).node_for_token(g.build_token)


def _token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing build token (Authorization: Bearer <token>)")
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
