"""``provisioner media build-initrd``: the boot environment the installer runs in."""

from __future__ import annotations

import click

from provisioner.cli.root import Invocation, _errors, main, note, pass_inv


@main.group()
def media() -> None:
    """Boot environment and media files."""


@media.command("build-initrd")
@click.option("--force", is_flag=True, help="Rebuild even when nothing changed.")
@pass_inv
@_errors
def build_initrd(inv: Invocation, force: bool) -> None:
    """Build DATA_DIR/boot/vmlinuz and initrd.img (Debian's kernel, busybox, the agent).

    The kernel .deb is downloaded once into DATA_DIR/cache; later runs rebuild only
    when the agent, the builder or the kernel package changed."""
    import logging

    from media.initrd import build_boot_env

    settings = inv.settings()
    logging.basicConfig(level=settings.log_level, format="%(message)s")  # says what it downloads
    if not settings.data_dir.is_dir():
        note(f"data directory (new): {settings.data_dir} (PROVISIONER_DATA_DIR or --data-dir)")
    env = build_boot_env(settings.data_dir, force=force)
    state = "built" if env.built else "up to date"
    click.echo(
        f"boot environment {state}: kernel {env.kernel_version}, {env.vmlinuz}, {env.initrd}"
    )
