"""The daemons on their own: ``python -m tftp``, ``python -m provisioner.dns`` and
``python -m provisioner.dhcp`` (for benchmarks, debugging, or running a daemon
apart from the HTTP service). Each reads the settings the usual way (defaults ->
``--config`` TOML -> ``PROVISIONER_*`` environment -> these flags) and builds its
server with :mod:`provisioner.daemons`, as ``provisioner serve`` does.

DHCP never answers anything unless both ``--dhcp proxy|full`` and
``--interface`` are given (or set in the file or environment).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping

import click

from provisioner import daemons
from provisioner.config import Settings, load_settings
from provisioner.dns.records import static_records
from provisioner.errors import ConfigError, ProvisionerError
from provisioner.service import Service
from tftp import files, routes


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


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--listen", help="HOST:PORT (PROVISIONER_TFTP; default 0.0.0.0:69).")
@click.option("--root", type=click.Path(file_okay=False), help="Serve DIR, no database.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings.")
@click.option("--data-dir", help="PROVISIONER_DATA_DIR")
@click.option("--loaders-dir", help="PROVISIONER_LOADERS_DIR (same layout as the tree).")
@click.option("--max-sessions", type=int, help="PROVISIONER_TFTP_MAX_SESSIONS")
@click.option("--max-blksize", type=int, help="PROVISIONER_TFTP_MAX_BLKSIZE")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def tftp_main(
    *,
    listen: str | None,
    root: str | None,
    config_file: str | None,
    data_dir: str | None,
    loaders_dir: str | None,
    max_sessions: int | None,
    max_blksize: int | None,
    log_level: str | None,
) -> None:
    """Read-only TFTP server for the provisioner boot tree."""
    try:
        settings = standalone_settings(
            config_file,
            {
                "tftp": listen,
                "data_dir": data_dir,
                "loaders_dir": loaders_dir,
                "tftp_max_sessions": max_sessions,
                "tftp_max_blksize": max_blksize,
                "log_level": log_level,
            },
            "tftp",
            "0.0.0.0:69",
        )
        tree = files.build_tree(settings.data_dir, settings.loaders_dir)
        if root is not None:
            tree = routes.Tree(os.path.realpath(root), tree.loaders, tree.missing)
            daemons.run_standalone(daemons.tftp_server(settings, None, tree=tree))
            return
        from provisioner.db import open_store

        store = open_store(settings)
        try:
            daemons.run_standalone(
                daemons.tftp_server(settings, Service(store, settings), tree=tree)
            )
        finally:
            store.close()
    except ProvisionerError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--listen", help="HOST:PORT, UDP and TCP (PROVISIONER_DNS; default 0.0.0.0:53).")
@click.option("--domain", help="PROVISIONER_DOMAIN")
@click.option("--upstream", help="Forward other names to IP:PORT (PROVISIONER_DNS_UPSTREAM).")
@click.option("--ttl", type=int, help="PROVISIONER_DNS_TTL")
@click.option("--server-ip", help="Address of ns.<domain> (PROVISIONER_SERVER_IP).")
@click.option("--record", "records", multiple=True, help="NAME=IP; no database when given.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings.")
@click.option("--data-dir", help="PROVISIONER_DATA_DIR")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def dns_main(
    *,
    listen: str | None,
    domain: str | None,
    upstream: str | None,
    ttl: int | None,
    server_ip: str | None,
    records: tuple[str, ...],
    config_file: str | None,
    data_dir: str | None,
    log_level: str | None,
) -> None:
    """Authoritative DNS for the node host names (REFUSED or forwarded otherwise)."""
    try:
        settings = standalone_settings(
            config_file,
            {
                "dns": listen,
                "domain": domain,
                "dns_upstream": upstream,
                "dns_ttl": ttl,
                "server_ip": server_ip,
                "data_dir": data_dir,
                "log_level": log_level,
            },
            "dns",
            "0.0.0.0:53",
        )
        if records:
            daemons.run_standalone(daemons.dns_server(settings, static_records(records)))
            return
        from provisioner.db import open_store

        store = open_store(settings)
        service = Service(store, settings)
        try:
            daemons.run_standalone(
                daemons.dns_server(settings, lambda: daemons.node_records(service))
            )
        finally:
            store.close()
    except ProvisionerError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings.")
@click.option("--dhcp", type=click.Choice(["off", "proxy", "full"]), help="Mode (required).")
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
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def dhcp_main(config_file: str | None, **flags: object) -> None:
    """Serve DHCP (proxyDHCP or full) for network boot on one interface."""
    try:
        settings = load_settings(os.environ, config_file, flags)
        daemons.check_dhcp_enabled(settings)
    except ConfigError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    daemons.configure_logging(settings)
    try:
        from provisioner.db import open_store

        store = open_store(settings)
        try:
            server = daemons.dhcp_server(settings, daemons.ServiceBackend(Service(store, settings)))
            asyncio.run(daemons.until_signal(server))
        finally:
            store.close()
    except ProvisionerError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2 if isinstance(exc, ConfigError) else 1)
