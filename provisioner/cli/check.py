"""``provisioner node check [MAC...]``: the preflight check over a whole rack
(docs/preflight.md); exit status 1 when any node has an error."""

from __future__ import annotations

import sys

import click

from provisioner.cli.objects import node
from provisioner.cli.root import Invocation, _echo_json, _errors, echo_problems, pass_inv, service
from provisioner.preflight import errors


@node.command("check")
@click.argument("macs", nargs=-1, metavar="[MAC]...")
@click.option("--json", "as_json", is_flag=True, help="JSON: MAC -> problems.")
@pass_inv
@_errors
def node_check(inv: Invocation, macs: tuple[str, ...], as_json: bool) -> None:
    """List every node (all, or the MACs given) that has a problem: errors (the
    box cannot boot as configured) and warnings. Exit status 1 when any error."""
    with service(inv) as svc:
        found = svc.rack_problems(macs or None)
        checked = len(macs) if macs else len(svc.view.snapshot().nodes)
    n_errors = sum(len(errors(ps)) for ps in found.values())
    if as_json:
        _echo_json({mac: [p.to_dict() for p in ps] for mac, ps in found.items()})
    else:
        for mac, problems in found.items():
            click.echo(mac)
            echo_problems(problems, indent="  ", err=False)
        n_warnings = sum(len(ps) for ps in found.values()) - n_errors
        click.echo(
            f"{checked} node(s) checked: {len(found)} with problems, "
            f"{n_errors} error(s), {n_warnings} warning(s)",
            err=True,
        )
    if n_errors:
        sys.exit(1)
