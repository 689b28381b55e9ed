"""A node's page, as plain values: the boot-phase bar, the slots, the timeline,
the actions. No Flask here (the page is pages/node.py).

The phase timings are the ones ``node show`` prints (:mod:`provisioner.lifecycle`:
the node's stored ``phases`` once an install finished; while one runs,
:func:`~provisioner.lifecycle.phase_timings` over the install window's events,
the last phase still going). A new phase needs one entry in :data:`PHASE_LABELS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from provisioner.domain import Action, Event, Node, State
from provisioner.lifecycle import ACTION_EFFECTS, SHOWN_PHASES, phase_timings

#: boot phase -> what the bar calls it (the order is lifecycle.SHOWN_PHASES)
PHASE_LABELS = {
    "dhcp": "DHCP",
    "loader": "loader",
    "kernel": "kernel",
    "agent": "agent",
    "image": "image",
    "bootfiles": "boot files",
    "files": "settings",
    "firstboot": "first boot",
}
#: the narrowest a phase is drawn (percent of the bar), so a 0.1 s phase stays visible
MIN_SHARE = 7.0


@dataclass(frozen=True, slots=True)
class Segment:
    phase: str
    label: str
    seconds: float
    share: float  # percent of the bar's width
    going: bool  # the phase still runs (an install under way)

    @property
    def duration(self) -> str:
        return duration(self.seconds)


def duration(seconds: float) -> str:
    """``0.4 s``, ``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole // 60 % 60:02d} min"


@dataclass(frozen=True, slots=True)
class PhaseBar:
    segments: tuple[Segment, ...]
    #: where the bar ends: installed, running, failed, or "" (under way / nothing yet)
    outcome: str
    total: float

    @property
    def total_text(self) -> str:
        return duration(self.total)


def phase_bar(node: Node, events: Sequence[Event], now: datetime) -> PhaseBar:
    """The bar of the install under way (its window's events so far), else of the
    last finished install (the node's ``phases``)."""
    going = node.state is State.INSTALLING and node.window_opened is not None
    if going:
        assert node.window_opened is not None
        window = [e for e in events if e.time >= node.window_opened]
        timings = phase_timings(window, now, {}) if window else {}
    else:
        timings = dict(node.phases)
    shown = [p for p in SHOWN_PHASES if p in timings]
    total = sum(timings[p] for p in shown)
    raw = [max(MIN_SHARE, 100 * timings[p] / total) if total else 100 / len(shown) for p in shown]
    scale = 100 / sum(raw) if raw else 1
    segments = tuple(
        Segment(p, PHASE_LABELS.get(p, p), timings[p], round(r * scale, 2),
                going and i == len(shown) - 1)
        for i, (p, r) in enumerate(zip(shown, raw, strict=True))
    )  # fmt: skip
    outcome = "" if going else _outcome(node)
    return PhaseBar(segments, outcome, total)


def _outcome(node: Node) -> str:
    if node.state is State.FAILED:
        return "failed"
    if node.state is State.RUNNING:
        return "running"
    if node.phases or node.state is State.INSTALLED:
        return "installed"
    return ""


@dataclass(frozen=True, slots=True)
class Slot:
    name: str
    release: str
    active: bool


def slots(node: Node) -> tuple[Slot, Slot]:
    return (
        Slot("A", node.slot_a or "", node.active_slot == "A"),
        Slot("B", node.slot_b or "", node.active_slot == "B"),
    )


@dataclass(frozen=True, slots=True)
class Row:
    time: datetime
    kind: str
    actor: str
    message: str
    status: str  # an agent report's running/ok/failed, else ""


def timeline(events: Sequence[Event]) -> list[Row]:
    """Newest first, as the store lists them."""
    return [
        Row(e.time, e.kind, e.actor or "", e.message, str(e.data.get("status") or ""))
        for e in events
    ]


@dataclass(frozen=True, slots=True)
class ActionChoice:
    action: Action
    effect: str
    #: the name to type before it runs (wipe), else ""
    typed: str
    danger: bool


def actions(node: Node) -> list[ActionChoice]:
    """What an operator may set as the node's next boot; ``wipe`` asks for the
    host name (the MAC when the node has none) to be typed."""
    name = node.hostname or node.mac
    return [
        ActionChoice(a, ACTION_EFFECTS[a], name if a is Action.WIPE else "", a is Action.WIPE)
        for a in Action
    ]


def typed_matches(node: Node, typed: str) -> bool:
    """The wipe confirmation: the host name, or the MAC when there is none."""
    return typed.strip().lower() == (node.hostname or node.mac).lower()
