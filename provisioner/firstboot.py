"""Reports of the installed system (its first boot, then a heartbeat). Pure.

After an install the box boots its active slot from its own disk; the slot's
initramfs starts ``boot-report`` (media/agent/boot-report.sh), which marks the
boot good for the loader and then posts ``POST /node/report`` every
``report_interval`` seconds, authenticated by the per-node credential the
install put on the data partition (its sha256 is ``Node.credential_hash``).

What one report does to the node (:func:`apply_boot_report`):

- the slot it names must hold the release it names in the node's record, else
  :class:`~provisioner.errors.Contradiction` (a forged or stale report);
- the node becomes ``running``; ``Node.running`` keeps the report;
- a report from the slot that is *not* the active one means the loader fell
  back (the new slot used up its tries): ``fell back from X to Y``, and the
  reporting slot becomes the active one. Under a pending ``rollback`` that is
  the rollback arriving instead;
- a ``rollback`` pending for a running box is answered ``ACTION=switch``: the
  box makes the other slot active in its loader and reboots, no PXE needed. If it
  comes back from the same slot (the other one used up its tries), the rollback
  failed: ``node.rollback.failed``, and the action goes back to ``local`` so the
  box is not sent round again.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from provisioner.domain import Action, Event, Node, State, hash_secret, normalize_mac
from provisioner.errors import Contradiction, ValidationError

#: report field -> what its value may look like
FIELDS = {
    "mac": r"[0-9A-Fa-f:.-]{12,17}",
    "slot": r"[AB]",
    "release": r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}:[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}",
    "kernel": r"[A-Za-z0-9_.+-]{1,64}",
    "addresses": r"[0-9./ ]{0,400}",
    "uptime": r"\d{1,9}(\.\d{1,3})?",
}
REQUIRED = ("mac", "slot", "release")
ANSWERS = ("none", "switch")


@dataclass(frozen=True, slots=True)
class BootReport:
    mac: str
    slot: str
    release: str
    kernel: str = ""
    addresses: str = ""
    uptime: float = 0.0


@dataclass(frozen=True, slots=True)
class Outcome:
    node: Node
    events: tuple[Event, ...]
    answer: str  #: one of ANSWERS


def parse_boot_report(form: Mapping[str, str]) -> BootReport:
    """Validate a posted report; unknown keys are ignored, bad values refused."""
    for key in REQUIRED:
        if not form.get(key):
            raise ValidationError(key, "is required")
    for key, pattern in FIELDS.items():
        if key in form and not re.fullmatch(pattern, form[key]):
            raise ValidationError(key, f"{form[key][:40]!r} is not a valid {key}")
    return BootReport(
        mac=normalize_mac(form["mac"]),
        slot=form["slot"],
        release=form["release"],
        kernel=form.get("kernel", ""),
        addresses=" ".join(form.get("addresses", "").split()),
        uptime=float(form.get("uptime") or 0),
    )


def credential_ok(node: Node, secret: str) -> bool:
    """Whether ``secret`` is the credential the node's last install registered
    (constant time; a revoked or never-registered credential matches nothing)."""
    if not node.credential_hash or not secret:
        return False
    return hmac.compare_digest(node.credential_hash, hash_secret(secret))


def slot_release(node: Node, slot: str | None) -> str | None:
    return {"A": node.slot_a, "B": node.slot_b}.get(slot or "")


def other_slot(slot: str) -> str:
    return "B" if slot == "A" else "A"


def apply_boot_report(node: Node, rep: BootReport, now: datetime) -> Outcome:
    """The node after one report of its installed system, the events to record and
    the answer for the box (see the module docstring)."""
    recorded = slot_release(node, rep.slot)
    if recorded != rep.release:
        raise Contradiction(
            f"slot {rep.slot} holds {recorded or 'nothing'} in the node's record, "
            f"not {rep.release}",
            field="release",
        )
    prev = node.running
    new_boot = (
        node.state is not State.RUNNING
        or prev.get("slot") != rep.slot
        or rep.uptime < float(prev.get("uptime") or 0)
    )
    running = {
        "release": rep.release,
        "slot": rep.slot,
        "kernel": rep.kernel,
        "addresses": rep.addresses,
        "uptime": f"{rep.uptime:g}",
        "reported_at": now.isoformat(),
    }
    new = replace(node, state=State.RUNNING, running=running, updated_at=now)
    events: list[Event] = []
    data = {"slot": rep.slot, "release": rep.release}
    asked = prev.get("switch")  # the slot this box was told to switch to, if any
    if asked and new_boot and rep.slot == node.active_slot and node.action is Action.ROLLBACK:
        # it switched, rebooted and is back: the other slot did not come up
        new = replace(new, action=Action.LOCAL, build_token=None, window_opened=None,
                      window_expires=None)  # fmt: skip
        events.append(_event(node, "node.rollback.failed", f"rollback to slot {asked} "
                             f"({slot_release(node, asked)}) did not come up: the loader "
                             f"fell back to {rep.release} (slot {rep.slot})", data))  # fmt: skip
    elif node.active_slot and rep.slot != node.active_slot:
        was = slot_release(node, node.active_slot) or "nothing"
        if node.action is Action.ROLLBACK:
            new = replace(
                new,
                active_slot=rep.slot,
                action=Action.LOCAL,
                build_token=None,
                window_opened=None,
                window_expires=None,
            )
            events.append(_event(node, "node.rolledback", f"rolled back from {was} to "
                                 f"{rep.release} (slot {rep.slot})", data))  # fmt: skip
        else:
            new = replace(new, active_slot=rep.slot)
            events.append(_event(node, "node.fellback", f"fell back from {was} to "
                                 f"{rep.release} (slot {rep.slot})",
                                 {**data, "from": was}))  # fmt: skip
    if new_boot:
        if node.state is State.INSTALLED and node.installed_at is not None:
            took = round((now - node.installed_at).total_seconds(), 1)
            new = replace(new, phases={**node.phases, "firstboot": took})
        where = f" on {rep.addresses}" if rep.addresses else ""
        events.append(_event(node, "node.running", f"running {rep.release} from slot "
                             f"{rep.slot}{where}", {**data, "kernel": rep.kernel}))  # fmt: skip
    answer = _answer(new, rep)
    if answer == "switch":
        new = replace(new, running={**new.running, "switch": other_slot(rep.slot)})
    return Outcome(new, tuple(events), answer)


def _answer(node: Node, rep: BootReport) -> str:
    """``switch`` while a rollback is pending and the other slot holds a release."""
    if (
        node.action is Action.ROLLBACK
        and rep.slot == node.active_slot
        and slot_release(node, other_slot(rep.slot))
    ):
        return "switch"
    return "none"


def _event(node: Node, kind: str, message: str, data: Mapping[str, str]) -> Event:
    return Event(kind=kind, message=message, mac=node.mac, data=dict(data))
