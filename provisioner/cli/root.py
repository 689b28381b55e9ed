"""The ``provisioner`` command (also ``python -m provisioner``).

Settings are read here, once: defaults -> ``--config``/``PROVISIONER_CONFIG``
TOML -> ``PROVISIONER_*`` environment -> flags. Every subcommand honours them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

import click

from provisioner.config import Settings, load_settings
from provisioner.domain import TOKEN_ROLES, Role
from provisioner.errors import (
    ConfigError,
    PreflightError,
    ProvisionerError,
    StoreError,
    ValidationError,
)
from provisioner.preflight import Problem
from provisioner.service import Service

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Invocation:
    config_file: str | None
    overrides: dict[str, object]

    def settings(self, **more: object) -> Settings:
        return load_settings(os.environ, self.config_file, {**self.overrides, **more})


@contextmanager
def service(inv: Invocation, **more: object) -> Iterator[Service]:
    from provisioner.db import open_store

    settings = inv.settings(**more)
    store = open_store(settings, created=note)
    try:
        yield Service(store, settings)
    finally:
        store.close()


def note(text: str) -> None:
    """Something the user should know but did not ask for (stderr)."""
    click.echo(text, err=True)


def _fail(exc: ProvisionerError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    if isinstance(exc, PreflightError):  # the first error is the message; then the rest
        for p in exc.problems[1:]:
            click.echo(f"{p['severity']}: {p['field']}: {p['message']}; {p['fix']}", err=True)
    sys.exit(2 if isinstance(exc, ValidationError | ConfigError) else 1)


def echo_problems(problems: Iterable[Problem], indent: str = "", *, err: bool = True) -> None:
    """Preflight problems, one a line: ``warning: options.gw: ...; fix``."""
    for p in problems:
        click.echo(f"{indent}{p.severity}: {p}", err=err)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False))


#: a list command's column: its header and how a cell is read from the item's view
Column = tuple[str, Callable[[dict[str, Any]], object]]


def columns(*keys: str) -> list[Column]:
    """Table columns that show the views' ``keys`` as they are, under their names
    in capitals."""
    return [(key.upper(), itemgetter(key)) for key in keys]


def _echo_rows(views: list[dict[str, Any]], as_json: bool, columns: Sequence[Column]) -> None:
    """A list command's output: the API's JSON, or a table under a header line
    (nothing at all for no items); an empty cell is ``-``."""
    if as_json:
        _echo_json(views)
        return
    if not views:
        return
    rows = [[h for h, _ in columns]]
    rows += [[_cell(cell(v)) for _, cell in columns] for v in views]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def echo_fields(view: dict[str, Any], keys: Sequence[str]) -> None:
    """A show command's output: ``key: value`` a line (a list joined with ``; ``)."""
    for key in keys:
        value = view.get(key)
        if isinstance(value, list):
            value = "; ".join(value) or "-"
        click.echo(f"{key + ':':<12} {'-' if value in (None, '') else value}")


pass_inv = click.make_pass_decorator(Invocation)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="TOML settings file (also PROVISIONER_CONFIG).",
)
@click.option("--data-dir", help="Where everything is kept (PROVISIONER_DATA_DIR).")
@click.option(
    "--database-url",
    help="SQLAlchemy URL (PROVISIONER_DATABASE_URL); default: SQLite in the data dir.",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    help="PROVISIONER_LOG_LEVEL",
)
@click.version_option(package_name="provisioner")
@click.pass_context
def main(
    ctx: click.Context,
    config_file: str | None,
    data_dir: str | None,
    database_url: str | None,
    log_level: str | None,
) -> None:
    """PXE provisioning server: per-MAC boot profiles with ArchivistaBox
    dot-options (keyboard.de_CH lang.de auto ip.192.168.2.251 ...)."""
    ctx.obj = Invocation(
        config_file, {"data_dir": data_dir, "database_url": database_url, "log_level": log_level}
    )


def _errors(fn: F) -> F:
    """Translate domain errors into a message and exit status."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ProvisionerError as exc:
            _fail(exc)
        return None

    return wrapper  # type: ignore[return-value]


def delete_command(
    group: click.Group,
    arg: str,
    doc: str,
    delete: Callable[[Service, str], object],
    done: Callable[[str], str],
) -> None:
    """Add ``delete ARG`` to ``group``: ``delete(service, value)``, then ``done(value)``."""

    @group.command("delete", help=doc)
    @click.argument(arg)
    @pass_inv
    @_errors
    def command(inv: Invocation, /, **args: str) -> None:
        value = args[arg]
        with service(inv) as svc:
            delete(svc, value)
        click.echo(done(value))


def list_command(
    group: click.Group,
    doc: str,
    views: Callable[[Service], list[dict[str, Any]]],
    columns: Sequence[Column],
) -> None:
    """Add ``list [--json]`` to ``group``: ``views(service)``, as a table of ``columns``."""

    @group.command("list", help=doc)
    @click.option("--json", "as_json", is_flag=True)
    @pass_inv
    @_errors
    def command(inv: Invocation, /, as_json: bool) -> None:
        with service(inv) as svc:
            found = views(svc)
        _echo_rows(found, as_json, columns)


def show_command(
    group: click.Group,
    arg: str,
    doc: str,
    view: Callable[[Service, str], dict[str, Any]],
    keys: Sequence[str],
) -> None:
    """Add ``show ARG [--json]`` to ``group``: ``view(service, value)``, its ``keys``
    one a line."""

    @group.command("show", help=doc)
    @click.argument(arg)
    @click.option("--json", "as_json", is_flag=True)
    @pass_inv
    @_errors
    def command(inv: Invocation, /, as_json: bool, **args: str) -> None:
        with service(inv) as svc:
            found = view(svc, args[arg])
        if as_json:
            _echo_json(found)
        else:
            echo_fields(found, keys)


# -- serve ----------------------------------------------------------------------------------
@main.command()
@click.option("--http", help="HTTP listen address HOST:PORT (default 0.0.0.0:8080).")
@click.option("--workers", "http_workers", type=int, help="gunicorn worker processes.")
@click.option("--threads", "http_threads", type=int, help="Threads per worker.")
@click.option(
    "--server-ip",
    help="Address boxes reach us at, written into boot files and "
    "DHCP replies (default: the --interface's address).",
)
@click.option("--tftp", help="TFTP listen address HOST:PORT, e.g. 0.0.0.0:69 (default: off).")
@click.option("--dns", help="DNS listen address HOST:PORT, e.g. 0.0.0.0:53 (default: off).")
@click.option(
    "--dhcp",
    type=click.Choice(["off", "proxy", "full", "observe"]),
    help="DHCP mode (default off); needs --interface.",
)
@click.option("--interface", help="The only interface DHCP answers on.")
@pass_inv
@_errors
def serve(inv: Invocation, /, **flags: Any) -> None:
    """Run the server: HTTP API and boot endpoints on gunicorn, plus TFTP, DNS and
    DHCP when enabled. DHCP never runs unless --dhcp AND --interface are given."""
    from provisioner.serve import run

    run(inv.settings(**flags))


# -- db ---------------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_inv
@_errors
def db_upgrade(inv: Invocation, revision: str) -> None:
    """Create or upgrade the schema."""
    from provisioner.db import migrate, new_store_notice

    settings = inv.settings()
    url = settings.effective_database_url
    new_dir = not settings.data_dir.is_dir()
    if migrate.upgrade(url, revision) is None:
        note(new_store_notice(settings, new_dir=new_dir))
    click.echo(f"database at revision {migrate.current(url)}")


@db.command("current")
@pass_inv
@_errors
def db_current(inv: Invocation) -> None:
    """Print the schema revision (and the newest one known); creates nothing."""
    from provisioner.db import migrate

    settings = inv.settings()
    url = settings.effective_database_url
    if not migrate.exists(url):
        click.echo(f"current (no database: {url} does not exist), head {migrate.head()}")
        note(f"data directory: {settings.data_dir} (PROVISIONER_DATA_DIR or --data-dir)")
        return
    try:
        current = migrate.current(url)
    except Exception as exc:
        raise StoreError(f"cannot open the database: {str(exc).splitlines()[0]}") from exc
    click.echo(f"current {current or '(empty)'}, head {migrate.head()}")


# -- tokens --------------------------------------------------------------------------------------
@main.group()
def token() -> None:
    """API tokens (Authorization: Bearer ...)."""


@token.command("create")
@click.option("--role", type=click.Choice([r.value for r in TOKEN_ROLES]), required=True)
@click.option("--name", default="cli", show_default=True, help="A label for the token.")
@pass_inv
@_errors
def token_create(inv: Invocation, role: str, name: str) -> None:
    """Create a token and print it (only this once; the server keeps its hash)."""
    with service(inv) as svc:
        tok, secret = svc.create_token(name, Role(role))
    click.echo(secret)
    click.echo(f"token {tok.id} ({tok.name}, {tok.role.value}) created", err=True)


@token.command("list")
@pass_inv
@_errors
def token_list(inv: Invocation) -> None:
    """List tokens (never their secrets)."""
    with service(inv) as svc:
        for t in svc.store.list_tokens():
            click.echo(f"{t.id}\t{t.role.value}\t{t.name}\t{t.created_at:%Y-%m-%d %H:%M}")


@token.command("revoke")
@click.argument("token_id", type=int)
@pass_inv
@_errors
def token_revoke(inv: Invocation, token_id: int) -> None:
    """Revoke a token by id."""
    with service(inv) as svc:
        svc.store.delete_token(token_id)
    click.echo(f"token {token_id} revoked")


# -- import ----------------------------------------------------------------------------------------
@main.command("import-syslinux")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Replace profiles that would change.")
@click.option(
    "--join-wrapped",
    is_flag=True,
    help="Join text wrapped onto the lines after APPEND onto the APPEND line.",
)
@click.option("--dry-run", is_flag=True, help="Report what would happen; change nothing.")
@pass_inv
@_errors
def import_syslinux(
    inv: Invocation, file: Path, replace: bool, join_wrapped: bool, dry_run: bool
) -> None:
    """Turn each LABEL of a syslinux.cfg/isolinux.cfg into a profile of that name.

    Idempotent: an identical profile is left alone; one that would change is
    refused unless --replace. Any problem in the file imports nothing."""
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    with service(inv) as svc:
        report = svc.import_syslinux(
            text, replace=replace, join_wrapped=join_wrapped, dry_run=dry_run
        )
    for w in report.warnings:
        click.echo(f"warning: {file}: {w}", err=True)
    for p in report.problems:
        click.echo(f"error: {file}: {p}", err=True)
    if report.problems:
        click.echo("nothing imported", err=True)
        sys.exit(2)
    for name in report.refused:
        click.echo(
            f"refused: label {name!r} would change the existing profile {name!r}; "
            "use --replace to replace it",
            err=True,
        )
    prefix = "would be " if dry_run else ""
    for what, names in (
        ("created", report.created),
        ("replaced", report.replaced),
        ("unchanged", report.unchanged),
        ("skipped", report.skipped),
    ):
        for name in names:
            click.echo(f"{prefix}{what}: {name}")
    if report.refused:
        sys.exit(1)
