"""``python -m provisioner.dhcp``: the DHCP daemon on its own.

For the benchmark (benchmarks/dhcp) and for running DHCP apart from the HTTP
service. Settings come the usual way (defaults -> ``--config`` TOML ->
``PROVISIONER_*`` environment -> these flags); the flags are the DHCP subset.
It never answers anything unless both ``--dhcp proxy|full`` and
``--interface`` are given (or set in the file or environment).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import click

from provisioner.config import Settings, load_settings
from provisioner.dhcp.config import check_enabled
from provisioner.errors import ConfigError, ProvisionerError


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
def main(config_file: str | None, **flags: object) -> None:
    """Serve DHCP (proxyDHCP or full) for network boot on one interface."""
    try:
        settings = load_settings(os.environ, config_file, flags)
        check_enabled(settings)
    except ConfigError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(_serve(settings))
    except ProvisionerError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2 if isinstance(exc, ConfigError) else 1)


async def _serve(settings: Settings) -> None:
    from provisioner.db import open_store
    from provisioner.dhcp.backend import ServiceBackend
    from provisioner.dhcp.server import run_dhcp
    from provisioner.service import Service

    loop = asyncio.get_running_loop()
    store = await loop.run_in_executor(None, open_store, settings)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await run_dhcp(settings, ServiceBackend(Service(store, settings)), stop)
    finally:
        store.close()


if __name__ == "__main__":
    main()
