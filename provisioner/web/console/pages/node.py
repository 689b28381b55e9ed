"""``/ui/nodes/<mac>``: one node's page (its panels: :data:`PANELS`) and
``/ui/nodes/<mac>/action`` (operators: the next boot's action, confirmed first;
``wipe`` only with the host name, or the MAC when there is none, typed in: the
server checks it).

A panel is a template ``console/node/_<name>.html`` given the page's values;
adding one is a template and its name here.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from provisioner.domain import Action, Role, parse_enum, utcnow
from provisioner.errors import ProvisionerError, ValidationError
from provisioner.web.console import nodeview
from provisioner.web.console.auth import acting_service, require_role
from provisioner.web.console.blueprint import bp
from provisioner.web.console.forms import FormErrors
from provisioner.web.context import ctx
from provisioner.web.errors import status_for

#: the page's panels, in order (templates console/node/_<name>.html)
PANELS = ("summary", "phases", "slots", "actions", "timeline")
#: how many events the timeline shows
TIMELINE = 200


@bp.get("/nodes/<mac>")
def node(mac: str) -> str:
    c = ctx()
    found = c.service.get_node(mac)
    events = c.store.list_events(found.mac, TIMELINE)
    now = utcnow()
    return render_template(
        "console/node.html",
        node=found,
        state=found.shown_state(now, c.settings.confirm_minutes * 60),
        panels=PANELS,
        bar=nodeview.phase_bar(found, events, now),
        slots=nodeview.slots(found),
        events=nodeview.timeline(events),
        actions=nodeview.actions(found),
        problems=c.service.node_problems(found.mac),
        now=now,
    )


@bp.post("/nodes/<mac>/action")
@require_role(Role.OPERATOR)
def node_action(mac: str) -> Response | tuple[str, int]:
    """Step 1 (no ``confirm``): a page that says what the action does and asks
    again (wipe: for the typed name). Step 2: set it."""
    found = ctx().service.get_node(mac)
    try:
        action = parse_enum(Action, request.form.get("action", ""), "action")
    except ValidationError as exc:
        flash(exc.message, "error")
        return redirect(url_for("console.node", mac=found.mac), code=303)
    choice = next(c for c in nodeview.actions(found) if c.action is action)
    errors = FormErrors()
    if request.form.get("confirm") == "yes":
        typed = request.form.get("typed", "")
        if choice.typed and not nodeview.typed_matches(found, typed):
            errors.add("typed", f"type {choice.typed} to wipe this node's whole disk")
        else:
            try:
                acting_service().save_node(
                    found.mac, {"action": action.value}, partial=True, must_exist=True
                )
            except ProvisionerError as exc:
                errors.add("", exc.message)
            else:
                flash(f"Next boot of {found.hostname or found.mac}: {action.value}.", "ok")
                return redirect(url_for("console.node", mac=found.mac), code=303)
    status = (status_for(ValidationError) or 422) if errors else 200
    page = render_template("console/node_confirm.html", node=found, choice=choice, errors=errors)
    return page, status
