"""``/ui/dhcp`` (viewers): the other DHCP servers heard on the segment (observe
mode, and proxy/full mode's watch): each with its last offer and the clients it
answered, and a warning for each that competes with this server's DHCP mode.
The same view as ``GET /api/v1/dhcp/servers``."""

from __future__ import annotations

from flask import render_template

from provisioner.dhcp.observe import readable
from provisioner.views import dhcp_servers_view
from provisioner.web.console.blueprint import bp
from provisioner.web.context import ctx

#: option codes shown by name on the page (the rest by number)
OPTION_NAMES = {
    "1": "subnet mask",
    "3": "router",
    "6": "DNS",
    "15": "domain",
    "43": "vendor (PXE)",
    "51": "lease time",
    "53": "message type",
    "54": "server id",
    "60": "vendor class",
    "66": "TFTP server",
    "67": "boot file",
}


@bp.get("/dhcp")
def dhcp_servers() -> str:
    service = ctx().service
    view = dhcp_servers_view(service.settings.dhcp, service.store.list_dhcp_servers())
    return render_template("console/dhcp.html", names=OPTION_NAMES, readable=readable, **view)
