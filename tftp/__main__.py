"""``python -m tftp``: the TFTP server on its own (the benchmark and debugging use it).

Settings as everywhere (defaults -> ``--config`` TOML -> ``PROVISIONER_*`` -> flags).
Without ``--root`` it opens the database and serves the whole tree, generated
``pxelinux.cfg/`` files included; with ``--root DIR`` it serves DIR in place of
``<data_dir>/boot`` plus the loaders, and needs no database.
"""

from __future__ import annotations

import os
import sys

import click

from provisioner import daemon
from provisioner.errors import ProvisionerError
from tftp import routes
from tftp.server import TftpServer


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--listen", help="HOST:PORT (PROVISIONER_TFTP; default 0.0.0.0:69).")
@click.option("--root", type=click.Path(file_okay=False), help="Serve DIR, no database.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings.")
@click.option("--data-dir", help="PROVISIONER_DATA_DIR")
@click.option("--loaders-dir", help="PROVISIONER_LOADERS_DIR (same layout as the tree).")
@click.option("--max-sessions", type=int, help="PROVISIONER_TFTP_MAX_SESSIONS")
@click.option("--max-blksize", type=int, help="PROVISIONER_TFTP_MAX_BLKSIZE")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def main(
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
        settings = daemon.standalone_settings(
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
        tree = routes.build_tree(settings.data_dir, settings.loaders_dir)
        if root is not None:
            tree = routes.Tree(os.path.realpath(root), tree.loaders, tree.missing)
            daemon.run_standalone(TftpServer(settings, None, tree=tree))
            return
        from provisioner.db import open_store
        from provisioner.service import Service

        store = open_store(settings)
        try:
            daemon.run_standalone(TftpServer(settings, Service(store, settings), tree=tree))
        finally:
            store.close()
    except ProvisionerError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
