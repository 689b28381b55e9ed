"""Node lifecycle: install windows, agent reports, boot-phase timings. Pure.

States: ``new`` -> ``installing`` (first agent report) -> ``installed`` | ``failed``.
Reports come in order: an install's (or wipe's) ``done ok`` is accepted only after
``image ok`` (the image written) and then ``verify ok`` (its sha256 read back on
the box) since the agent last booted (:data:`NEEDS`, :func:`check_order`); one out
of order is refused and the node is left as it was.
Actions ``install``, ``wipe`` and ``rollback`` are one-shot: when the agent
reports success the node's next PXE boot is ``local``. A failed install also
falls back to ``local`` (the previously active slot is untouched, so the box
boots what it had); a box that lost power mid-install reports nothing, keeps its
action and finishes on its next boot. ``rescue`` stays until someone changes it.

The install window: while a node's action runs the agent, it holds a random build
token. The token travels in the boot configuration (anyone on the LAN can read
that), so it is valid only for that node and only until the agent's final report
or the window's expiry; the agent authenticates with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from provisioner.bootparams import Options, Word
from provisioner.domain import AGENT_ACTIONS, Action, Event, Node, State, hash_secret
from provisioner.errors import OutOfOrder, ValidationError

#: boot phases in order; each lasts from its milestone to the next one reported
PHASES = ("dhcp", "loader", "kernel", "agent", "image", "bootfiles", "files")
#: every phase a node shows, in order: the install's, then the installed system's
#: first boot (done -> its first report; provisioner.firstboot)
SHOWN_PHASES = (*PHASES, "firstboot")
#: event kind -> milestone that starts a phase ("done" ends the last one)
MILESTONES = {
    "boot.dhcp": "dhcp",
    "boot.loader": "loader",
    "boot.kernel": "kernel",
    "agent.boot": "agent",
    "agent.image": "image",
    "agent.bootfiles": "bootfiles",
    "agent.files": "files",
    "agent.done": "done",
}
STEPS = frozenset(
    {
        "boot",
        "manifest",
        "disk",
        "partition",
        "format",
        "bootloader",
        "image",
        "verify",
        "bootfiles",
        "files",
        "state",
        "done",
        "rollback",
        "rescue",
    }
)
STATUSES = frozenset({"running", "ok", "failed"})
#: an ``ok`` report of these steps, for these actions, needs ``ok`` reports of the
#: listed steps before it, in that order, since the agent's last ``boot`` report
NEEDS: Mapping[str, tuple[str, ...]] = {"verify": ("image",), "done": ("image", "verify")}
ORDERED_ACTIONS = frozenset({Action.INSTALL, Action.WIPE})
#: steps whose ``ok`` ends the window (the rest are progress, like ``running``)
FINAL_STEPS = frozenset({"done"})
#: what each action makes the node's next PXE boot do (``node set --help``, the docs)
ACTION_EFFECTS = {
    Action.INSTALL: "run the installer: a blank disk gets two system slots and a data "
    "partition, the release goes to slot A; an installed disk gets it in the inactive "
    "slot, data kept. Then local.",
    Action.LOCAL: "boot the disk (set by itself after a successful install).",
    Action.ROLLBACK: "make the other system slot active again (it must hold a release). "
    "Then local.",
    Action.WIPE: "erase and repartition the whole disk, data partition included, then "
    "install fresh. Then local.",
    Action.RESCUE: "boot the installer into a shell on the console; stays until changed.",
}
#: report fields the server keeps, with what a value may look like
_EXTRA = {
    "slot": r"[AB]",
    "active": r"[AB]",
    "mode": r"fresh|update",
    "result": r"ok|failed",
    "bytes": r"\d{1,15}",
    "total": r"\d{1,15}",
    "file": r"[A-Za-z0-9_.+-]{1,255}",
    "ip": r"[0-9./]{7,18}",
    "uptime": r"\d{1,9}(\.\d{1,3})?",
    "kernel_to_agent": r"\d{1,9}(\.\d{1,3})?",
    "net_ready": r"\d{1,9}(\.\d{1,3})?",
    "image_start": r"\d{1,9}(\.\d{1,3})?",
    "image_done": r"\d{1,9}(\.\d{1,3})?",
    "done": r"\d{1,9}(\.\d{1,3})?",
    "slot_a": r"[A-Za-z0-9_.:+ -]{0,200}",
    "slot_b": r"[A-Za-z0-9_.:+ -]{0,200}",
    # the secret the installed system will report with (provisioner.firstboot); the
    # node keeps its sha256, the timeline never sees it
    "credential": r"[0-9a-f]{64}",
}


@dataclass(frozen=True, slots=True)
class AgentReport:
    step: str
    status: str
    message: str
    fields: Mapping[str, str]


def parse_report(form: Mapping[str, str]) -> AgentReport:
    """Validate what an agent posted; unknown keys are ignored, bad values refused."""
    step, status = form.get("step", ""), form.get("status", "")
    if step not in STEPS:
        raise ValidationError("step", f"{step!r} is not an agent step")
    if status not in STATUSES:
        raise ValidationError("status", f"{status!r} is not running, ok or failed")
    message = form.get("message", "")
    if len(message) > 500 or any(ord(c) < 0x20 for c in message):
        raise ValidationError("message", "must be one line of at most 500 characters")
    fields = {}
    for key, pattern in _EXTRA.items():
        if key in form:
            if not re.fullmatch(pattern, form[key]):
                raise ValidationError(key, f"{form[key][:40]!r} is not a valid {key}")
            fields[key] = form[key]
    return AgentReport(step, status, message, fields)


def agent_words(node: Node, server_url: str | None, now: datetime) -> Options | None:
    """What an agent boot adds to the command line: where to report, with which
    token, for which action. Nothing for local boots or a closed window."""
    if node.action not in AGENT_ACTIONS or not node.window_open(now) or not node.build_token:
        return None
    words = [Word("option", "token", node.build_token), Word("option", "action", node.action.value)]
    if server_url:
        words.insert(0, Word("option", "server", server_url))
    return Options.of(words)


def with_window(
    node: Node, now: datetime, lifetime: timedelta, new_token: Callable[[], str]
) -> Node:
    """Open (or keep) the install window when the action runs the agent; close it
    otherwise."""
    if node.action in AGENT_ACTIONS:
        if node.window_open(now):
            return node
        return replace(
            node, build_token=new_token(), window_opened=now, window_expires=now + lifetime
        )
    return replace(node, build_token=None, window_opened=None, window_expires=None)


def _slot_ref(reported: str | None) -> str | None:
    """``"avbox:2.0 <sha256> <size> <epoch>"`` -> ``"avbox:2.0"``."""
    if not reported:
        return None
    return reported.split()[0]


def check_order(node: Node, report: AgentReport, events: Sequence[Event]) -> None:
    """Refuse (:class:`OutOfOrder`, naming the step) an ``ok`` report that comes
    before the ``ok`` reports :data:`NEEDS` says it follows; ``events`` is the
    window's timeline. A failure may be reported at any step."""
    needs = NEEDS.get(report.step, ())
    if report.status != "ok" or node.action not in ORDERED_ACTIONS or not needs:
        return
    timeline = sorted(
        (e for e in events if e.kind.startswith("agent.")), key=lambda e: (e.time, e.id or 0)
    )
    boots = [i for i, e in enumerate(timeline) if e.kind == "agent.boot"]
    since_boot = timeline[boots[-1] :] if boots else timeline
    ok_steps = iter(e.kind.removeprefix("agent.") for e in since_boot
                    if e.data.get("status") == "ok")  # fmt: skip
    for step in needs:
        if step not in ok_steps:  # consumes: each needed step after the one before
            raise OutOfOrder(
                "step",
                f"{report.step} ok before {step} ok: an install reports "
                f"{' ok, '.join(needs)} ok, then {report.step}",
            )


def apply_report(
    node: Node, report: AgentReport, now: datetime, events: Sequence[Event] = ()
) -> Node:
    """The node after one agent report. ``events`` is the window's timeline (for
    the phase timings when the install finishes)."""
    if node.action is Action.RESCUE and report.status == "ok":
        return node  # the rescue shell runs; nothing changes until someone changes the action
    closed = replace(
        node, build_token=None, window_opened=None, window_expires=None, updated_at=now
    )
    if report.status == "failed":
        return replace(closed, state=State.FAILED, action=Action.LOCAL)
    if report.status == "running" or report.step not in FINAL_STEPS:  # progress
        if node.state is State.INSTALLING:
            return node
        return replace(node, state=State.INSTALLING, updated_at=now)
    # ok: the final report of install / wipe / rollback
    f = report.fields
    done = replace(
        closed,
        state=State.INSTALLED,
        action=Action.LOCAL,
        slot_a=_slot_ref(f.get("slot_a")) or node.slot_a,
        slot_b=_slot_ref(f.get("slot_b")) or node.slot_b,
        active_slot=f.get("active", node.active_slot),
        credential_hash=hash_secret(f["credential"]) if "credential" in f else node.credential_hash,
    )
    if f.get("mode") in {"fresh", "update"}:
        start = _first_milestone(events)
        done = replace(
            done,
            installed_at=now,
            phases=phase_timings(events, now, f),
            install_seconds=round((now - start).total_seconds(), 1) if start else None,
        )
    return done


def _first_milestone(events: Sequence[Event]) -> datetime | None:
    times = [e.time for e in events if e.kind in MILESTONES and e.kind != "agent.done"]
    return min(times) if times else None


def phase_timings(
    events: Sequence[Event], done_at: datetime, fields: Mapping[str, str]
) -> dict[str, float]:
    """Seconds per phase, from the first event of each milestone in the window.

    The agent's own clock (uptime) splits the time between "image written" and
    "done" into the image and files phases more precisely than our receive times.
    """
    at: dict[str, datetime] = {}
    for e in sorted(events, key=lambda e: e.time):
        m = MILESTONES.get(e.kind)
        if m and m not in at:
            at[m] = e.time
    at.setdefault("done", done_at)
    if "image_done" in fields and "done" in fields and "files" not in at:
        lag = float(fields["done"]) - float(fields["image_done"])
        if lag > 0.5:
            at["files"] = at["done"] - timedelta(seconds=lag)
    order = [p for p in (*PHASES, "done") if p in at]
    return {
        order[i]: round((at[order[i + 1]] - at[order[i]]).total_seconds(), 1)
        for i in range(len(order) - 1)
    }


def last_failure(node: Node, events: Sequence[Event]) -> Event | None:
    """Why a failed node failed: its newest agent report with status ``failed``
    (the event's kind names the step, ``agent.<step>``). None unless the node's
    state is failed."""
    if node.state is not State.FAILED:
        return None
    failed = [e for e in events if e.kind.startswith("agent.") and e.data.get("status") == "failed"]
    return max(failed, key=lambda e: (e.time, e.id or 0), default=None)
