"""The route an installed system reports to (``POST /node/report``), authenticated
by the per-node credential its install put on the disk (``Authorization: Bearer
<credential>``; provisioner.firstboot). Not an API route: an API token or a build
token is no use here, and the credential opens nothing else.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from provisioner.installer import Installer
from provisioner.web.agent import bearer
from provisioner.web.context import ctx

bp = Blueprint("node_report", __name__, url_prefix="/node")


@bp.before_request
def _require_credential() -> None:
    g.node_credential = bearer("the node's credential")


@bp.post("/report")
def report() -> Response:
    """Form fields mac, slot, release, kernel, addresses, uptime; the answer is
    ``KEY=value`` lines: ``ACTION`` (none or switch) and ``INTERVAL`` (seconds)."""
    outcome = Installer(ctx().service).boot_report(g.node_credential, request.form.to_dict())
    body = f"ACTION={outcome.answer}\nINTERVAL={ctx().settings.report_interval}\n"
    return Response(body, mimetype="text/plain", headers={"Cache-Control": "no-store"})
