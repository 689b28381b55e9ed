"""``provisioner user add|list|remove|passwd``: web console accounts.

A password is never an argument (it would show in ``ps`` and the shell's
history): it is asked for twice on a terminal, else read as the first line of
standard input (``printf '%s\\n' "$PW" | provisioner user add ...``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from provisioner.accounts import Accounts
from provisioner.cli.root import Invocation, _errors, main, pass_inv, service
from provisioner.domain import Role
from provisioner.errors import ValidationError
from provisioner.passwords import check_policy


def read_password() -> str:
    if sys.stdin.isatty():
        text: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        text = sys.stdin.readline().rstrip("\r\n")
    if not text:
        raise ValidationError("password", "is empty (type it, or give it on standard input)")
    return check_policy(text)


@contextmanager
def accounts(inv: Invocation) -> Iterator[Accounts]:
    with service(inv) as svc:
        yield Accounts(svc.store, svc.settings)


@main.group()
def user() -> None:
    """Web console users (log in at /ui/)."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@pass_inv
@_errors
def user_add(inv: Invocation, name: str, role: str) -> None:
    """Add a user; the password is asked for (or read from standard input)."""
    password = read_password()
    with accounts(inv) as acc:
        made = acc.add_user(name, Role(role), password)
    click.echo(f"user {made.name} ({made.role.value}) added")


@user.command("list")
@pass_inv
@_errors
def user_list(inv: Invocation) -> None:
    """List users: name, role, created."""
    with service(inv) as svc:
        for u in svc.store.list_users():
            click.echo(f"{u.name}\t{u.role.value}\t{u.created_at:%Y-%m-%d %H:%M}")


@user.command("remove")
@click.argument("name")
@pass_inv
@_errors
def user_remove(inv: Invocation, name: str) -> None:
    """Remove a user (their sessions end at once)."""
    with accounts(inv) as acc:
        acc.remove_user(name)
    click.echo(f"user {name} removed")


@user.command("passwd")
@click.argument("name")
@pass_inv
@_errors
def user_passwd(inv: Invocation, name: str) -> None:
    """Set a user's password (their sessions end: they log in again)."""
    password = read_password()
    with accounts(inv) as acc:
        acc.set_password(name, password)
    click.echo(f"password of user {name} changed")
