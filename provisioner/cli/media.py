"""``provisioner image ...``, ``bundle upload|remove-file``, ``node manifest``
and ``upload list|discard|sweep``: the media catalogue from the command line.

Without ``--server`` a file is copied into this machine's data directory by the
same code the API uses (temp file, fsync, sha256, checks, link into place).
With ``--server URL --token T`` it goes over HTTP with the resumable protocol,
resuming by itself when the connection breaks. Large files show a progress bar.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from media.layout import media_url, release_relpath
from provisioner.cli.objects import bundle, node
from provisioner.cli.preview import media_base, note_placeholder, server_option
from provisioner.cli.root import (
    Invocation,
    _echo_json,
    _errors,
    columns,
    delete_command,
    list_command,
    main,
    pass_inv,
    service,
    show_command,
)
from provisioner.domain import BUNDLE_KINDS, Release, parse_release_ref
from provisioner.errors import NotFound
from provisioner.media_library import MediaLibrary, Stored
from provisioner.service import Service
from provisioner.views import bundle_upload_view, release_view

#: files at least this large get a progress bar
PROGRESS_MIN = 16 * 1024 * 1024


@contextlib.contextmanager
def _progress(size: int) -> Iterator[Progress]:
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=size < PROGRESS_MIN,
    )
    with bar:
        yield bar


def _release_view(svc: Service, r: Release) -> dict[str, Any]:
    return release_view(r, media_url(media_base(svc), release_relpath(r)))


def _token(token: str | None, token_file: Path | None) -> str:
    if token_file is not None:
        return token_file.read_text().strip()
    if not token:
        raise click.UsageError("--server needs --token or --token-file")
    return token


def _send(
    inv: Invocation,
    file: Path,
    target: dict[str, Any],
    *,
    sha256: str | None,
    server: str | None,
    token: str | None,
    token_file: Path | None,
) -> dict[str, Any]:
    """Upload ``file`` for ``target``; returns the stored release or bundle view."""
    size = file.stat().st_size
    if server:
        from media.client import UploadClient

        client = UploadClient(server, _token(token, token_file))
        with _progress(size) as bar:
            hashing = bar.add_task("sha256", total=size) if sha256 is None else None
            sending = bar.add_task(f"upload {file.name}", total=size, visible=False)
            answer = client.upload(
                file,
                target,
                sha256=sha256,
                hashing=(lambda n: bar.advance(hashing, n)) if hashing is not None else None,
                progress=lambda n: bar.advance(sending, n),
                resumed=lambda at: _resumed(bar, sending, at),
            )
        if answer.get("release"):
            return dict(answer["release"])
        return {**answer["bundle"], "replaced": answer.get("replaced")}
    with service(inv) as svc:
        lib = MediaLibrary(svc.store, svc.settings)
        resolved = lib.target(target)
        with _progress(size) as bar, file.open("rb") as f:
            task = bar.add_task(f"copy {file.name}", total=size)
            result: Stored = lib.upload(
                resolved, f, size, sha256, progress=lambda n: bar.advance(task, n)
            )
        if isinstance(result, Release):
            return _release_view(svc, result)
        return bundle_upload_view(result.bundle, result.replaced, media_base(svc))


def _resumed(bar: Progress, task: Any, offset: int) -> None:
    bar.update(task, completed=offset, visible=True)
    if offset:
        bar.console.print(f"resuming the upload at byte {offset}")


def _remote_options(fn: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--sha256", help="Expected SHA-256; refused (nothing stored) if it differs."
            ),
            click.option("--server", metavar="URL", help="Upload over HTTP to this server."),
            click.option("--token", help="API token (admin) for --server."),
            click.option(
                "--token-file",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="File holding the API token for --server.",
            ),
        ]
    ):
        fn = option(fn)
    return fn


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


# -- release images ------------------------------------------------------------------------
@main.group()
def image() -> None:
    """Release images: squashfs master images, NAME:VERSION."""


@image.command("add")
@click.argument("file", type=_FILE)
@click.option("--name", required=True, help="Release name (nodes say NAME:VERSION).")
@click.option("--version", "version", required=True, help="Release version.")
@_remote_options
@pass_inv
@_errors
def image_add(inv: Invocation, /, file: Path, name: str, version: str, **remote: Any) -> None:
    """Check a squashfs image and add it as release NAME:VERSION."""
    target = {"target": "image", "name": name, "version": version}
    view = _send(inv, file, target, **remote)
    click.echo(f"release {view['ref']} added: {view['size']} bytes, sha256 {view['sha256']}")


def _release_views(svc: Service) -> list[dict[str, Any]]:
    views = [_release_view(svc, r) for r in svc.store.list_releases()]
    note_placeholder(svc, json.dumps(views))
    return views


def _release_shown(svc: Service, ref: str) -> dict[str, Any]:
    view = _release_view(svc, svc.store.get_release(*parse_release_ref(ref)))
    note_placeholder(svc, view["url"])
    return view


list_command(
    image,
    "All releases.",
    _release_views,
    [
        ("RELEASE", itemgetter("ref")),
        *columns("size"),
        ("SHA256", lambda v: v["sha256"][:16]),
        *columns("url"),
    ],
)
show_command(
    image,
    "ref",
    "One release (NAME:VERSION).",
    _release_shown,
    ("ref", "filename", "size", "sha256", "url", "created_at"),
)


delete_command(
    image,
    "ref",
    "Delete a release no node or profile uses, and its file.",
    lambda svc, ref: MediaLibrary(svc.store, svc.settings).delete_release(ref),
    lambda ref: f"release {ref} deleted",
)


# -- bundle files ----------------------------------------------------------------------------
@bundle.command("upload")
@click.argument("name")
@click.argument("kind", type=click.Choice(list(BUNDLE_KINDS)))
@click.argument("file", type=_FILE)
@click.option("--filename", help="Name on the command line; default: the bundle's, else FILE's.")
@click.option(
    "--raw",
    is_flag=True,
    help="The image is a raw disk image (without it an image must be qcow2 or ISO 9660).",
)
@_remote_options
@pass_inv
@_errors
def bundle_upload(inv: Invocation, /, name: str, kind: str, file: Path, **flags: Any) -> None:
    """Upload the ISO, VM definition or disk image of a bundle (created when new).

    An image is a qcow2 (self-contained) or an ISO 9660 image; a raw disk image
    only with --raw. Replacing the bundle's file of that kind says so."""
    filename, raw = flags.pop("filename"), flags.pop("raw")
    if filename is None:
        filename = _current_name(inv, name, kind, flags) or file.name
    target = {"target": "bundle", "bundle": name, "kind": kind, "filename": filename}
    if raw:
        target["raw"] = "true"
    view = _send(inv, file, target, **flags)
    fmt = view["files"][kind]["format"]
    click.echo(f"bundle {name}: {kind} {filename} uploaded ({fmt}); {view['options']}")
    old = view.get("replaced")
    if old:
        click.echo(
            f"bundle {name}: replaced its {kind} {old['filename']} "
            f"({old['size']} bytes, sha256 {old['sha256'][:16]}...; deleted)"
        )


def _current_name(inv: Invocation, name: str, kind: str, remote: dict[str, Any]) -> str | None:
    """The bundle's file name for ``kind``, if the bundle exists and has one."""
    if remote.get("server"):
        from media.client import UploadClient

        client = UploadClient(remote["server"], _token(remote["token"], remote["token_file"]))
        found = client.find(f"/api/v1/bundles/{name}")
        return found.get(kind) if found else None
    with service(inv) as svc:
        try:
            current: str | None = getattr(svc.store.get_bundle(name), kind)
        except NotFound:
            return None
    return current


@bundle.command("remove-file")
@click.argument("name")
@click.argument("kind", type=click.Choice(list(BUNDLE_KINDS)))
@pass_inv
@_errors
def bundle_remove_file(inv: Invocation, name: str, kind: str) -> None:
    """Delete an uploaded file and clear the bundle's name for it."""
    with service(inv) as svc:
        b = MediaLibrary(svc.store, svc.settings).delete_bundle_file(name, kind)
    click.echo(f"bundle {name}: {kind} removed; {b.options().render()}")


# -- manifest ------------------------------------------------------------------------------------
@node.command("manifest")
@click.argument("mac")
@server_option
@pass_inv
@_errors
def node_manifest(inv: Invocation, mac: str, server: str | None) -> None:
    """What the box must fetch (URLs, sizes, sha256) and its options, as JSON."""
    with service(inv) as svc:
        manifest = svc.manifest(mac, media_base(svc, server)).to_json()
        note_placeholder(svc, json.dumps(manifest))
    _echo_json(manifest)


# -- uploads ---------------------------------------------------------------------------------------
@main.group()
def upload() -> None:
    """Unfinished resumable uploads in the data directory."""


@upload.command("list")
@pass_inv
@_errors
def upload_list(inv: Invocation) -> None:
    """Unfinished uploads: id, offset/size, target."""
    with service(inv) as svc:
        uploads = MediaLibrary(svc.store, svc.settings).uploads
        for s in uploads.all():
            target = " ".join(f"{k}={v}" for k, v in s.target.items())
            click.echo(
                f"{s.id}  {uploads.offset(s)}/{s.size if s.size is not None else '?'}  {target}"
            )


@upload.command("discard")
@click.argument("upload_id")
@pass_inv
@_errors
def upload_discard(inv: Invocation, upload_id: str) -> None:
    """Abandon an unfinished upload."""
    with service(inv) as svc:
        uploads = MediaLibrary(svc.store, svc.settings).uploads
        uploads.discard(uploads.get(upload_id))
    click.echo(f"upload {upload_id} discarded")


@upload.command("sweep")
@pass_inv
@_errors
def upload_sweep(inv: Invocation) -> None:
    """Discard uploads nobody wrote to for a day (also done when one starts)."""
    with service(inv) as svc:
        gone = MediaLibrary(svc.store, svc.settings).uploads.sweep()
    click.echo(f"{len(gone)} stale upload(s) discarded")
