"""The per-node manifest: everything one box must fetch to install, and the
command line it installs with. The installer's single source of truth.

A plain function of (node, profile, release, bundle, base URL) -- pure, so the
API (``GET /api/v1/nodes/<mac>/manifest``) and, later, the installing box's
own per-node access build exactly the same document. See docs/media.md.
"""

from __future__ import annotations

from typing import Any

from media.layout import bundle_file_relpath, media_url, release_relpath
from provisioner.bootspec import build_bootspec
from provisioner.domain import BUNDLE_KINDS, Bundle, Node, Profile, Release
from provisioner.errors import Conflict

MANIFEST_VERSION = 1


def build_manifest(
    node: Node,
    profile: Profile | None,
    release: Release | None,
    bundle: Bundle | None,
    base_url: str,
) -> dict[str, Any]:
    """``release`` and ``bundle`` are the node's effective ones (its own, else
    its profile's); ``base_url`` ends in ``/media/``.

    Raises :class:`~provisioner.errors.Conflict` when the bundle names a file
    nobody uploaded yet: a manifest never points at something that is not there.
    """
    spec = build_bootspec(node, profile, bundle)
    fetch: list[dict[str, Any]] = []
    release_doc = None
    if release is not None:
        release_doc = {
            "ref": release.ref,
            "name": release.name,
            "version": release.version,
            "filename": release.filename,
            "url": media_url(base_url, release_relpath(release)),
            "size": release.size,
            "sha256": release.sha256,
        }
        fetch.append({"purpose": "release", **_download(release_doc)})
    bundle_doc = None
    if bundle is not None:
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
            doc = {
                "kind": kind,
                "option": option,
                "filename": f.filename,
                "format": f.format,
                "url": media_url(base_url, bundle_file_relpath(bundle.name, f)),
                "size": f.size,
                "sha256": f.sha256,
            }
            files.append(doc)
            fetch.append({"purpose": option, **_download(doc)})
        bundle_doc = {"name": bundle.name, "files": files}
    return {
        "manifest_version": MANIFEST_VERSION,
        "mac": node.mac,
        "hostname": node.hostname,
        "action": node.action.value,
        "cmdline": spec.cmdline.render(),
        "options": spec.cmdline.to_mapping(),
        "release": release_doc,
        "bundle": bundle_doc,
        "fetch": fetch,
    }


def _download(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: doc[k] for k in ("filename", "url", "size", "sha256")}
