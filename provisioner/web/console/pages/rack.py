"""``/ui/`` (the rack overview: table or grid), ``/ui/rack/states.json`` (what
its script polls while installs run) and ``/ui/rack/action`` (operators: the next
boot's action of the chosen nodes)."""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from provisioner.domain import Action, Role, State, parse_enum, utcnow
from provisioner.errors import ProvisionerError, ValidationError
from provisioner.web.console import rackview
from provisioner.web.console.auth import acting_service, require_role
from provisioner.web.console.blueprint import bp
from provisioner.web.context import ctx

#: states during which the page polls quickly (something is happening)
BUSY = frozenset({State.INSTALLING})


@bp.get("/")
def rack() -> str:
    c = ctx()
    now = utcnow()
    confirm = c.settings.confirm_minutes * 60
    every = rackview.rows(c.service.view.snapshot(), c.store.latest_events(), now, confirm)
    query = rackview.Query.of(request.args)
    shown = query.apply(every)
    return render_template(
        "console/rack.html",
        rows=shown,
        total=len(every),
        counts=Counter(r.state for r in every),
        states=list(State),
        query=query,
        now=now,
        busy=any(r.state in BUSY for r in every),
        actions=RACK_ACTIONS,
        back=request.query_string.decode("ascii", "replace"),
    )


@bp.get("/rack/states.json")
def rack_states() -> dict[str, Any]:
    """Every node's shown state by MAC, and the change stamp (cheap: the boot
    read model, reloaded only when the stamp moved)."""
    c = ctx()
    snap = c.service.view.snapshot()
    now, confirm = utcnow(), c.settings.confirm_minutes * 60
    states = {mac: n.shown_state(now, confirm).value for mac, n in snap.nodes.items()}
    return {
        "stamp": snap.stamp,
        "states": states,
        "busy": any(s in BUSY for s in states.values()),
    }


#: what the rack sets for many nodes at once (wipe asks for each host name: the node page)
RACK_ACTIONS = (Action.INSTALL, Action.LOCAL, Action.ROLLBACK, Action.RESCUE)
MAX_SELECTED = 5000


@bp.post("/rack/action")
@require_role(Role.OPERATOR)
def rack_action() -> Response:
    """Set the next boot's action of the chosen nodes; each change is an event
    naming the user. Nodes that refuse (preflight) are named; the rest change."""
    query = urlencode(rackview.Query.of(_back_args()).link())
    back = url_for("console.rack") + (f"?{query}" if query else "")
    try:
        action = parse_enum(Action, request.form.get("action", ""), "action")
        if action not in RACK_ACTIONS:
            raise ValidationError("action", f"{action.value} is set on the node's own page")
    except ValidationError as exc:
        flash(exc.message, "error")
        return redirect(back, code=303)
    macs = request.form.getlist("mac")[:MAX_SELECTED]
    if not macs:
        flash("Choose one or more nodes first (the boxes in the first column).", "error")
        return redirect(back, code=303)
    svc = acting_service()
    refused = []
    for mac in macs:
        try:
            svc.save_node(mac, {"action": action.value}, partial=True, must_exist=True)
        except ProvisionerError as exc:
            refused.append(f"{mac}: {exc.message}")
    if len(refused) < len(macs):
        flash(f"Next boot of {len(macs) - len(refused)} node(s): {action.value}.", "ok")
    for line in refused[:20]:
        flash(f"Not changed: {line}", "error")
    return redirect(back, code=303)


def _back_args() -> dict[str, str]:
    """The rack's query (search, filter, sort) the form came from, to return to."""
    return dict(parse_qsl(request.form.get("back", ""))[:10])
