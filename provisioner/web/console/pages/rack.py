"""``/ui/`` (the rack overview: table or grid) and ``/ui/rack/states.json`` (what
the grid's script polls while installs run)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from flask import render_template, request

from provisioner.domain import State, utcnow
from provisioner.web.console import rackview
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
