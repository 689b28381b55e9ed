"""``provisioner node|profile|bundle set/show/list/delete``.

``set`` changes only the fields given (creating the object when new); the
same validation as the API applies, errors name the field.
"""

from __future__ import annotations

from typing import Any

import click

from provisioner.bootnames import base_url, config_path
from provisioner.bootparams import Options
from provisioner.cli.root import (
    Invocation,
    _echo_json,
    _echo_rows,
    _errors,
    delete_command,
    echo_problems,
    main,
    pass_inv,
    service,
)
from provisioner.domain import Action, normalize_mac
from provisioner.errors import ValidationError
from provisioner.service import Service
from provisioner.views import bundle_view, node_view, profile_view
from pxelinux.render import ipxe_script, pxelinux_config


def _given(**fields: Any) -> dict[str, Any]:
    """Flags the user gave; an empty string clears a field."""
    return {k: (None if v == "" else v) for k, v in fields.items() if v is not None}


def _print_fields(view: dict[str, Any], keys: list[str]) -> None:
    for key in keys:
        value = view.get(key)
        if isinstance(value, list):
            value = "; ".join(value) or "-"
        click.echo(f"{key + ':':<12} {'-' if value in (None, '') else value}")


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
@click.option("--action", type=click.Choice([a.value for a in Action]))
@pass_inv
@_errors
def node_set(
    inv: Invocation,
    /,
    mac: str,
    options: str | None,
    add: tuple[str, ...],
    unset: tuple[str, ...],
    **fields: Any,
) -> None:
    """Create or change a node: only the fields given change."""
    data = _given(**fields)
    with service(inv) as svc:
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


@node.command("show")
@click.argument("mac")
@click.option("--json", "as_json", is_flag=True, help="JSON, as the API returns it.")
@click.option("--boot", is_flag=True, help="Also print the pxelinux file and iPXE script.")
@pass_inv
@_errors
def node_show(inv: Invocation, mac: str, as_json: bool, boot: bool) -> None:
    """Show one node and its effective command line."""
    with service(inv) as svc:
        n = svc.get_node(mac)
        spec = svc.bootspec(n)
        view = node_view(n, spec)
        base = base_url(svc.settings.server_ip or "SERVER", svc.settings.http_host_port[1])
    if as_json:
        _echo_json(view)
    else:
        _print_fields(
            view,
            [
                "mac",
                "hostname",
                "profile",
                "options",
                "release",
                "bundle",
                "action",
                "state",
                "cmdline",
                "warnings",
            ],
        )
    if boot:
        click.echo(f"\n# {config_path(n.mac)}")
        click.echo(pxelinux_config(spec), nl=False)
        click.echo("\n# iPXE script")
        click.echo(ipxe_script(spec, base + "/boot/files/"), nl=False)


@node.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_inv
@_errors
def node_list(inv: Invocation, as_json: bool) -> None:
    """All nodes."""
    with service(inv) as svc:
        cat = svc.catalog()
        nodes = svc.store.list_nodes()
        views = []
        for n in nodes:
            try:
                views.append(node_view(n, svc.bootspec(n, cat, agent=False)))
            except ValidationError as exc:
                views.append(node_view(n, None, exc))
    _echo_rows(views, as_json, lambda v: (
        f"{v['mac']}  {v['hostname'] or '-':<20} {v['profile'] or '-':<12} "
        f"{v['action']:<8} {v['state']:<10} {v['options']}"
    ))  # fmt: skip


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


@profile.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_inv
@_errors
def profile_show(inv: Invocation, name: str, as_json: bool) -> None:
    """Show one profile."""
    with service(inv) as svc:
        view = profile_view(svc.store.get_profile(name))
    if as_json:
        _echo_json(view)
    else:
        _print_fields(
            view,
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


@profile.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_inv
@_errors
def profile_list(inv: Invocation, as_json: bool) -> None:
    """All profiles."""
    with service(inv) as svc:
        views = [profile_view(p) for p in svc.store.list_profiles()]
    _echo_rows(views, as_json, lambda v: f"{v['name']:<16} {v['kernel']:<12} {v['options']}")


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


@bundle.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_inv
@_errors
def bundle_list(inv: Invocation, as_json: bool) -> None:
    """All bundles."""
    with service(inv) as svc:
        views = [bundle_view(b) for b in svc.store.list_bundles()]
    _echo_rows(views, as_json, lambda v: f"{v['name']:<16} {v['options']}")


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
