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
    """Build DATA_DIR/boot/vmlinuz and initrd.img (Debian's kernel, busybox, the agent)
    and DATA_DIR/boot/loader/ (GRUB for installed disks, BIOS and UEFI).

    The kernel .deb is downloaded once into DATA_DIR/cache; later runs rebuild only
    when the agent, the builder, the kernel or the GRUB packages changed."""
    import logging

    from media.initrd import build_boot_env
    from media.loader import LOADER_DIR, build_loader

    settings = inv.settings()
    logging.basicConfig(level=settings.log_level, format="%(message)s")  # says what it downloads
    if not settings.data_dir.is_dir():
        note(f"data directory (new): {settings.data_dir} (PROVISIONER_DATA_DIR or --data-dir)")
    env = build_boot_env(settings.data_dir, force=force)
    state = "built" if env.built else "up to date"
    click.echo(
        f"boot environment {state}: kernel {env.kernel_version}, {env.vmlinuz}, {env.initrd}"
    )
    loader = build_loader(settings.data_dir / "boot" / LOADER_DIR, force=force)
    grub = ", ".join(f"{p} {v}" for p, v in loader.versions.items())
    click.echo(f"disk boot loader {'built' if loader.built else 'up to date'}: {grub}, "
               f"{loader.esp.parent}")  # fmt: skip
