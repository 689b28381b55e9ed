"""The ``console`` blueprint (``/ui``), its menu and its error pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from provisioner.domain import Role, User
from provisioner.errors import ProvisionerError
from provisioner.web.errors import status_for

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/ui",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def is_console(endpoint: str) -> bool:
    """Whether a Flask endpoint is one of the console's (pages, not the API)."""
    return endpoint.startswith(f"{bp.name}.")


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    role: Role


#: The menu, in order. An entry shows when its endpoint exists (the page was
#: added) and the user's role allows it: a new page only needs its endpoint.
NAV: list[NavItem] = [
    NavItem("Rack", "console.rack", Role.VIEWER),
    NavItem("New node", "console.node_new", Role.OPERATOR),
    NavItem("Import", "console.rack_import", Role.ADMIN),
    NavItem("Profiles", "console.profiles", Role.VIEWER),
    NavItem("Releases", "console.releases", Role.VIEWER),
    NavItem("Bundles", "console.bundles", Role.VIEWER),
    NavItem("DHCP", "console.dhcp_servers", Role.VIEWER),
    NavItem("Tokens", "console.tokens", Role.ADMIN),
    NavItem("Users", "console.users", Role.ADMIN),
]


def nav_item(label: str, endpoint: str, role: Role = Role.VIEWER) -> None:
    """Add a menu entry (at the end) unless its endpoint has one."""
    if all(item.endpoint != endpoint for item in NAV):
        NAV.append(NavItem(label, endpoint, role))


def nav_items(user: User | None) -> list[dict[str, Any]]:
    """The entries ``user`` sees: label, url, whether it is the current page."""
    if user is None:
        return []
    views = current_app.view_functions
    return [
        {
            "label": item.label,
            "url": url_for(item.endpoint),
            "current": request.endpoint == item.endpoint,
        }
        for item in NAV
        if item.endpoint in views and user.role.allows(item.role)
    ]


def page_url(endpoint: str, **values: Any) -> str | None:
    """The URL of a page that may not exist yet (another issue adds it): None then."""
    return url_for(endpoint, **values) if endpoint in current_app.view_functions else None


bp.add_app_template_global(page_url)


@bp.errorhandler(ProvisionerError)
def _error(exc: ProvisionerError) -> tuple[str, int]:
    """A refused request as a page (the API's JSON table gives the status)."""
    status = status_for(type(exc)) or 500
    return render_template("console/error.html", status=status, message=exc.message), status


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> tuple[str, int]:
    """A form past the server's body limit: a page saying so, not the API's JSON."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    size = f" ({limit} bytes at most)" if limit else ""
    message = f"The form was too large{size}. Send a smaller file."
    return render_template("console/error.html", status=413, message=message), 413
