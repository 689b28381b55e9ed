"""``provisioner node|profile|bundle set/show/list/delete``.

``set`` changes only the fields given (creating the object when new); the
same validation as the API applies, errors name the field.
"""

from __future__ import annotations

import sys
import textwrap
import time
from datetime import datetime
from typing import Any

import click

from provisioner.bootparams import Options
from provisioner.bootspec import effective_release
from provisioner.cli.preview import boot_files, note_placeholder, server_option
from provisioner.cli.root import (
    Column,
    Invocation,
    _echo_json,
    _echo_rows,
    _errors,
    columns,
    delete_command,
    echo_fields,
    echo_problems,
    list_command,
    main,
    pass_inv,
    service,
    show_command,
)
from provisioner.domain import BUNDLE_KINDS, Action, Event, Node, normalize_mac, utcnow
from provisioner.errors import ValidationError
from provisioner.lifecycle import ACTION_EFFECTS, SHOWN_PHASES, last_failure
from provisioner.service import Service
from provisioner.views import bundle_view, node_view, profile_view


def _given(**fields: Any) -> dict[str, Any]:
    """Flags the user gave; an empty string clears a field."""
    return {k: (None if v == "" else v) for k, v in fields.items() if v is not None}


# -- nodes -------------------------------------------------------------------------------
@main.group()
def node() -> None:
    """Boxes, keyed by MAC address."""


@node.command("set")
@click.argument("mac")
@click.option("--hostname", help="Host name ('' clears).")
@click.option("--profile", help="Profile to inherit from ('' clears).")
@click.option("--options", help="Replace the node's dot-options: 'keyboard.de_CH lang.de auto'.")
@click.option(
    "--option",
    "add",
    multiple=True,
    metavar="WORD",
    help="Set one word (key.value, flag or name=value), keeping the others. Repeatable.",
)
@click.option("--unset", multiple=True, metavar="KEY", help="Remove one key. Repeatable.")
@click.option("--release", help="NAME:VERSION ('' clears).")
@click.option("--bundle", help="Instance bundle ('' clears).")
@click.option(
    "--action",
    type=click.Choice([a.value for a in Action]),
    help="What the next PXE boot does (see below).",
)
@click.option("--yes", is_flag=True, help="Do not ask before --action wipe.")
@pass_inv
@_errors
def node_set(
    inv: Invocation,
    /,
    *,
    mac: str,
    options: str | None,
    add: tuple[str, ...],
    unset: tuple[str, ...],
    yes: bool,
    **fields: Any,
) -> None:
    """Create or change a node: only the fields given change."""
    data = _given(**fields)
    with service(inv) as svc:
        if data.get("action") == Action.WIPE.value and not yes:
            _confirm_wipe(svc.store.find_node(normalize_mac(mac)), mac, data.get("hostname"))
        if add or unset:
            if options is None:
                current = svc.store.find_node(normalize_mac(mac))
                base = current.options if current else Options()
            else:
                base = Options.parse(options, "--options")
            opts = base.without(*unset).merged(Options.parse(" ".join(add), "--option"))
            data["options"] = opts.render()
        elif options is not None:
            data["options"] = options
        saved = svc.save_node(mac, data, partial=True, unset=unset)
        n = saved.value
        view = node_view(n, svc.bootspec(n, agent=False))
    click.echo(f"node {n.mac} {'created' if saved.created else 'updated'}")
    for w in view["warnings"]:
        click.echo(f"warning: {w}", err=True)
    echo_problems(saved.problems)


node_set.help = (
    (node_set.help or "")
    + "\n\n\b\nActions:\n"
    + "\n".join(
        textwrap.fill(
            ACTION_EFFECTS[a], 78, initial_indent=f"  {a.value:<9} ", subsequent_indent=" " * 12
        )
        for a in Action
    )
)


def _confirm_wipe(current: Node | None, mac_text: str, hostname: str | None) -> None:
    """``wipe`` erases the box's data too: the operator types its host name (its MAC
    when it has none), or the command changes nothing."""
    mac = normalize_mac(mac_text)
    name = hostname or (current.hostname if current else None) or mac
    click.echo(f"action wipe erases the whole disk of {name}, data partition included.", err=True)
    typed = click.prompt(f"Type {name} to confirm", default="", show_default=False, err=True)
    if typed.strip().lower() != name and not (name == mac and _same_mac(typed, mac)):
        click.echo(
            f"error: not confirmed ({typed.strip()!r} is not {name}); nothing changed", err=True
        )
        sys.exit(1)


def _same_mac(typed: str, mac: str) -> bool:
    try:
        return normalize_mac(typed.strip()) == mac
    except ValidationError:
        return False


@node.command("show")
@click.argument("mac")
@click.option("--json", "as_json", is_flag=True, help="JSON, as the API returns it.")
@click.option(
    "--boot", is_flag=True, help="Also print the pxelinux file and iPXE script, as served."
)
@server_option
@pass_inv
@_errors
def node_show(inv: Invocation, mac: str, as_json: bool, boot: bool, server: str | None) -> None:
    """Show one node: what it boots, its state, last error, slots, phase timings and
    install window (its timeline: node events)."""
    with service(inv) as svc:
        n = svc.get_node(mac)
        spec = svc.bootspec(n)
        problems = svc.node_problems(n.mac)
        view = node_view(n, spec, problems=problems, confirm_seconds=_confirm(svc))
        events = [] if as_json else svc.store.list_events(n.mac, 200)
        profile = svc.catalog().profiles.get(n.profile) if n.profile else None
        served = boot_files(svc, n.mac, server) if boot else ""
        note_placeholder(svc, served)
    if as_json:
        _echo_json(view)
    else:
        release = effective_release(n, profile)
        if release and not n.release:
            release += f" (profile {n.profile})"
        status = _status(n, events, utcnow())
        errors = sum(1 for p in problems if p.severity == "error")
        summary = f"{errors} error(s), {len(problems) - errors} warning(s)" if problems else None
        echo_fields(
            {**view, "release": release, **status, "problems": summary},
            [
                "mac",
                "hostname",
                "profile",
                "options",
                "release",
                "bundle",
                "action",
                "state",
                *status,
                "cmdline",
                "warnings",
                "problems",
            ],
        )
        echo_problems(problems, "  ", err=False)
    click.echo(served, nl=False)


def _status(n: Node, events: list[Event], now: datetime) -> dict[str, str | None]:
    """What the installer did: the last error and its step, the slots, timings, the
    install window."""
    failure = last_failure(n, events)
    slot = {s: f"{r}{' (active)' if n.active_slot == s else ''}" if r else None
            for s, r in (("A", n.slot_a), ("B", n.slot_b))}  # fmt: skip
    phases = ", ".join(f"{p} {n.phases[p]:g}s" for p in SHOWN_PHASES if p in n.phases)
    installed = None
    if n.installed_at:
        took = f" in {n.install_seconds:g}s" if n.install_seconds is not None else ""
        installed = f"{n.installed_at:%Y-%m-%d %H:%M:%S} UTC{took}"
    window = None
    if n.window_expires:
        left = n.window_expires - now
        window = f"{'open until' if n.window_open(now) else 'expired at'} " + (
            f"{n.window_expires:%Y-%m-%d %H:%M:%S} UTC"
        )
        if left.total_seconds() > 0:
            window += (
                f" ({int(left.total_seconds() // 3600)}h {int(left.seconds // 60 % 60)}m left)"
            )
    return {
        "last error": (
            f"{failure.kind.removeprefix('agent.')}: {failure.message} "
            f"({failure.time:%Y-%m-%d %H:%M:%S} UTC)"
            if failure
            else None
        ),
        "slot A": slot["A"],
        "slot B": slot["B"],
        "installed": installed,
        "phases": phases or None,
        "window": window,
        "running": _running(n),
    }


def _running(n: Node) -> str | None:
    """The installed system's last report: release, slot, addresses, when."""
    r = n.running
    if not r:
        return None
    where = f" on {r['addresses']}" if r.get("addresses") else ""
    when = r.get("reported_at", "?")[:19]
    return f"{r.get('release')} from slot {r.get('slot')}{where} (reported {when}Z)"


def _confirm(svc: Service) -> float:
    return svc.settings.confirm_minutes * 60


@node.command("revoke-credential")
@click.argument("mac")
@pass_inv
@_errors
def node_revoke_credential(inv: Invocation, mac: str) -> None:
    """Revoke the credential the node's installed system reports with; its reports
    are refused until its next install registers a new one."""
    with service(inv) as svc:
        n = svc.revoke_credential(mac)
    click.echo(f"node {n.mac}: report credential revoked")


@node.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_inv
@_errors
def node_list(inv: Invocation, as_json: bool) -> None:
    """All nodes: MAC, host name, profile, release and IP (their own or the profile's;
    the IP from ip., else the DHCP lease), action and state."""
    now = time.time()
    with service(inv) as svc:
        cat = svc.catalog()
        nodes = svc.store.list_nodes()
        leases = {le.mac: str(le.ip) for le in svc.store.list_leases() if le.expires > now}
        views, extra = [], {}
        for n in nodes:
            profile = cat.profiles.get(n.profile) if n.profile else None
            ip = None
            try:
                spec = svc.bootspec(n, cat, agent=False)
                views.append(node_view(n, spec, confirm_seconds=_confirm(svc)))
                ip = spec.cmdline.get("ip")
            except ValidationError as exc:
                views.append(node_view(n, None, exc))
            if ip is None and n.mac in leases:
                ip = f"{leases[n.mac]} (lease)"
            extra[n.mac] = (effective_release(n, profile), ip or "dhcp")
    table: list[Column] = [
        *columns("mac", "hostname", "profile"),
        ("RELEASE", lambda v: extra[v["mac"]][0]),
        ("IP", lambda v: extra[v["mac"]][1]),
        *columns("action", "state"),
    ]
    _echo_rows(views, as_json, table)


delete_command(
    node, "mac", "Forget a node.", Service.delete_node, lambda m: f"node {normalize_mac(m)} deleted"
)


# -- profiles --------------------------------------------------------------------------------
@main.group()
def profile() -> None:
    """Named defaults that nodes inherit (one syslinux label each)."""


@profile.command("set")
@click.argument("name")
@click.option("--kernel", help="Kernel path under the boot root, or a URL.")
@click.option("--initrd", help="Initrd path(s), comma-separated ('' clears).")
@click.option("--options", help="Dot-options and kernel arguments (the APPEND line).")
@click.option("--ipappend", type=int, help="IPAPPEND flags (2: BOOTIF).")
@click.option("--release", help="NAME:VERSION ('' clears).")
@click.option("--bundle", help="Instance bundle ('' clears).")
@click.option("--description")
@pass_inv
@_errors
def profile_set(inv: Invocation, /, name: str, **fields: Any) -> None:
    """Create or change a profile: only the fields given change."""
    data = _given(**fields)
    with service(inv) as svc:
        saved = svc.save_profile(name, data, partial=True)
    p = saved.value
    click.echo(f"profile {p.name} {'created' if saved.created else 'updated'}")
    for w in p.options.warnings():
        click.echo(f"warning: {w}", err=True)
    echo_problems(saved.problems)


show_command(
    profile,
    "name",
    "Show one profile.",
    lambda svc, name: profile_view(svc.store.get_profile(name)),
    [
        "name",
        "kernel",
        "initrd",
        "options",
        "ipappend",
        "release",
        "bundle",
        "description",
        "warnings",
    ],
)
list_command(
    profile,
    "All profiles.",
    lambda svc: [profile_view(p) for p in svc.store.list_profiles()],
    columns("name", "kernel", "initrd", "release", "bundle", "options"),
)


delete_command(
    profile,
    "name",
    "Delete a profile no node uses.",
    Service.delete_profile,
    lambda name: f"profile {name} deleted",
)


# -- bundles ------------------------------------------------------------------------------------
@main.group()
def bundle() -> None:
    """VM instances bundled at install time (copyiso/copydef/copyimg)."""


@bundle.command("set")
@click.argument("name")
@click.option("--iso", help="copyiso file name ('' clears).")
@click.option("--definition", help="copydef file name ('' clears).")
@click.option("--image", help="copyimg file name ('' clears).")
@pass_inv
@_errors
def bundle_set(inv: Invocation, /, name: str, **fields: Any) -> None:
    """Create or change a bundle."""
    with service(inv) as svc:
        b, created = svc.put_bundle(name, _given(**fields), partial=True)
    click.echo(f"bundle {b.name} {'created' if created else 'updated'}: {b.options().render()}")
    for w in b.options().warnings():
        click.echo(f"warning: {w}", err=True)


def _bundle_cell(kind: str) -> Any:
    """The file name of ``kind``; ``(not uploaded)`` while only the name is set."""

    def cell(v: dict[str, Any]) -> str | None:
        name = v[kind]
        return f"{name} (not uploaded)" if name and v["files"].get(kind) is None else name

    return cell


list_command(
    bundle,
    "All bundles.",
    lambda svc: [bundle_view(b) for b in svc.store.list_bundles()],
    [*columns("name"), *((k.upper(), _bundle_cell(k)) for k in BUNDLE_KINDS)],
)


def _delete_bundle(svc: Service, name: str) -> None:
    from provisioner.media_library import MediaLibrary

    MediaLibrary(svc.store, svc.settings).delete_bundle(name)


delete_command(
    bundle,
    "name",
    "Delete a bundle no node or profile uses, and its uploaded files.",
    _delete_bundle,
    lambda name: f"bundle {name} deleted",
)
