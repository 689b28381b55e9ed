"""The daemons on their own: ``python -m tftp``, ``python -m provisioner.dns`` and
``python -m provisioner.dhcp`` (for benchmarks, debugging, or running a daemon
apart from the HTTP service). Each reads the settings the usual way (defaults ->
``--config`` TOML -> ``PROVISIONER_*`` environment -> these flags) and builds its
server with :mod:`provisioner.daemons`, as ``provisioner serve`` does.

DHCP never answers anything unless both ``--dhcp proxy|full`` and
``--interface`` are given (``--dhcp observe`` only listens) (or set in the file or environment).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import click

from provisioner import daemons
from provisioner.config import Settings, load_settings
from provisioner.dns.records import static_records
from provisioner.errors import ConfigError, ProvisionerError
from provisioner.service import Service
from tftp import files, routes

_LOG_LEVEL = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"])
_COMMAND = {"help_option_names": ["-h", "--help"]}


def standalone_settings(
    config_file: str | None, overrides: Mapping[str, object], listen: str, default: str
) -> Settings:
    """Settings for one daemon: the usual layers, ``listen`` (a setting name)
    defaulting to ``default``, and logging configured."""
    settings = load_settings(os.environ, config_file, overrides)
    if not getattr(settings, listen):
        settings = settings.replace(**{listen: default})
    daemons.configure_logging(settings)
    return settings


@contextmanager
def _service(settings: Settings) -> Iterator[Service]:
    from provisioner.db import open_store

    store = open_store(settings, created=lambda notice: click.echo(notice, err=True))
    try:
        yield Service(store, settings)
    finally:
        store.close()


def _run(serve: Callable[[], None], config_exit: int = 1) -> None:
    """Run ``serve``; a ProvisionerError is one line on stderr and exit 1
    (``config_exit`` for a ConfigError)."""
    try:
        serve()
    except ProvisionerError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(config_exit if isinstance(exc, ConfigError) else 1)


@click.command(context_settings=_COMMAND)
@click.option("--listen", "tftp", help="HOST:PORT (PROVISIONER_TFTP; default 0.0.0.0:69).")
@click.option("--root", type=click.Path(file_okay=False), help="Serve DIR, no database.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings.")
@click.option("--data-dir", help="PROVISIONER_DATA_DIR")
@click.option("--loaders-dir", help="PROVISIONER_LOADERS_DIR (same layout as the tree).")
@click.option("--max-sessions", "tftp_max_sessions", type=int, help="PROVISIONER_TFTP_MAX_SESSIONS")
@click.option("--max-blksize", "tftp_max_blksize", type=int, help="PROVISIONER_TFTP_MAX_BLKSIZE")
@click.option("--log-level", type=_LOG_LEVEL)
def tftp_main(root: str | None, config_file: str | None, **flags: object) -> None:
    """Read-only TFTP server for the provisioner boot tree."""

    def serve() -> None:
        settings = standalone_settings(config_file, flags, "tftp", "0.0.0.0:69")
        tree = files.build_tree(settings.data_dir, settings.loaders_dir)
        if root is not None:
            tree = routes.Tree(os.path.realpath(root), tree.loaders, tree.missing)
            daemons.run_standalone(daemons.tftp_server(settings, None, tree=tree))
            return
        with _service(settings) as service:
            daemons.run_standalone(daemons.tftp_server(settings, service, tree=tree))

    _run(serve)


@click.command(context_settings=_COMMAND)
@click.option(
    "--listen", "dns", help="HOST:PORT, UDP and TCP (PROVISIONER_DNS; default 0.0.0.0:53)."
)
@click.option("--domain", help="PROVISIONER_DOMAIN")
@click.option(
    "--upstream", "dns_upstream", help="Forward other names to IP:PORT (PROVISIONER_DNS_UPSTREAM)."
)
@click.option("--ttl", "dns_ttl", type=int, help="PROVISIONER_DNS_TTL")
@click.option("--server-ip", help="Address of ns.<domain> (PROVISIONER_SERVER_IP).")
@click.option("--record", "records", multiple=True, help="NAME=IP; no database when given.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings.")
@click.option("--data-dir", help="PROVISIONER_DATA_DIR")
@click.option("--log-level", type=_LOG_LEVEL)
def dns_main(records: tuple[str, ...], config_file: str | None, **flags: object) -> None:
    """Authoritative DNS for the node host names (REFUSED or forwarded otherwise)."""

    def serve() -> None:
        settings = standalone_settings(config_file, flags, "dns", "0.0.0.0:53")
        if records:
            daemons.run_standalone(daemons.dns_server(settings, static_records(records)))
            return
        with _service(settings) as service:
            source = lambda: daemons.node_records(service)  # noqa: E731
            daemons.run_standalone(daemons.dns_server(settings, source))

    _run(serve)


@click.command(context_settings=_COMMAND)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings.")
@click.option(
    "--dhcp", type=click.Choice(["off", "proxy", "full", "observe"]), help="Mode (required)."
)
@click.option("--interface", "--iface", "interface", help="Interface to answer on (required).")
@click.option("--server-ip", "--listen", "server_ip", help="This server's address in replies.")
@click.option("--pool", "dhcp_pool", help="full: address pool START-END.")
@click.option("--netmask", "dhcp_netmask", help="full: subnet mask offered.")
@click.option("--router", "dhcp_router", help="full: default gateway offered.")
@click.option("--dns-servers", "dhcp_dns_servers", help="full: DNS servers offered (a,b).")
@click.option("--lease-time", "dhcp_lease_time", type=int, help="full: lease seconds.")
@click.option("--http", help="HTTP HOST:PORT the boot URLs point at.")
@click.option("--unknown-macs", type=click.Choice(["ignore", "menu"]))
@click.option("--bios-loader", type=click.Choice(["pxelinux", "ipxe"]))
@click.option("--uefi-loader", type=click.Choice(["syslinux", "ipxe"]))
@click.option("--data-dir", "--state", "data_dir", help="Data directory (database, leases).")
@click.option("--database-url", help="SQLAlchemy URL; default: SQLite in the data dir.")
@click.option("--log-level", type=_LOG_LEVEL)
def dhcp_main(config_file: str | None, **flags: object) -> None:
    """Serve DHCP (proxyDHCP or full) for network boot on one interface, or observe it."""
    try:
        settings = load_settings(os.environ, config_file, flags)
        daemons.check_dhcp_enabled(settings)
    except ConfigError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    daemons.configure_logging(settings)

    def serve() -> None:
        with _service(settings) as service:
            daemons.run_standalone(daemons.dhcp_server(settings, daemons.ServiceBackend(service)))

    _run(serve, config_exit=2)
