"""``python -m provisioner.dns``: the DNS daemon on its own.

Records come from the database (nodes with a host name and an ``ip.`` option),
or, with ``--record NAME=IP`` (repeatable), from the command line only.
"""

from __future__ import annotations

import sys

import click

from provisioner import daemon
from provisioner.dns.records import node_records, static_records
from provisioner.dns.server import DnsServer
from provisioner.errors import ProvisionerError


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
def main(
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
        settings = daemon.standalone_settings(
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
            daemon.run_standalone(DnsServer(settings, static_records(records)))
            return
        from provisioner.db import open_store
        from provisioner.service import Service

        store = open_store(settings)
        service = Service(store, settings)
        try:
            daemon.run_standalone(DnsServer(settings, lambda: node_records(service)))
        finally:
            store.close()
    except ProvisionerError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
