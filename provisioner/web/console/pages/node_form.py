"""``/ui/nodes/new`` and ``/ui/nodes/<mac>/edit``: the per-machine IP profile
form, and ``/ui/nodes/preview`` (what its script posts for the live preview).

Saving goes through :meth:`~provisioner.service.Service.save_node`, as the API's
node PUT does; the preview renders the unsaved node with the functions ``/boot/``
serves from (``Service.node_pxelinux``/``node_ipxe``). Without JavaScript the
"Preview" button shows it; with it, the preview follows each change.

Who may: :data:`EDIT_ROLE` (operators: assigning a box its address, host name and
release is the rack technician's work; profiles, releases and bundles stay admin's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from provisioner.bootnames import config_name
from provisioner.bootparams import Options
from provisioner.dhcp.config import parse_pool
from provisioner.domain import Action, Node, Role, normalize_mac
from provisioner.errors import ConfigError, ProvisionerError, ValidationError
from provisioner.hostsettings import KEYBOARDS, LANGUAGES
from provisioner.preflight import Problem
from provisioner.web.boot import server_url
from provisioner.web.console import nodeform
from provisioner.web.console.auth import acting_service, require_role
from provisioner.web.console.blueprint import bp
from provisioner.web.console.forms import FormErrors
from provisioner.web.console.nodeform import NodeForm
from provisioner.web.context import ctx
from provisioner.web.errors import status_for

#: who may create and edit nodes (one line to change)
EDIT_ROLE = Role.OPERATOR
#: the build token a preview shows where saving opens a new install window
PREVIEW_TOKEN = "NEW-AT-SAVE"  # noqa: S105 - a placeholder, not a secret


@dataclass
class Preview:
    """What the box would be served, or why there is nothing to show yet."""

    pxelinux: str = ""
    ipxe: str = ""
    warnings: list[Problem] = field(default_factory=list)
    config: str = ""  # pxelinux.cfg/01-... name

    @property
    def append(self) -> str:
        """The APPEND line the box's pxelinux gets (the first: the node's label)."""
        return next(
            (ln.strip() for ln in self.pxelinux.splitlines() if ln.strip().startswith("APPEND")),
            "",
        )


def _preview(mac: str, data: dict[str, Any], current: Node | None) -> Preview:
    """Render the unsaved node as ``/boot/`` would serve it once saved (raises what
    saving would)."""
    svc = ctx().service
    snap = svc.view.snapshot()
    known = {"profile": snap.catalog.profiles, "release": snap.releases,
             "bundle": snap.catalog.bundles}  # fmt: skip
    for name, there in known.items():
        if data.get(name) and data[name] not in there:
            raise ValidationError(name, f"no {name} {data[name]!r} on this server")
    host = (data.get("hostname") or "").lower().rstrip(".")
    other = next((n.mac for n in snap.nodes.values() if host and n.hostname == host
                  and n.mac != mac), None)  # fmt: skip
    if other is not None:  # the store refuses it too (a conflict): say it beside the field
        raise ValidationError("hostname", f"{host} is already the host name of node {other}")
    node, problems = svc.node_candidate(
        mac,
        data,
        current,
        partial=True,
        catalog=snap.catalog,
        world=svc.world(snap),
        new_token=lambda: PREVIEW_TOKEN,
    )
    url = server_url()
    return Preview(
        pxelinux=svc.node_pxelinux(node, snap.catalog, url),
        ipxe=svc.node_ipxe(node, snap.catalog, f"{url}/boot/files/", url),
        warnings=[p for p in problems if not p.is_error],
        config=config_name(mac),
    )


def _suggest(form: NodeForm, mac: str) -> tuple[IPv4Address | None, str]:
    """The next free IP for this node: in its profile's subnet, else the DHCP pool;
    skipping what other nodes, leases, the gateway, DNS and the server use."""
    svc = ctx().service
    snap = svc.view.snapshot()
    profile = snap.catalog.profiles.get(form.profile) if form.profile else None
    popts = profile.options if profile else Options()
    where = nodeform.profile_range(profile.name, popts) if profile else None
    if where is None:
        try:
            where = nodeform.pool_range(parse_pool(svc.settings.dhcp_pool))
        except ConfigError:
            where = None
    if where is None:
        return None, ""
    world = svc.world(snap)
    used = {ip for ip, macs in world.ip_owners.items() if any(m != mac for m in macs)}
    used |= {lease.ip for lease in svc.store.list_leases() if lease.mac != mac}
    used |= nodeform.reserved(popts, popts.get("ip") or "", svc.settings.server_ip)
    return nodeform.next_free(where, used), where.source


def _choices() -> dict[str, Any]:
    snap = ctx().service.view.snapshot()
    return {
        "keyboards": sorted(KEYBOARDS),
        "languages": sorted(LANGUAGES),
        "profiles": sorted(snap.catalog.profiles),
        "releases": sorted(snap.releases),
        "bundles": sorted(snap.catalog.bundles),
        "actions": [a.value for a in Action],
    }


def _mac_or_blank(text: str) -> str:
    try:
        return normalize_mac(text) if text else ""
    except ValidationError:
        return ""


def _checked_mac(form: NodeForm, current: Node | None) -> str:
    if current is not None:
        return current.mac
    mac = normalize_mac(form.mac, "mac")
    if ctx().service.view.snapshot().node(mac) is not None:
        raise ValidationError("mac", f"node {mac} exists already: edit it from its page")
    return mac


def _handle(form: NodeForm, current: Node | None) -> Response | tuple[str, int]:
    """The posted form: save it, or show it again with its preview or errors."""
    doing = request.form.get("do", "save")
    errors = FormErrors()
    preview = None
    suggested: tuple[IPv4Address | None, str] = (None, "")
    if doing == "suggest":  # also before the MAC is typed
        suggested = _suggest(form, current.mac if current else _mac_or_blank(form.mac))
        form = nodeform.with_ip(form, suggested[0])
    try:
        mac = _checked_mac(form, current)
        data = form.data(current)
        preview = _preview(mac, data, current)
        if doing == "save":
            unset = nodeform.removed_keys(current, data["options"])
            saved = acting_service().save_node(mac, data, partial=True, unset=unset)
            what = "created" if saved.created else "saved"
            flash(f"Node {saved.value.hostname or mac} {what}.", "ok")
            for problem in saved.problems:
                flash(f"Warning: {problem}", "error")
            return redirect(url_for("console.node", mac=mac), code=303)
    except ProvisionerError as exc:
        errors = nodeform.errors_of(exc)
        preview = None
    status = (status_for(ValidationError) or 422) if errors else 200
    return _render(form, current, errors, preview, suggested), status


def _render(
    form: NodeForm,
    current: Node | None,
    errors: FormErrors,
    preview: Preview | None,
    suggested: tuple[IPv4Address | None, str] | None = None,
) -> str:
    if suggested is None or suggested[0] is None:
        suggested = _suggest(form, current.mac if current else _mac_or_blank(form.mac))
    return render_template(
        "console/node_form.html",
        nf=form,
        node=current,
        errors=errors,
        preview=preview,
        free_ip=str(suggested[0]) if suggested[0] else "",
        free_from=suggested[1],
        **_choices(),
    )


@bp.route("/nodes/new", methods=["GET", "POST"])
@require_role(EDIT_ROLE)
def node_new() -> Response | tuple[str, int] | str:
    if request.method == "POST":
        return _handle(NodeForm.of_request(request.form), None)
    return _render(NodeForm(mac=request.args.get("mac", "")[:40]), None, FormErrors(), None)


@bp.route("/nodes/<mac>/edit", methods=["GET", "POST"])
@require_role(EDIT_ROLE)
def node_edit(mac: str) -> Response | tuple[str, int] | str:
    current = ctx().service.get_node(mac)
    if request.method == "POST":
        return _handle(NodeForm.of_request(request.form, current.mac), current)
    form = NodeForm.of_node(current)
    try:
        preview = _preview(current.mac, form.data(current), current)
    except ProvisionerError:
        preview = None
    return _render(form, current, FormErrors(), preview)


@bp.post("/nodes/preview")
@require_role(EDIT_ROLE)
def node_preview() -> tuple[dict[str, Any], int]:
    """The live preview (JSON): what the box would be served, or the errors by
    field. ``edit``: the MAC of the node being edited (absent: a new node)."""
    editing = request.form.get("edit", "")
    current = ctx().service.get_node(editing) if editing else None
    form = NodeForm.of_request(request.form, current.mac if current else "")
    try:
        mac = _checked_mac(form, current)
        found = _preview(mac, form.data(current), current)
    except ProvisionerError as exc:
        return {"errors": nodeform.errors_of(exc)}, status_for(ValidationError) or 422
    return {
        "errors": {},
        "config": found.config,
        "append": found.append,
        "pxelinux": found.pxelinux,
        "ipxe": found.ipxe,
        "warnings": [str(p) for p in found.warnings],
    }, 200
