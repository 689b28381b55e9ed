"""``provisioner media build-initrd``: the boot environment the installer runs in;
``media check`` and ``media gc``: the catalogue against the files on disk."""

from __future__ import annotations

import click

from provisioner.cli.root import Invocation, _errors, main, note, pass_inv, service


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


@media.command("check")
@click.option("--full", is_flag=True, help="Hash every file again, even those hashed before.")
@pass_inv
@_errors
def media_check(inv: Invocation, full: bool) -> None:
    """Check the catalogue against the files on disk and repair what disagrees (also done
    at serve start): a release whose image is missing or has other bytes is removed
    (kept, with an event, while a node or profile uses it); missing boot files are rebuilt."""
    from provisioner.media_audit import MediaAudit, check_summary
    from provisioner.media_library import MediaLibrary

    with service(inv) as svc:
        report = MediaAudit(MediaLibrary(svc.store, svc.settings)).check(full=full)
    for line in [*report.problems, *(f"unreferenced: {p}" for p in report.unreferenced)]:
        click.echo(line)
    click.echo(check_summary(report))


@media.command("gc")
@click.option("--dry-run", is_flag=True, help="Say what would go; remove nothing.")
@click.option("--grace-hours", type=float, help="Instead of the media_gc_grace_hours setting.")
@pass_inv
@_errors
def media_gc(inv: Invocation, dry_run: bool, grace_hours: float | None) -> None:
    """Remove files under media/images and media/bundles that no release or bundle names
    and nobody touched for media_gc_grace_hours (also done at serve start)."""
    from provisioner.media_audit import MediaAudit, gc_lines
    from provisioner.media_library import MediaLibrary

    with service(inv) as svc:
        grace = svc.settings.media_gc_grace_hours if grace_hours is None else grace_hours
        report = MediaAudit(MediaLibrary(svc.store, svc.settings)).gc(grace, dry_run=dry_run)
    for line in gc_lines(report, grace, dry_run=dry_run):
        click.echo(line)
