"""The per-node manifest: everything one box must fetch to install, and the
command line it installs with. The installer's single source of truth.

A plain function of (node, profile, release, bundle, base URL) -- pure, so the
API (``GET /api/v1/nodes/<mac>/manifest``, :meth:`Manifest.to_json`) and the
installing box's agent (:mod:`provisioner.installer`) read the same typed
:class:`Manifest`. See docs/media.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from media.layout import bundle_file_relpath, media_url, release_relpath
from provisioner.bootparams import Options
from provisioner.bootspec import build_bootspec
from provisioner.domain import BUNDLE_KINDS, Action, Bundle, BundleFile, Node, Profile, Release
from provisioner.errors import Conflict

MANIFEST_VERSION = 1


@dataclass(frozen=True, slots=True)
class Download:
    """One file the box fetches: where from, and how it checks what it got."""

    purpose: str  #: ``release``, or the dot-option that copies a bundle file
    filename: str
    url: str
    size: int
    sha256: str

    @classmethod
    def of(cls, purpose: str, record: Release | BundleFile, url: str) -> Download:
        return cls(purpose, record.filename, url, record.size, record.sha256)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # purpose, filename, url, size, sha256: the served order


def _fetched(record: Release | BundleFile, url: str) -> dict[str, Any]:
    """Where the box fetches a file and how it checks it (the served order)."""
    return {"url": url, "size": record.size, "sha256": record.sha256}


@dataclass(frozen=True, slots=True)
class ReleaseEntry:
    """The node's effective release and where its image is downloaded."""

    release: Release
    url: str

    @property
    def download(self) -> Download:
        return Download.of("release", self.release, self.url)

    def to_json(self) -> dict[str, Any]:
        r = self.release
        names = {"ref": r.ref, "name": r.name, "version": r.version, "filename": r.filename}
        return {**names, **_fetched(r, self.url)}


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One uploaded bundle file, the dot-option that copies it, and its URL."""

    file: BundleFile
    option: str  #: copyiso, copydef or copyimg (a value of BUNDLE_KINDS)
    url: str

    @property
    def download(self) -> Download:
        return Download.of(self.option, self.file, self.url)

    def to_json(self) -> dict[str, Any]:
        f = self.file
        names = {"kind": f.kind, "option": self.option, "filename": f.filename, "format": f.format}
        return {**names, **_fetched(f, self.url)}


@dataclass(frozen=True, slots=True)
class BundleEntry:
    """The node's effective bundle: its files in BUNDLE_KINDS order."""

    name: str
    files: tuple[FileEntry, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "files": [f.to_json() for f in self.files]}


@dataclass(frozen=True, slots=True)
class Manifest:
    """What one box installs: its options and everything it downloads."""

    mac: str
    hostname: str | None
    action: Action
    cmdline: Options  #: the node's effective options (profile, node, bundle merged)
    release: ReleaseEntry | None
    bundle: BundleEntry | None

    @property
    def fetch(self) -> tuple[Download, ...]:
        """Everything to download, in order: the release image, then the bundle files."""
        release = (self.release.download,) if self.release else ()
        files = tuple(f.download for f in self.bundle.files) if self.bundle else ()
        return release + files

    def to_json(self) -> dict[str, Any]:
        """The document ``GET /api/v1/nodes/<mac>/manifest`` serves (docs/media.md)."""
        return {
            "manifest_version": MANIFEST_VERSION,
            "mac": self.mac,
            "hostname": self.hostname,
            "action": self.action.value,
            "cmdline": self.cmdline.render(),
            "options": self.cmdline.to_mapping(),
            "release": self.release.to_json() if self.release else None,
            "bundle": self.bundle.to_json() if self.bundle else None,
            "fetch": [d.to_json() for d in self.fetch],
        }


def build_manifest(
    node: Node,
    profile: Profile | None,
    release: Release | None,
    bundle: Bundle | None,
    base_url: str,
) -> Manifest:
    """``release`` and ``bundle`` are the node's effective ones (its own, else
    its profile's); ``base_url`` ends in ``/media/``.

    Raises :class:`~provisioner.errors.Conflict` when the bundle names a file
    nobody uploaded yet: a manifest never points at something that is not there.
    """
    spec = build_bootspec(node, profile, bundle)
    release_entry = None
    if release is not None:
        release_entry = ReleaseEntry(release, media_url(base_url, release_relpath(release)))
    bundle_entry = None
    if bundle is not None:
        bundle_entry = BundleEntry(bundle.name, tuple(_files(node, bundle, base_url)))
    return Manifest(
        mac=node.mac,
        hostname=node.hostname,
        action=node.action,
        cmdline=spec.cmdline,
        release=release_entry,
        bundle=bundle_entry,
    )


def _files(node: Node, bundle: Bundle, base_url: str) -> list[FileEntry]:
    files = []
    for kind, option in BUNDLE_KINDS.items():
        name = getattr(bundle, kind)
        if not name:
            continue
        f = bundle.file(kind)
        if f is None or f.filename != name:
            raise Conflict(
                f"node {node.mac}: bundle {bundle.name!r} names {option}.{name} "
                "but no file was uploaded for it"
            )
        files.append(FileEntry(f, option, media_url(base_url, bundle_file_relpath(bundle.name, f))))
    return files
